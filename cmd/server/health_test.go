package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// hungPinger blocks until release is closed, as a local folder on a hung
// mount does whatever the context says, then fails.
type hungPinger struct{ entered, release chan struct{} }

func (p hungPinger) Ping(context.Context) error {
	close(p.entered)
	<-p.release
	return errors.New("mount hung")
}

// TestStorageUpNeverWaits checks that a scrape of idmt_storage_up takes the
// latest result while a check hangs, and the hung check's result after.
func TestStorageUpNeverWaits(t *testing.T) {
	p := hungPinger{entered: make(chan struct{}), release: make(chan struct{})}
	h := &health{storage: p, ttl: time.Hour, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error)
	go func() { done <- h.check(context.Background()) }()
	<-p.entered
	got := make(chan float64)
	go func() { got <- h.up() }()
	select {
	case v := <-got:
		if v != 1 {
			t.Errorf("storage up %v while the first check runs, want the initial 1", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a scrape waited for a hung check")
	}
	close(p.release)
	if err := <-done; err == nil {
		t.Fatal("the hung check succeeded")
	}
	if v := h.up(); v != 0 {
		t.Errorf("storage up %v after the check failed, want 0", v)
	}
}
