package publish

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"unicode/utf8"
)

// pythonJSON writes v exactly as Python's json.dumps(v, sort_keys=True)
// prints it with its defaults: separators ", " and ": ", keys sorted by
// code point, ensure_ascii (every character outside printable ASCII as a
// lower-case \uXXXX escape, astral characters as surrogate pairs). The
// envelope signature covers these bytes, and collectors recompute them from
// the parsed metadata, so they must match Python's byte for byte.
//
// It takes what the envelope metadata may hold: map[string]any, []any,
// string, bool, nil, Go integers and json.Number integers. Floats are
// refused because Python's repr of a float is not worth reproducing for a
// timestamp or a size: keep metadata to integers and strings.
func pythonJSON(v any) ([]byte, error) {
	return appendPython(nil, v)
}

func appendPython(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendPythonString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case json.Number:
		// Python reads an integer literal as an int of any size and prints
		// it back in canonical form; anything else would be a float.
		n, ok := new(big.Int).SetString(string(x), 10)
		if !ok {
			return nil, fmt.Errorf("%w: metadata number %s is not an integer", ErrMalformed, x)
		}
		return n.Append(b, 10), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// Go compares strings by UTF-8 bytes, which orders valid UTF-8 by
		// code point, as Python's sorted() does.
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = appendPythonString(b, k); err != nil {
				return nil, err
			}
			b = append(b, ": "...)
			if b, err = appendPython(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			var err error
			if b, err = appendPython(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	default:
		return nil, fmt.Errorf("%w: metadata value of type %T; use integers and strings", ErrMalformed, v)
	}
}

const lowerHex = "0123456789abcdef"

// appendPythonString follows CPython's encode_basestring_ascii.
func appendPythonString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: metadata string is not valid UTF-8", ErrMalformed)
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '\\':
			b = append(b, `\\`...)
		case r == '"':
			b = append(b, `\"`...)
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r > 0xFFFF:
			r -= 0x10000
			b = appendU4(b, 0xD800|(r>>10)&0x3FF)
			b = appendU4(b, 0xDC00|r&0x3FF)
		default:
			b = appendU4(b, r)
		}
	}
	return append(b, '"'), nil
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', lowerHex[r>>12&0xF], lowerHex[r>>8&0xF], lowerHex[r>>4&0xF], lowerHex[r&0xF])
}
