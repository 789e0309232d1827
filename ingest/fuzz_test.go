package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecode checks that no input panics the decoder, that every
// rejection is a 4xx, that it agrees with encoding/json on what is JSON, and that whatever is accepted normalizes to records
// any JSON reader takes: numeric values only, valid names, timestamps in
// range, as many as reported. Seeds live in testdata/seed.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seed/*.json")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(body("", fmt.Sprintf(`{"timestamp":%v,"a":1,"b":true,"c":"x","d":null,"e":[1],"f":{"g":1}}`, ts0)))
	dec := NewDecoder(DefaultLimits)
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := dec.Decode(in, testNow, nil)
		// encoding/json is the reference for what is JSON; Python's NaN and
		// Infinity tokens are our one documented extension.
		valid := json.Valid(in)
		extended := bytes.Contains(in, []byte("NaN")) || bytes.Contains(in, []byte("Infinity"))
		if err != nil {
			r, ok := IsReject(err)
			if !ok || r.Status < 400 || r.Status > 499 || r.Detail == "" {
				t.Fatalf("rejection %v is not a 4xx with a detail", err)
			}
			if valid && r.Reason == "invalid_json" && !strings.Contains(r.Detail, "nests deeper") {
				t.Fatalf("valid JSON refused as invalid: %v", r)
			}
			return
		}
		if !valid && !extended {
			t.Fatalf("invalid JSON accepted: %q", in)
		}
		var recs []map[string]float64
		if err := json.Unmarshal(s.Data, &recs); err != nil {
			t.Fatalf("accepted data is not valid: %v\n%s", err, s.Data)
		}
		if len(recs) != s.Records {
			t.Fatalf("%d records in data, %d reported", len(recs), s.Records)
		}
		maxTS := float64(testNow.Add(DefaultLimits.FutureSkew).Unix())
		for _, r := range recs {
			ts, ok := r["timestamp"]
			if !ok || ts < minTimestamp || ts > maxTS || math.IsNaN(ts) {
				t.Fatalf("record with bad timestamp kept: %v", r)
			}
			for name := range r {
				if name != "timestamp" && dec.checkName(name) != "" {
					t.Fatalf("invalid metric name kept: %q", name)
				}
			}
		}
	})
}
