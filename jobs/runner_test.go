package jobs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

func backfillDue(t *testing.T, r *Runner) error {
	t.Helper()
	from, _ := lake.ParseDay(dueDays[0])
	to, _ := lake.ParseDay(dueDays[len(dueDays)-1])
	return r.Backfill(context.Background(), from, to, nil)
}

func TestPipelineRunsInOrder(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := open()
			c := newCalls()
			r, reg := newRunner(t, b, testConfig("a"), c.pipeline4(), nil, WithClock(newClock(day0).now))
			var progress []int
			from, _ := lake.ParseDay(dueDays[0])
			to, _ := lake.ParseDay(dueDays[2])
			if err := r.Backfill(context.Background(), from, to, func(done, total int) {
				if total != 3 {
					t.Errorf("total %d, want 3", total)
				}
				progress = append(progress, done)
			}); err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, d := range dueDays {
				for _, n := range names4 {
					want = append(want, n+"@"+d)
				}
			}
			if got := c.sequence(); !slices.Equal(got, want) {
				t.Fatalf("order\n got %v\nwant %v", got, want)
			}
			if !slices.Equal(progress, []int{1, 2, 3}) {
				t.Errorf("progress %v", progress)
			}
			rec, _ := record(t, b, "train", dueDays[1])
			if rec.Outcome != Done || rec.Attempts != 1 || rec.Holder != "a" || rec.Figures["rows"] != 1 ||
				rec.Window != dueDays[1] || rec.Finished.Before(rec.Started) || rec.Term == 0 {
				t.Errorf("record %+v", rec)
			}
			if v := metricValue(t, reg, "idmt_jobs_runs_total", map[string]string{"job": "publish", "outcome": "done"}); v != 3 {
				t.Errorf("runs_total{publish,done} = %v, want 3", v)
			}
			// The lease taken for the backfill is released.
			st, err := r.Status(context.Background())
			if err != nil || st.LeaseHolder != "" || st.Holding {
				t.Errorf("status after backfill: %+v %v", st, err)
			}
		})
	}
}

func TestPipelineStopsAtFailure(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	var broken atomic.Bool
	broken.Store(true)
	jobs := []Job{
		c.job("compact", nil),
		c.job("stats", func(_ context.Context, w string, _ int) (Result, error) {
			if broken.Load() && w == dueDays[1] {
				return Result{}, fail("disk full")
			}
			return Result{}, nil
		}),
		c.job("train", nil),
		c.job("publish", nil),
	}
	cfg := testConfig("a")
	cfg.MaxAttempts = 2
	r, reg := newRunner(t, b, cfg, jobs, nil, WithClock(newClock(day0).now))
	err := backfillDue(t, r)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 days incomplete") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("backfill: %v", err)
	}
	want := []string{
		"compact@2026-03-07", "stats@2026-03-07", "train@2026-03-07", "publish@2026-03-07",
		"compact@2026-03-08", "stats@2026-03-08", "stats@2026-03-08",
		// stats used up its attempts in this pass, so it waits for the next.
		"compact@2026-03-09",
	}
	if got := c.sequence(); !slices.Equal(got, want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
	rec, _ := record(t, b, "stats", dueDays[1])
	if rec.Outcome != Failed || rec.Attempts != 2 || !strings.Contains(rec.Error, "disk full") {
		t.Errorf("stats record %+v", rec)
	}
	for _, w := range dueDays[1:] {
		if _, ok := record(t, b, "train", w); ok {
			t.Errorf("train ran for %s after stats failed", w)
		}
	}
	if v := metricValue(t, reg, "idmt_jobs_runs_total", map[string]string{"job": "stats", "outcome": "failed"}); v != 1 {
		t.Errorf("runs_total{stats,failed} = %v", v)
	}

	// The next pass finishes what is left and nothing else.
	broken.Store(false)
	if err := backfillDue(t, r); err != nil {
		t.Fatal(err)
	}
	if !complete(t, b, names4, dueDays) {
		t.Fatal("incomplete after second pass")
	}
	for _, d := range dueDays {
		for _, n := range names4 {
			want := 1
			if n == "stats" && d == dueDays[1] {
				want = 3
			}
			if got := c.count(n, d); got != want {
				t.Errorf("%s@%s ran %d times, want %d", n, d, got, want)
			}
		}
	}
	if rec, _ := record(t, b, "stats", dueDays[1]); rec.Attempts != 3 {
		t.Errorf("attempts %d, want 3 (counted across passes)", rec.Attempts)
	}
}

