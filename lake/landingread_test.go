package lake

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// parseDecimal must agree with strconv.ParseFloat bit for bit wherever it
// answers.
func TestParseDecimalMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		got, ok := parseDecimal([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if ok && (err != nil || math.Float64bits(got) != math.Float64bits(want)) {
			t.Fatalf("parseDecimal(%q) = %v, strconv %v (%v)", s, got, want, err)
		}
	}
	for _, s := range []string{"0", "-0", "1", "21.5", "-3.25", "1769904000.123", "0.1", "0.3", "123456789012345",
		"999999999999999", "1234567890.12345", "1.", ".5", "1e5", "12345678901234567", "--1", "1.2.3", ""} {
		check(s)
	}
	for i := 0; i < 200000; i++ {
		v := (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(12)))
		check(strconv.FormatFloat(v, 'f', rng.IntN(8), 64))
		check(strconv.FormatFloat(v, 'f', -1, 64))
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"21.5", "-0.001", "1769904000.123", "1e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDecimal([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseDecimal(%q) = %v, strconv %v (%v)", s, got, want, err)
		}
	})
}

// Whatever a landing object decompresses to, decoding it either fails with
// errLanding or ErrInvalidModel (compaction quarantines the object) or
// yields rows whose
// count matches the records it parsed; it never panics. The seeds are a
// two-document object as ingest writes it and damaged copies of it.
func FuzzDecodeLanding(f *testing.F) {
	doc := func(inst string, v float64) string {
		return `{"format":1,"request_id":"r","received_at":"2026-11-27T02:05:00Z","installation_id":"` + inst +
			`","heatpump_model":"AERO SLM 3-11","version":"1.0","records":2,"data":[{"timestamp":1764115200,"temp_outside":` +
			strconv.FormatFloat(v, 'f', -1, 64) + "},\n" + `{"timestamp":1764115230.5,"temp_outside":1e-5,"state":1}]}` + "\n"
	}
	two := doc("a", 5.5) + doc("b", -3)
	for _, s := range []string{two, two[:len(two)-1], two[:len(two)/2], doc("a", 1), `{"format":1}`, "", "]}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var d decoded
		err := d.records(raw, "landing/2026-11-27/02/x.json.zst")
		if err != nil {
			if !errors.Is(err, errLanding) && !errors.Is(err, ErrInvalidModel) {
				t.Fatalf("error not marked undecodable: %v", err)
			}
			return
		}
		n := 0
		for _, rows := range d.parts {
			n += len(rows)
		}
		if n != d.rows || len(d.srcs) == 0 {
			t.Fatalf("%d rows in partitions, %d counted, %d documents", n, d.rows, len(d.srcs))
		}
	})
}
