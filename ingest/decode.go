package ingest

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/google/uuid"
	"github.com/valyala/fastjson"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// Limits bound what one submission may contain. docs/INGEST.md explains
// each rule and what happens when it is broken.
type Limits struct {
	// MaxFields is the most fields a record may have (timestamp included).
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
// its own columns or Hive partitions.
var reserved = map[string]bool{
	"installation_id": true, "heatpump_model": true, "received_at": true,
	"collector_version": true, "date": true,
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
	pool   fastjson.ParserPool
}

// NewDecoder returns a Decoder enforcing lim.
func NewDecoder(lim Limits) *Decoder {
	return &Decoder{limits: lim}
}

// Decode validates body, a submission received at now. It returns a
// *Reject when the batch as a whole is refused. dst is reused for Data.
func (d *Decoder) Decode(body []byte, now time.Time, dst []byte) (*Submission, error) {
	p := d.pool.Get()
	defer d.pool.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, reject(http.StatusBadRequest, "invalid_json", "body is not valid JSON: %v", err)
	}
	root, err := v.Object()
	if err != nil {
		return nil, reject(http.StatusUnprocessableEntity, "not_object", "body must be a JSON object with installation_id, heatpump_model, version and data")
	}
	var id, model, version, data *fastjson.Value
	var dup string
	root.Visit(func(k []byte, v *fastjson.Value) {
		var slot **fastjson.Value
		switch string(k) {
		case "installation_id":
			slot = &id
		case "heatpump_model":
			slot = &model
		case "version":
			slot = &version
		case "data":
			slot = &data
		default:
			return // Unknown top-level keys are ignored, as documented.
		}
		if *slot != nil {
			dup = string(k)
		}
		*slot = v
	})
	if dup != "" {
		return nil, reject(http.StatusUnprocessableEntity, "duplicate_key", "key %q appears twice in the body; send it once", dup)
	}
	s := &Submission{}
	if s.InstallationID, err = installationID(id); err != nil {
		return nil, err
	}
	if s.Model, err = heatpumpModel(model); err != nil {
		return nil, err
	}
	if s.Version, err = d.version(version); err != nil {
		return nil, err
	}
	if data == nil || data.Type() == fastjson.TypeNull {
		return nil, reject(http.StatusUnprocessableEntity, "missing_data", "data is required: a list of measurement objects")
	}
	recs, err := data.Array()
	if err != nil {
		return nil, reject(http.StatusUnprocessableEntity, "data_not_array", "data must be a list of measurement objects, got %s", data.Type())
	}
	if err := checkTimestamps(recs); err != nil {
		return nil, err
	}
	s.Data, err = d.records(recs, now, dst[:0], s)
	if err != nil {
		return nil, err
	}
	if s.Records == 0 && len(recs) > 0 {
		return nil, reject(http.StatusUnprocessableEntity, "no_valid_records",
			"none of the %d records could be stored: %s", len(recs), strings.Join(s.Drops.Samples, "; "))
	}
	return s, nil
}

func installationID(v *fastjson.Value) (string, error) {
	if v == nil || v.Type() != fastjson.TypeString {
		return "", reject(http.StatusUnprocessableEntity, "invalid_installation_id", "installation_id is required: the collector's persistent UUID as a string")
	}
	raw := string(v.GetStringBytes())
	u, err := uuid.Parse(raw)
	// uuid.Parse also takes braces, urn: prefixes and 32 hex digits; only
	// the canonical 36-character form is what the guide promises.
	if err != nil || len(raw) != 36 {
		return "", reject(http.StatusUnprocessableEntity, "invalid_installation_id", "installation_id %q is not a UUID in canonical form (8-4-4-4-12 hex digits)", truncate(raw))
	}
	if u == uuid.Nil {
		return "", reject(http.StatusUnprocessableEntity, "invalid_installation_id", "installation_id is the nil UUID; generate a random UUID once and keep it")
	}
	return u.String(), nil
}