func TestNothingToDoLetsChainContinue(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	jobs := c.pipeline4()
	jobs[0] = c.job("compact", func(context.Context, string, int) (Result, error) {
		return Result{Outcome: Nothing, Message: "no new batches"}, nil
	})
	r, reg := newRunner(t, b, testConfig("a"), jobs, nil, WithClock(newClock(day0).now))
	if err := backfillDue(t, r); err != nil {
		t.Fatal(err)
	}
	if !complete(t, b, names4, dueDays) {
		t.Fatal("pipeline stopped after nothing to do")
	}
	rec, _ := record(t, b, "compact", dueDays[0])
	if rec.Outcome != Nothing || rec.Message != "no new batches" {
		t.Errorf("record %+v", rec)
	}
	if v := metricValue(t, reg, "idmt_jobs_last_success_timestamp_seconds", map[string]string{"job": "compact"}); v < float64(day0.Unix()) {
		t.Errorf("last success %v", v)
	}
}

func TestRetryWithBackoffThenSuccess(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	jobs := c.pipeline4()
	jobs[2] = c.job("train", func(_ context.Context, _ string, n int) (Result, error) {
		if n < 3 {
			return Result{}, fail("bucket timeout")
		}
		return Result{Figures: map[string]int64{"models": 4}}, nil
	})
	cfg := testConfig("a")
	cfg.MaxAttempts = 5
	cfg.Backoff = 10 * time.Millisecond
	r, reg := newRunner(t, b, cfg, jobs, nil, WithClock(newClock(day0).now))
	day, _ := lake.ParseDay(dueDays[0])
	began := time.Now()
	if err := r.Backfill(context.Background(), day, day, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took < 30*time.Millisecond {
		t.Errorf("took %v; backoff of 10 ms then 20 ms not waited", took)
	}
	rec, _ := record(t, b, "train", dueDays[0])
	if rec.Outcome != Done || rec.Attempts != 3 || rec.Figures["models"] != 4 || rec.Error != "" {
		t.Errorf("record %+v", rec)
	}
	if c.count("publish", dueDays[0]) != 1 {
		t.Error("publish did not run after train succeeded")
	}
	for outcome, want := range map[string]float64{"retry": 2, "done": 1, "failed": 0} {
		if v := metricValue(t, reg, "idmt_jobs_runs_total", map[string]string{"job": "train", "outcome": outcome}); v != want {
			t.Errorf("runs_total{train,%s} = %v, want %v", outcome, v, want)
		}
	}
	if v := metricValue(t, reg, "idmt_jobs_duration_seconds", map[string]string{"job": "train"}); v != 3 {
		t.Errorf("duration samples %v, want 3", v)
	}
}

func TestAttemptsAreBounded(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	jobs := c.pipeline4()
	jobs[2] = c.job("train", func(context.Context, string, int) (Result, error) { return Result{}, fail("always") })
	r, reg := newRunner(t, b, testConfig("a"), jobs, nil, WithClock(newClock(day0).now))
	day, _ := lake.ParseDay(dueDays[0])
	if err := r.Backfill(context.Background(), day, day, nil); err == nil {
		t.Fatal("backfill succeeded")
	}
	if n := c.count("train", dueDays[0]); n != 3 {
		t.Fatalf("train ran %d times, want MaxAttempts 3", n)
	}
	if c.count("publish", dueDays[0]) != 0 {
		t.Fatal("publish ran after train failed")
	}
	rec, _ := record(t, b, "train", dueDays[0])
	if rec.Outcome != Failed || rec.Attempts != 3 {
		t.Errorf("record %+v", rec)
	}
	if v := metricValue(t, reg, "idmt_jobs_runs_total", map[string]string{"job": "train", "outcome": "retry"}); v != 2 {
		t.Errorf("runs_total{train,retry} = %v, want 2", v)
	}
}

func TestJobPanicIsAFailedAttempt(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	jobs := []Job{c.job("compact", func(_ context.Context, _ string, n int) (Result, error) {
		if n == 1 {
			panic("boom")
		}
		return Result{}, nil
	})}
	r, _ := newRunner(t, b, testConfig("a"), jobs, nil, WithClock(newClock(day0).now))
	if _, err := runOne(r, "compact", dueDays[0], false); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("run now: %v", err)
	}
	if rec, err := runOne(r, "compact", dueDays[0], false); err != nil || rec.Outcome != Done || rec.Attempts != 2 {
		t.Fatalf("second run: %+v %v", rec, err)
	}
}

