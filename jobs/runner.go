package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
)

// Runner runs the pipeline once per day window and the hourly job once per
// hour window, in order, recording every run in the bucket, while it holds
// the bucket's lease. Jobs run one at a time.
type Runner struct {
	bucket    *lake.Bucket
	log       *slog.Logger
	cfg       Config
	pipeline  []Job
	hourlyJob *Job
	nightly   cron.Schedule
	hourly    cron.Schedule
	now       func() time.Time
	metrics   *metrics
	lease     *lease

	// exec serialises job execution in this process: scheduled passes,
	// requests, RunNow and Backfill never run two jobs at once, so no two
	// jobs rewrite the same objects concurrently.
	exec sync.Mutex
	// swept is when handled requests were last cleaned up; exec guards it.
	swept time.Time

	mu     sync.Mutex
	active *holding // the lease while this runner holds it
}

// NewRunner returns a Runner for the pipeline (run in order for each day)
// and an optional hourly job with no dependents. reg may be nil.
func NewRunner(bucket *lake.Bucket, log *slog.Logger, reg *prometheus.Registry, cfg Config, pipeline []Job, hourly *Job, opts ...Option) (*Runner, error) {
	if bucket == nil {
		return nil, errors.New("jobs: nil bucket")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	if len(pipeline) == 0 && hourly == nil {
		return nil, errors.New("jobs: no jobs to run")
	}
	seen := map[string]bool{}
	all := pipeline
	if hourly != nil {
		all = append(all[:len(all):len(all)], *hourly)
	}
	for _, j := range all {
		if err := validJobName(j.Name); err != nil {
			return nil, err
		}
		if j.Run == nil {
			return nil, fmt.Errorf("job %s: nil Run", j.Name)
		}
		if seen[j.Name] {
			return nil, fmt.Errorf("job %s: named twice", j.Name)
		}
		if j.Name == Pipeline {
			return nil, fmt.Errorf("job %s: the name stands for the whole nightly pipeline", j.Name)
		}
		seen[j.Name] = true
	}
	nightly, err := parseSchedule(cfg.Nightly)
	if err != nil {
		return nil, fmt.Errorf("nightly %w", err)
	}
	hourlySched, err := parseSchedule(cfg.Hourly)
	if err != nil {
		return nil, fmt.Errorf("hourly %w", err)
	}
	var registerer prometheus.Registerer
	if reg != nil {
		registerer = reg
	}
	r := &Runner{
		bucket:   bucket,
		log:      log,
		cfg:      cfg,
		pipeline: slices.Clone(pipeline),
		nightly:  nightly,
		hourly:   hourlySched,
		now:      time.Now,
		metrics:  newMetrics(registerer),
	}
	if hourly != nil {
		h := *hourly
		r.hourlyJob = &h
	}
	for _, o := range opts {
		o(r)
	}
	r.lease = &lease{bucket: bucket, holder: cfg.Holder, ttl: cfg.LeaseTTL, skew: cfg.ClockSkew, now: r.now}
	for _, j := range all {
		r.metrics.halted.WithLabelValues(j.Name).Set(0)
		// Series exist from the start, so that increase() sees the
		// first failure.
		for _, o := range []Outcome{Failed, Retry} {
			r.metrics.runs.WithLabelValues(j.Name, string(o))
		}
	}
	return r, nil
}

// Holder is the id this runner writes in the lease and in run records.
func (r *Runner) Holder() string { return r.cfg.Holder }

// Run contends for the lease and, while it holds it, catches up on
// incomplete windows and runs the schedules. If the lease is lost it stops
// its work and contends again. It returns nil once ctx is done, after
// releasing the lease so another scheduler can take over at once.
func (r *Runner) Run(ctx context.Context) error {
	r.restoreLastSuccess(ctx)
	for {
		h, err := r.contend(ctx)
		if err != nil {
			return nil // ctx is done
		}
		r.serve(h)
		stopping := ctx.Err() != nil
		cause := context.Cause(h.ctx)
		r.drop(h, stopping)
		if stopping {
			return nil
		}
		r.log.Warn("lease lost", "err", cause)
	}
}

// contend polls the lease until this runner holds it or ctx ends. A
// contender sleeps until the current term is free, at most TTL/3.
func (r *Runner) contend(ctx context.Context) (*holding, error) {
	var seen string
	for {
		wait := r.cfg.LeaseTTL / 3
		r.mu.Lock()
		busy := r.active != nil // a RunNow of this runner holds the lease
		var (
			cur term
			err error
		)
		if !busy {
			cur, err = r.lease.acquire(ctx)
			if err == nil {
				h := r.lease.hold(ctx, cur, r.log)
				r.active = h
				r.mu.Unlock()
				r.metrics.leaseHeld.Set(1)
				r.log.Info("lease acquired", "holder", r.cfg.Holder, "term", cur.Term)
				return h, nil
			}
		}
		r.mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case busy:
		case errors.Is(err, ErrLeaseHeld):
			if cur.Holder != seen {
				seen = cur.Holder
				r.log.Info("lease held by another scheduler", "holder", cur.Holder, "expires", cur.Expires)
			}
			if until := cur.Expires.Add(r.cfg.ClockSkew).Sub(r.now()); !cur.Released && until >= 0 && until < wait {
				wait = until + time.Millisecond
			}
		default:
			r.log.Warn("lease acquisition failed", "err", err)
		}
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
}

// drop ends a holding: renewals stop and, with release, the lease is freed.
func (r *Runner) drop(h *holding, release bool) {
	if err := h.stop(release); err != nil {
		r.log.Warn("lease release failed", "err", err)
	}
	r.mu.Lock()
	if r.active == h {
		r.active = nil
	}
	r.mu.Unlock()
	r.metrics.leaseHeld.Set(0)
}

// serve handles pending requests and runs the catch-up passes at once,
// then handles requests every LeaseTTL/3 and runs the passes on every
// trigger of the schedules, until the holding ends. A request that comes
// during a pass waits for it to end.
func (r *Runner) serve(h *holding) {
	ctx := h.ctx
	nightlyC, hourlyC := make(chan struct{}, 1), make(chan struct{}, 1)
	requests := time.NewTicker(r.cfg.LeaseTTL / 3)
	defer requests.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.tick(ctx, r.nightly, nightlyC) })
	r.handleRequests(ctx, h)
	if r.hourlyJob != nil {
		wg.Go(func() { r.tick(ctx, r.hourly, hourlyC) })
		r.passHourly(ctx, h)
	}
	r.passNightly(ctx, h)
	for {
		select {
		case <-ctx.Done():
			return
		case <-requests.C:
			r.handleRequests(ctx, h)
		case <-nightlyC:
			r.passNightly(ctx, h)
		case <-hourlyC:
			r.passHourly(ctx, h)
		}
	}
}

