package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/oklog/ulid/v2"
)

// Pipeline is the job name RunNow takes for the whole nightly pipeline:
// every job of it for one day, in order, each after its predecessor
// succeeded.
const Pipeline = "pipeline"

// requestKeep is how long requests and their results stay in the bucket:
// an unhandled request older than this is answered as expired instead of
// run (whoever asked has long stopped waiting), and a result older than
// this is deleted.
const requestKeep = 24 * time.Hour

// sweepEvery is how often the holder looks for results to delete.
const sweepEvery = time.Hour

// request asks the lease holder to run a job (or Pipeline) now. It is
// written once, by the requester, at lake.JobRequestKey(ID), and deleted by
// the holder once the result is written.
type request struct {
	ID          string    `json:"id"`
	Job         string    `json:"job"`
	Window      string    `json:"window"`
	Force       bool      `json:"force,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	Requester   string    `json:"requester"`
}

// Request states.
const (
	stateRunning = "running"
	stateDone    = "done"
	stateFailed  = "failed"
)

// result is the outcome of a request, written by the scheduler that runs
// it at lake.JobResultKey(ID): once as running when it starts, again when
// it ends.
type result struct {
	ID       string    `json:"id"`
	Job      string    `json:"job"`
	Window   string    `json:"window"`
	Force    bool      `json:"force,omitempty"`
	State    string    `json:"state"`
	Holder   string    `json:"holder"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Records  []Record  `json:"records,omitempty"`
	Error    string    `json:"error,omitempty"`
	// Kind names the sentinel the error wrapped, so that the requester's
	// error matches it with errors.Is.
	Kind string `json:"kind,omitempty"`
}

func (res result) final() bool { return res.State == stateDone || res.State == stateFailed }

// kinds are the sentinels a result carries across processes.
var kinds = []struct {
	name string
	err  error
}{
	{"halt", ErrHalt},
	{"halted", ErrHalted},
	{"unknown_job", ErrUnknownJob},
	{"window", ErrWindow},
	{"lease_lost", ErrLeaseLost},
}

// fail records err as the outcome.
func (res *result) fail(err error) {
	res.State, res.Error = stateFailed, err.Error()
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			res.Kind = k.name
			break
		}
	}
}

// err is the error the requester returns for a final result.
func (res result) err() error {
	if res.State != stateFailed {
		return nil
	}
	e := &remoteError{msg: fmt.Sprintf("%s (run by %s)", res.Error, res.Holder)}
	for _, k := range kinds {
		if k.name == res.Kind {
			e.kind = k.err
		}
	}
	return e
}

// remoteError is an error that happened in the scheduler that ran a
// request.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func readResult(ctx context.Context, b *lake.Bucket, id string) (result, bool, error) {
	var res result
	found, err := getJSON(ctx, b, lake.JobResultKey(id), &res)
	return res, found, err
}

// requestID reads the id out of a lake.JobRequestKey or lake.JobResultKey
// key.
func requestID(prefix, key string) (ulid.ULID, bool) {
	s, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return ulid.ULID{}, false
	}
	id, err := ulid.ParseStrict(strings.TrimSuffix(s, ".json"))
	if err != nil || prefix+id.String()+".json" != key {
		return ulid.ULID{}, false
	}
	return id, true
}

// request sends job for window to the scheduler that holds the lease and
// waits for its result until ctx ends. Every LeaseTTL/3 it tries to take
// the lease itself, so that a request is not left waiting for a holder
// that stopped (or died) before it got to it.
func (r *Runner) request(ctx context.Context, job, window string, force bool, held error) ([]Record, error) {
	now := r.now()
	id, err := ulid.New(ulid.Timestamp(now), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("request id: %w", err)
	}
	req := request{ID: id.String(), Job: job, Window: window, Force: force, RequestedAt: now.UTC(), Requester: r.cfg.Holder}
	if err := putJSON(ctx, r.bucket, lake.JobRequestKey(req.ID), req, true); err != nil {
		return nil, fmt.Errorf("send request: %w", err)
	}
	log := r.log.With("request_id", req.ID, "job", job, "window", window)
	log.Info("lease held by another scheduler: request sent to it", "lease", held.Error())
	poll := min(time.Second, r.cfg.LeaseTTL/10)
	tried := time.Now()
	for {
		res, found, err := readResult(ctx, r.bucket, req.ID)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("read request result", "err", err)
		case found && res.final():
			return res.Records, res.err()
		}
		if time.Since(tried) >= r.cfg.LeaseTTL/3 {
			tried = time.Now()
			r.runOwnRequest(ctx, req.ID, log)
			continue
		}
		if !sleep(ctx, poll) {
			return nil, r.withdraw(ctx, req, log)
		}
	}
}

// runOwnRequest runs request id here if the lease can be had.
func (r *Runner) runOwnRequest(ctx context.Context, id string, log *slog.Logger) {
	h, own, err := r.take(ctx)
	if err != nil {
		if !errors.Is(err, ErrLeaseHeld) && ctx.Err() == nil {
			log.Warn("lease acquisition failed", "err", err)
		}
		return
	}
	if own {
		defer r.drop(h, true)
	}
	_ = r.under(ctx, h, func(ctx context.Context) error {
		r.handleRequest(ctx, h, id)
		return nil
	})
}

