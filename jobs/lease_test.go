package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

func testLease(b *lake.Bucket, holder string) *lease {
	return &lease{bucket: b, holder: holder, ttl: 200 * time.Millisecond, skew: 20 * time.Millisecond, now: time.Now}
}

func TestLeaseOneWinnerPerTerm(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for round := range 3 {
				var wins atomic.Int32
				var wg sync.WaitGroup
				for i := range 8 {
					l := testLease(open(), fmt.Sprintf("c%d", i))
					wg.Go(func() {
						if _, err := l.acquire(ctx); err == nil {
							wins.Add(1)
						} else if !errors.Is(err, ErrLeaseHeld) {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if n := wins.Load(); n != 1 {
					t.Fatalf("round %d: %d contenders won, want 1", round, n)
				}
				time.Sleep(250 * time.Millisecond) // let the term expire
			}
		})
	}
}

func TestLeaseRenewalKeepsContendersOut(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b := open()
			holder := testLease(b, "holder")
			first, err := holder.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := holder.hold(ctx, first, testLogger(t))
			contender := testLease(open(), "contender")
			until := time.Now().Add(3 * holder.ttl)
			for time.Now().Before(until) {
				if _, err := contender.acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
					t.Fatalf("contender: %v, want ErrLeaseHeld", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if h.ctx.Err() != nil {
				t.Fatalf("holding ended: %v", context.Cause(h.ctx))
			}
			renewed := h.term()
			if renewed.Term < first.Term+5 {
				t.Errorf("term %d after 3 TTLs, want at least %d renewals", renewed.Term, 5)
			}
			var n int
			if err := b.List(ctx, lake.LeasePrefix, func(lake.Attributes) error { n++; return nil }); err != nil {
				t.Fatal(err)
			}
			if n > keepTerms {
				t.Errorf("%d terms kept, want at most %d", n, keepTerms)
			}

			// A clean stop frees the lease at once.
			if err := h.stop(true); err != nil {
				t.Fatal(err)
			}
			last := h.term()
			next, err := contender.acquire(ctx)
			if err != nil {
				t.Fatalf("after release: %v", err)
			}
			// The release follows the holder's last term (or a renewal that
			// landed as the holding stopped); the contender's term follows it.
			if next.Term < last.Term+2 || next.Term > last.Term+3 || next.Holder != "contender" {
				t.Errorf("contender term %+v after holder's term %d and its release", next, last.Term)
			}
		})
	}
}

func TestLeaseHolderStopsBeforeContenderStarts(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var cut atomic.Bool
			b := open(lake.WithFault(func(lake.Op, string) error {
				if cut.Load() {
					return errors.New("partitioned")
				}
				return nil
			}))
			holder := testLease(b, "holder")
			first, err := holder.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := holder.hold(ctx, first, testLogger(t))
			defer h.stop(false)
			time.Sleep(150 * time.Millisecond) // a renewal or two
			cut.Store(true)
			last := h.term()

			contender := testLease(open(), "contender")
			var won time.Time
			for won.IsZero() {
				_, err := contender.acquire(ctx)
				switch {
				case err == nil:
					won = time.Now()
				case !errors.Is(err, ErrLeaseHeld):
					t.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			select {
			case <-h.ctx.Done():
			default:
				t.Fatal("contender won while the holder still worked")
			}
			if !errors.Is(context.Cause(h.ctx), ErrLeaseLost) {
				t.Errorf("cause %v", context.Cause(h.ctx))
			}
			if won.Before(last.Expires.Add(holder.skew)) {
				t.Errorf("contender won at %v, before expiry %v + skew", won, last.Expires)
			}
		})
	}
}

func TestLeaseStaleTermIsNotTheLease(t *testing.T) {
	ctx := context.Background()
	b := memBucket(t)
	// Terms 1..9 exist and term 9 is held; term 2 was deleted. A contender
	// whose listing was stale recreates term 2: it must not think it holds
	// the lease.
	now := time.Now()
	for n := uint64(1); n <= 9; n++ {
		l := testLease(b, "old")
		if err := l.create(ctx, term{Term: n, Holder: "old", Acquired: now, Expires: now.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, lake.LeaseKey(2)); err != nil {
		t.Fatal(err)
	}
	stale := testLease(b, "stale")
	if err := stale.create(ctx, term{Term: 2, Holder: "stale", Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	cur, _, err := stale.latest(ctx)
	if err != nil || cur.Term != 9 || cur.Holder != "old" {
		t.Fatalf("latest %+v %v", cur, err)
	}
	if _, err := stale.acquire(ctx); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("acquire: %v", err)
	}
}