// tick signals out at every time s names. A trigger that comes while the
// previous one is still being worked on is merged into it.
func (r *Runner) tick(ctx context.Context, s cron.Schedule, out chan<- struct{}) {
	for {
		now := r.now()
		next := s.Next(now.UTC())
		if next.IsZero() {
			return // the schedule never fires again
		}
		if !sleep(ctx, next.Sub(now)) {
			return
		}
		select {
		case out <- struct{}{}:
		default:
		}
	}
}

// pass is the state of one catch-up pass: the halted jobs, and the jobs
// that used up their attempts in this pass and are not tried again in it,
// which bounds a pass when a job fails for every window.
type pass struct {
	halts  map[string]Record
	failed map[string]error
}

func (r *Runner) newPass(ctx context.Context) (*pass, error) {
	p := &pass{halts: map[string]Record{}, failed: map[string]error{}}
	names := make([]string, 0, len(r.pipeline)+1)
	for _, j := range r.pipeline {
		names = append(names, j.Name)
	}
	if r.hourlyJob != nil {
		names = append(names, r.hourlyJob.Name)
	}
	for _, name := range names {
		rec, halted, err := readHalt(ctx, r.bucket, name)
		if errors.Is(err, errUnreadable) {
			// Stay on the safe side: the job stays halted until a forced
			// run succeeds and removes the marker.
			rec, halted = Record{Job: name, Window: "?", Outcome: Halted, Error: err.Error()}, true
		} else if err != nil {
			return nil, err
		}
		if halted {
			p.halts[name] = rec
			r.metrics.halted.WithLabelValues(name).Set(1)
		} else {
			r.metrics.halted.WithLabelValues(name).Set(0)
		}
	}
	return p, nil
}