func heatpumpModel(v *fastjson.Value) (string, error) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return "", reject(http.StatusUnprocessableEntity, "invalid_model", "heatpump_model is missing: configure the heat-pump model in the collector (e.g. \"AERO SLM 3-11\")")
	}
	if v.Type() != fastjson.TypeString {
		return "", reject(http.StatusUnprocessableEntity, "invalid_model", "heatpump_model must be a string, got %s", v.Type())
	}
	m := string(v.GetStringBytes())
	if err := lake.ValidateModel(m); err != nil {
		return "", reject(http.StatusUnprocessableEntity, "invalid_model", "heatpump_model %q: %v", truncate(m), unwrapModel(err))
	}
	return m, nil
}

// unwrapModel drops the sentinel prefix so the message reads naturally.
func unwrapModel(err error) string {
	msg := err.Error()
	if after, ok := strings.CutPrefix(msg, lake.ErrInvalidModel.Error()+": "); ok {
		return after
	}
	return msg
}

func (d *Decoder) version(v *fastjson.Value) (string, error) {
	if v == nil || v.Type() != fastjson.TypeString {
		return "", reject(http.StatusUnprocessableEntity, "invalid_version", "version is required: the collector software version as a string (e.g. \"1.2.0\")")
	}
	s := string(v.GetStringBytes())
	if s == "" || len(s) > d.limits.MaxVersionLen {
		return "", reject(http.StatusUnprocessableEntity, "invalid_version", "version must be 1 to %d characters", d.limits.MaxVersionLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "", reject(http.StatusUnprocessableEntity, "invalid_version", "version must be printable ASCII")
		}
	}
	return s, nil
}

// checkTimestamps refuses batches whose timestamps are systematically
// wrong, because a collector must fix them and silently dropping every
// record would hide the bug: strings or other non-numbers, and values that
// are milliseconds.
func checkTimestamps(recs []*fastjson.Value) error {
	for i, r := range recs {
		ts := r.Get("timestamp")
		if ts == nil {
			continue
		}
		switch ts.Type() {
		case fastjson.TypeNumber, fastjson.TypeNull:
		case fastjson.TypeString:
			return reject(http.StatusUnprocessableEntity, "timestamp_string",
				"data[%d].timestamp is a string (%q); send Unix time in seconds as a number, e.g. 1709286000.123", i, truncate(string(ts.GetStringBytes())))
		default:
			return reject(http.StatusUnprocessableEntity, "timestamp_not_number",
				"data[%d].timestamp is a %s; send Unix time in seconds as a number, e.g. 1709286000.123", i, ts.Type())
		}
		if f, err := ts.Float64(); err == nil && f >= msThreshold && !math.IsInf(f, 0) {
			return reject(http.StatusUnprocessableEntity, "timestamp_milliseconds",
				"data[%d].timestamp %s looks like milliseconds; send Unix time in seconds (divide by 1000)", i, ts.String())
		}
	}
	return nil
}