func TestHaltPersistsAcrossRestart(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			var broken atomic.Bool
			broken.Store(true)
			jobs := c.pipeline4()
			jobs[2] = c.job("train", func(_ context.Context, w string, _ int) (Result, error) {
				if broken.Load() && w == dueDays[1] {
					return Result{}, fail("model count dropped from 12 to 0: %w", ErrHalt)
				}
				return Result{}, nil
			})

			b1 := open()
			r1, reg1 := newRunner(t, b1, testConfig("r1"), jobs, nil, WithClock(newClock(day0).now))
			stop1 := start(t, r1)
			eventually(t, 5*time.Second, "halt", func() bool {
				rec, ok := record(t, b1, "stats", dueDays[2])
				return ok && rec.Outcome == Done &&
					metricValue(t, reg1, "idmt_jobs_halted", map[string]string{"job": "train"}) == 1
			})
			rec, _ := record(t, b1, "train", dueDays[1])
			if rec.Outcome != Halted || !strings.Contains(rec.Error, "model count dropped") {
				t.Fatalf("train record %+v", rec)
			}
			if c.count("train", dueDays[2]) != 0 || c.count("publish", dueDays[1]) != 0 {
				t.Fatal("halted job or its dependent ran")
			}
			// The process keeps running and says so.
			st, err := r1.Status(context.Background())
			if err != nil || len(st.Halted) != 1 || st.Halted[0].Job != "train" || st.Halted[0].Window != dueDays[1] ||
				!st.Holding || st.LeaseHolder != "r1" {
				t.Fatalf("status %+v %v", st, err)
			}
			stop1()

			// A restarted scheduler, a day later, keeps train halted but runs
			// the other jobs of the new day.
			broken.Store(false)
			b2 := open()
			r2, reg2 := newRunner(t, b2, testConfig("r2"), jobs, nil, WithClock(newClock(day0.Add(day)).now))
			stop2 := start(t, r2)
			eventually(t, 5*time.Second, "next day", func() bool {
				rec, ok := record(t, b2, "stats", "2026-03-10")
				return ok && rec.Outcome == Done
			})
			stop2()
			if v := metricValue(t, reg2, "idmt_jobs_halted", map[string]string{"job": "train"}); v != 1 {
				t.Errorf("halted gauge after restart = %v, want 1", v)
			}
			if v := metricValue(t, reg2, "idmt_jobs_halted", map[string]string{"job": "stats"}); v != 0 {
				t.Errorf("halted{stats} = %v, want 0", v)
			}
			for _, w := range []string{dueDays[1], dueDays[2], "2026-03-10"} {
				if n := c.count("train", w); n > 1 || (n == 1 && w != dueDays[1]) {
					t.Errorf("train ran %d times for %s while halted", n, w)
				}
			}

			// An operator: without force the halt stands; a forced run that
			// succeeds clears it, and the pipeline resumes.
			r3, reg3 := newRunner(t, open(), testConfig("op"), jobs, nil, WithClock(newClock(day0.Add(day)).now))
			if _, err := runOne(r3, "train", dueDays[1], false); !errors.Is(err, ErrHalted) {
				t.Fatalf("run without force: %v, want ErrHalted", err)
			}
			rec, err = runOne(r3, "train", dueDays[1], true)
			if err != nil || rec.Outcome != Done {
				t.Fatalf("forced run: %+v %v", rec, err)
			}
			if v := metricValue(t, reg3, "idmt_jobs_halted", map[string]string{"job": "train"}); v != 0 {
				t.Errorf("halted gauge after forced run = %v", v)
			}
			if st, _ := r3.Status(context.Background()); len(st.Halted) != 0 {
				t.Errorf("still halted: %+v", st.Halted)
			}
			from, _ := lake.ParseDay(dueDays[0])
			to, _ := lake.ParseDay("2026-03-10")
			if err := r3.Backfill(context.Background(), from, to, nil); err != nil {
				t.Fatal(err)
			}
			if !complete(t, b1, names4, append(dueDays, "2026-03-10")) {
				t.Fatal("pipeline did not resume")
			}
		})
	}
}

