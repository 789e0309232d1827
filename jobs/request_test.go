package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/oklog/ulid/v2"
)

// jobsOf lists the jobs of recs in order.
func jobsOf(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Job)
	}
	return out
}

// ranFor lists the calls of c for window in order.
func ranFor(c *calls, window string) []string {
	var out []string
	for _, s := range c.sequence() {
		if job, w, _ := strings.Cut(s, "@"); w == window {
			out = append(out, job)
		}
	}
	return out
}

// keys lists the keys under prefix.
func keys(t *testing.T, b *lake.Bucket, prefix string) []string {
	t.Helper()
	var out []string
	if err := b.List(context.Background(), prefix, func(a lake.Attributes) error { out = append(out, a.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// holdFor makes holder take the lease of b as a scheduler that does nothing
// else would: no renewals, no requests handled. The term lasts ttl by now.
func holdFor(t *testing.T, b *lake.Bucket, holder string, ttl time.Duration, now func() time.Time) {
	t.Helper()
	l := &lease{bucket: b, holder: holder, ttl: ttl, skew: testConfig("").ClockSkew, now: now}
	if _, err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// startHolding starts r and waits until it holds the lease and its first
// pass is over.
func startHolding(t *testing.T, r *Runner, b *lake.Bucket, windows []string) (stop func()) {
	t.Helper()
	stop = start(t, r)
	eventually(t, 5*time.Second, "scheduler done", func() bool { return complete(t, b, names4, windows) })
	return stop
}

func TestPipelineRequestRunsInOrder(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newCalls()
			clk := newClock(day0)
			cfg := testConfig("sched")
			cfg.CatchUp = 1
			b := open()
			sched, _ := newRunner(t, open(), cfg, c.pipeline4(), nil, WithClock(clk.now))
			stop := startHolding(t, sched, b, dueDays[2:])
			op, _ := newRunner(t, b, testConfig("operator"), c.pipeline4(), nil, WithClock(clk.now))

			// A day outside the catch-up: the holder runs all four, in
			// order, and the operator gets their records.
			const day = "2026-03-01"
			recs, err := op.RunNow(ctx, Pipeline, day, false)
			if err != nil || !slices.Equal(jobsOf(recs), names4) {
				t.Fatalf("pipeline request: %v %+v", err, recs)
			}
			for _, rec := range recs {
				if rec.Outcome != Done || rec.Holder != "sched" || rec.Window != day {
					t.Errorf("record %+v", rec)
				}
			}
			if got := ranFor(c, day); !slices.Equal(got, names4) {
				t.Fatalf("ran %v, want %v", got, names4)
			}

			// Done: without force nothing runs again, with force all does.
			if recs, err := op.RunNow(ctx, Pipeline, day, false); err != nil || len(recs) != 4 || len(ranFor(c, day)) != 4 {
				t.Fatalf("unforced rerun: %v %+v, ran %v", err, recs, ranFor(c, day))
			}
			recs, err = op.RunNow(ctx, Pipeline, day, true)
			if err != nil || len(recs) != 4 || !slices.Equal(ranFor(c, day), append(slices.Clone(names4), names4...)) {
				t.Fatalf("forced rerun: %v %+v, ran %v", err, recs, ranFor(c, day))
			}
			if recs[3].Attempts != 2 {
				t.Errorf("forced record %+v, want attempt 2", recs[3])
			}
			if left := keys(t, b, lake.JobRequestPrefix); len(left) != 0 {
				t.Errorf("handled requests left: %v", left)
			}
			results := keys(t, b, lake.JobResultPrefix)
			if len(results) != 3 {
				t.Fatalf("results %v, want 3", results)
			}
			var res result
			if ok, err := getJSON(ctx, b, results[2], &res); !ok || err != nil || res.State != stateDone || res.Holder != "sched" ||
				res.Job != Pipeline || !res.Force || len(res.Records) != 4 || res.Finished.Before(res.Started) {
				t.Errorf("result %+v %v", res, err)
			}
			stop()

			// With the lease free, the caller takes it and runs the
			// pipeline itself.
			recs, err = op.RunNow(ctx, Pipeline, "2026-03-02", false)
			if err != nil || !slices.Equal(jobsOf(recs), names4) || recs[0].Holder != "operator" {
				t.Fatalf("pipeline with a free lease: %v %+v", err, recs)
			}
			if st, err := op.Status(ctx); err != nil || st.LeaseHolder != "" {
				t.Errorf("lease not released: %+v %v", st, err)
			}
		})
	}
}

func TestPipelineRequestStopsAtFailure(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newCalls()
			var fixed atomic.Bool
			jobs := c.pipeline4()
			jobs[1] = c.job("stats", func(_ context.Context, w string, _ int) (Result, error) {
				if w == "2026-03-01" && !fixed.Load() {
					return Result{}, fail("disk full")
				}
				return Result{}, nil
			})
			jobs[2] = c.job("train", func(_ context.Context, w string, _ int) (Result, error) {
				if w == "2026-03-02" && !fixed.Load() {
					return Result{}, fail("no models left: %w", ErrHalt)
				}
				return Result{}, nil
			})
			clk := newClock(day0)
			cfg := testConfig("sched")
			cfg.CatchUp = 1
			b := open()
			sched, _ := newRunner(t, open(), cfg, jobs, nil, WithClock(clk.now))
			startHolding(t, sched, b, dueDays[2:])
			op, _ := newRunner(t, b, testConfig("operator"), jobs, nil, WithClock(clk.now))

			recs, err := op.RunNow(ctx, Pipeline, "2026-03-01", false)
			if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "sched") {
				t.Fatalf("failing pipeline: %v", err)
			}
			if !slices.Equal(jobsOf(recs), []string{"compact", "stats"}) || recs[1].Outcome != Failed {
				t.Fatalf("records %+v", recs)
			}
			if got := ranFor(c, "2026-03-01"); !slices.Equal(got, []string{"compact", "stats"}) {
				t.Fatalf("ran %v: dependents of a failed job ran", got)
			}

			// A halt travels back as ErrHalt, then blocks unforced runs as
			// ErrHalted; a forced run after the fix clears it.
			if _, err := op.RunNow(ctx, Pipeline, "2026-03-02", false); !errors.Is(err, ErrHalt) {
				t.Fatalf("halting pipeline: %v, want ErrHalt", err)
			}
			if _, err := runOne(op, "train", "2026-03-02", false); !errors.Is(err, ErrHalted) {
				t.Fatalf("halted job: %v, want ErrHalted", err)
			}
			fixed.Store(true)
			recs, err = op.RunNow(ctx, Pipeline, "2026-03-02", true)
			if err != nil || len(recs) != 4 || recs[2].Outcome != Done {
				t.Fatalf("forced pipeline after the fix: %v %+v", err, recs)
			}
			if st, err := op.Status(ctx); err != nil || len(st.Halted) != 0 {
				t.Fatalf("halt not cleared: %+v %v", st.Halted, err)
			}
			if _, ok, _ := readHalt(ctx, b, "train"); ok {
				t.Fatal("halt marker left")
			}
		})
	}
}

