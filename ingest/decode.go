package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// Limits bound what one submission may contain. docs/INGEST.md explains
// each rule and what happens when it is broken.
type Limits struct {
	// MaxFields is the most fields a record may have (timestamp included),
	// and the most distinct valid metric names a batch may use, whatever
	// their values and whether their records are kept: each may become a
	// lake column, and collectors send the same fields in every record.
	MaxFields int
	// MaxNameLen is the longest metric name.
	MaxNameLen int
	// MaxVersionLen is the longest collector version string.
	MaxVersionLen int
	// FutureSkew is how far past the receive time a timestamp may lie.
	FutureSkew time.Duration
}

// DefaultLimits are the limits used unless configured otherwise.
var DefaultLimits = Limits{MaxFields: 1000, MaxNameLen: 64, MaxVersionLen: 64, FutureSkew: time.Hour}

const (
	// minTimestamp is 2000-01-01T00:00:00Z: no collector data is older.
	minTimestamp = 946684800
	// msThreshold separates seconds from milliseconds: 1e11 s is the year
	// 5138, while 1e11 ms is 1973, so any value above it is milliseconds.
	msThreshold = 1e11
	maxSamples  = 5
)

// Drop reasons. A record drop removes the whole record; a field drop
// removes one value. The names are metric label values and response keys.
const (
	DropMissingTimestamp = "missing_timestamp"
	DropInvalidTimestamp = "invalid_timestamp"
	DropTooOld           = "timestamp_before_2000"
	DropInFuture         = "timestamp_in_future"
	DropNotObject        = "record_not_object"
	DropTooManyFields    = "too_many_fields"
	DropDuplicateKey     = "duplicate_key"
	DropNoMetrics        = "no_metrics"

	DropInvalidName  = "invalid_metric_name"
	DropReservedName = "reserved_metric_name"
	DropString       = "string_value"
	DropNull         = "null_value"
	DropNested       = "nested_value"
	DropBadNumber    = "invalid_number"
)

// reserved are names a metric cannot take because the lake uses them for
// its own columns or Hive partitions, in lower case: they are compared
// without case, as readers such as DuckDB and Spark resolve column names.
var reserved = map[string]bool{
	"installation_id": true, "heatpump_model": true, "received_at": true,
	"collector_version": true, "date": true, "timestamp": true,
}

// Drops counts what a submission lost, by reason, with a few examples.
type Drops struct {
	Records int            `json:"dropped_records"`
	Fields  int            `json:"dropped_fields"`
	Reasons map[string]int `json:"drop_reasons,omitempty"`
	Samples []string       `json:"drop_samples,omitempty"`
}

func (d *Drops) add(record bool, reason string, n int, format string, args ...any) {
	if record {
		d.Records += n
	} else {
		d.Fields += n
	}
	if d.Reasons == nil {
		d.Reasons = make(map[string]int)
	}
	d.Reasons[reason] += n
	if len(d.Samples) < maxSamples {
		d.Samples = append(d.Samples, reason+": "+fmt.Sprintf(format, args...))
	}
}

// Submission is a decoded, validated and normalized batch.
type Submission struct {
	InstallationID string
	Model          string
	Version        string
	// Records is the number of records kept.
	Records int
	// Data is the JSON array of kept records, normalized: "timestamp"
	// first, booleans as 0/1, numbers in shortest round-trip form.
	Data  []byte
	Drops Drops
}

// Decoder validates submissions. It is safe for concurrent use.
type Decoder struct {
	limits Limits
}

// NewDecoder returns a Decoder enforcing lim.
func NewDecoder(lim Limits) *Decoder {
	return &Decoder{limits: lim}
}

// header holds the top-level values other than data, as found.
type header struct {
	id, model, version value
}

// value is a scalar top-level value: its first byte (its JSON type) and,
// for strings, its text.
type value struct {
	first byte // 0 when absent
	text  string
}