func TestCrashMidJobIsRerun(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			started := make(chan struct{})
			var once sync.Once
			block := c.pipeline4()
			block[2] = c.job("train", func(ctx context.Context, w string, _ int) (Result, error) {
				if w != dueDays[0] {
					return Result{}, nil
				}
				once.Do(func() { close(started) })
				<-ctx.Done() // a long job, interrupted
				return Result{}, ctx.Err()
			})
			b := open()
			r1, _ := newRunner(t, b, testConfig("r1"), block, nil, WithClock(newClock(day0).now))
			stop1 := start(t, r1)
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("train did not start")
			}
			// While the job runs its record says so, never done.
			if rec, _ := record(t, b, "train", dueDays[0]); rec.Outcome != Running || rec.Holder != "r1" {
				t.Fatalf("record during the run: %+v", rec)
			}
			stop1()
			if rec, _ := record(t, b, "train", dueDays[0]); rec.Outcome != Running {
				t.Fatalf("record after the crash: %+v", rec)
			}

			// The restart reruns it; r1 released the lease on its way out,
			// so r2 starts at once.
			r2, _ := newRunner(t, open(), testConfig("r2"), c.pipeline4(), nil, WithClock(newClock(day0).now))
			began := time.Now()
			start(t, r2)
			eventually(t, 5*time.Second, "completion", func() bool { return complete(t, b, names4, dueDays) })
			if took := time.Since(began); took > testConfig("").LeaseTTL {
				t.Errorf("restart took %v: lease not released", took)
			}
			if n := c.count("train", dueDays[0]); n != 2 {
				t.Errorf("train ran %d times, want 2", n)
			}
			if n := c.count("compact", dueDays[0]); n != 1 {
				t.Errorf("compact ran %d times after restart, want 1 (done work skipped)", n)
			}
			if rec, _ := record(t, b, "train", dueDays[0]); rec.Attempts != 2 || rec.Holder != "r2" {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

func TestTwoRunnersRunEachWindowOnce(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			slow := func(context.Context, string, int) (Result, error) {
				time.Sleep(2 * time.Millisecond)
				return Result{}, nil
			}
			jobs := []Job{c.job("compact", slow), c.job("stats", slow), c.job("train", slow), c.job("publish", slow)}
			hourly := c.job("compact-hourly", nil)
			clk := newClock(day0)
			cfg1, cfg2 := testConfig("r1"), testConfig("r2")
			cfg1.CatchUp, cfg2.CatchUp = 1, 1 // one day, 24 hours
			b1, b2 := open(), open()
			r1, reg1 := newRunner(t, b1, cfg1, jobs, &hourly, WithClock(clk.now))
			r2, reg2 := newRunner(t, b2, cfg2, jobs, &hourly, WithClock(clk.now))
			start(t, r1)
			start(t, r2)
			var hours []string
			// At 05:00 with the default "5 * * * *" the newest due hour is 03.
			for i := range 24 {
				hours = append(hours, day0.Add(time.Duration(i-25)*time.Hour).Format(hourLayout))
			}
			eventually(t, 10*time.Second, "completion", func() bool {
				return complete(t, b1, names4, dueDays[2:]) && complete(t, b1, []string{"compact-hourly"}, hours)
			})
			for _, n := range names4 {
				if got := c.count(n, dueDays[2]); got != 1 {
					t.Errorf("%s ran %d times, want 1", n, got)
				}
			}
			for _, h := range hours {
				if got := c.count("compact-hourly", h); got != 1 {
					t.Errorf("compact-hourly@%s ran %d times, want 1", h, got)
				}
			}
			held1 := metricValue(t, reg1, "idmt_jobs_lease_held", nil)
			held2 := metricValue(t, reg2, "idmt_jobs_lease_held", nil)
			if held1+held2 != 1 {
				t.Errorf("lease held by r1=%v r2=%v, want exactly one", held1, held2)
			}
		})
	}
}

func TestSurvivorTakesOverFromDeadHolder(t *testing.T) {
	// Two ways for the holder r1 to die mid-job without releasing the
	// lease: "cut" takes the bucket away from it (it can neither renew nor
	// release nor record, while its context lives on: it must notice the
	// lease ran out and stop), "cancel" ends its context as well, as a
	// killed process would.
	for _, mode := range []string{"cut", "cancel"} {
		for name, open := range backends(t) {
			t.Run(mode+"/"+name, func(t *testing.T) {
				survivorTakesOver(t, open, mode == "cancel")
			})
		}
	}
}