// records validates and normalizes every record into dst.
func (d *Decoder) records(recs []*fastjson.Value, now time.Time, dst []byte, s *Submission) ([]byte, error) {
	maxTS := float64(now.Add(d.limits.FutureSkew).Unix())
	dst = append(dst, '[')
	var (
		prevKeys []string // keys of the last record found free of duplicates
		keys     []string
		fields   []fieldDrop
		seen     = map[string]struct{}{}
	)
	for i, r := range recs {
		obj, err := r.Object()
		if err != nil {
			s.Drops.add(true, DropNotObject, 1, "data[%d] is a %s, not an object", i, r.Type())
			continue
		}
		if n := obj.Len(); n > d.limits.MaxFields {
			s.Drops.add(true, DropTooManyFields, 1, "data[%d] has %d fields, at most %d allowed", i, n, d.limits.MaxFields)
			continue
		}
		ts, reason := timestamp(obj.Get("timestamp"), maxTS)
		if reason != "" {
			s.Drops.add(true, reason, 1, "data[%d].timestamp %s", i, describeTimestamp(reason, obj.Get("timestamp")))
			continue
		}
		mark := len(dst)
		if s.Records > 0 {
			dst = append(dst, ",\n"...)
		}
		dst = append(dst, `{"timestamp":`...)
		dst = appendNumber(dst, ts)
		keys, fields = keys[:0], fields[:0]
		metrics := 0
		obj.Visit(func(k []byte, v *fastjson.Value) {
			// The key aliases parser memory that outlives this call but
			// not Decode; keys never escapes Decode.
			name := unsafe.String(unsafe.SliceData(k), len(k))
			keys = append(keys, name)
			if name == "timestamp" {
				return
			}
			if reason := d.checkName(name); reason != "" {
				fields = append(fields, fieldDrop{name, reason})
				return
			}
			f, reason := metric(v)
			if reason != "" {
				fields = append(fields, fieldDrop{name, reason})
				return
			}
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, '"', ':')
			dst = appendNumber(dst, f)
			metrics++
		})
		if !sameKeys(keys, prevKeys) {
			if hasDuplicate(keys, seen) {
				dst = dst[:mark]
				s.Drops.add(true, DropDuplicateKey, 1, "data[%d] repeats a key", i)
				continue
			}
			prevKeys = prevKeys[:0]
			for _, k := range keys {
				prevKeys = append(prevKeys, strings.Clone(k))
			}
		}
		if metrics == 0 {
			dst = dst[:mark]
			s.Drops.add(true, DropNoMetrics, 1, "data[%d] has no numeric or boolean metric", i)
			continue
		}
		for _, fd := range fields {
			s.Drops.add(false, fd.reason, 1, "data[%d].%s", i, truncate(fd.name))
		}
		dst = append(dst, '}')
		s.Records++
	}
	dst = append(dst, ']')
	return dst, nil
}

// timestamp checks a record's timestamp (already known not to be a string
// or milliseconds) and returns it in seconds, or the reason to drop the
// record.
func timestamp(v *fastjson.Value, maxTS float64) (float64, string) {
	if v == nil || v.Type() == fastjson.TypeNull {
		return 0, DropMissingTimestamp
	}
	f, err := v.Float64()
	switch {
	case err != nil || math.IsInf(f, 0) || math.IsNaN(f):
		return 0, DropInvalidTimestamp
	case f < minTimestamp:
		return 0, DropTooOld
	case f > maxTS:
		return 0, DropInFuture
	}
	return f, ""
}

func describeTimestamp(reason string, v *fastjson.Value) string {
	switch reason {
	case DropMissingTimestamp:
		return "is missing; every record needs the Unix time in seconds it was measured"
	case DropInvalidTimestamp:
		return truncate(v.String()) + " is not a finite number"
	case DropTooOld:
		return truncate(v.String()) + " is before 2000-01-01; check the collector's clock"
	default:
		return truncate(v.String()) + " lies in the future; check the collector's clock (NTP)"
	}
}

// metric converts a metric value to a float64, or returns why it is
// dropped: numbers and booleans are kept, everything else is not a
// measurement.
func metric(v *fastjson.Value) (float64, string) {
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err := v.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, DropBadNumber
		}
		return f, ""
	case fastjson.TypeTrue:
		return 1, ""
	case fastjson.TypeFalse:
		return 0, ""
	case fastjson.TypeNull:
		return 0, DropNull
	case fastjson.TypeString:
		return 0, DropString
	default:
		return 0, DropNested
	}
}

// appendNumber writes f in its shortest round-trip form, in plain
// notation where JSON readers expect it (as encoding/json and JavaScript
// do): 1764280800.123, not 1.764280800123e+09.
func appendNumber(dst []byte, f float64) []byte {
	if a := math.Abs(f); a == 0 || a >= 1e-6 && a < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'e', -1, 64)
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
	if reserved[name] {
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
