package simulate

import (
	"testing"
	"time"
)

// BenchmarkGenerate measures the simulation alone: one installation-day of
// 2,880 records per iteration.
func BenchmarkGenerate(b *testing.B) {
	in := mustFleet(b, 1, 1, 1)[0]
	g := mustGenerator(b, in, Config{FaultRate: DefaultFaultRate})
	var recs []Record
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs = g.Generate(recs[:0], g.Next().Add(24*time.Hour))
	}
	b.ReportMetric(float64(b.N)*2880/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEncode measures the JSON encoder on a day of records in batches of
// 200; SetBytes makes the MB/s column the JSON output rate.
func BenchmarkEncode(b *testing.B) {
	in := mustFleet(b, 1, 1, 1)[0]
	recs, _ := day(b, in, Config{})
	batches := Batches(recs, 0)
	var buf []byte
	n := 0
	for _, bt := range batches {
		buf = AppendBatchJSON(buf[:0], in, "v1.0.3", bt)
		n += len(buf)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, bt := range batches {
			buf = AppendBatchJSON(buf[:0], in, "v1.0.3", bt)
		}
	}
}

// BenchmarkGenerateEncode is what a load generator pays per installation-day:
// simulate, then encode into collector payloads. MB/s is JSON produced.
func BenchmarkGenerateEncode(b *testing.B) {
	in := mustFleet(b, 1, 1, 1)[0]
	g := mustGenerator(b, in, Config{FaultRate: DefaultFaultRate})
	var recs []Record
	var buf []byte
	b.ReportAllocs()
	total := 0
	for i := 0; i < b.N; i++ {
		recs = g.Generate(recs[:0], g.Next().Add(24*time.Hour))
		for _, bt := range Batches(recs, 0) {
			buf = AppendBatchJSON(buf[:0], in, "v1.0.3", bt)
			total += len(buf)
		}
	}
	b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "days/s")
}