func survivorTakesOver(t *testing.T, open func(...lake.Option) *lake.Bucket, cancel bool) {
	c := newCalls()
	var dead atomic.Bool
	b1 := open(lake.WithFault(func(lake.Op, string) error {
		if dead.Load() {
			return errors.New("host unreachable")
		}
		return nil
	}))
	b2 := open()
	var (
		mu       sync.Mutex
		killed   = make(chan struct{})
		killedAt time.Time
		r1Ended  time.Time // when r1's job saw its context end
		r1Cause  error
		r2Began  time.Time // when r2 started the same job
	)
	jobs1 := c.pipeline4()
	jobs1[2] = c.job("train", func(ctx context.Context, w string, _ int) (Result, error) {
		if w != dueDays[1] {
			return Result{}, nil
		}
		mu.Lock()
		killedAt = time.Now()
		mu.Unlock()
		dead.Store(true)
		close(killed)
		<-ctx.Done()
		mu.Lock()
		r1Ended, r1Cause = time.Now(), context.Cause(ctx)
		mu.Unlock()
		return Result{}, ctx.Err()
	})
	jobs2 := c.pipeline4()
	jobs2[2] = c.job("train", func(_ context.Context, w string, _ int) (Result, error) {
		if w == dueDays[1] {
			mu.Lock()
			r2Began = time.Now()
			mu.Unlock()
		}
		return Result{}, nil
	})
	clk := newClock(day0)
	r1, reg1 := newRunner(t, b1, testConfig("r1"), jobs1, nil, WithClock(clk.now))
	r2, reg2 := newRunner(t, b2, testConfig("r2"), jobs2, nil, WithClock(clk.now))
	stop1 := start(t, r1)
	eventually(t, 5*time.Second, "r1 holds the lease", func() bool {
		return metricValue(t, reg1, "idmt_jobs_lease_held", nil) == 1
	})
	start(t, r2)
	select {
	case <-killed:
	case <-time.After(20 * time.Second): // generous: two cores under load
		t.Fatal("r1 did not reach the job")
	}
	if cancel {
		stop1()
	}
	eventually(t, 10*time.Second, "r2 finishes", func() bool { return complete(t, b2, names4, dueDays) })

	mu.Lock()
	defer mu.Unlock()
	ttl := testConfig("").LeaseTTL
	if cancel {
		if !errors.Is(r1Cause, context.Canceled) {
			t.Errorf("r1's job ended with %v, want context.Canceled", r1Cause)
		}
		// Its lease was not released: r2 had to wait for it to expire.
		if wait := r2Began.Sub(killedAt); wait < ttl/2 {
			t.Errorf("r2 started %v after r1 died, before r1's term could expire", wait)
		}
	} else {
		if !errors.Is(r1Cause, ErrLeaseLost) {
			t.Errorf("r1's job ended with %v, want ErrLeaseLost", r1Cause)
		}
		if lost := r1Ended.Sub(killedAt); lost > ttl+100*time.Millisecond {
			t.Errorf("r1 kept working %v after it could no longer renew", lost)
		}
	}
	if r2Began.IsZero() || !r2Began.After(r1Ended) {
		t.Errorf("r2 started the job at %v, before r1's job was cancelled at %v", r2Began, r1Ended)
	}
	for _, d := range dueDays {
		for _, n := range names4 {
			want := 1
			if n == "train" && d == dueDays[1] {
				want = 2 // once cut short on r1, once on r2
			}
			if got := c.count(n, d); got != want {
				t.Errorf("%s@%s ran %d times, want %d", n, d, got, want)
			}
		}
	}
	if rec, _ := record(t, b2, "train", dueDays[1]); rec.Holder != "r2" || rec.Outcome != Done {
		t.Errorf("record %+v", rec)
	}
	if metricValue(t, reg1, "idmt_jobs_lease_held", nil) != 0 || metricValue(t, reg2, "idmt_jobs_lease_held", nil) != 1 {
		t.Error("lease_held gauges do not show r2 as the holder")
	}
}