// passNightly runs the pipeline for the due days that are incomplete,
// oldest first so that later days never overtake earlier ones.
func (r *Runner) passNightly(ctx context.Context, h *holding) {
	if len(r.pipeline) == 0 {
		return
	}
	r.catchUp(ctx, h, r.pipeline, due(r.nightly, daily, r.now(), r.cfg.CatchUp))
}

func (r *Runner) passHourly(ctx context.Context, h *holding) {
	hours := r.cfg.CatchUp * 24
	if r.cfg.HourlyCatchUp > 0 {
		hours = r.cfg.HourlyCatchUp
	}
	r.catchUp(ctx, h, []Job{*r.hourlyJob}, due(r.hourly, hourly, r.now(), hours))
}

func (r *Runner) catchUp(ctx context.Context, h *holding, jobs []Job, windows []string) {
	r.exec.Lock()
	defer r.exec.Unlock()
	if ctx.Err() != nil {
		return
	}
	p, err := r.newPass(ctx)
	if err != nil {
		r.log.Error("read halted jobs", "err", err)
		return
	}
	for _, w := range windows {
		err := r.runPipeline(ctx, h, jobs, w, p)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrHalt), errors.Is(err, ErrHalted):
			r.log.Error("pipeline halted", "window", w, "err", err)
		case err != nil:
			r.log.Warn("pipeline incomplete", "window", w, "err", err)
		}
	}
}

// runPipeline runs each job of jobs for window whose record is not yet
// done or nothing, in order, and stops at the first that does not end so.
func (r *Runner) runPipeline(ctx context.Context, h *holding, jobs []Job, window string, p *pass) error {
	for _, j := range jobs {
		prev, found, err := r.readRecord(ctx, j.Name, window)
		if err != nil {
			return err
		}
		if found && prev.Outcome.succeeded() {
			continue
		}
		if halt, ok := p.halts[j.Name]; ok {
			return fmt.Errorf("%w: %s since window %s: %s", ErrHalted, j.Name, halt.Window, halt.Error)
		}
		if err := p.failed[j.Name]; err != nil {
			return fmt.Errorf("%s not tried for %s: it failed for another window in this pass: %w", j.Name, window, err)
		}
		if _, err := r.execute(ctx, h, j, window, prev, r.cfg.MaxAttempts, p); err != nil {
			return err
		}
	}
	return nil
}

// readRecord reads a run record, counting an unreadable one as missing so
// that the job runs again and its new record replaces it.
func (r *Runner) readRecord(ctx context.Context, job, window string) (Record, bool, error) {
	rec, found, err := readRecord(ctx, r.bucket, job, window)
	if errors.Is(err, errUnreadable) {
		r.log.Warn("unreadable run record, running the job again", "job", job, "window", window, "err", err)
		return Record{}, false, nil
	}
	return rec, found, err
}