// Decode validates body, a submission received at now, in one pass. It
// returns a *Reject when the batch as a whole is refused. dst is reused
// for Data. The returned Submission does not alias body.
func (d *Decoder) Decode(body []byte, now time.Time, dst []byte) (*Submission, error) {
	sc := &scanner{b: body}
	if sc.peek() == 0 {
		return nil, reject(http.StatusBadRequest, "invalid_json", "body is empty; send a JSON object")
	}
	// Common mistakes that would otherwise read as a syntax error at byte 0.
	switch {
	case bytes.HasPrefix(body, []byte{0x1f, 0x8b}):
		return nil, reject(http.StatusBadRequest, "bad_encoding", "body is gzip-compressed but not declared; send the header Content-Encoding: gzip")
	case bytes.HasPrefix(body, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, reject(http.StatusBadRequest, "bad_encoding", "body is zstd-compressed but not declared; send the header Content-Encoding: zstd")
	case bytes.HasPrefix(body, []byte{0xef, 0xbb, 0xbf}):
		return nil, reject(http.StatusBadRequest, "invalid_json", "body starts with a UTF-8 byte order mark; send the JSON without it")
	}
	if sc.peek() != '{' {
		if rej := sc.skip(0); rej != nil {
			return nil, rej
		}
		return nil, reject(http.StatusUnprocessableEntity, "not_object", "body must be a JSON object with installation_id, heatpump_model, version and data")
	}
	sc.i++
	var (
		h        header
		seenData bool
		total    int // records in data, kept or not
	)
	s := &Submission{Data: dst[:0]}
	r := &recordReader{d: d, sc: sc, s: s, maxTS: float64(now.Add(d.limits.FutureSkew).Unix()), seen: map[string]struct{}{}, names: map[string]struct{}{}}
	for first := true; ; first = false {
		if sc.peek() == '}' && first {
			sc.i++
			break
		}
		raw, esc, rej := sc.str()
		if rej != nil {
			return nil, rej
		}
		if rej := sc.expect(':', "expected ':' after an object key"); rej != nil {
			return nil, rej
		}
		key := text(raw, esc)
		var slot *value
		switch key {
		case "installation_id":
			slot = &h.id
		case "heatpump_model":
			slot = &h.model
		case "version":
			slot = &h.version
		case "data":
			if seenData {
				return nil, reject(http.StatusUnprocessableEntity, "duplicate_key", "key \"data\" appears twice in the body; send it once")
			}
			seenData = true
			n, rej := r.data()
			if rej != nil {
				return nil, rej
			}
			total = n
		default:
			// Unknown top-level keys are ignored, as documented.
			if rej := sc.skip(1); rej != nil {
				return nil, rej
			}
		}
		if slot != nil {
			if slot.first != 0 {
				return nil, reject(http.StatusUnprocessableEntity, "duplicate_key", "key %q appears twice in the body; send it once", key)
			}
			v, rej := sc.scalar()
			if rej != nil {
				return nil, rej
			}
			*slot = v
		}
		switch sc.peek() {
		case ',':
			sc.i++
			continue
		case '}':
			sc.i++
		default:
			return nil, sc.syntax("expected ',' or '}' in the body object")
		}
		break
	}
	if sc.peek() != 0 {
		return nil, sc.syntax("after the body object")
	}
	var err error
	if s.InstallationID, err = installationID(h.id); err != nil {
		return nil, err
	}
	if s.Model, err = heatpumpModel(h.model); err != nil {
		return nil, err
	}
	if s.Version, err = d.version(h.version); err != nil {
		return nil, err
	}
	switch {
	case !seenData || r.null:
		return nil, reject(http.StatusUnprocessableEntity, "missing_data", "data is required: a list of measurement objects")
	case r.notList != 0:
		return nil, reject(http.StatusUnprocessableEntity, "data_not_array", "data must be a list of measurement objects, got %s", kind(r.notList))
	case s.Records == 0 && total > 0:
		return nil, reject(http.StatusUnprocessableEntity, "no_valid_records",
			"none of the %d records could be stored: %s", total, strings.Join(s.Drops.Samples, "; "))
	}
	return s, nil
}

// scalar reads a top-level value other than data; strings are copied out
// of the body, other types only noted (the checks name them).
func (s *scanner) scalar() (value, *Reject) {
	c := s.peek()
	if c == '"' {
		raw, esc, rej := s.str()
		if rej != nil {
			return value{}, rej
		}
		return value{first: c, text: strings.Clone(text(raw, esc))}, nil
	}
	if rej := s.skip(1); rej != nil {
		return value{}, rej
	}
	return value{first: c}, nil
}

func installationID(v value) (string, error) {
	if v.first != '"' {
		return "", reject(http.StatusUnprocessableEntity, "invalid_installation_id", "installation_id is required: the collector's persistent UUID as a string")
	}
	u, err := uuid.Parse(v.text)
	// uuid.Parse also takes braces, urn: prefixes and 32 hex digits; only
	// the canonical 36-character form is what the guide promises.
	if err != nil || len(v.text) != 36 {
		return "", reject(http.StatusUnprocessableEntity, "invalid_installation_id", "installation_id %q is not a UUID in canonical form (8-4-4-4-12 hex digits)", truncate(v.text))
	}
	if u == uuid.Nil {
		return "", reject(http.StatusUnprocessableEntity, "invalid_installation_id", "installation_id is the nil UUID; generate a random UUID once and keep it")
	}
	return u.String(), nil
}

func heatpumpModel(v value) (string, error) {
	if v.first == 0 || v.first == 'n' {
		return "", reject(http.StatusUnprocessableEntity, "invalid_model", "heatpump_model is missing: configure the heat-pump model in the collector (e.g. \"AERO SLM 3-11\")")
	}
	if v.first != '"' {
		return "", reject(http.StatusUnprocessableEntity, "invalid_model", "heatpump_model must be a string, got %s", kind(v.first))
	}
	if err := lake.ValidateModel(v.text); err != nil {
		return "", reject(http.StatusUnprocessableEntity, "invalid_model", "heatpump_model %q: %v", truncate(v.text), unwrapModel(err))
	}
	return lake.NormalizeModel(v.text), nil
}

// unwrapModel drops the sentinel prefix so the message reads naturally.
func unwrapModel(err error) string {
	msg := err.Error()
	if after, ok := strings.CutPrefix(msg, lake.ErrInvalidModel.Error()+": "); ok {
		return after
	}
	return msg
}

func (d *Decoder) version(v value) (string, error) {
	if v.first != '"' {
		return "", reject(http.StatusUnprocessableEntity, "invalid_version", "version is required: the collector software version as a string (e.g. \"1.2.0\")")
	}
	if v.text == "" || len(v.text) > d.limits.MaxVersionLen {
		return "", reject(http.StatusUnprocessableEntity, "invalid_version", "version must be 1 to %d characters", d.limits.MaxVersionLen)
	}
	for i := 0; i < len(v.text); i++ {
		if v.text[i] < 0x20 || v.text[i] > 0x7e {
			return "", reject(http.StatusUnprocessableEntity, "invalid_version", "version must be printable ASCII")
		}
	}
	return v.text, nil
}

// recordReader walks the data list, writing kept records to s.Data.
type recordReader struct {
	d     *Decoder
	sc    *scanner
	s     *Submission
	maxTS float64

	null    bool // data was null
	notList byte // first byte of a data value that is not a list

	prevKeys []string // keys of the last record found free of duplicates
	prevBad  []string // the name verdict of each of prevKeys
	// names holds the distinct usable metric names of the batch so far.
	names  map[string]struct{}
	keys   []string
	fields []fieldDrop
	seen   map[string]struct{}
}

// data reads the value of "data" and returns how many elements it had.
func (r *recordReader) data() (int, *Reject) {
	sc := r.sc
	switch c := sc.peek(); c {
	case '[':
		sc.i++
	case 'n':
		r.null = true
		return 0, sc.literal("null")
	default:
		r.notList = c
		return 0, sc.skip(1)
	}
	r.s.Data = append(r.s.Data, '[')
	n := 0
	if sc.peek() == ']' {
		sc.i++
	} else {
		for ; ; n++ {
			if rej := r.record(n); rej != nil {
				return n, rej
			}
			c := sc.peek()
			if c == ',' {
				sc.i++
				continue
			}
			if c != ']' {
				return n, sc.syntax("expected ',' or ']' in data")
			}
			sc.i++
			n++
			break
		}
	}
	r.s.Data = append(r.s.Data, ']')
	return n, nil
}

// record reads data[i]: it is written to the output and kept, or rolled
// back and counted as dropped. A string, boolean or millisecond timestamp
// refuses the whole batch.
func (r *recordReader) record(i int) *Reject {
	sc, s, d := r.sc, r.s, r.d
	c := sc.peek()
	if c != '{' {
		if rej := sc.skip(1); rej != nil {
			return rej
		}
		s.Drops.add(true, DropNotObject, 1, "data[%d] is %s, not an object", i, kind(c))
		return nil
	}
	sc.i++
	mark := len(s.Data)
	if s.Records > 0 {
		s.Data = append(s.Data, ",\n"...)
	}
	s.Data = append(s.Data, '{')
	open := len(s.Data)
	r.keys, r.fields = r.keys[:0], r.fields[:0]
	var (
		metrics int
		tsState = DropMissingTimestamp // "" once a valid timestamp is read
	)
	for first := true; ; first = false {
		if first && sc.peek() == '}' {
			break
		}
		raw, esc, rej := sc.str()
		if rej != nil {
			return rej
		}
		if rej := sc.expect(':', "expected ':' after a field name"); rej != nil {
			return rej
		}
		name := text(raw, esc)
		idx := len(r.keys)
		r.keys = append(r.keys, name)
		vc := sc.peek()
		if name == "timestamp" {
			switch vc {
			case '"':
				raw, esc, rej := sc.str()
				if rej != nil {
					return rej
				}
				return reject(http.StatusUnprocessableEntity, "timestamp_string",
					"data[%d].timestamp is a string (%q); send Unix time in seconds as a number, e.g. 1709286000.123", i, truncate(text(raw, esc)))
			case 'n':
				if rej := sc.literal("null"); rej != nil {
					return rej
				}
			case '{', '[', 't', 'f':
				if rej := sc.skip(1); rej != nil {
					return rej
				}
				return reject(http.StatusUnprocessableEntity, "timestamp_not_number",
					"data[%d].timestamp is %s; send Unix time in seconds as a number, e.g. 1709286000.123", i, kind(vc))
			default:
				num, rej := sc.num()
				if rej != nil {
					return rej
				}
				f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(num), len(num)), 64)
				switch {
				case err != nil || !finite(num):
					tsState = DropInvalidTimestamp
				case f >= msThreshold:
					return reject(http.StatusUnprocessableEntity, "timestamp_milliseconds",
						"data[%d].timestamp %s looks like milliseconds; send Unix time in seconds (divide by 1000)", i, num)
				case f < minTimestamp:
					tsState = DropTooOld
				case f > r.maxTS:
					tsState = DropInFuture
				default:
					tsState = ""
					s.Data = r.field(s.Data, open, name, num)
				}
			}
		} else {
			bad := ""
			if idx < len(r.prevKeys) && r.prevKeys[idx] == name {
				// Collectors repeat one layout, so a name at the position
				// it had in the last clean record needs no second check.
				bad = r.prevBad[idx]
			} else {
				bad = d.checkName(name)
			}
			var num []byte
			switch vc {
			case '"', '{', '[', 'n':
				if rej := sc.skip(1); rej != nil {
					return rej
				}
				if bad == "" {
					bad = nonNumeric(vc)
				}
			case 't':
				if rej := sc.literal("true"); rej != nil {
					return rej
				}
				num = one
			case 'f':
				if rej := sc.literal("false"); rej != nil {
					return rej
				}
				num = zero
			default:
				var rej *Reject
				if num, rej = sc.num(); rej != nil {
					return rej
				}
				if bad == "" && !finite(num) {
					bad = DropBadNumber
				}
			}
			if bad != "" {
				r.fields = append(r.fields, fieldDrop{name, bad})
			} else {
				s.Data = r.field(s.Data, open, name, num)
				metrics++
			}
		}
		switch sc.peek() {
		case ',':
			sc.i++
			continue
		case '}':
		default:
			return sc.syntax("expected ',' or '}' in a record")
		}
		break
	}
	sc.i++
	drop := func(reason, format string, args ...any) *Reject {
		s.Data = s.Data[:mark]
		s.Drops.add(true, reason, 1, format, args...)
		return nil
	}
	if len(r.keys) > d.limits.MaxFields {
		return drop(DropTooManyFields, "data[%d] has %d fields, at most %d allowed", i, len(r.keys), d.limits.MaxFields)
	}
	if !sameKeys(r.keys, r.prevKeys) {
		if hasDuplicate(r.keys, r.seen) {
			return drop(DropDuplicateKey, "data[%d] repeats a key", i)
		}
		r.remember()
		if len(r.names) > d.limits.MaxFields {
			return reject(http.StatusUnprocessableEntity, "too_many_distinct_fields",
				"data uses more than %d distinct field names (data[%d] brings it past that); a collector sends the same fields in every record, and each name becomes a lake column", d.limits.MaxFields, i)
		}
	}
	switch tsState {
	case "":
	case DropMissingTimestamp:
		return drop(tsState, "data[%d] has no timestamp; every record needs the Unix time in seconds it was measured", i)
	case DropInvalidTimestamp:
		return drop(tsState, "data[%d].timestamp is not a finite number", i)
	case DropTooOld:
		return drop(tsState, "data[%d].timestamp is before 2000-01-01; check the collector's clock", i)
	default:
		return drop(tsState, "data[%d].timestamp lies more than %s in the future; check the collector's clock (NTP)", i, d.limits.FutureSkew)
	}
	if metrics == 0 {
		return drop(DropNoMetrics, "data[%d] has no numeric or boolean metric", i)
	}
	for _, fd := range r.fields {
		s.Drops.add(false, fd.reason, 1, "data[%d].%s", i, truncate(fd.name))
	}
	s.Data = append(s.Data, '}')
	s.Records++
	return nil
}