func TestRunNowHonoursLease(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			hourly := c.job("compact-hourly", nil)
			clk := newClock(day0)
			cfg := testConfig("sched")
			cfg.CatchUp = 1
			sched, _ := newRunner(t, open(), cfg, c.pipeline4(), &hourly, WithClock(clk.now))
			stop := start(t, sched)
			eventually(t, 5*time.Second, "scheduler done", func() bool { return complete(t, open(), names4, dueDays[2:]) })

			// The scheduler itself may run a job now: under its own lease.
			if rec, err := runOne(sched, "train", dueDays[2], true); err != nil || rec.Outcome != Done || rec.Holder != "sched" {
				t.Fatalf("run now on the holder: %+v %v", rec, err)
			}

			// Another runner hands its run to the holder and gets the
			// record back.
			b := open()
			op, _ := newRunner(t, b, testConfig("operator"), c.pipeline4(), &hourly, WithClock(clk.now))
			before := c.count("train", dueDays[2])
			rec, err := runOne(op, "train", dueDays[2], true)
			if err != nil || rec.Outcome != Done || rec.Holder != "sched" || c.count("train", dueDays[2]) != before+1 {
				t.Fatalf("run now while a scheduler holds the lease: %+v %v", rec, err)
			}
			st, err := op.Status(context.Background())
			if err != nil || st.LeaseHolder != "sched" || st.Holding || st.NextNightly.IsZero() || st.NextHourly.IsZero() {
				t.Fatalf("status %+v %v", st, err)
			}
			// Backfill does not send requests.
			if err := backfillDue(t, op); !errors.Is(err, ErrLeaseHeld) || !strings.Contains(err.Error(), "sched") {
				t.Fatalf("backfill while a scheduler holds the lease: %v", err)
			}
			stop()

			// Stopped cleanly, the scheduler released the lease: no wait.
			before = c.count("train", dueDays[2])
			rec, err = runOne(op, "train", dueDays[2], false)
			if err != nil || rec.Outcome != Done || c.count("train", dueDays[2]) != before {
				t.Fatalf("run now of a done window without force: %+v %v (ran %d)", rec, err, c.count("train", dueDays[2])-before)
			}
			rec, err = runOne(op, "train", dueDays[2], true)
			if err != nil || rec.Holder != "operator" || c.count("train", dueDays[2]) != before+1 {
				t.Fatalf("forced run: %+v %v", rec, err)
			}
			if rec, err := runOne(op, "compact-hourly", "2026-03-01T07", false); err != nil || rec.Outcome != Done {
				t.Fatalf("hourly run now: %+v %v", rec, err)
			}
			for _, bad := range []struct{ job, window string }{
				{"train", "2026-03-01T07"}, {"compact-hourly", "2026-03-01"}, {"train", "yesterday"}, {"train", "halted"},
				{Pipeline, "2026-03-01T07"},
				// Windows that have not ended: today, this hour, tomorrow.
				{"train", "2026-03-10"}, {Pipeline, "2026-03-10"}, {"compact-hourly", "2026-03-10T05"}, {Pipeline, "2026-03-11"},
			} {
				if _, err := op.RunNow(context.Background(), bad.job, bad.window, true); !errors.Is(err, ErrWindow) {
					t.Errorf("run now %s %s: %v, want ErrWindow", bad.job, bad.window, err)
				}
			}
			from, _ := lake.ParseDay(dueDays[0])
			if err := op.Backfill(context.Background(), from, day0, nil); !errors.Is(err, ErrWindow) {
				t.Errorf("backfill up to today: %v, want ErrWindow", err)
			}
			if _, err := op.RunNow(context.Background(), "nope", dueDays[0], true); !errors.Is(err, ErrUnknownJob) {
				t.Errorf("unknown job: %v", err)
			}
			var left int
			_ = b.List(context.Background(), lake.JobRequestPrefix, func(lake.Attributes) error { left++; return nil })
			if left != 0 {
				t.Errorf("%d requests left in the bucket", left)
			}
		})
	}
}