// execute runs j for window until it succeeds, halts, is cancelled or has
// made maxAttempts attempts, with exponential backoff between attempts.
// Each attempt first records itself as Running, so a crash leaves a record
// that the next holder reruns; Done or Nothing is written only after the
// job returned.
func (r *Runner) execute(ctx context.Context, h *holding, j Job, window string, prev Record, maxAttempts int, p *pass) (Record, error) {
	log := r.log.With("job", j.Name, "window", window)
	for n := 1; ; n++ {
		if ctx.Err() != nil {
			return prev, fmt.Errorf("%s %s: %w", j.Name, window, context.Cause(ctx))
		}
		rec := Record{
			Job: j.Name, Window: window, Outcome: Running, Started: r.now().UTC(),
			Attempts: prev.Attempts + 1, Holder: r.cfg.Holder, Term: h.term().Term,
		}
		start := time.Now()
		var (
			res Result
			err = writeRecord(ctx, r.bucket, rec)
		)
		if err == nil {
			res, err = r.call(ctx, j, window, log)
			if err != nil && ctx.Err() != nil {
				// Shutdown or a lost lease: leave the Running record for
				// whoever holds the lease next.
				return rec, fmt.Errorf("%s %s: %w", j.Name, window, context.Cause(ctx))
			}
		}
		elapsed := time.Since(start)
		outcome, err := classify(res, err)
		if outcome == Retry && n >= maxAttempts {
			outcome = Failed
		}
		rec.Outcome, rec.Finished, rec.Message, rec.Figures = outcome, r.now().UTC(), res.Message, res.Figures
		if err != nil {
			rec.Error = err.Error()
		}
		r.metrics.runs.WithLabelValues(j.Name, string(outcome)).Inc()
		r.metrics.duration.WithLabelValues(j.Name).Observe(elapsed.Seconds())

		// The job has returned: its outcome is recorded even if the lease
		// ended meanwhile, since it is true either way.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		werr := r.record(wctx, rec, p)
		cancel()
		if werr != nil {
			return rec, fmt.Errorf("%s %s: %w", j.Name, window, werr)
		}
		switch outcome {
		case Done, Nothing:
			r.metrics.lastSuccess.WithLabelValues(j.Name).Set(float64(rec.Finished.UnixNano()) / 1e9)
			log.Info("job finished", "outcome", outcome, "attempt", n, "seconds", elapsed.Seconds())
			return rec, nil
		case Halted, Failed:
			if outcome == Failed {
				p.failed[j.Name] = err
			}
			return rec, fmt.Errorf("%s %s: %s after %d attempts: %w", j.Name, window, outcome, n, err)
		}
		wait := backoff(r.cfg.Backoff, n)
		log.Warn("job attempt failed", "attempt", n, "retry_in", wait, "err", err)
		prev = rec
		if !sleep(ctx, wait) {
			return rec, fmt.Errorf("%s %s: %w", j.Name, window, context.Cause(ctx))
		}
	}
}

// record writes the run record of an ended attempt; a halt is written
// first as the job's halt marker, so that it persists even if the run
// record cannot be written.
func (r *Runner) record(ctx context.Context, rec Record, p *pass) error {
	if rec.Outcome == Halted {
		if err := writeHalt(ctx, r.bucket, rec); err != nil {
			return err
		}
		p.halts[rec.Job] = rec
		r.metrics.halted.WithLabelValues(rec.Job).Set(1)
	}
	return writeRecord(ctx, r.bucket, rec)
}

// call runs the job, turning a panic into an error so that one bad job
// does not take the server down with it.
func (r *Runner) call(ctx context.Context, j Job, window string, log *slog.Logger) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("job panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return j.Run(ctx, window)
}

// classify maps what a job returned to an outcome and the error to keep.
func classify(res Result, err error) (Outcome, error) {
	switch {
	case errors.Is(err, ErrHalt):
		return Halted, err
	case err != nil:
		return Retry, err
	}
	switch res.Outcome {
	case "", Done:
		return Done, nil
	case Nothing:
		return Nothing, nil
	case Halted:
		return Halted, fmt.Errorf("%w: %s", ErrHalt, res.Message)
	case Retry:
		return Retry, fmt.Errorf("job asked to retry: %s", res.Message)
	}
	return Retry, fmt.Errorf("job returned outcome %q", res.Outcome)
}

// backoff is the wait after failed attempt n: base, 2×base, 4×base...
func backoff(base time.Duration, n int) time.Duration {
	return base << min(n-1, 16)
}

// sleep waits d or until ctx ends, reporting whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// take returns a holding of the lease for a call: the one of this runner's
// Run if it has one, else a term taken for the call (own), which the
// caller drops with release once its work has ended. It fails with
// ErrLeaseHeld, naming the holder, when another scheduler holds the lease.
func (r *Runner) take(ctx context.Context) (h *holding, own bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active != nil {
		return r.active, false, nil
	}
	t, err := r.lease.acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	h = r.lease.hold(ctx, t, r.log)
	r.active = h
	r.metrics.leaseHeld.Set(1)
	return h, true, nil
}

