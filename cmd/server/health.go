package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// health answers probes; the storage check is cached briefly so that
// frequent probes do not hammer the bucket.
type health struct {
	storage Pinger
	ttl     time.Duration
	log     *slog.Logger

	mu      sync.Mutex
	checked time.Time
	err     error
	// down is the latest result, for scrapes that find a check running.
	down atomic.Bool
}

func (h *health) check(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checkLocked(ctx)
}

func (h *health) checkLocked(ctx context.Context) error {
	if time.Since(h.checked) < h.ttl {
		return h.err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h.err = h.storage.Ping(ctx)
	h.checked = time.Now()
	h.down.Store(h.err != nil)
	if h.err != nil {
		h.log.WarnContext(ctx, "storage unreachable", "err", h.err)
	}
	return h.err
}

// up is idmt_storage_up's value. A scrape never waits for a check that
// is running (a local folder on a hung mount ignores every timeout): it
// takes the latest result instead.
func (h *health) up() float64 {
	if h.mu.TryLock() {
		h.checkLocked(context.Background())
		h.mu.Unlock()
	}
	if h.down.Load() {
		return 0
	}
	return 1
}

func (h *health) serve(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := map[string]string{"status": "healthy", "storage": "ok", "version": version, "time": time.Now().UTC().Format(time.RFC3339)}
		status := http.StatusOK
		if err := h.check(r.Context()); err != nil {
			// The driver's error can name internal hosts; it goes to the
			// log, the probe only learns that storage is unreachable.
			body["status"], body["storage"] = "degraded", "unreachable"
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}