// A request sent while a holder that never answers has the lease is run by
// its sender once that lease runs out.
func TestRequestRunsWhenHolderGoesAway(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			clk := newClock(day0)
			b := open()
			holdFor(t, open(), "ghost", 300*time.Millisecond, clk.now)
			op, _ := newRunner(t, b, testConfig("operator"), c.pipeline4(), nil, WithClock(clk.now))
			began := time.Now()
			rec, err := runOne(op, "stats", dueDays[0], false)
			if err != nil || rec.Outcome != Done || rec.Holder != "operator" {
				t.Fatalf("run now: %+v %v", rec, err)
			}
			if took := time.Since(began); took < 300*time.Millisecond {
				t.Errorf("ran after %v, before the ghost's term ended", took)
			}
			if left := keys(t, b, lake.JobRequestPrefix); len(left) != 0 {
				t.Errorf("requests left: %v", left)
			}
		})
	}
}

// A caller that stops waiting withdraws a request no scheduler started.
func TestRequestWithdrawnWhenCallerGivesUp(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			clk := newClock(day0)
			b := open()
			holdFor(t, open(), "ghost", time.Minute, clk.now)
			op, _ := newRunner(t, b, testConfig("operator"), c.pipeline4(), nil, WithClock(clk.now))
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			_, err := op.RunNow(ctx, Pipeline, dueDays[0], false)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "withdrawn") {
				t.Fatalf("run now: %v", err)
			}
			if left := keys(t, b, lake.JobRequestPrefix); len(left) != 0 {
				t.Errorf("requests left: %v", left)
			}
			if len(c.sequence()) != 0 {
				t.Errorf("jobs ran: %v", c.sequence())
			}
		})
	}
}

// putRequest writes a request as RunNow would, made at the given time.
func putRequest(t *testing.T, b *lake.Bucket, job, window string, at time.Time) string {
	t.Helper()
	id := ulid.MustNew(ulid.Timestamp(at), rand.Reader).String()
	req := request{ID: id, Job: job, Window: window, RequestedAt: at, Requester: "someone"}
	if err := putJSON(context.Background(), b, lake.JobRequestKey(id), req, true); err != nil {
		t.Fatal(err)
	}
	return id
}

