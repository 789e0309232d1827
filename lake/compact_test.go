package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	t0      = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC) // received
	dayBase = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).Unix()
	quiet   = slog.New(slog.NewTextHandler(io.Discard, nil))
)

// rec is one submitted record as a test sees it.
type rec struct {
	inst string
	ts   float64
	vals map[string]float64
}

type recKey struct {
	inst string
	ts   int64
}

func instID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// landBatch lands records of one installation received at recv.
func landBatch(t *testing.T, b *Bucket, model string, recv time.Time, recs ...rec) {
	t.Helper()
	var data bytes.Buffer
	data.WriteByte('[')
	for i, r := range recs {
		if i > 0 {
			data.WriteString(",\n")
		}
		fmt.Fprintf(&data, `{"timestamp":%v`, r.ts)
		for _, k := range slices.Sorted(maps.Keys(r.vals)) {
			fmt.Fprintf(&data, `,"%s":%v`, k, r.vals[k])
		}
		data.WriteByte('}')
	}
	data.WriteByte(']')
	l, err := NewLanding(b, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Land(context.Background(), &Batch{
		RequestID: "req", ReceivedAt: recv, InstallationID: recs[0].inst, Model: model,
		Version: "1.0", Records: len(recs), Data: data.Bytes(),
	}); err != nil {
		t.Fatal(err)
	}
}

// lakeRow is a row read back from the lake.
type lakeRow struct {
	file string
	recv int64
	ver  string
	vals map[string]float64
}

// readLake reads every partition file with our own reader and returns the
// rows by key, failing on a record seen twice.
func readLake(t *testing.T, b *Bucket) map[recKey]lakeRow {
	t.Helper()
	ctx := context.Background()
	out := map[recKey]lakeRow{}
	err := b.List(ctx, TelemetryPrefix, func(a Attributes) error {
		r, err := openPartReader(ctx, b, a.Key)
		if err != nil {
			return err
		}
		defer r.close()
		for {
			ok, err := r.next()
			if err != nil {
				return err
			}
			if !ok {
				return nil
			}
			k := recKey{r.inst.Value(r.i), int64(r.ts.Value(r.i))}
			if prev, dup := out[k]; dup {
				return fmt.Errorf("record %v in %s and %s", k, prev.file, a.Key)
			}
			row := lakeRow{file: a.Key, recv: int64(r.rcv.Value(r.i)), ver: r.ver.Value(r.i), vals: map[string]float64{}}
			for j, m := range r.metrics {
				if !r.cols[j].IsNull(r.i) {
					row.vals[m] = r.cols[j].Value(r.i)
				}
			}
			out[k] = row
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func compact(t *testing.T, b *Bucket, now time.Time) CompactResult {
	t.Helper()
	c, err := NewCompactor(b, quiet, CompactConfig{}, WithCompactClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func r(inst int, sec int64, vals map[string]float64) rec {
	return rec{inst: instID(inst), ts: float64(dayBase+sec) + 0.125, vals: vals}
}

// Invariant 1: every acknowledged record is in the lake exactly once, with
// its values; resubmitted and overlapping batches do not duplicate; the
// later-received record wins; late records merge into their own day.
func TestCompactExactlyOnce(t *testing.T) {
	for name, b := range testBuckets(t) {
		t.Run(name, func(t *testing.T) {
			landBatch(t, b, "AERO SLM 3-11", t0, r(1, 0, map[string]float64{"temp_outside": 5.5, "power": 1}), r(1, 30, map[string]float64{"temp_outside": 5.25}))
			landBatch(t, b, "AERO SLM 3-11", t0.Add(time.Minute), r(2, 0, map[string]float64{"temp_outside": -1, "humidity": 60}))
			// Overlap: installation 1 resends second 30 with a new value, later.
			landBatch(t, b, "AERO SLM 3-11", t0.Add(2*time.Hour), r(1, 30, map[string]float64{"temp_outside": 6}), r(1, 60, map[string]float64{"temp_outside": 6.5}))
			// Another model, and a record three days late.
			landBatch(t, b, "TERRA SW 6-17", t0.Add(3*time.Hour), r(3, -3*86400, map[string]float64{"brine": 2}))
			res := compact(t, b, t0.Add(4*time.Hour))
			if res.Landing != 4 || res.Records != 6 || res.Quarantined != 0 {
				t.Fatalf("result %+v", res)
			}
			got := readLake(t, b)
			if len(got) != 5 {
				t.Fatalf("%d rows, want 5: %v", len(got), got)
			}
			us := func(sec int64) int64 { return (dayBase+sec)*1e6 + 125000 }
			want := map[recKey]map[string]float64{
				{instID(1), us(0)}:          {"temp_outside": 5.5, "power": 1},
				{instID(1), us(30)}:         {"temp_outside": 6},
				{instID(1), us(60)}:         {"temp_outside": 6.5},
				{instID(2), us(0)}:          {"temp_outside": -1, "humidity": 60},
				{instID(3), us(-3 * 86400)}: {"brine": 2},
			}
			for k, vals := range want {
				row, ok := got[k]
				if !ok || !maps.Equal(row.vals, vals) {
					t.Errorf("%v = %+v, want %v", k, row, vals)
				}
			}
			if f := got[recKey{instID(3), us(-3 * 86400)}].file; f != "lake/telemetry/heatpump_model=TERRA_SW_6-17/date=2026-11-23/part-00000.parquet" {
				t.Errorf("late record in %s", f)
			}
			// Nothing new: a second run is a no-op, and resubmitting an
			// already compacted batch adds nothing.
			if res := compact(t, b, t0.Add(5*time.Hour)); res != (CompactResult{}) {
				t.Fatalf("second run did %+v", res)
			}
			landBatch(t, b, "AERO SLM 3-11", t0.Add(6*time.Hour), r(2, 0, map[string]float64{"temp_outside": -1, "humidity": 60}))
			compact(t, b, t0.Add(7*time.Hour))
			if again := readLake(t, b); len(again) != 5 {
				t.Fatalf("%d rows after a resubmission, want 5", len(again))
			}
			if b.dir != "" {
				// Partition folders hold Parquet files only: pyarrow reads
				// every file of a folder it is given.
				sidecars, _ := filepath.Glob(filepath.Join(b.dir, "lake", "telemetry", "*", "*", "*.attrs"))
				if len(sidecars) > 0 {
					t.Fatalf("sidecar files in the lake: %v", sidecars)
				}
			}
		})
	}
}

// snapshot returns every object the lake protocol writes, by key.
func snapshot(t *testing.T, b *Bucket) map[string][]byte {
	t.Helper()
	return objects(t, b, TelemetryPrefix, "_lake/", "_quarantine/")
}

// objects copies the objects under the prefixes, by key.
func objects(t testing.TB, b *Bucket, prefixes ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, prefix := range prefixes {
		err := b.List(context.Background(), prefix, func(a Attributes) error {
			data, err := b.Get(context.Background(), a.Key)
			out[a.Key] = data
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// seedCrashLanding lands a realistic mix: two models, several hours, an
// overlap and a late record, plus a lake that already has data.
func seedCrashLanding(t *testing.T, b *Bucket) {
	for i := 0; i < 4; i++ {
		var recs []rec
		for s := int64(0); s < 300; s += 30 {
			recs = append(recs, r(i, s, map[string]float64{"temp_outside": float64(s) / 10, fmt.Sprintf("m%d", i): float64(i)}))
		}
		model := []string{"AERO SLM 3-11", "TERRA SW 6-17"}[i%2]
		landBatch(t, b, model, t0.Add(time.Duration(i)*time.Hour), recs...)
	}
	landBatch(t, b, "AERO SLM 3-11", t0.Add(5*time.Hour), r(0, 60, map[string]float64{"temp_outside": 99}), r(0, -86400, map[string]float64{"late": 1}))
}

// Invariant 2: fail the Nth write or delete, for every N a run performs;
// a clean rerun must leave exactly the lake (same keys, same bytes) that
// an uninterrupted run leaves.
func TestCompactCrashAnywhere(t *testing.T) {
	for _, chunk := range []int64{0, 1} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) { crashAnywhere(t, CompactConfig{ChunkBytes: chunk}) })
	}
}

func crashAnywhere(t *testing.T, cfg CompactConfig) {
	now := t0.Add(8 * time.Hour)
	ref := testBuckets(t)["mem"]
	// The lake already holds an earlier day, so merges read existing files.
	landBatch(t, ref, "AERO SLM 3-11", t0.Add(-24*time.Hour), r(0, 0, map[string]float64{"temp_outside": 1}))
	compact(t, ref, t0.Add(-23*time.Hour))

	seedCrashLanding(t, ref)
	landed := snapshotAll(t, ref)
	var opCount atomic.Int64
	counting := NewBucket(ref.b, WithFault(func(Op, string) error { opCount.Add(1); return nil }))
	compact(t, counting, now)
	want := snapshot(t, ref)
	ops := int(opCount.Load())
	if ops < 5 {
		t.Fatalf("a run performed only %d writes", ops)
	}
	for n := 1; n <= ops; n++ {
		b := restore(t, landed)
		var seen atomic.Int64
		boom := errors.New("injected crash")
		faulty := NewBucket(b.b, WithFault(func(Op, string) error {
			if seen.Add(1) == int64(n) {
				return boom
			}
			return nil
		}))
		c, _ := NewCompactor(faulty, quiet, cfg, WithCompactClock(func() time.Time { return now }))
		if _, err := c.Compact(context.Background()); !errors.Is(err, boom) {
			t.Fatalf("crash at write %d: run returned %v", n, err)
		}
		compact(t, b, now)
		got := snapshot(t, b)
		if !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("crash at write %d of %d: rerun differs from an uninterrupted run: keys %v vs %v", n, ops, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}
}

// snapshotAll copies the whole bucket.
func snapshotAll(t testing.TB, b *Bucket) map[string][]byte {
	t.Helper()
	return objects(t, b, "")
}

// restore builds a fresh mem bucket holding objects.
func restore(t testing.TB, objects map[string][]byte) *Bucket {
	t.Helper()
	b, err := OpenBucket(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for k, v := range objects {
		if err := b.Put(context.Background(), k, v, PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// Invariant 3: a reader that lists and reads the lake between any two
// steps of a run sees every record once: all that was there before, and
// none twice.
func TestCompactReadableAtAnyInstant(t *testing.T) {
	b := testBuckets(t)["file"]
	landBatch(t, b, "AERO SLM 3-11", t0.Add(-24*time.Hour), r(0, 0, map[string]float64{"a": 1}))
	landBatch(t, b, "AERO SLM 3-11", t0.Add(-24*time.Hour), r(2, 0, map[string]float64{"a": 2}))
	compact(t, b, t0.Add(-23*time.Hour))
	before := readLake(t, b)
	seedCrashLanding(t, b)
	var mu sync.Mutex // one observation at a time; merges run in parallel
	checks := 0
	observed := NewBucket(b.b, WithFault(func(Op, string) error {
		mu.Lock()
		defer mu.Unlock()
		checks++
		now := readLake(t, b) // fails the test on a record seen twice
		for k := range before {
			if _, ok := now[k]; !ok {
				t.Errorf("record %v vanished during compaction", k)
			}
		}
		return nil
	}))
	observed.dir = b.dir
	c, _ := NewCompactor(observed, quiet, CompactConfig{}, WithCompactClock(func() time.Time { return t0.Add(8 * time.Hour) }))
	if _, err := c.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if checks < 5 {
		t.Fatalf("only %d observation points", checks)
	}
	// 4 installations × 10 records, one late record; the two earlier rows
	// share keys with the new ones and are replaced.
	if got := len(readLake(t, b)); got != 41 {
		t.Fatalf("%d rows after the run, want 41", got)
	}
}

// Invariant 4: an undecodable landing object is quarantined with its
// reason and does not block the rest.
func TestCompactQuarantine(t *testing.T) {
	for name, b := range testBuckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			landBatch(t, b, "AERO SLM 3-11", t0, r(1, 0, map[string]float64{"a": 1}))
			bad := LandingKey(t0, [32]byte{1})
			if err := b.Put(ctx, bad, []byte("not zstd"), PutOptions{}); err != nil {
				t.Fatal(err)
			}
			res := compact(t, b, t0.Add(time.Hour))
			if res.Quarantined != 1 || res.Landing != 2 || len(readLake(t, b)) != 1 {
				t.Fatalf("result %+v", res)
			}
			a, err := b.Stat(ctx, QuarantineKey(bad))
			if err != nil || !strings.Contains(a.Metadata["reason"], "decompress") {
				t.Fatalf("quarantine: %+v %v", a, err)
			}
			if data, _ := b.Get(ctx, QuarantineKey(bad)); string(data) != "not zstd" {
				t.Fatalf("quarantined bytes %q", data)
			}
			if res := compact(t, b, t0.Add(2*time.Hour)); res.Landing != 0 {
				t.Fatalf("quarantined object processed again: %+v", res)
			}
		})
	}
}

// TestCompactTooManyColumns checks that a partition that would pass
// MaxColumns fails the run with ErrTooManyColumns, naming the landing
// object with the most names, consumes nothing, and that once that object
// is moved aside the run succeeds.
func TestCompactTooManyColumns(t *testing.T) {
	for name, b := range testBuckets(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			landBatch(t, b, "AERO SLM 3-11", t0, r(1, 0, map[string]float64{"a": 1, "b": 2}))
			wide := map[string]float64{}
			for i := range 30 {
				wide[fmt.Sprintf("m%02d", i)] = float64(i)
			}
			landBatch(t, b, "AERO SLM 3-11", t0.Add(time.Minute), r(2, 0, wide))
			c, err := NewCompactor(b, quiet, CompactConfig{MaxColumns: 20}, WithCompactClock(func() time.Time { return t0.Add(time.Hour) }))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Compact(ctx)
			if !errors.Is(err, ErrTooManyColumns) || !strings.Contains(err.Error(), "32 metric columns") {
				t.Fatalf("compact: %v, want ErrTooManyColumns for 32 columns", err)
			}
			var wideKey string
			if err := b.List(ctx, "landing/", func(a Attributes) error {
				if strings.Contains(err.Error(), a.Key+" (30)") {
					wideKey = a.Key
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if wideKey == "" {
				t.Fatalf("the error does not name the wide landing object with its 30 names: %v", err)
			}
			if got := readLake(t, b); len(got) != 0 {
				t.Fatalf("the failed run wrote %d rows", len(got))
			}
			// The operator moves the object aside, as the error says.
			data, err := b.Get(ctx, wideKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Put(ctx, QuarantineKey(wideKey), data, PutOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := b.Delete(ctx, wideKey); err != nil {
				t.Fatal(err)
			}
			if res, err := c.Compact(ctx); err != nil || res.Records != 1 || len(readLake(t, b)) != 1 {
				t.Fatalf("after moving it aside: %+v %v", res, err)
			}
			// A limit below what a file already has says so.
			landBatch(t, b, "AERO SLM 3-11", t0.Add(2*time.Minute), r(3, 0, map[string]float64{"c": 3}))
			low, err := NewCompactor(b, quiet, CompactConfig{MaxColumns: 2}, WithCompactClock(func() time.Time { return t0.Add(time.Hour) }))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := low.Compact(ctx); !errors.Is(err, ErrTooManyColumns) || !strings.Contains(err.Error(), "3 metric columns (the file has 2 now)") {
				t.Fatalf("a limit below the file's columns: %v", err)
			}
		})
	}
}

// Spilling: however the input is chunked (here one landing object a
// chunk, so every chunk but the last becomes a run), the lake gets the
// same bytes as from one chunk.
func TestCompactChunkingInvariant(t *testing.T) {
	now := t0.Add(8 * time.Hour)
	var want map[string][]byte
	for _, chunk := range []int64{0, 1} {
		b := testBuckets(t)["mem"]
		landBatch(t, b, "AERO SLM 3-11", t0.Add(-24*time.Hour), r(0, 0, map[string]float64{"temp_outside": 1}))
		compact(t, b, t0.Add(-23*time.Hour))
		seedCrashLanding(t, b)
		c, err := NewCompactor(b, quiet, CompactConfig{ChunkBytes: chunk}, WithCompactClock(func() time.Time { return now }))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Compact(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got := snapshot(t, b)
		if want == nil {
			want = got
			continue
		}
		if res.Landing != 5 || !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("chunk %d B: %+v; lake differs from a one-chunk run", chunk, res)
		}
		if rows := len(readLake(t, b)); rows != 41 {
			t.Fatalf("%d rows, want 41", rows)
		}
	}
}
