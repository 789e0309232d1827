package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)

const (
	testID = "550e8400-e29b-41d4-a716-446655440000"
	ts0    = 1764280800.123 // 2025-11-27T22:00:00Z, before testNow
)

func body(fields string, records ...string) []byte {
	if fields == "" {
		fields = fmt.Sprintf(`"installation_id":%q,"heatpump_model":"AERO SLM 3-11","version":"1.2.0"`, testID)
	}
	return []byte("{" + fields + `,"data":[` + strings.Join(records, ",") + "]}")
}

func decodeRecords(t *testing.T, data []byte) []map[string]float64 {
	t.Helper()
	var recs []map[string]float64
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatalf("normalized data is not a JSON array of numeric records: %v\n%s", err, data)
	}
	return recs
}

func TestDecodeRejects(t *testing.T) {
	rec := fmt.Sprintf(`{"timestamp":%v,"temp_outside":1}`, ts0)
	for _, tc := range []struct {
		name   string
		body   string
		status int
		reason string
		detail string
	}{
		{"invalid json", `{"installation_id":`, 400, "invalid_json", "not valid JSON"},
		{"array body", `[1,2]`, 422, "not_object", "JSON object"},
		{"missing id", `{"heatpump_model":"A","version":"1","data":[]}`, 422, "invalid_installation_id", "installation_id is required"},
		{"id not uuid", string(body(`"installation_id":"abc","heatpump_model":"A","version":"1"`, rec)), 422, "invalid_installation_id", "not a UUID"},
		{"id braces", string(body(`"installation_id":"{550e8400-e29b-41d4-a716-446655440000}","heatpump_model":"A","version":"1"`, rec)), 422, "invalid_installation_id", "canonical"},
		{"id nil", string(body(`"installation_id":"00000000-0000-0000-0000-000000000000","heatpump_model":"A","version":"1"`, rec)), 422, "invalid_installation_id", "nil UUID"},
		{"id number", string(body(`"installation_id":5,"heatpump_model":"A","version":"1"`, rec)), 422, "invalid_installation_id", "string"},
		{"model null", string(body(`"installation_id":"`+testID+`","heatpump_model":null,"version":"1"`, rec)), 422, "invalid_model", "configure the heat-pump model"},
		{"model empty", string(body(`"installation_id":"`+testID+`","heatpump_model":"","version":"1"`, rec)), 422, "invalid_model", "configure"},
		{"model slash", string(body(`"installation_id":"`+testID+`","heatpump_model":"a/b","version":"1"`, rec)), 422, "invalid_model", "only letters"},
		{"model dots", string(body(`"installation_id":"`+testID+`","heatpump_model":"..","version":"1"`, rec)), 422, "invalid_model", `".."`},
		{"model long", string(body(`"installation_id":"`+testID+`","heatpump_model":"`+strings.Repeat("a", 101)+`","version":"1"`, rec)), 422, "invalid_model", "at most 100"},
		{"model number", string(body(`"installation_id":"`+testID+`","heatpump_model":7,"version":"1"`, rec)), 422, "invalid_model", "must be a string"},
		{"version missing", string(body(`"installation_id":"`+testID+`","heatpump_model":"A"`, rec)), 422, "invalid_version", "version is required"},
		{"version long", string(body(`"installation_id":"`+testID+`","heatpump_model":"A","version":"`+strings.Repeat("v", 65)+`"`, rec)), 422, "invalid_version", "1 to 64"},
		{"version control", string(body(`"installation_id":"`+testID+`","heatpump_model":"A","version":"a\u0007"`, rec)), 422, "invalid_version", "printable"},
		{"duplicate top key", string(body(`"installation_id":"`+testID+`","heatpump_model":"A","version":"1","version":"2"`, rec)), 422, "duplicate_key", `"version" appears twice`},
		{"data missing", `{"installation_id":"` + testID + `","heatpump_model":"A","version":"1"}`, 422, "missing_data", "data is required"},
		{"data object", `{"installation_id":"` + testID + `","heatpump_model":"A","version":"1","data":{}}`, 422, "data_not_array", "must be a list"},
		{"timestamp string", string(body("", `{"timestamp":"2026-01-01T00:00:00Z","a":1}`)), 422, "timestamp_string", "is a string"},
		{"timestamp bool", string(body("", rec, `{"timestamp":true,"a":1}`)), 422, "timestamp_not_number", "data[1].timestamp is a boolean"},
		{"timestamp ms", string(body("", rec, `{"timestamp":1764280800123,"a":1}`)), 422, "timestamp_milliseconds", "milliseconds"},
		{"leading plus", string(body("", `{"timestamp":1,"a":+1}`)), 400, "invalid_json", "unexpected '+'"},
		{"leading zero", string(body("", `{"timestamp":1,"a":01}`)), 400, "invalid_json", "expected ',' or '}'"},
		{"trailing garbage", string(body("", rec)) + "x", 400, "invalid_json", "after the body object"},
		{"empty body", "  ", 400, "invalid_json", "empty"},
		{"undeclared gzip", "\x1f\x8b\x08\x00rest", 400, "bad_encoding", "Content-Encoding: gzip"},
		{"undeclared zstd", "\x28\xb5\x2f\xfdrest", 400, "bad_encoding", "Content-Encoding: zstd"},
		{"byte order mark", "\xef\xbb\xbf" + string(body("", rec)), 400, "invalid_json", "byte order mark"},
		{"all dropped", string(body("", `{"a":1}`, `{"timestamp":5,"a":1}`)), 422, "no_valid_records", "none of the 2 records"},
		{"too many distinct fields", string(body("", fieldsRecord(ts0, 0, 600), fieldsRecord(ts0+30, 600, 600))), 422, "too_many_distinct_fields", "data[1]"},
		{"nesting too deep", string(body("", `{"timestamp":1,"a":`+strings.Repeat("[", 400)+strings.Repeat("]", 400)+`}`)), 400, "invalid_json", "nests deeper than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDecoder(DefaultLimits).Decode([]byte(tc.body), testNow, nil)
			r, ok := IsReject(err)
			if !ok {
				t.Fatalf("Decode accepted %s", tc.body)
			}
			if r.Status != tc.status || r.Reason != tc.reason || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("got %d %s %q; want %d %s containing %q", r.Status, r.Reason, r.Detail, tc.status, tc.reason, tc.detail)
			}
		})
	}
}

