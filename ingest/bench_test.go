package ingest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// realisticBatch is a collector payload of about size bytes: one
// installation's records with the default 130 IDM fields, as the Python
// collectors encode them.
func realisticBatch(tb testing.TB, size int) []byte {
	tb.Helper()
	inst, err := simulate.NewInstallation(1, simulate.Models()[0])
	if err != nil {
		tb.Fatal(err)
	}
	g, err := simulate.NewGenerator(inst, simulate.Config{FaultRate: 1})
	if err != nil {
		tb.Fatal(err)
	}
	recs := g.Generate(nil, simulate.DefaultStart.Add(4*24*time.Hour))
	// Grow the batch a record at a time until it reaches size.
	var one []byte
	total, n := 0, 0
	for n < len(recs) && total < size {
		one = simulate.AppendRecordJSON(one[:0], &recs[n])
		total += len(one) + 2
		n++
	}
	return simulate.AppendBatchJSON(nil, inst, "v1.0.3-12-gabc1234", recs[:n])
}

var benchSizes = []struct {
	name string
	size int
}{{"1MB", 1 << 20}, {"10MB", 10 << 20}}

// BenchmarkDecode measures our decoder (parse, validate, normalize).
// Compare with BenchmarkDecodeStdlibMap on the same data in the same run.
func BenchmarkDecode(b *testing.B) {
	for _, sz := range benchSizes {
		body := realisticBatch(b, sz.size)
		b.Run(sz.name, func(b *testing.B) {
			dec := NewDecoder(DefaultLimits)
			now := time.Now()
			var dst []byte
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				s, err := dec.Decode(body, now, dst)
				if err != nil {
					b.Fatal(err)
				}
				if s.Drops.Records+s.Drops.Fields != 0 {
					b.Fatalf("realistic batch lost data: %+v", s.Drops)
				}
				dst = s.Data
			}
		})
	}
}

// BenchmarkDecodeStdlibMap is the baseline: encoding/json into
// map[string]any, what a straightforward server does.
func BenchmarkDecodeStdlibMap(b *testing.B) {
	for _, sz := range benchSizes {
		body := realisticBatch(b, sz.size)
		b.Run(sz.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRealisticBatchDecodes(t *testing.T) {
	body := realisticBatch(t, 256<<10)
	s, err := NewDecoder(DefaultLimits).Decode(body, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Records == 0 || s.Drops.Records+s.Drops.Fields != 0 {
		t.Fatalf("simulated collector batch: %d records, drops %+v", s.Records, s.Drops)
	}
	var recs []map[string]float64
	if err := json.Unmarshal(s.Data, &recs); err != nil || len(recs) != s.Records {
		t.Fatalf("normalized: %d records, %v", len(recs), err)
	}
	if got := len(recs[0]); got != simulate.DefaultFields+1 {
		t.Fatalf("record has %d fields, want the timestamp and 130 metrics: %v", got, fmt.Sprint(recs[0])[:80])
	}
}