// under runs fn as the only work of this process, with a context that
// ends when ctx ends or the lease of h is lost.
func (r *Runner) under(ctx context.Context, h *holding, fn func(ctx context.Context) error) error {
	r.exec.Lock()
	defer r.exec.Unlock()
	return held(ctx, h, fn)
}

// held runs fn with a context that ends when ctx ends or the lease of h
// is lost.
func held(ctx context.Context, h *holding, fn func(ctx context.Context) error) error {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(h.ctx, func() { cancel(context.Cause(h.ctx)) })
	defer stop()
	return fn(jctx)
}

// withLease runs fn under the lease of take: it fails with ErrLeaseHeld
// when another scheduler holds it.
func (r *Runner) withLease(ctx context.Context, fn func(ctx context.Context, h *holding) error) error {
	h, own, err := r.take(ctx)
	if err != nil {
		return err
	}
	if own {
		defer r.drop(h, true)
	}
	return r.under(ctx, h, func(ctx context.Context) error { return fn(ctx, h) })
}

// job finds a job by name with the kind of window it takes.
func (r *Runner) job(name string) (Job, span, bool) {
	for _, j := range r.pipeline {
		if j.Name == name {
			return j, daily, true
		}
	}
	if r.hourlyJob != nil && r.hourlyJob.Name == name {
		return *r.hourlyJob, hourly, true
	}
	return Job{}, span{}, false
}

// checkRun verifies that job (or Pipeline) is known, that window is
// spelled as its windows are, and that it has ended.
func (r *Runner) checkRun(job, window string) error {
	sp := daily
	if job == Pipeline {
		if len(r.pipeline) == 0 {
			return fmt.Errorf("%w %q: this runner has no nightly pipeline", ErrUnknownJob, job)
		}
	} else {
		var ok bool
		if _, sp, ok = r.job(job); !ok {
			return fmt.Errorf("%w %q", ErrUnknownJob, job)
		}
	}
	if err := checkWindow(sp, window); err != nil {
		return err
	}
	return r.checkEnded(window)
}

// checkEnded rejects a window that has not ended: its batches are still
// arriving, and a run recorded done now would make the scheduler skip the
// window once it has them all.
func (r *Runner) checkEnded(window string) error {
	_, end, err := ParseWindow(window)
	if err != nil {
		return err
	}
	if end.After(r.now()) {
		return fmt.Errorf("%w %q: it has not ended (it ends at %s), so its batches are still arriving; "+
			"run it once it has ended (the scheduler does, at its next scheduled time after that)", ErrWindow, window, end.UTC().Format(time.RFC3339))
	}
	return nil
}

// RunNow runs one job, or with job Pipeline the whole nightly pipeline in
// order, for one window now, for an operator (`idmtelemetry jobs run`). It
// returns the run record of each job it ran or found done, in pipeline
// order; a pipeline stops at the first job that does not succeed, and its
// dependents do not run.
//
// A window already done is not run again, and a halted job is not run,
// unless force is set; a forced run that succeeds clears the job's halt.
// A window whose last outcome was "nothing to do" is run again. Each job
// gets one attempt.
//
// RunNow needs the lease. When this runner holds it (its Run does) or can
// take it, the work runs here, under it. When another scheduler holds it,
// RunNow sends it a request and waits until ctx ends for the outcome; if
// the lease becomes free meanwhile, RunNow takes it and runs the request
// itself. If ctx ends first, a request that has not started is withdrawn.
func (r *Runner) RunNow(ctx context.Context, job, window string, force bool) ([]Record, error) {
	if err := r.checkRun(job, window); err != nil {
		return nil, err
	}
	h, own, err := r.take(ctx)
	if errors.Is(err, ErrLeaseHeld) {
		return r.request(ctx, job, window, force, err)
	}
	if err != nil {
		return nil, err
	}
	if own {
		defer r.drop(h, true)
	}
	var recs []Record
	err = r.under(ctx, h, func(ctx context.Context) error {
		var err error
		recs, err = r.runNow(ctx, h, job, window, force)
		return err
	})
	return recs, err
}

