package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// Outcome is how a run of a job for a window ended.
type Outcome string

// Outcomes a job reports (Done, Nothing, Retry, Halted) and the states a
// run record can be in besides them (Running, Failed).
const (
	// Done: the job did its work for the window.
	Done Outcome = "done"
	// Nothing: there was nothing to do, a normal outcome; dependents run.
	Nothing Outcome = "nothing"
	// Retry: the attempt failed; the runner tries again after a backoff.
	Retry Outcome = "retry"
	// Halted: an invariant is broken; the job is not scheduled again until
	// an operator forces a successful run.
	Halted Outcome = "halted"
	// Running: an attempt started and has not ended. A record left in this
	// state by a crash is rerun like any incomplete one.
	Running Outcome = "running"
	// Failed: every attempt of a trigger failed; the next trigger that
	// catches up on the window tries again.
	Failed Outcome = "failed"
)

// succeeded reports whether dependents may run after this outcome.
func (o Outcome) succeeded() bool { return o == Done || o == Nothing }

// Result is what a job returns. An empty Outcome means Done; a job that
// fails returns an error instead (wrapping ErrHalt when an invariant is
// broken).
type Result struct {
	Outcome Outcome
	// Figures are counts worth keeping with the run: rows compacted,
	// models trained. Keys are short snake_case names.
	Figures map[string]int64
	// Message is a line for humans, kept in the run record.
	Message string
}

// Job is one step the runner schedules. Run must be idempotent: running it
// again for a window, after a crash at any point, converges to the state of
// one uninterrupted run. It must stop when ctx is cancelled.
type Job struct {
	Name string
	Run  func(ctx context.Context, window string) (Result, error)
}

// Record is the run record of one job for one window, stored as JSON at
// lake.JobRunKey(job, window). It is rewritten when an attempt starts
// (Running) and when it ends; only a job that returned leaves Done or
// Nothing.
type Record struct {
	Job      string           `json:"job"`
	Window   string           `json:"window"`
	Outcome  Outcome          `json:"outcome"`
	Started  time.Time        `json:"started"`
	Finished time.Time        `json:"finished,omitzero"`
	Attempts int              `json:"attempts"`
	Error    string           `json:"error,omitempty"`
	Message  string           `json:"message,omitempty"`
	Figures  map[string]int64 `json:"figures,omitempty"`
	Holder   string           `json:"holder"`
	// Term is the lease term the attempt started under.
	Term uint64 `json:"term,omitempty"`
}

// errUnreadable reports a run record, halt marker or request that exists
// but does not decode. Every write is atomic, so only outside damage (a
// hand edit, a disk fault) makes one. The runner counts such a run record
// as missing and runs the job again (jobs are idempotent), takes such a
// halt marker for a halt, and answers such a request with a failure.
var errUnreadable = errors.New("unreadable object")

// getJSON decodes the object at key into v and reports whether it exists.
func getJSON(ctx context.Context, b *lake.Bucket, key string, v any) (bool, error) {
	data, err := b.Get(ctx, key)
	if errors.Is(err, lake.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("%w %s: %w", errUnreadable, key, err)
	}
	return true, nil
}

// putJSON writes v as indented JSON at key.
func putJSON(ctx context.Context, b *lake.Bucket, key string, v any, ifNotExist bool) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(ctx, key, append(data, '\n'), lake.PutOptions{ContentType: "application/json", IfNotExist: ifNotExist})
}

func readRecord(ctx context.Context, b *lake.Bucket, job, window string) (Record, bool, error) {
	var rec Record
	found, err := getJSON(ctx, b, lake.JobRunKey(job, window), &rec)
	if err != nil {
		return Record{}, false, err
	}
	return rec, found, nil
}

func writeRecord(ctx context.Context, b *lake.Bucket, rec Record) error {
	return putJSON(ctx, b, lake.JobRunKey(rec.Job, rec.Window), rec, false)
}

// readHalt returns the record that halted job, if it is halted.
func readHalt(ctx context.Context, b *lake.Bucket, job string) (Record, bool, error) {
	var rec Record
	found, err := getJSON(ctx, b, lake.JobHaltKey(job), &rec)
	if err != nil {
		return Record{}, false, err
	}
	return rec, found, nil
}

// writeHalt makes rec, the record of a run that halted its job, the job's
// halt marker.
func writeHalt(ctx context.Context, b *lake.Bucket, rec Record) error {
	return putJSON(ctx, b, lake.JobHaltKey(rec.Job), rec, false)
}

// Records returns the run records of job ("" for every job), newest window
// first, at most limit of them (all when limit <= 0). `jobs status` shows
// them.
func Records(ctx context.Context, b *lake.Bucket, job string, limit int) ([]Record, error) {
	type ref struct{ job, window string }
	var refs []ref
	root := lake.JobRunPrefix("")
	err := b.List(ctx, lake.JobRunPrefix(job), func(a lake.Attributes) error {
		rest, ok := strings.CutPrefix(a.Key, root)
		if !ok {
			return nil
		}
		j, w, ok := strings.Cut(strings.TrimSuffix(rest, ".json"), "/")
		if !ok || lake.JobRunKey(j, w) != a.Key {
			return nil
		}
		refs = append(refs, ref{j, w})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(refs, func(a, b ref) int {
		if c := strings.Compare(b.window, a.window); c != 0 {
			return c
		}
		return strings.Compare(a.job, b.job)
	})
	if limit > 0 && len(refs) > limit {
		refs = refs[:limit]
	}
	out := make([]Record, 0, len(refs))
	for _, r := range refs {
		rec, ok, err := readRecord(ctx, b, r.job, r.window)
		if errors.Is(err, errUnreadable) {
			rec, ok = Record{Job: r.job, Window: r.window, Error: err.Error()}, true
		} else if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, rec)
		}
	}
	return out, nil
}
