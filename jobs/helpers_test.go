package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"gocloud.dev/blob/memblob"
)

// backends opens, per bucket driver, a function that returns a new handle
// on one shared store: two handles act like two processes sharing a bucket,
// each with its own fault hook.
func backends(t *testing.T) map[string]func(opts ...lake.Option) *lake.Bucket {
	t.Helper()
	dir := t.TempDir()
	mem := memblob.OpenBucket(nil)
	t.Cleanup(func() { mem.Close() })
	return map[string]func(opts ...lake.Option) *lake.Bucket{
		"file": func(opts ...lake.Option) *lake.Bucket {
			b, err := lake.OpenBucket(context.Background(), "file://"+dir, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		},
		"mem": func(opts ...lake.Option) *lake.Bucket { return lake.NewBucket(mem, opts...) },
	}
}

func memBucket(t *testing.T) *lake.Bucket {
	t.Helper()
	b, err := lake.OpenBucket(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// clock is the real clock shifted to a chosen instant, so that lease
// timers and the runner agree while tests pick the day. advance jumps it.
type clock struct {
	mu     sync.Mutex
	at     time.Time
	origin time.Time
}

func newClock(at time.Time) *clock { return &clock{at: at, origin: time.Now()} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at.Add(time.Since(c.origin))
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

// every fires d after any time: millisecond schedules that cron's
// second-resolution specs cannot express.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

func withSchedules(nightly, hourly cron.Schedule) Option {
	return func(r *Runner) { r.nightly, r.hourly = nightly, hourly }
}

// testConfig is fast: a lease of 300 ms and millisecond backoffs.
func testConfig(holder string) Config {
	return Config{
		Holder:      holder,
		CatchUp:     3,
		LeaseTTL:    300 * time.Millisecond,
		ClockSkew:   20 * time.Millisecond,
		MaxAttempts: 3,
		Backoff:     2 * time.Millisecond,
	}
}

// day0 is "today" in most tests: the pipeline catches up on 03-07..03-09.
var day0 = time.Date(2026, 3, 10, 5, 0, 0, 0, time.UTC)

var dueDays = []string{"2026-03-07", "2026-03-08", "2026-03-09"}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newRunner(t *testing.T, b *lake.Bucket, cfg Config, pipeline []Job, hourly *Job, opts ...Option) (*Runner, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := NewRunner(b, testLogger(t).With("holder", cfg.Holder), reg, cfg, pipeline, hourly, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r, reg
}

// calls counts job invocations per job and window, and keeps their order.
type calls struct {
	mu    sync.Mutex
	order []string
	n     map[string]int
}

func newCalls() *calls { return &calls{n: map[string]int{}} }

// job returns a Job named name that counts its invocations and then runs
// fn (nil: done).
func (c *calls) job(name string, fn func(ctx context.Context, window string, n int) (Result, error)) Job {
	return Job{Name: name, Run: func(ctx context.Context, window string) (Result, error) {
		c.mu.Lock()
		c.order = append(c.order, name+"@"+window)
		c.n[name+"@"+window]++
		n := c.n[name+"@"+window]
		c.mu.Unlock()
		if fn == nil {
			return Result{Outcome: Done, Figures: map[string]int64{"rows": 1}}, nil
		}
		return fn(ctx, window, n)
	}}
}

func (c *calls) count(job, window string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[job+"@"+window]
}

func (c *calls) sequence() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// pipeline4 is compact → stats → train → publish, all done.
func (c *calls) pipeline4() []Job {
	return []Job{c.job("compact", nil), c.job("stats", nil), c.job("train", nil), c.job("publish", nil)}
}

// start runs r.Run until the returned stop is called (or the test ends).
func start(t *testing.T, r *Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("run did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func record(t *testing.T, b *lake.Bucket, job, window string) (Record, bool) {
	t.Helper()
	rec, ok, err := readRecord(context.Background(), b, job, window)
	if err != nil {
		t.Fatal(err)
	}
	return rec, ok
}

// complete reports whether every job of names has a done record for every
// window.
func complete(t *testing.T, b *lake.Bucket, names []string, windows []string) bool {
	t.Helper()
	for _, w := range windows {
		for _, n := range names {
			if rec, ok := record(t, b, n, w); !ok || !rec.Outcome.succeeded() {
				return false
			}
		}
	}
	return true
}

var names4 = []string{"compact", "stats", "train", "publish"}

// gauge reads a metric's value from a registry by name and labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func fail(format string, args ...any) error { return fmt.Errorf(format, args...) }

// runOne calls RunNow for a single job and returns its one record.
func runOne(r *Runner, job, window string, force bool) (Record, error) {
	recs, err := r.RunNow(context.Background(), job, window, force)
	switch len(recs) {
	case 0:
		return Record{}, err
	case 1:
		return recs[0], err
	}
	return Record{}, fmt.Errorf("run now of one job returned %d records", len(recs))
}