// runNow does the work of RunNow or of a request under the lease h; the
// caller holds exec.
func (r *Runner) runNow(ctx context.Context, h *holding, job, window string, force bool) ([]Record, error) {
	jobs := r.pipeline
	if job != Pipeline {
		j, _, _ := r.job(job)
		jobs = []Job{j}
	}
	p, err := r.newPass(ctx)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for _, j := range jobs {
		rec, err := r.runOnce(ctx, h, j, window, force, p)
		if rec.Job != "" {
			recs = append(recs, rec)
		}
		if err != nil {
			return recs, err
		}
	}
	return recs, nil
}

// runOnce runs j for window with one attempt, unless it is done (and not
// forced) or halted (and not forced). A forced run of a halted job that
// succeeds clears the halt.
func (r *Runner) runOnce(ctx context.Context, h *holding, j Job, window string, force bool, p *pass) (Record, error) {
	halt, halted := p.halts[j.Name]
	if halted && !force {
		return Record{}, fmt.Errorf("%w: %s since window %s (%s); fix the cause, then run it again with force", ErrHalted, j.Name, halt.Window, halt.Error)
	}
	prev, found, err := r.readRecord(ctx, j.Name, window)
	if err != nil {
		return Record{}, err
	}
	// An operator's run skips a window that is done, but tries again one
	// that had nothing to do: data may have arrived since (a scheduler that
	// started on an empty bucket records "nothing" for the days it catches
	// up on, and its operator then submits data and asks to run them now).
	if found && prev.Outcome == Done && !force {
		return prev, nil
	}
	delete(p.halts, j.Name)
	rec, err := r.execute(ctx, h, j, window, prev, 1, p)
	if err != nil || !halted {
		return rec, err
	}
	if err := r.bucket.Delete(ctx, lake.JobHaltKey(j.Name)); err != nil {
		return rec, fmt.Errorf("clear halt of %s: %w", j.Name, err)
	}
	r.metrics.halted.WithLabelValues(j.Name).Set(0)
	r.log.Info("halt cleared", "job", j.Name, "window", window)
	return rec, nil
}

// Backfill runs the pipeline for every day from from to to (both
// included, UTC), skipping what is done, like the scheduled catch-up but
// over any range. It needs the lease: it fails with ErrLeaseHeld when
// another scheduler holds it (RunNow with Pipeline, one day at a time,
// does not). progress, if not nil, is called after each day. It stops at a halted job and otherwise goes on
// past incomplete days, reporting them at the end.
func (r *Runner) Backfill(ctx context.Context, from, to time.Time, progress func(done, total int)) error {
	ws := days(from, to)
	if len(ws) == 0 {
		return fmt.Errorf("backfill: %s is after %s", lake.Day(from), lake.Day(to))
	}
	if len(r.pipeline) == 0 {
		return errors.New("backfill: no pipeline")
	}
	if err := r.checkEnded(ws[len(ws)-1]); err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	return r.withLease(ctx, func(ctx context.Context, h *holding) error {
		p, err := r.newPass(ctx)
		if err != nil {
			return err
		}
		var (
			incomplete int
			first      error
		)
		for i, w := range ws {
			err := r.runPipeline(ctx, h, r.pipeline, w, p)
			switch {
			case ctx.Err() != nil:
				return fmt.Errorf("backfill %s: %w", w, context.Cause(ctx))
			case errors.Is(err, ErrHalt), errors.Is(err, ErrHalted):
				return fmt.Errorf("backfill %s: %w", w, err)
			case err != nil:
				incomplete++
				if first == nil {
					first = fmt.Errorf("%s: %w", w, err)
				}
			}
			if progress != nil {
				progress(i+1, len(ws))
			}
		}
		if first != nil {
			return fmt.Errorf("backfill: %d of %d days incomplete, first %w", incomplete, len(ws), first)
		}
		return nil
	})
}

