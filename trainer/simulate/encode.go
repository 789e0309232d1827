package simulate

import (
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The encoder writes what the Python collectors in the field send: the body
// of requests.post(url, json=payload), that is json.dumps with its default
// separators (", " and ": ") and ensure_ascii. The collectors read their
// samples back from VictoriaMetrics, whose JSON export writes whole numbers
// without a decimal point, so integral values arrive as JSON integers and the
// rest as Python's shortest round-trip float repr. Timestamps are computed as
// milliseconds / 1000.0 and are always floats ("1769904000.0" included).

// AppendBatchJSON appends one submit payload for recs to dst:
//
//	{"installation_id": "...", "heatpump_model": "...", "version": "...", "data": [{"timestamp": 1769904000.123, "temp_outside": 5.4, ...}, ...]}
//
// Field names come from each record's Schema.
func AppendBatchJSON(dst []byte, inst Installation, version string, recs []Record) []byte {
	dst = append(dst, `{"installation_id": `...)
	dst = appendJSONString(dst, inst.ID)
	dst = append(dst, `, "heatpump_model": `...)
	dst = appendJSONString(dst, inst.Model)
	dst = append(dst, `, "version": `...)
	dst = appendJSONString(dst, version)
	dst = append(dst, `, "data": [`...)
	for i := range recs {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = AppendRecordJSON(dst, &recs[i])
	}
	return append(dst, "]}"...)
}

// AppendRecordJSON appends one measurement object. A NaN value (never
// generated, but a caller may blank a field) omits the field, as a collector
// does for a metric it has no sample of.
func AppendRecordJSON(dst []byte, r *Record) []byte {
	s := r.Schema
	dst = append(dst, `{"timestamp": `...)
	dst = appendTimestamp(dst, r.Timestamp)
	for i, v := range r.Values {
		if v != v {
			continue
		}
		dst = append(dst, s.keys[i]...)
		switch {
		case s.binary[i] && v != 0:
			dst = append(dst, "true"...)
		case s.binary[i]:
			dst = append(dst, "false"...)
		default:
			dst = appendNumber(dst, v)
		}
	}
	return append(dst, '}')
}

// Batches splits recs into consecutive batches of at most size records
// (DefaultBatchSize when size <= 0), sharing recs' memory.
func Batches(recs []Record, size int) [][]Record {
	if size <= 0 {
		size = DefaultBatchSize
	}
	out := make([][]Record, 0, (len(recs)+size-1)/size)
	for len(recs) > 0 {
		n := min(size, len(recs))
		out = append(out, recs[:n:n])
		recs = recs[n:]
	}
	return out
}

// appendTimestamp writes a float like Python's repr, always with a decimal
// point. Millisecond timestamps take a fast exact path.
func appendTimestamp(dst []byte, ts float64) []byte {
	ms := math.Round(ts * 1000)
	if ms >= 0 && ms < 1e15 && ms/1000 == ts {
		m := int64(ms)
		dst = strconv.AppendInt(dst, m/1000, 10)
		return appendFraction(dst, m%1000, 3)
	}
	n := len(dst)
	dst = appendPyFloat(dst, ts)
	for _, c := range dst[n:] {
		if c == '.' || c == 'e' || c == 'n' || c == 'I' {
			return dst
		}
	}
	return append(dst, ".0"...)
}

// appendFraction writes "." and frac as d digits without trailing zeros, or
// ".0" when frac is zero.
func appendFraction(dst []byte, frac int64, d int) []byte {
	if frac == 0 {
		return append(dst, ".0"...)
	}
	for frac%10 == 0 {
		frac /= 10
		d--
	}
	var buf [4]byte
	for i := d - 1; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	dst = append(dst, '.')
	return append(dst, buf[:d]...)
}

// appendNumber writes integral values as integers and others as Python's
// shortest repr. Values with up to three decimals take an exact fast path:
// if m/10^d is the double v, the decimal m/10^d with the fewest digits is
// also v's shortest round-trip representation.
func appendNumber(dst []byte, v float64) []byte {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(dst, int64(v), 10)
	}
	if a := math.Abs(v); a < 1e11 && a >= 1e-3 {
		for d := 1; d <= 3; d++ {
			m := v * pow10[d]
			if m == math.Trunc(m) && m/pow10[d] == v {
				mi := int64(m)
				if mi < 0 {
					dst = append(dst, '-')
					mi = -mi
				}
				p := int64(pow10[d])
				dst = strconv.AppendInt(dst, mi/p, 10)
				return appendFraction(dst, mi%p, d)
			}
		}
	}
	return appendPyFloat(dst, v)
}

// appendPyFloat formats like Python's float repr: shortest round-trip digits,
// exponent notation below 1e-4 and from 1e16. json.dumps rejects NaN and
// infinities (allow_nan=False); they are written as null here.
func appendPyFloat(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	if a := math.Abs(v); a != 0 && (a < 1e-4 || a >= 1e16) {
		return strconv.AppendFloat(dst, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// appendJSONString quotes s as json.dumps does with ensure_ascii: non-ASCII
// runes become \uXXXX escapes (surrogate pairs beyond the BMP).
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		u := func(x rune) {
			dst = append(dst, '\\', 'u', hex[x>>12&0xf], hex[x>>8&0xf], hex[x>>4&0xf], hex[x&0xf])
		}
		if r >= 0x10000 {
			a, b := utf16.EncodeRune(r)
			u(a)
			u(b)
		} else {
			u(r)
		}
	}
	return append(dst, '"')
}
