package lake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"
)

// landingDoc is a decoded landing document.
type landingDoc struct {
	header     landingHeader
	receivedAt time.Time
	data       []byte // the data array, '[' to ']'
}

// errLanding marks a landing object that cannot be decoded; compaction
// quarantines it.
var errLanding = errors.New("undecodable landing object")

// parseLanding splits the first landing document of raw into its header
// and data array and returns the documents that follow it (a landing
// object holds one or more, see Land). Ingest writes them (landing.go), so
// the layout is exact: the header object without its closing brace,
// `,"data":[`, the records, `]}` and a newline. Records hold only field
// names of [A-Za-z0-9_] and numbers, so the first ']' ends the array.
func parseLanding(raw []byte) (d *landingDoc, rest []byte, err error) {
	at := bytes.Index(raw, []byte(`,"data":[`))
	if at < 0 {
		return nil, nil, fmt.Errorf("%w: no data array", errLanding)
	}
	head := append(append([]byte{}, raw[:at]...), '}')
	d = &landingDoc{}
	if err := json.Unmarshal(head, &d.header); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", errLanding, err)
	}
	if d.header.Format != LandingFormat {
		return nil, nil, fmt.Errorf("%w: format %d, this version reads %d", errLanding, d.header.Format, LandingFormat)
	}
	t, err := time.Parse(time.RFC3339Nano, d.header.ReceivedAt)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: received_at: %v", errLanding, err)
	}
	d.receivedAt = t
	data := raw[at+len(`,"data":`):]
	end := bytes.IndexByte(data, ']')
	if end < 0 || !bytes.HasPrefix(data[end+1:], []byte("}\n")) {
		return nil, nil, fmt.Errorf("%w: truncated", errLanding)
	}
	d.data = data[:end+1]
	return d, data[end+len("]}\n"):], nil
}

// eachRecord calls fn for every record of a landing data array with its
// timestamp (seconds) and its metrics as (name, value) pairs in the order
// written. name aliases data and is valid only during the call.
func eachRecord(data []byte, fn func(ts float64, names []string, vals []float64) error) error {
	p := recParser{b: data}
	if !p.byte('[') {
		return p.fail("expected [")
	}
	if p.peek() == ']' {
		return nil
	}
	var names []string
	var vals []float64
	for {
		if !p.byte('{') {
			return p.fail("expected {")
		}
		names, vals = names[:0], vals[:0]
		ts, haveTS := 0.0, false
		for {
			name, ok := p.key()
			if !ok {
				return p.fail("expected a field name")
			}
			v, ok := p.number()
			if !ok {
				return p.fail("expected a number")
			}
			if name == "timestamp" {
				ts, haveTS = v, true
			} else {
				names = append(names, name)
				vals = append(vals, v)
			}
			if p.byte(',') {
				continue
			}
			if p.byte('}') {
				break
			}
			return p.fail("expected , or }")
		}
		if !haveTS {
			return p.fail("record without timestamp")
		}
		if err := fn(ts, names, vals); err != nil {
			return err
		}
		if p.byte(',') {
			continue
		}
		if p.byte(']') && p.i == len(p.b) {
			return nil
		}
		return p.fail("expected , or ]")
	}
}

// recParser reads the normalized records ingest writes: flat objects of
// plain names and finite numbers, records separated by ",\n".
type recParser struct {
	b []byte
	i int
}

func (p *recParser) fail(what string) error {
	return fmt.Errorf("%w: data at byte %d: %s", errLanding, p.i, what)
}

func (p *recParser) peek() byte {
	for p.i < len(p.b) && (p.b[p.i] == '\n' || p.b[p.i] == ' ') {
		p.i++
	}
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *recParser) byte(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *recParser) key() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	j := bytes.IndexByte(p.b[p.i:], '"')
	if j < 0 {
		return "", false
	}
	name := p.b[p.i : p.i+j]
	p.i += j + 1
	if !p.byte(':') {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(name), len(name)), true
}

func (p *recParser) number() (float64, bool) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.i++
			continue
		}
		break
	}
	num := p.b[start:p.i]
	if f, ok := parseDecimal(num); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// pow10 are the powers of ten a float64 holds exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseDecimal is the fast path for what sensors send: -?digits[.digits]
// with at most 15 significant digits. The digits form an integer below
// 2^53 and the divisor a power of ten up to 1e22, both exact in a
// float64, and IEEE division rounds correctly, so the result is the one
// strconv.ParseFloat returns (Clinger's fast path). Anything else (an
// exponent, more digits) reports false and takes the slow path.
func parseDecimal(b []byte) (float64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var mant uint64
	digits, frac, dot := 0, 0, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.' && !dot:
			dot = true
		default:
			return 0, false
		}
	}
	if digits == 0 || digits > 15 || dot && frac == 0 {
		return 0, false
	}
	f := float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, true
}