func TestDecodeDrops(t *testing.T) {
	many := make([]string, 0, 1001)
	many = append(many, fmt.Sprintf(`"timestamp":%v`, ts0))
	for i := 0; i < 1000; i++ {
		many = append(many, fmt.Sprintf(`"m%d":%d`, i, i))
	}
	good := fmt.Sprintf(`{"timestamp":%v,"temp_outside":5.4,"flag":true,"off":false}`, ts0)
	for _, tc := range []struct {
		name    string
		records []string
		kept    int
		reason  string
		record  bool
	}{
		{"missing timestamp", []string{good, `{"temp_outside":1}`}, 1, DropMissingTimestamp, true},
		{"null timestamp", []string{good, `{"timestamp":null,"a":1}`}, 1, DropMissingTimestamp, true},
		{"before 2000", []string{good, `{"timestamp":946684799,"a":1}`}, 1, DropTooOld, true},
		{"in future", []string{good, fmt.Sprintf(`{"timestamp":%d,"a":1}`, testNow.Add(2*time.Hour).Unix())}, 1, DropInFuture, true},
		{"not object", []string{good, `[1,2]`}, 1, DropNotObject, true},
		{"too many fields", []string{good, "{" + strings.Join(many, ",") + "}"}, 1, DropTooManyFields, true},
		{"duplicate key", []string{good, fmt.Sprintf(`{"timestamp":%v,"a":1,"a":2}`, ts0+30)}, 1, DropDuplicateKey, true},
		{"no metrics", []string{good, fmt.Sprintf(`{"timestamp":%v,"s":"x"}`, ts0+30)}, 1, DropNoMetrics, true},
		{"string value", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"s":"x"}`, ts0)}, 1, DropString, false},
		{"null value", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"s":null}`, ts0)}, 1, DropNull, false},
		{"nested value", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"s":{"x":1}}`, ts0)}, 1, DropNested, false},
		{"array value", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"s":[1]}`, ts0)}, 1, DropNested, false},
		{"invalid name", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"bad-name":2}`, ts0)}, 1, DropInvalidName, false},
		{"reserved name", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"date":2}`, ts0)}, 1, DropReservedName, false},
		{"reserved name in capitals", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"Date":2}`, ts0)}, 1, DropReservedName, false},
		{"timestamp in another case", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"TimeStamp":2}`, ts0)}, 1, DropReservedName, false},
		{"nan", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"b":NaN}`, ts0)}, 1, DropBadNumber, false},
		{"overflow", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"b":-1e400}`, ts0)}, 1, DropBadNumber, false},
		{"infinity", []string{fmt.Sprintf(`{"timestamp":%v,"a":1,"b":-Infinity}`, ts0)}, 1, DropBadNumber, false},
		{"nan timestamp", []string{`{"timestamp":NaN,"a":1}`, fmt.Sprintf(`{"timestamp":%v,"a":1}`, ts0)}, 1, DropInvalidTimestamp, true},
		{"timestamp overflow", []string{`{"timestamp":1e400,"a":1}`, fmt.Sprintf(`{"timestamp":%v,"a":1}`, ts0)}, 1, DropInvalidTimestamp, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewDecoder(DefaultLimits).Decode(body("", tc.records...), testNow, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Records != tc.kept || s.Drops.Reasons[tc.reason] != 1 {
				t.Fatalf("kept %d (want %d), drops %+v (want one %s)", s.Records, tc.kept, s.Drops, tc.reason)
			}
			if tc.record && s.Drops.Records != 1 || !tc.record && s.Drops.Fields != 1 {
				t.Fatalf("drops %+v: want one %s drop", s.Drops, map[bool]string{true: "record", false: "field"}[tc.record])
			}
			if len(s.Drops.Samples) == 0 || !strings.HasPrefix(s.Drops.Samples[0], tc.reason+": ") {
				t.Fatalf("samples %q do not explain %s", s.Drops.Samples, tc.reason)
			}
			if got := decodeRecords(t, s.Data); len(got) != tc.kept {
				t.Fatalf("data has %d records, want %d", len(got), tc.kept)
			}
		})
	}
}