var one, zero = []byte("1"), []byte("0")

// nonNumeric is the drop reason for a value starting with c that is not a
// number or a boolean.
func nonNumeric(c byte) string {
	switch c {
	case '"':
		return DropString
	case 'n':
		return DropNull
	}
	return DropNested
}

// field appends "name":num to a record whose '{' ends at open.
func (r *recordReader) field(dst []byte, open int, name string, num []byte) []byte {
	if len(dst) > open {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return append(dst, num...)
}

// remember makes the current record's keys the layout to compare with;
// they are copied because they alias the body.
func (r *recordReader) remember() {
	r.prevKeys, r.prevBad = r.prevKeys[:0], r.prevBad[:0]
	for _, k := range r.keys {
		bad := ""
		if k != "timestamp" {
			bad = r.d.checkName(k)
		}
		r.prevKeys = append(r.prevKeys, strings.Clone(k))
		r.prevBad = append(r.prevBad, bad)
		if k != "timestamp" && bad == "" {
			r.names[r.prevKeys[len(r.prevKeys)-1]] = struct{}{} // the copy: k aliases the body
		}
	}
}

type fieldDrop struct{ name, reason string }

// checkName returns the drop reason for an unusable metric name, or "".
func (d *Decoder) checkName(name string) string {
	if name == "" || len(name) > d.limits.MaxNameLen {
		return DropInvalidName
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return DropInvalidName
		}
	}
	if reserved[strings.ToLower(name)] {
		return DropReservedName
	}
	return ""
}

// sameKeys reports whether a record has exactly the keys of the previous
// clean record, in order: collectors send the same layout every time, so
// this skips the duplicate check on almost every record.
func sameKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hasDuplicate(keys []string, seen map[string]struct{}) bool {
	clear(seen)
	for _, k := range keys {
		if _, ok := seen[k]; ok {
			return true
		}
		seen[k] = struct{}{}
	}
	return false
}

func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// IsReject reports whether err is a whole-batch rejection and returns it.
func IsReject(err error) (*Reject, bool) {
	var r *Reject
	ok := errors.As(err, &r)
	return r, ok
}
