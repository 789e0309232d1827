package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idmtelemetry/idmtelemetry/jobs"
	"github.com/idmtelemetry/idmtelemetry/lake"
)

// A lake file that is not what the lake writes breaks an invariant: the
// jobs reading it halt instead of retrying, and the one writing into it
// (compaction) does too.
func TestCorruptLakeHaltsJobs(t *testing.T) {
	ctx := context.Background()
	b, err := lake.OpenBucket(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var jf jobFlags
	var sf statsFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	jf.register(fs)
	sf.register(fs)
	p, err := newPipeline(b, slog.New(slog.NewTextHandler(io.Discard, nil)), &jf, &sf, nil)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	if err := b.Put(ctx, lake.PartitionFile("AERO_SLM_3-11", day), []byte("this is not parquet, just long enough"), lake.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, j := range p.jobs()[1:3] { // stats and train read the lake
		if _, err := j.Run(ctx, lake.Day(day)); !errors.Is(err, jobs.ErrHalt) || !errors.Is(err, lake.ErrCorrupt) {
			t.Errorf("%s on a corrupt lake file: %v, want a halt", j.Name, err)
		}
	}
	// Without keys, publishing fails with a message (and is retried, not
	// halted: keys can be added).
	if _, err := p.jobs()[3].Run(ctx, lake.Day(day)); err == nil || errors.Is(err, jobs.ErrHalt) {
		t.Errorf("publish without keys: %v", err)
	}
}

// Landing objects compaction cannot decode are counted for alerting.
func TestQuarantineIsCounted(t *testing.T) {
	ctx := context.Background()
	b, err := lake.OpenBucket(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	var jf jobFlags
	var sf statsFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	jf.register(fs)
	sf.register(fs)
	p, err := newPipeline(b, slog.New(slog.NewTextHandler(io.Discard, nil)), &jf, &sf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newRunner(p, prometheus.NewRegistry(), &jf.sched); err != nil {
		t.Fatal(err)
	}
	key := lake.LandingKey(time.Now().Add(-time.Hour), [32]byte{1})
	if err := b.Put(ctx, key, []byte("not zstd"), lake.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := p.jobs()[0].Run(ctx, lake.Day(time.Now()))
	if err != nil || res.Figures["quarantined"] != 1 {
		t.Fatalf("compact: %+v %v", res, err)
	}
	if got := testutil.ToFloat64(p.quarantined); got != 1 {
		t.Fatalf("idmt_lake_quarantined_objects_total = %v, want 1", got)
	}
}

// TestHaltingErrors checks which job errors halt instead of retrying.
func TestHaltingErrors(t *testing.T) {
	for err, halt := range map[error]bool{
		lake.ErrCorrupt:                   true,
		lake.ErrTooManyColumns:            true,
		errors.New("storage unreachable"): false,
	} {
		run := halts(func(context.Context, string) (jobs.Result, error) {
			return jobs.Result{}, fmt.Errorf("compact: %w", err)
		})
		if _, got := run(context.Background(), "2026-11-27"); errors.Is(got, jobs.ErrHalt) != halt || !errors.Is(got, err) {
			t.Errorf("%v: %v, halts %v, want %v", err, got, errors.Is(got, jobs.ErrHalt), halt)
		}
	}
}
