// Command lakegen writes landing objects straight into a bucket, as ingest
// would have landed them, for the compaction benchmark: N installations ×
// D days of 30-second records with the simulator's 130 IDM fields, in
// batches of 200, received an hour after their last record.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

func main() {
	bucketURL := flag.String("bucket", "", "bucket URL to land into (file://DIR)")
	n := flag.Int("installations", 100, "installations")
	models := flag.Int("models", 3, "heat-pump models")
	days := flag.Int("days", 7, "days of records")
	start := flag.String("start", "2026-11-01", "first UTC day")
	flag.Parse()
	day0, err := time.Parse("2006-01-02", *start)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	b, err := lake.OpenBucket(ctx, *bucketURL)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	landing, err := lake.NewLanding(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		log.Fatal(err)
	}
	fleet, err := simulate.NewFleet(42, *n, *models)
	if err != nil {
		log.Fatal(err)
	}
	var records, jsonBytes int64
	var recs []simulate.Record
	var data []byte
	for _, inst := range fleet {
		g, err := simulate.NewGenerator(inst, simulate.Config{Start: day0})
		if err != nil {
			log.Fatal(err)
		}
		for d := 1; d <= *days; d++ {
			end := day0.Add(time.Duration(d) * 24 * time.Hour)
			recs = g.Generate(recs[:0], end)
			for i, batch := range simulate.Batches(recs, simulate.DefaultBatchSize) {
				data = normalized(data[:0], batch)
				_, err := landing.Land(ctx, &lake.Batch{
					RequestID:      fmt.Sprintf("bench-%s-%d-%d", inst.ID[:8], d, i),
					ReceivedAt:     end.Add(time.Hour + time.Duration(i)*time.Second),
					InstallationID: inst.ID, Model: inst.Model, Version: "bench-1.0",
					Records: len(batch), Data: data,
				})
				if err != nil {
					log.Fatal(err)
				}
				records += int64(len(batch))
				jsonBytes += int64(len(data))
			}
		}
	}
	fmt.Fprintf(os.Stdout, "landed %d records, %.1f MB of normalized JSON\n", records, float64(jsonBytes)/1e6)
}

// normalized writes records the way ingest lands them: compact JSON,
// booleans as 0/1, names as sent.
func normalized(dst []byte, recs []simulate.Record) []byte {
	dst = append(dst, '[')
	for i := range recs {
		r := &recs[i]
		if i > 0 {
			dst = append(dst, ",\n"...)
		}
		dst = append(dst, `{"timestamp":`...)
		dst = strconv.AppendFloat(dst, r.Timestamp, 'f', -1, 64)
		for j, name := range r.Schema.Fields() {
			v := r.Values[j]
			if v != v {
				continue
			}
			dst = append(dst, ',', '"')
			dst = append(dst, name...)
			dst = append(dst, '"', ':')
			dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}
