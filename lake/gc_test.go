package lake

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestExpire(t *testing.T) {
	ctx := context.Background()
	b := testBuckets(t)["file"]
	landBatch(t, b, "AERO SLM 3-11", t0, r(1, 0, map[string]float64{"a": 1}))
	landBatch(t, b, "AERO SLM 3-11", t0.Add(48*time.Hour), r(1, 30, map[string]float64{"a": 2}))
	compact(t, b, t0.Add(49*time.Hour))
	// Landed after that run and never compacted: must survive retention.
	landBatch(t, b, "AERO SLM 3-11", t0.Add(30*time.Minute), r(2, 0, map[string]float64{"a": 3}))
	stale := filepath.Join(b.dir, "landing", "x.json.zst.18a3f0c2b1d4e5f6.tmp")
	if err := os.WriteFile(stale, []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := t0.Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(8 * 24 * time.Hour) // t0's hour is past retention, t0+48h is not
	c, err := NewCompactor(b, quiet, CompactConfig{}, WithCompactClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Expire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Landing != 1 || res.Kept != 1 || res.Hours != 0 || res.TempFiles != 1 {
		t.Fatalf("expire: %+v", res)
	}
	// The kept object is compacted later; then its hour can go too.
	if res := compact(t, b, now); res.Landing != 1 {
		t.Fatalf("compact after expire: %+v", res)
	}
	if res, err := c.Expire(ctx); err != nil || res.Landing != 1 || res.Hours != 1 {
		t.Fatalf("second expire: %+v %v", res, err)
	}
	if got := len(readLake(t, b)); got != 3 {
		t.Fatalf("lake has %d rows after expiry, want 3", got)
	}
	var left []string
	_ = b.List(ctx, LandingPrefix, func(a Attributes) error { left = append(left, a.Key); return nil })
	if len(left) != 1 {
		t.Fatalf("landing left: %v (want only the one within retention)", left)
	}
}