// withdraw deletes a request whose requester stops waiting, unless a
// scheduler has started it; it returns the error RunNow returns. A
// scheduler that reads the request just before it is deleted still runs
// it.
func (r *Runner) withdraw(ctx context.Context, req request, log *slog.Logger) error {
	cause := context.Cause(ctx)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	res, found, err := readResult(wctx, r.bucket, req.ID)
	if err == nil && found {
		if res.final() {
			return fmt.Errorf("request %s for %s %s: ended %s while no longer waited for; see jobs status: %w", req.ID, req.Job, req.Window, res.State, cause)
		}
		return fmt.Errorf("request %s for %s %s: still running on %s; see jobs status: %w", req.ID, req.Job, req.Window, res.Holder, cause)
	}
	if err := r.bucket.Delete(wctx, lake.JobRequestKey(req.ID)); err != nil {
		return fmt.Errorf("request %s for %s %s: not started, and withdrawing it failed (%w): %w", req.ID, req.Job, req.Window, err, cause)
	}
	log.Info("request withdrawn")
	return fmt.Errorf("request %s for %s %s: withdrawn before a scheduler started it: %w", req.ID, req.Job, req.Window, cause)
}

// handleRequests runs the pending requests, oldest first, and now and
// then deletes old results. It runs under the lease h.
func (r *Runner) handleRequests(ctx context.Context, h *holding) {
	r.exec.Lock()
	defer r.exec.Unlock()
	var ids []string
	err := r.bucket.List(ctx, lake.JobRequestPrefix, func(a lake.Attributes) error {
		if id, ok := requestID(lake.JobRequestPrefix, a.Key); ok {
			ids = append(ids, id.String())
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("list requests", "err", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		r.handleRequest(ctx, h, id)
	}
	if now := r.now(); now.Sub(r.swept) >= sweepEvery && ctx.Err() == nil {
		r.swept = now
		r.sweepResults(ctx, now)
	}
}

// handleRequest runs one request under the lease h and writes its result;
// the caller holds exec. A request cut short by the end of the lease stays
// pending for the next holder.
func (r *Runner) handleRequest(ctx context.Context, h *holding, id string) {
	log := r.log.With("request_id", id)
	var req request
	found, rerr := getJSON(ctx, r.bucket, lake.JobRequestKey(id), &req)
	if rerr != nil && !errors.Is(rerr, errUnreadable) {
		if ctx.Err() == nil {
			log.Warn("read request", "err", rerr)
		}
		return // tried again at the next tick
	}
	if !found {
		return // withdrawn, or handled since it was listed
	}
	// A result already final means a crash came between writing it and
	// deleting the request: finish that.
	if prev, ok, err := readResult(ctx, r.bucket, id); err == nil && ok && prev.final() {
		r.closeRequest(ctx, id, log)
		return
	}
	res := result{ID: id, Job: req.Job, Window: req.Window, Force: req.Force, Holder: r.cfg.Holder, Started: r.now().UTC()}
	switch {
	case rerr != nil:
		res.fail(rerr)
	case r.now().Sub(req.RequestedAt) > requestKeep:
		res.fail(fmt.Errorf("request expired: made at %s, no scheduler ran it within %s", req.RequestedAt.Format(time.RFC3339), requestKeep))
	default:
		if err := r.checkRun(req.Job, req.Window); err != nil {
			res.fail(err)
			break
		}
		res.State = stateRunning
		if err := putJSON(ctx, r.bucket, lake.JobResultKey(id), res, false); err != nil {
			if ctx.Err() == nil {
				log.Warn("write request result", "err", err)
			}
			return
		}
		log.Info("running request", "job", req.Job, "window", req.Window, "force", req.Force, "requester", req.Requester)
		recs, err := r.runNow(ctx, h, req.Job, req.Window, req.Force)
		if ctx.Err() != nil {
			log.Warn("request interrupted, left for the next holder", "err", context.Cause(ctx))
			return
		}
		res.Records, res.State = recs, stateDone
		if err != nil {
			res.fail(err)
		}
	}
	res.Finished = r.now().UTC()
	// The outcome is recorded even if the lease ended meanwhile: it is
	// true either way.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := putJSON(wctx, r.bucket, lake.JobResultKey(id), res, false); err != nil {
		log.Warn("write request result", "err", err)
		return
	}
	log.Info("request handled", "state", res.State, "err", res.Error)
	r.closeRequest(wctx, id, log)
}

// closeRequest deletes a request whose final result is written.
func (r *Runner) closeRequest(ctx context.Context, id string, log *slog.Logger) {
	if err := r.bucket.Delete(ctx, lake.JobRequestKey(id)); err != nil {
		log.Warn("delete handled request", "err", err)
	}
}

// sweepResults deletes the results of requests that ended (or, if they
// never did, were made) more than requestKeep ago. Only results of
// requests made that long ago are read: a request id carries its time.
func (r *Runner) sweepResults(ctx context.Context, now time.Time) {
	var old []string
	err := r.bucket.List(ctx, lake.JobResultPrefix, func(a lake.Attributes) error {
		if id, ok := requestID(lake.JobResultPrefix, a.Key); ok && now.Sub(ulid.Time(id.Time())) > requestKeep {
			old = append(old, id.String())
		}
		return nil
	})
	if err != nil {
		r.log.Warn("list request results", "err", err)
		return
	}
	for _, id := range old {
		res, _, err := readResult(ctx, r.bucket, id)
		switch {
		case err != nil && !errors.Is(err, errUnreadable):
			r.log.Warn("read request result", "request_id", id, "err", err)
			return
		case err == nil && now.Sub(res.Finished) <= requestKeep:
			continue // a request that ran long, or waited for a holder
		}
		if err := r.bucket.Delete(ctx, lake.JobResultKey(id)); err != nil {
			r.log.Warn("delete request result", "request_id", id, "err", err)
			return
		}
	}
}
