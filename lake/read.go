package lake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// Partition is one file of the lake: the records of one heat-pump model
// (storage name) measured on one UTC day.
type Partition struct {
	Model   string
	Day     time.Time
	Key     string
	Size    int64
	ModTime time.Time
}

// ListPartitions lists the lake's partition files whose day lies in
// [from, to] (UTC days; a zero bound is open), sorted by model then day.
// It reads the listing only, never the files.
func ListPartitions(ctx context.Context, b *Bucket, from, to time.Time) ([]Partition, error) {
	var out []Partition
	err := b.List(ctx, TelemetryPrefix, func(a Attributes) error {
		model, day, ok := parsePartitionFile(a.Key)
		if !ok {
			return nil // not ours (a reader's scratch file, say): ignore
		}
		if (!from.IsZero() && day.Before(truncDay(from))) || (!to.IsZero() && day.After(truncDay(to))) {
			return nil
		}
		out = append(out, Partition{Model: model, Day: day, Key: a.Key, Size: a.Size, ModTime: a.ModTime})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list lake: %w", err)
	}
	slices.SortFunc(out, func(x, y Partition) int {
		if c := strings.Compare(x.Model, y.Model); c != 0 {
			return c
		}
		return x.Day.Compare(y.Day)
	})
	return out, nil
}

func truncDay(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// Columns is one batch of rows of a partition file, as Arrow arrays that
// stay valid only during the callback of Scan. Rows are sorted by
// (installation_id, timestamp). Timestamps are microseconds since the Unix
// epoch, UTC. Values[j] holds metric Metrics[j]; Metrics is sorted and the
// same for every batch of one file.
type Columns struct {
	Rows         int
	Installation *array.String
	Timestamp    *array.Timestamp
	Received     *array.Timestamp
	Version      *array.String
	Metrics      []string
	Values       []*array.Float64
}

// Scan streams a partition file batch by batch (8,192 rows at most), in
// bounded memory whatever the file size. It stops at the first error fn
// returns and returns it.
func Scan(ctx context.Context, b *Bucket, key string, fn func(*Columns) error) error {
	r, err := openPartReader(ctx, b, key)
	if err != nil {
		return err
	}
	defer r.close()
	c := Columns{Metrics: r.metrics}
	for r.rr.Next() {
		rec := r.rr.RecordBatch()
		c.Rows = int(rec.NumRows())
		c.Installation = rec.Column(0).(*array.String)
		c.Timestamp = rec.Column(1).(*array.Timestamp)
		c.Received = rec.Column(2).(*array.Timestamp)
		c.Version = rec.Column(3).(*array.String)
		c.Values = c.Values[:0]
		for j := range r.metrics {
			c.Values = append(c.Values, rec.Column(4+j).(*array.Float64))
		}
		if err := fn(&c); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := r.rr.Err(); err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	return nil
}

// Installations counts the rows of each installation in a partition file,
// reading only the installation_id column.
func Installations(ctx context.Context, b *Bucket, key string) (map[string]int64, error) {
	src, fr, err := openParquet(ctx, b, key)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	rr, err := fr.GetRecordReader(ctx, []int{0}, nil)
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w", key, err)
	}
	defer rr.Release()
	out := map[string]int64{}
	for rr.Next() {
		rec := rr.RecordBatch()
		col, ok := rec.Column(0).(*array.String)
		if !ok || rec.Schema().Field(0).Name != colInstallation {
			return nil, fmt.Errorf("parquet %s: first column is not %s", key, colInstallation)
		}
		for i := range col.Len() {
			out[col.Value(i)]++
		}
	}
	if err := rr.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return out, nil
}
