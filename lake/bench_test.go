package lake

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// landSimulated lands n installations × days of simulated records into b,
// as ingest would, and returns the number of records.
func landSimulated(tb testing.TB, b *Bucket, n, days int) int64 {
	tb.Helper()
	ctx := context.Background()
	landing, err := NewLanding(b, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	fleet, err := simulate.NewFleet(42, n, 3)
	if err != nil {
		tb.Fatal(err)
	}
	day0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var total int64
	var recs []simulate.Record
	var data []byte
	for _, inst := range fleet {
		g, _ := simulate.NewGenerator(inst, simulate.Config{Start: day0})
		for d := 1; d <= days; d++ {
			end := day0.Add(time.Duration(d) * 24 * time.Hour)
			recs = g.Generate(recs[:0], end)
			for i, batch := range simulate.Batches(recs, simulate.DefaultBatchSize) {
				data = append(data[:0], '[')
				for k := range batch {
					if k > 0 {
						data = append(data, ",\n"...)
					}
					data = append(data, `{"timestamp":`...)
					data = strconv.AppendFloat(data, batch[k].Timestamp, 'f', -1, 64)
					for j, name := range batch[k].Schema.Fields() {
						data = append(data, ',', '"')
						data = append(data, name...)
						data = append(data, '"', ':')
						data = strconv.AppendFloat(data, batch[k].Values[j], 'f', -1, 64)
					}
					data = append(data, '}')
				}
				data = append(data, ']')
				if _, err := landing.Land(ctx, &Batch{RequestID: "b", ReceivedAt: end.Add(time.Hour + time.Duration(i)*time.Second),
					InstallationID: inst.ID, Model: inst.Model, Version: "1", Records: len(batch), Data: data}); err != nil {
					tb.Fatal(err)
				}
				total += int64(len(batch))
			}
		}
	}
	return total
}

// BenchmarkCompact compacts 10 installations × 2 days of realistic
// landing data (57,600 records, 130 metrics) from a mem bucket.
func BenchmarkCompact(b *testing.B) {
	src := testBuckets(b)["mem"]
	records := landSimulated(b, src, 10, 2)
	landed := snapshotAll(b, src)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		bk := restore(b, landed)
		b.StartTimer()
		c, _ := NewCompactor(bk, quiet, CompactConfig{}, WithCompactClock(func() time.Time { return time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC) }))
		res, err := c.Compact(context.Background())
		if err != nil || res.Records != records {
			b.Fatalf("%+v %v", res, err)
		}
	}
	b.ReportMetric(float64(records)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