func TestSchedulesTriggerWindows(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	hourly := c.job("compact-hourly", nil)
	clk := newClock(day0.Add(30 * time.Minute))
	cfg := testConfig("a")
	cfg.CatchUp = 1
	r, _ := newRunner(t, b, cfg, c.pipeline4(), &hourly, WithClock(clk.now),
		withSchedules(every(20*time.Millisecond), every(20*time.Millisecond)))
	start(t, r)
	eventually(t, 5*time.Second, "first night", func() bool {
		return complete(t, b, names4, []string{"2026-03-09"}) && complete(t, b, []string{"compact-hourly"}, []string{"2026-03-10T04"})
	})
	// A day passes: the next triggers run the new day and its hours.
	clk.advance(day)
	eventually(t, 5*time.Second, "second night", func() bool {
		return complete(t, b, names4, []string{"2026-03-10"}) && complete(t, b, []string{"compact-hourly"}, []string{"2026-03-11T04"})
	})
	for _, w := range []string{"2026-03-09", "2026-03-10"} {
		for _, n := range names4 {
			if got := c.count(n, w); got != 1 {
				t.Errorf("%s@%s ran %d times", n, w, got)
			}
		}
	}
	if got := c.count("compact", "2026-03-08"); got != 0 {
		t.Errorf("ran a day outside the catch-up window")
	}
	hours := 0
	for _, s := range c.sequence() {
		if strings.HasPrefix(s, "compact-hourly@") {
			hours++
		}
	}
	if hours != 48 {
		t.Errorf("hourly job ran %d times, want 48 (24 hours caught up, then 24 new)", hours)
	}
}

func TestRestartSkipsDoneWindows(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			r1, _ := newRunner(t, open(), testConfig("r1"), c.pipeline4(), nil, WithClock(newClock(day0).now))
			if err := backfillDue(t, r1); err != nil {
				t.Fatal(err)
			}
			b := open()
			r2, _ := newRunner(t, b, testConfig("r2"), c.pipeline4(), nil, WithClock(newClock(day0.Add(day)).now))
			start(t, r2)
			// Windows are caught up oldest first, so once the new day is
			// done the older ones have been looked at.
			eventually(t, 5*time.Second, "new day", func() bool { return complete(t, b, names4, []string{"2026-03-10"}) })
			for _, d := range append(dueDays, "2026-03-10") {
				for _, n := range names4 {
					if got := c.count(n, d); got != 1 {
						t.Errorf("%s@%s ran %d times, want 1", n, d, got)
					}
				}
			}
			if rec, _ := record(t, b, "publish", dueDays[1]); rec.Holder != "r1" {
				t.Errorf("done record rewritten: %+v", rec)
			}
		})
	}
}

func TestRecordsNewestFirst(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	r, _ := newRunner(t, b, testConfig("a"), c.pipeline4(), nil, WithClock(newClock(day0).now))
	if err := backfillDue(t, r); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := writeHalt(ctx, b, Record{Job: "train", Window: dueDays[0], Outcome: Halted}); err != nil {
		t.Fatal(err)
	}
	recs, err := Records(ctx, b, "train", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Window != dueDays[2] || recs[1].Window != dueDays[1] || recs[0].Job != "train" {
		t.Fatalf("records %+v", recs)
	}
	all, err := Records(ctx, b, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 12 || all[0].Window != dueDays[2] || all[0].Job != "compact" || all[11].Window != dueDays[0] {
		t.Fatalf("all records: %d, first %+v", len(all), all[0])
	}
}

func TestNewRunnerValidates(t *testing.T) {
	b := memBucket(t)
	ok := Job{Name: "compact", Run: func(context.Context, string) (Result, error) { return Result{}, nil }}
	for name, tc := range map[string]struct {
		cfg      Config
		pipeline []Job
		hourly   *Job
	}{
		"no jobs":      {},
		"bad name":     {pipeline: []Job{{Name: "Compact/x", Run: ok.Run}}},
		"nil run":      {pipeline: []Job{{Name: "stats"}}},
		"twice":        {pipeline: []Job{ok}, hourly: &ok},
		"bad nightly":  {cfg: Config{Nightly: "30 4 * *"}, pipeline: []Job{ok}},
		"bad hourly":   {cfg: Config{Hourly: "every hour"}, pipeline: []Job{ok}},
		"bad timezone": {cfg: Config{Nightly: "CRON_TZ=Mars/Olympus 30 4 * * *"}, pipeline: []Job{ok}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewRunner(b, nil, nil, tc.cfg, tc.pipeline, tc.hourly); err == nil {
				t.Fatal("no error")
			}
		})
	}
	r, err := NewRunner(b, nil, nil, Config{}, []Job{ok}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.cfg.Nightly != DefaultNightly || r.cfg.CatchUp != 3 || r.cfg.MaxAttempts != 5 || r.Holder() == "" {
		t.Errorf("defaults %+v", r.cfg)
	}
}

func TestUnreadableRecordIsRerun(t *testing.T) {
	// Writes are atomic, but a record damaged from outside (a hand edit, a
	// disk fault) must not stop the pipeline: it is shown as damaged and
	// the job runs again.
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open()
			c := newCalls()
			r, _ := newRunner(t, b, testConfig("a"), c.pipeline4(), nil, WithClock(newClock(day0).now))
			if err := backfillDue(t, r); err != nil {
				t.Fatal(err)
			}
			if err := b.Put(ctx, lake.JobRunKey("stats", dueDays[1]), []byte(`{"job":"stats","outc`), lake.PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := readRecord(ctx, b, "stats", dueDays[1]); !errors.Is(err, errUnreadable) {
				t.Fatalf("read damaged record: %v, want errUnreadable", err)
			}
			recs, err := Records(ctx, b, "stats", 0)
			if err != nil || len(recs) != 3 || !strings.Contains(recs[1].Error, "unreadable") {
				t.Fatalf("records with a damaged one: %+v %v", recs, err)
			}
			if err := backfillDue(t, r); err != nil {
				t.Fatal(err)
			}
			if n := c.count("stats", dueDays[1]); n != 2 {
				t.Errorf("stats ran %d times, want 2", n)
			}
			if n := c.count("stats", dueDays[0]); n != 1 {
				t.Errorf("stats of an intact day ran %d times, want 1", n)
			}
			if rec, ok := record(t, b, "stats", dueDays[1]); !ok || rec.Outcome != Done {
				t.Errorf("record not repaired: %+v", rec)
			}
		})
	}
}