// Status is what `jobs status` shows besides the run records.
type Status struct {
	// Holder is this runner's id; Holding reports whether it holds the
	// lease now.
	Holder  string
	Holding bool
	// LeaseHolder holds the lease's current term until LeaseExpires; it is
	// empty when the lease is free.
	LeaseHolder  string
	LeaseTerm    uint64
	LeaseExpires time.Time
	// Halted has, per halted job, the record of the run that halted it.
	Halted []Record
	// NextNightly and NextHourly are the next triggers (NextHourly is
	// zero without an hourly job).
	NextNightly, NextHourly time.Time
}

// Status reads the lease and the halted jobs from the bucket, so that it
// describes whichever scheduler runs, not only this one.
func (r *Runner) Status(ctx context.Context) (Status, error) {
	now := r.now()
	st := Status{Holder: r.cfg.Holder, NextNightly: r.nightly.Next(now.UTC())}
	if r.hourlyJob != nil {
		st.NextHourly = r.hourly.Next(now.UTC())
	}
	r.mu.Lock()
	st.Holding = r.active != nil && r.active.ctx.Err() == nil
	r.mu.Unlock()
	cur, terms, err := r.lease.latest(ctx)
	if err != nil {
		return st, err
	}
	if len(terms) > 0 && !cur.free(now, r.cfg.ClockSkew) {
		st.LeaseHolder, st.LeaseTerm, st.LeaseExpires = cur.Holder, cur.Term, cur.Expires
	}
	p, err := r.newPass(ctx)
	if err != nil {
		return st, err
	}
	for _, j := range append(slices.Clone(r.pipeline), r.hourlyJobs()...) {
		if rec, ok := p.halts[j.Name]; ok {
			st.Halted = append(st.Halted, rec)
		}
	}
	return st, nil
}

func (r *Runner) hourlyJobs() []Job {
	if r.hourlyJob == nil {
		return nil
	}
	return []Job{*r.hourlyJob}
}

// Exclusive runs fn while holding the bucket's scheduler lease, for an
// operator's one-shot job (idmtelemetry compact, stats, train, publish)
// that must not overlap a scheduler's jobs: two compactions at once could
// each rewrite a partition from different landing objects. It fails with
// ErrLeaseHeld, naming the holder, when a scheduler holds the lease, and
// releases the lease when fn returns. fn's context ends if the lease is
// lost.
func Exclusive(ctx context.Context, bucket *lake.Bucket, log *slog.Logger, cfg Config, fn func(ctx context.Context) error) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	l := &lease{bucket: bucket, holder: cfg.Holder, ttl: cfg.LeaseTTL, skew: cfg.ClockSkew, now: time.Now}
	t, err := l.acquire(ctx)
	if err != nil {
		return err
	}
	h := l.hold(ctx, t, log)
	err = held(ctx, h, fn)
	if rerr := h.stop(true); rerr != nil {
		log.Warn("lease release failed", "err", rerr)
	}
	return err
}

// restoreLastSuccess sets idmt_jobs_last_success_timestamp_seconds from the
// run records, so that a restarted scheduler (or a waiting one) reports
// when each job last succeeded instead of nothing, and a staleness alert
// does not need a special case after restarts. It reads the newest 8
// records per job; a job without a success among them leaves the gauge
// absent, which the alert treats as stale too. Unreadable records are
// skipped: the gauge is only a report.
func (r *Runner) restoreLastSuccess(ctx context.Context) {
	jobs := r.pipeline
	if r.hourlyJob != nil {
		jobs = append(jobs[:len(jobs):len(jobs)], *r.hourlyJob)
	}
	for _, j := range jobs {
		recs, err := Records(ctx, r.bucket, j.Name, 8)
		if err != nil {
			continue
		}
		var last time.Time
		for _, rec := range recs {
			if (rec.Outcome == Done || rec.Outcome == Nothing) && rec.Finished.After(last) {
				last = rec.Finished
			}
		}
		if !last.IsZero() {
			r.metrics.lastSuccess.WithLabelValues(j.Name).Set(float64(last.Unix()))
		}
	}
}