func TestDecodeNormalizes(t *testing.T) {
	in := body(`"installation_id":"550E8400-E29B-41D4-A716-446655440000","heatpump_model":"AERO SLM 3-11","version":"v1.0.3-12-gabc1234","extra":{"ignored":true}`,
		`{"temp_outside":-5.25,"timestamp":1764280800.123,"on":true,"off":false,"big":1e21,"int":1200,"esc\u0061ped":3}`,
		`{"timestamp":1764280830.123,"temp_outside":0.1}`)
	s, err := NewDecoder(DefaultLimits).Decode(in, testNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.InstallationID != testID || s.Model != "AERO SLM 3-11" || s.Version != "v1.0.3-12-gabc1234" || s.Records != 2 {
		t.Fatalf("header = %+v", s)
	}
	want := `[{"temp_outside":-5.25,"timestamp":1764280800.123,"on":1,"off":0,"big":1e21,"int":1200,"escaped":3},` + "\n" +
		`{"timestamp":1764280830.123,"temp_outside":0.1}]`
	if string(s.Data) != want {
		t.Fatalf("data =\n%s\nwant\n%s", s.Data, want)
	}
	if s.Drops.Records != 0 || s.Drops.Fields != 0 {
		t.Fatalf("unexpected drops %+v", s.Drops)
	}
}

func TestDecodeEmptyData(t *testing.T) {
	s, err := NewDecoder(DefaultLimits).Decode(body(""), testNow, nil)
	if err != nil || s.Records != 0 || string(s.Data) != "[]" {
		t.Fatalf("empty data: %+v %v", s, err)
	}
}

func TestRejectStatusesAre4xx(t *testing.T) {
	// Every whole-batch rejection is a client error: collectors retry 5xx
	// forever, so bad input must never produce one.
	r := reject(http.StatusUnprocessableEntity, "x", "y")
	if r.Status < 400 || r.Status > 499 {
		t.Fatal(r)
	}
}

// fieldsRecord is a record at ts with n metrics m<from> … m<from+n-1>.
func fieldsRecord(ts float64, from, n int) string {
	parts := []string{fmt.Sprintf(`"timestamp":%v`, ts)}
	for i := from; i < from+n; i++ {
		parts = append(parts, fmt.Sprintf(`"m%d":%d`, i, i))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestDecodeDistinctFields checks that a batch may use up to MaxFields
// distinct names over its records, whatever their layouts.
func TestDecodeDistinctFields(t *testing.T) {
	recs := []string{fieldsRecord(ts0, 0, 500), fieldsRecord(ts0+30, 500, 500), fieldsRecord(ts0+60, 0, 999), fieldsRecord(ts0+90, 250, 500)}
	s, err := NewDecoder(DefaultLimits).Decode(body("", recs...), testNow, nil)
	if err != nil || s.Records != 4 {
		t.Fatalf("1000 distinct names over 4 records: %v, %+v", err, s)
	}
	// Dropped names do not count.
	recs = append(recs, fmt.Sprintf(`{"timestamp":%v,"m1":1,"bad-name":2,"Date":3}`, ts0+120))
	if s, err := NewDecoder(DefaultLimits).Decode(body("", recs...), testNow, nil); err != nil || s.Records != 5 {
		t.Fatalf("with dropped names: %v, %+v", err, s)
	}
}

// TestDecodeModelSpaces checks that stray spaces in the model do not make a
// model of their own.
func TestDecodeModelSpaces(t *testing.T) {
	rec := fmt.Sprintf(`{"timestamp":%v,"a":1}`, ts0)
	s, err := NewDecoder(DefaultLimits).Decode(body(`"installation_id":"`+testID+`","heatpump_model":" AERO  SLM 3-11 ","version":"1"`, rec), testNow, nil)
	if err != nil || s.Model != "AERO SLM 3-11" {
		t.Fatalf("model %q, %v; want \"AERO SLM 3-11\"", s.Model, err)
	}
}
