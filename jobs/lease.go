package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// keepTerms is how many of the newest lease terms stay in the bucket; older
// ones are deleted so that a contender's listing stays short.
const keepTerms = 5

// term is one lease term, stored at lake.LeaseKey(Term). Its holder may
// start jobs until Expires by its own clock.
type term struct {
	Term     uint64    `json:"term"`
	Holder   string    `json:"holder"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
	// Released marks a term written by a holder that stopped cleanly
	// after its work ended: the lease is free at once.
	Released bool `json:"released,omitempty"`
}

// free reports whether a contender whose clock reads now may take the term
// after this one. The skew margin makes sure the holder's own clock has
// passed Expires too.
func (t term) free(now time.Time, skew time.Duration) bool {
	return t.Released || now.After(t.Expires.Add(skew))
}

// lease implements the protocol described in doc.go with conditional
// creates only.
type lease struct {
	bucket *lake.Bucket
	holder string
	ttl    time.Duration
	skew   time.Duration
	now    func() time.Time
}

// heldError says who holds the lease and until when.
func heldError(t term) error {
	return fmt.Errorf("%w: %s holds term %d until %s", ErrLeaseHeld, t.Holder, t.Term, t.Expires.UTC().Format(time.RFC3339))
}

// parseTerm reads the term number out of a lake.LeaseKey key.
func parseTerm(key string) (uint64, bool) {
	s, ok := strings.CutPrefix(key, lake.LeasePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(s, ".json"), 10, 64)
	if err != nil || lake.LeaseKey(n) != key {
		return 0, false
	}
	return n, true
}

// latest returns the highest term and the numbers of all terms listed.
func (l *lease) latest(ctx context.Context) (term, []uint64, error) {
	for range 3 {
		var terms []uint64
		err := l.bucket.List(ctx, lake.LeasePrefix, func(a lake.Attributes) error {
			if n, ok := parseTerm(a.Key); ok {
				terms = append(terms, n)
			}
			return nil
		})
		if err != nil {
			return term{}, nil, err
		}
		if len(terms) == 0 {
			return term{}, nil, nil
		}
		top := slices.Max(terms)
		data, err := l.bucket.Get(ctx, lake.LeaseKey(top))
		if errors.Is(err, lake.ErrNotFound) {
			continue // deleted since the listing: list again
		}
		if err != nil {
			return term{}, nil, fmt.Errorf("read lease term %d: %w", top, err)
		}
		var t term
		if err := json.Unmarshal(data, &t); err != nil {
			return term{}, nil, fmt.Errorf("read lease term %d: %w", top, err)
		}
		t.Term = top
		return t, terms, nil
	}
	return term{}, nil, errors.New("lease terms keep disappearing while read")
}

// create writes term t if no term of that number exists.
func (l *lease) create(ctx context.Context, t term) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return l.bucket.Put(ctx, lake.LeaseKey(t.Term), data, lake.PutOptions{ContentType: "application/json", IfNotExist: true})
}

// acquire takes the next term if the current one is free. It fails with
// ErrLeaseHeld (naming the holder) when another scheduler holds it.
func (l *lease) acquire(ctx context.Context) (term, error) {
	cur, terms, err := l.latest(ctx)
	if err != nil {
		return term{}, err
	}
	now := l.now()
	next := uint64(1)
	if len(terms) > 0 {
		if !cur.free(now, l.skew) {
			return cur, heldError(cur)
		}
		next = cur.Term + 1
	}
	t := term{Term: next, Holder: l.holder, Acquired: now, Expires: now.Add(l.ttl)}
	if err := l.create(ctx, t); errors.Is(err, lake.ErrExists) {
		return cur, fmt.Errorf("%w: another scheduler took term %d first", ErrLeaseHeld, next)
	} else if err != nil {
		return term{}, err
	}
	// A contender that stalled between its listing and its create could
	// recreate a term that was already deleted; only the highest term
	// counts, so check that ours is it.
	top, terms, err := l.latest(ctx)
	if err != nil {
		return term{}, err
	}
	if top.Term != t.Term {
		return top, heldError(top)
	}
	for _, n := range terms {
		if n+keepTerms <= t.Term {
			_ = l.bucket.Delete(ctx, lake.LeaseKey(n)) // best effort; the next acquisition retries
		}
	}
	return t, nil
}

// renew extends the lease by creating the term after cur. Once cur has
// expired by the holder's clock it is too late: a contender may have
// taken over, and the holder already stopped its work.
func (l *lease) renew(ctx context.Context, cur term) (term, error) {
	now := l.now()
	if !now.Before(cur.Expires) {
		return term{}, fmt.Errorf("%w: term %d expired at %s before renewal", ErrLeaseLost, cur.Term, cur.Expires.UTC().Format(time.RFC3339Nano))
	}
	t := term{Term: cur.Term + 1, Holder: l.holder, Acquired: now, Expires: now.Add(l.ttl)}
	if err := l.create(ctx, t); errors.Is(err, lake.ErrExists) {
		// An earlier renewal that reported an error may have landed all
		// the same (a timed-out request to an object store): a term of
		// ours is still ours.
		if mine, ok := l.own(ctx, t.Term); ok {
			return mine, nil
		}
		return term{}, fmt.Errorf("%w: another scheduler took term %d", ErrLeaseLost, t.Term)
	} else if err != nil {
		return term{}, err
	}
	if t.Term > keepTerms {
		_ = l.bucket.Delete(ctx, lake.LeaseKey(t.Term-keepTerms))
	}
	return t, nil
}

// release frees the lease after the holder's work ended by writing a
// released term after cur. If another scheduler already took that term
// there is nothing to release.
func (l *lease) release(ctx context.Context, cur term) error {
	now := l.now()
	t := term{Term: cur.Term + 1, Holder: l.holder, Acquired: now, Expires: now, Released: true}
	err := l.create(ctx, t)
	if errors.Is(err, lake.ErrExists) {
		if _, ok := l.own(ctx, t.Term); !ok {
			return nil // another scheduler holds the lease now
		}
		// A renewal that reported an error had landed: release after it.
		t.Term++
		err = l.create(ctx, t)
	}
	if err != nil && !errors.Is(err, lake.ErrExists) {
		return err
	}
	return nil
}

// own returns term n if this holder wrote it.
func (l *lease) own(ctx context.Context, n uint64) (term, bool) {
	data, err := l.bucket.Get(ctx, lake.LeaseKey(n))
	if err != nil {
		return term{}, false
	}
	var t term
	if json.Unmarshal(data, &t) != nil || t.Holder != l.holder || t.Released {
		return term{}, false
	}
	t.Term = n
	return t, true
}

// holding is a lease this runner holds. Its context is cancelled as soon
// as the holder's clock passes the expiry of its newest term without a
// renewal, or when the holding stops.
type holding struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	lease  *lease
	log    *slog.Logger
	done   chan struct{}

	mu   sync.Mutex
	cur  term
	lost *time.Timer
}

// hold keeps t renewed every TTL/3 until parent ends, the holding is
// stopped, or a renewal fails for good.
func (l *lease) hold(parent context.Context, t term, log *slog.Logger) *holding {
	ctx, cancel := context.WithCancelCause(parent)
	h := &holding{ctx: ctx, cancel: cancel, lease: l, log: log, done: make(chan struct{}), cur: t}
	h.lost = time.AfterFunc(t.Expires.Sub(l.now()), func() {
		cancel(fmt.Errorf("%w: term %d expired before it was renewed", ErrLeaseLost, h.term().Term))
	})
	go h.renew()
	return h
}

func (h *holding) term() term {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

func (h *holding) renew() {
	defer close(h.done)
	every := h.lease.ttl / 3
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-timer.C:
		}
		cur := h.term()
		next, err := h.lease.renew(h.ctx, cur)
		switch {
		case errors.Is(err, ErrLeaseLost):
			h.cancel(err)
			return
		case err != nil:
			// A transient bucket error: try again soon, while the term
			// lasts; the expiry timer ends the holding if it does not.
			if h.ctx.Err() == nil {
				h.log.Warn("lease renewal failed", "err", err, "term", cur.Term)
			}
			timer.Reset(every / 3)
			continue
		}
		if !h.lost.Stop() {
			return // expired while the renewal was in flight
		}
		h.mu.Lock()
		h.cur = next
		h.mu.Unlock()
		h.lost.Reset(next.Expires.Sub(h.lease.now()))
		timer.Reset(every)
	}
}

// stop ends the holding and waits for its renewals to stop. With release
// set it frees the lease for the next scheduler; callers release only after
// their work has ended.
func (h *holding) stop(release bool) error {
	h.lost.Stop()
	h.cancel(context.Canceled)
	<-h.done
	if !release {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 10*time.Second)
	defer cancel()
	return h.lease.release(ctx, h.term())
}