// An operator's one-shot job runs only while no scheduler holds the lease,
// and a scheduler cannot take the lease while the one-shot job runs.
func TestExclusive(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := newCalls()
			b := open()
			sched, _ := newRunner(t, b, testConfig("sched"), c.pipeline4(), nil)
			stop := start(t, sched)
			eventually(t, 5*time.Second, "scheduler holds the lease", func() bool {
				st, err := sched.Status(context.Background())
				return err == nil && st.LeaseHolder == "sched"
			})
			ran := false
			err := Exclusive(context.Background(), b, nil, testConfig("operator"), func(context.Context) error { ran = true; return nil })
			if !errors.Is(err, ErrLeaseHeld) || !strings.Contains(err.Error(), "sched") || ran {
				t.Fatalf("one-shot job while a scheduler holds the lease: ran %v, %v", ran, err)
			}
			stop()

			inside := make(chan struct{})
			release := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- Exclusive(context.Background(), b, nil, testConfig("operator"), func(context.Context) error {
					close(inside)
					<-release
					return nil
				})
			}()
			<-inside
			other, _ := newRunner(t, b, testConfig("other"), c.pipeline4(), nil)
			if st, err := other.Status(context.Background()); err != nil || st.LeaseHolder != "operator" {
				t.Fatalf("while the one-shot job runs: %+v %v", st, err)
			}
			if err := other.Backfill(context.Background(), day0, day0, nil); !errors.Is(err, ErrLeaseHeld) {
				t.Fatalf("backfill during a one-shot job: %v", err)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Released: the lease is free at once.
			if err := Exclusive(context.Background(), b, nil, testConfig("again"), func(context.Context) error { return nil }); err != nil {
				t.Fatalf("after release: %v", err)
			}
		})
	}
}

// A scheduler that starts reports when each job last succeeded, from the
// run records, before it runs anything itself.
func TestLastSuccessRestoredFromRecords(t *testing.T) {
	b := memBucket(t)
	c := newCalls()
	r1, _ := newRunner(t, b, testConfig("r1"), c.pipeline4(), nil, WithClock(newClock(day0).now))
	if err := backfillDue(t, r1); err != nil {
		t.Fatal(err)
	}
	var newest float64
	for _, d := range dueDays {
		if rec, ok := record(t, b, "publish", d); ok && float64(rec.Finished.Unix()) > newest {
			newest = float64(rec.Finished.Unix())
		}
	}
	if newest == 0 {
		t.Fatal("no publish record after the backfill")
	}
	// A new scheduler (Run calls this before contending for the lease).
	r2, reg := newRunner(t, b, testConfig("r2"), c.pipeline4(), nil)
	r2.restoreLastSuccess(context.Background())
	if got := metricValue(t, reg, "idmt_jobs_last_success_timestamp_seconds", map[string]string{"job": "publish"}); got != newest {
		t.Fatalf("last success of publish = %v, want %v from the records", got, newest)
	}
}