// Requests waiting when a scheduler takes the lease are handled at once;
// stale ones are answered as expired and not run; old results and unknown
// jobs are dealt with.
func TestRequestsPendingAtStart(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newCalls()
			clk := newClock(day0)
			b := open()
			fresh := putRequest(t, b, "train", "2026-03-01", day0.Add(-time.Minute))
			stale := putRequest(t, b, "train", "2026-02-01", day0.Add(-2*day))
			unknown := putRequest(t, b, "nope", "2026-03-01", day0.Add(-time.Minute))
			if err := b.Put(ctx, lake.JobRequestKey(ulid.Make().String()), []byte("{"), lake.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			oldResult := lake.JobResultKey(ulid.MustNew(ulid.Timestamp(day0.Add(-2*day)), rand.Reader).String())
			if err := b.Put(ctx, oldResult, []byte(`{"state":"done"}`), lake.PutOptions{}); err != nil {
				t.Fatal(err)
			}

			cfg := testConfig("sched")
			cfg.CatchUp = 1
			sched, _ := newRunner(t, open(), cfg, c.pipeline4(), nil, WithClock(clk.now))
			startHolding(t, sched, b, dueDays[2:])
			eventually(t, 5*time.Second, "requests handled", func() bool { return len(keys(t, b, lake.JobRequestPrefix)) == 0 })

			if res, ok, err := readResult(ctx, b, fresh); !ok || err != nil || res.State != stateDone || res.Records[0].Job != "train" {
				t.Errorf("fresh request: %+v %v", res, err)
			}
			if c.count("train", "2026-03-01") != 1 {
				t.Error("fresh request not run")
			}
			if res, _, _ := readResult(ctx, b, stale); res.State != stateFailed || !strings.Contains(res.Error, "expired") {
				t.Errorf("stale request: %+v", res)
			}
			if c.count("train", "2026-02-01") != 0 {
				t.Error("stale request was run")
			}
			res, _, _ := readResult(ctx, b, unknown)
			if res.State != stateFailed || !errors.Is(res.err(), ErrUnknownJob) {
				t.Errorf("unknown job request: %+v", res)
			}
			if _, err := b.Stat(ctx, oldResult); !errors.Is(err, lake.ErrNotFound) {
				t.Errorf("old result kept: %v", err)
			}
			if n := len(keys(t, b, lake.JobResultPrefix)); n != 4 {
				t.Errorf("%d results, want 4 (three requests and the damaged one)", n)
			}
		})
	}
}

// The first start of a scheduler on an empty lake records "nothing to do"
// for the days it catches up on. That must not get in the way of an
// operator's runs once data is there (unforced ones try a "nothing" window
// again, and skip it once done), nor make the scheduler rerun them.
func TestEmptyLakeCatchUpThenForcedRun(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newCalls()
			var data atomic.Bool
			empty := func(context.Context, string, int) (Result, error) {
				if !data.Load() {
					return Result{Outcome: Nothing, Message: "empty lake"}, nil
				}
				return Result{}, nil
			}
			jobs := []Job{c.job("compact", empty), c.job("stats", empty), c.job("train", empty), c.job("publish", empty)}
			clk := newClock(day0)
			b := open()
			sched, _ := newRunner(t, open(), testConfig("sched"), jobs, nil, WithClock(clk.now))
			startHolding(t, sched, b, dueDays)
			for _, d := range dueDays {
				if rec, _ := record(t, b, "publish", d); rec.Outcome != Nothing {
					t.Fatalf("%s: %+v", d, rec)
				}
			}

			// Data arrives. An operator's run tries the "nothing" window
			// again without force; the scheduler runs it.
			data.Store(true)
			op, _ := newRunner(t, b, testConfig("operator"), jobs, nil, WithClock(clk.now))
			recs, err := op.RunNow(ctx, Pipeline, dueDays[1], false)
			if err != nil || len(recs) != 4 || c.count("compact", dueDays[1]) != 2 {
				t.Fatalf("unforced after data: %v %+v (compact ran %d times)", err, recs, c.count("compact", dueDays[1]))
			}
			for _, rec := range recs {
				if rec.Outcome != Done || rec.Attempts != 2 || rec.Holder != "sched" {
					t.Errorf("record after data %+v", rec)
				}
			}
			// Now done: an unforced run skips it, a forced one runs it again.
			if recs, err := op.RunNow(ctx, Pipeline, dueDays[1], false); err != nil || len(recs) != 4 || c.count("compact", dueDays[1]) != 2 {
				t.Fatalf("unforced on a done window: %v %+v", err, recs)
			}
			recs, err = op.RunNow(ctx, Pipeline, dueDays[1], true)
			if err != nil || len(recs) != 4 || c.count("compact", dueDays[1]) != 3 {
				t.Fatalf("forced: %v %+v", err, recs)
			}
			for _, rec := range recs {
				if rec.Outcome != Done || rec.Attempts != 3 || rec.Holder != "sched" {
					t.Errorf("forced record %+v", rec)
				}
			}
			for _, d := range []string{dueDays[0], dueDays[2]} {
				if n := c.count("compact", d); n != 1 {
					t.Errorf("compact ran %d times for %s", n, d)
				}
			}
		})
	}
}

func TestPipelineIsNotAJobName(t *testing.T) {
	ok := func(context.Context, string) (Result, error) { return Result{}, nil }
	if _, err := NewRunner(memBucket(t), nil, nil, Config{}, []Job{{Name: Pipeline, Run: ok}}, nil); err == nil {
		t.Fatal("a job named pipeline was accepted")
	}
	hourly := Job{Name: "compact-hourly", Run: ok}
	r, err := NewRunner(memBucket(t), nil, nil, Config{}, nil, &hourly)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.RunNow(context.Background(), Pipeline, "2026-03-01", false); !errors.Is(err, ErrUnknownJob) {
		t.Fatalf("pipeline without one: %v", err)
	}
}
