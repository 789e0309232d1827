package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"unsafe"
)

// scanner is a strict, single-pass JSON reader over a byte slice. The
// decoder uses it to validate and normalize a submission in one walk,
// without building a tree: memory stays at the body plus the output, and
// every byte is touched about once. Anything RFC 8259 does not allow is a
// syntax error; encoding/json is the reference (FuzzDecode checks both
// agree on what is valid JSON).
type scanner struct {
	b []byte
	i int
}

// maxDepth bounds nesting. Collector records are flat; a deeper body is
// refused instead of being walked.
const maxDepth = 64

func (s *scanner) syntax(what string) *Reject {
	if s.i >= len(s.b) {
		return reject(http.StatusBadRequest, "invalid_json", "body is not valid JSON: unexpected end of input, %s", what)
	}
	return reject(http.StatusBadRequest, "invalid_json", "body is not valid JSON: unexpected %q at byte %d, %s", s.b[s.i], s.i, what)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte, what string) *Reject {
	if s.peek() != c {
		return s.syntax(what)
	}
	s.i++
	return nil
}

// str reads a string at s.i (after its opening quote is checked) and
// returns its raw content (between the quotes) and whether it holds
// escapes.
func (s *scanner) str() (raw []byte, escaped bool, rej *Reject) {
	if s.peek() != '"' {
		return nil, false, s.syntax("expected a string")
	}
	s.i++
	start := s.i
	// Fast path: most strings (all field names) are short and plain. Find
	// the closing quote with IndexByte and check the span once.
	if j := bytes.IndexByte(s.b[start:], '"'); j >= 0 {
		span := s.b[start : start+j]
		plain := bytes.IndexByte(span, '\\') < 0
		for _, c := range span {
			if c < 0x20 {
				plain = false
				break
			}
		}
		if plain {
			s.i = start + j + 1
			return span, false, nil
		}
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				s.i++
				return nil, false, s.syntax("in a string escape")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex(s.b[s.i+2]) || !isHex(s.b[s.i+3]) || !isHex(s.b[s.i+4]) || !isHex(s.b[s.i+5]) {
					s.i++
					return nil, false, s.syntax("expected \\uXXXX")
				}
				s.i += 6
			default:
				s.i++
				return nil, false, s.syntax("invalid escape in a string")
			}
		case c < 0x20:
			return nil, false, s.syntax("control character in a string")
		default:
			s.i++
		}
	}
	return nil, false, s.syntax("unterminated string")
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// text returns a string's content: aliased to the body when it has no
// escapes (valid until the body is reused), decoded otherwise.
func text(raw []byte, escaped bool) string {
	if !escaped {
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	var out string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	_ = json.Unmarshal(q, &out) // str already validated the escapes
	return out
}

// nonFinite are the tokens Python's json.dumps writes for float NaN and
// infinities (allow_nan=True is its default). They are not JSON, but a
// collector that meets one must not lose its whole batch: num accepts
// them and finite reports them, so the value alone is dropped.
var nonFinite = []string{"NaN", "Infinity", "-Infinity"}

// num reads a number per RFC 8259 (or a nonFinite token) and returns its
// text.
func (s *scanner) num() ([]byte, *Reject) {
	start := s.i
	b := s.b
	if s.i >= len(b) {
		return nil, s.syntax("expected a value")
	}
	if c := b[s.i]; c == 'N' || c == 'I' || c == '-' && s.i+1 < len(b) && b[s.i+1] == 'I' {
		for _, tok := range nonFinite {
			if len(b)-s.i >= len(tok) && string(b[s.i:s.i+len(tok)]) == tok {
				s.i += len(tok)
				return b[start:s.i], nil
			}
		}
	}
	if s.i < len(b) && b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && b[s.i] >= '1' && b[s.i] <= '9':
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
	default:
		return nil, s.syntax("expected a digit")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		d := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return nil, s.syntax("expected a digit after the decimal point")
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		d := s.i
		for s.i < len(b) && b[s.i] >= '0' && b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return nil, s.syntax("expected a digit in the exponent")
		}
	}
	return b[start:s.i], nil
}

// literal reads true, false or null.
func (s *scanner) literal(word string) *Reject {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.syntax("expected " + word)
	}
	s.i += len(word)
	return nil
}

// skip reads and discards any value, nested at most maxDepth deep.
func (s *scanner) skip(depth int) *Reject {
	if depth > maxDepth {
		return reject(http.StatusBadRequest, "invalid_json", "body nests deeper than %d levels; records are flat objects", maxDepth)
	}
	switch s.peek() {
	case '"':
		_, _, rej := s.str()
		return rej
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case '{':
		s.i++
		if s.peek() == '}' {
			s.i++
			return nil
		}
		for {
			if _, _, rej := s.str(); rej != nil {
				return rej
			}
			if rej := s.expect(':', "expected ':' after an object key"); rej != nil {
				return rej
			}
			if rej := s.skip(depth + 1); rej != nil {
				return rej
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return nil
			default:
				return s.syntax("expected ',' or '}' in an object")
			}
		}
	case '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return nil
		}
		for {
			if rej := s.skip(depth + 1); rej != nil {
				return rej
			}
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return nil
			default:
				return s.syntax("expected ',' or ']' in a list")
			}
		}
	}
	_, rej := s.num()
	return rej
}

// kind names the JSON type of the value starting with c, for messages.
func kind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// finite reports whether a JSON number fits a float64. Only long numbers
// or numbers with an exponent can overflow, so only those are parsed.
func finite(num []byte) bool {
	if c := num[len(num)-1]; c == 'N' || c == 'y' {
		return false // NaN, Infinity
	}
	long := len(num) > 24
	for _, c := range num {
		if c == 'e' || c == 'E' {
			long = true
			break
		}
	}
	if !long {
		return true
	}
	_, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
	return err == nil
}
