package lake

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// CompactConfig bounds a compaction run. Zero values take the defaults.
type CompactConfig struct {
	// Retention is how long landing objects are kept after they are
	// consumed (default 7 days). Unconsumed ones are never deleted, and a
	// run without From/To finds them however old they are.
	Retention time.Duration
	// ChunkBytes caps the landing JSON merged at once (default 256 MiB);
	// it bounds the run's memory together with one row group per merge.
	ChunkBytes int64
	// From and To restrict the run to batches received on those UTC days
	// (inclusive); zero means the whole retention window.
	From, To time.Time
	// MaxColumns caps the metric columns of a partition file (default
	// 2000; collectors send 100–500 fields, and ingest lets a batch use at
	// most 1000 names). A merge that would pass it fails with
	// ErrTooManyColumns, naming the landing objects with the most names,
	// instead of running out of memory.
	MaxColumns int
}

func (c *CompactConfig) defaults() {
	if c.Retention <= 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 256 << 20
	}
	if c.MaxColumns <= 0 {
		c.MaxColumns = 2000
	}
}

// CompactResult is what a run did. A run with nothing to do returns a
// zero result and no error: that is a normal outcome.
type CompactResult struct {
	Landing     int   // landing objects consumed (quarantined ones included)
	Quarantined int   // landing objects that could not be decoded
	Records     int64 // records read from landing objects
	Partitions  int   // partition files written
	Rows        int64 // rows in the partition files written
	LandingJSON int64 // bytes of landing JSON read
}

// Compactor merges the landing zone into the Parquet lake; see the lake
// protocol in docs/STORAGE_LAYOUT.md.
type Compactor struct {
	bucket  *Bucket
	landing *Landing
	log     *slog.Logger
	now     func() time.Time
	cfg     CompactConfig
	// progress, when set, is told after each landing object.
	progress func(done, total int)
}

// CompactOption configures a Compactor.
type CompactOption func(*Compactor)

// WithCompactClock injects the clock that decides the retention window.
func WithCompactClock(now func() time.Time) CompactOption {
	return func(c *Compactor) { c.now = now }
}

// WithProgress reports progress after each landing object.
func WithProgress(f func(done, total int)) CompactOption {
	return func(c *Compactor) { c.progress = f }
}

// NewCompactor returns a Compactor over bucket.
func NewCompactor(bucket *Bucket, log *slog.Logger, cfg CompactConfig, opts ...CompactOption) (*Compactor, error) {
	cfg.defaults()
	l, err := NewLanding(bucket, log)
	if err != nil {
		return nil, err
	}
	c := &Compactor{bucket: bucket, landing: l, log: log, now: time.Now, cfg: cfg}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// hourKey names a landing hour.
type hourKey struct {
	day  time.Time
	hour int
}

// Compact merges every unconsumed landing object in the window into the
// lake and records it as consumed.
//
// Landing objects are decoded a chunk (ChunkBytes of JSON) at a time. Every
// chunk but the last is sorted per partition and spilled as a Parquet run
// to a local scratch folder; then each partition file is rewritten once,
// by a k-way merge of the existing file, its runs and the last chunk's
// rows. Memory is one chunk plus a few thousand rows per merge source,
// each partition is rewritten once per run however large the backlog, and
// the output does not depend on how the input was chunked.
func (c *Compactor) Compact(ctx context.Context) (CompactResult, error) {
	var res CompactResult
	pending, consumed, err := c.pending(ctx)
	if err != nil || len(pending) == 0 {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the decode workers on an early return
	results := c.decodeAll(ctx, pending)
	var (
		scratch *Bucket
		runs    = map[string][]string{} // partition file → its runs, oldest first
		last    map[string]*partition
		nt      *names
	)
	defer func() {
		if scratch != nil {
			scratch.Close()
			os.RemoveAll(scratch.dir)
		}
	}()
	// A chunk spills while the next one decodes; at most one spill runs,
	// so memory holds two chunks at most.
	spilling := make(chan error, 1)
	spilling <- nil
	for done, seq := 0, 0; done < len(pending); seq++ {
		parts, names, n, err := c.chunk(ctx, results, pending[done:], done, len(pending), &res)
		if err != nil {
			<-spilling
			return res, err
		}
		done += n
		if err := <-spilling; err != nil {
			return res, err
		}
		if done == len(pending) {
			last, nt = parts, names
			spilling <- nil
			break
		}
		if scratch == nil {
			if scratch, err = openScratch(); err != nil {
				return res, err
			}
		}
		keys := c.addRuns(seq, parts, runs)
		go func() { spilling <- c.spill(ctx, scratch, seq, keys, parts, names) }()
	}
	if err := <-spilling; err != nil {
		return res, err
	}
	keys := slices.Sorted(maps.Keys(runs))
	for k := range last {
		if _, ok := runs[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	rows := make([]int64, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, k := range keys {
		g.Go(func() error {
			var err error
			rows[i], err = c.mergeTo(gctx, c.bucket, k, mergeInput{existing: true, runs: runs[k], mem: last[k]}, nt, scratch)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return res, err
	}
	for _, r := range rows {
		res.Partitions++
		res.Rows += r
	}
	// Only now, with every row durable in its partition, are the landing
	// objects consumed.
	touched := map[hourKey]bool{}
	for _, a := range pending {
		d, h, _ := landingHour(a.Key)
		hk := hourKey{d, h}
		consumed[hk][a.Key] = true
		touched[hk] = true
	}
	hours := slices.SortedFunc(maps.Keys(touched), func(a, b hourKey) int {
		return cmp.Or(a.day.Compare(b.day), cmp.Compare(a.hour, b.hour))
	})
	for _, hk := range hours {
		if err := c.writeConsumed(ctx, hk, consumed[hk]); err != nil {
			return res, err
		}
	}
	res.Landing = len(pending)
	return res, nil
}

// openScratch opens a local folder for spilled runs. Runs are rebuilt by
// a rerun, so they are not fsynced.
func openScratch() (*Bucket, error) {
	dir, err := os.MkdirTemp("", "idmt-compact-*")
	if err != nil {
		return nil, fmt.Errorf("scratch folder: %w", err)
	}
	b, err := OpenBucket(context.Background(), "file://"+dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b.noSync = true
	return b, nil
}

// addRuns names the runs a chunk's partitions spill to and records them.
func (c *Compactor) addRuns(seq int, parts map[string]*partition, runs map[string][]string) []string {
	keys := slices.Sorted(maps.Keys(parts))
	for _, k := range keys {
		runs[k] = append(runs[k], runName(seq, k))
	}
	return keys
}

// spill writes each partition of a chunk as a sorted run.
func (c *Compactor) spill(ctx context.Context, scratch *Bucket, seq int, keys []string, parts map[string]*partition, nt *names) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, k := range keys {
		g.Go(func() error {
			_, err := c.mergeTo(gctx, scratch, runName(seq, k), mergeInput{mem: parts[k]}, nt, nil)
			return err
		})
	}
	return g.Wait()
}

// pending lists the unconsumed landing objects, in key order, and the
// consumed sets of their hours. Without From/To it lists the whole landing
// zone, which retention keeps to a few days: a compactor that was down for
// longer still finds everything.
func (c *Compactor) pending(ctx context.Context) ([]Attributes, map[hourKey]map[string]bool, error) {
	prefixes := []string{LandingPrefix}
	if !c.cfg.From.IsZero() || !c.cfg.To.IsZero() {
		first, last := c.cfg.From.UTC().Truncate(24*time.Hour), c.cfg.To.UTC().Truncate(24*time.Hour)
		if c.cfg.From.IsZero() {
			first = c.now().UTC().Add(-c.cfg.Retention).Truncate(24 * time.Hour)
		}
		if c.cfg.To.IsZero() {
			last = c.now().UTC().Truncate(24 * time.Hour)
		}
		prefixes = prefixes[:0]
		for day := first; !day.After(last); day = day.Add(24 * time.Hour) {
			prefixes = append(prefixes, LandingDayPrefix(day))
		}
	}
	consumed := map[hourKey]map[string]bool{}
	var out []Attributes
	for _, prefix := range prefixes {
		err := c.eachLanding(ctx, prefix, consumed, func(a Attributes, done bool) error {
			if !done {
				out = append(out, a)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	return out, consumed, nil
}

// eachLanding calls fn for every landing object under prefix with
// whether it is consumed, loading consumed sets into consumed as needed.
func (c *Compactor) eachLanding(ctx context.Context, prefix string, consumed map[hourKey]map[string]bool, fn func(a Attributes, done bool) error) error {
	return c.bucket.List(ctx, prefix, func(a Attributes) error {
		d, h, ok := landingHour(a.Key)
		if !ok || !strings.HasSuffix(a.Key, ".json.zst") {
			return nil // not a landing object; nothing of ours
		}
		hk := hourKey{d, h}
		set, ok := consumed[hk]
		if !ok {
			var err error
			if set, err = c.readConsumed(ctx, hk); err != nil {
				return err
			}
			consumed[hk] = set
		}
		return fn(a, set[a.Key])
	})
}

type consumedDoc struct {
	Keys []string `json:"keys"`
}

func (c *Compactor) readConsumed(ctx context.Context, hk hourKey) (map[string]bool, error) {
	data, err := c.bucket.Get(ctx, ConsumedKey(hk.day, hk.hour))
	if errors.Is(err, ErrNotFound) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	var doc consumedDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read %s: %w", ConsumedKey(hk.day, hk.hour), err)
	}
	set := make(map[string]bool, len(doc.Keys))
	for _, k := range doc.Keys {
		set[k] = true
	}
	return set, nil
}

func (c *Compactor) writeConsumed(ctx context.Context, hk hourKey, set map[string]bool) error {
	doc := consumedDoc{Keys: make([]string, 0, len(set))}
	for k := range set {
		doc.Keys = append(doc.Keys, k)
	}
	slices.Sort(doc.Keys)
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return c.bucket.Put(ctx, ConsumedKey(hk.day, hk.hour), data, PutOptions{ContentType: "application/json"})
}

// chunk decodes the next landing objects, up to ChunkBytes of landing
// JSON, into rows by partition; it returns them and how many objects it
// took. Undecodable objects are quarantined on the way.
func (c *Compactor) chunk(ctx context.Context, results <-chan chan decoded, pending []Attributes, done, total int, res *CompactResult) (map[string]*partition, *names, int, error) {
	parts := map[string]*partition{}
	nt := newNames()
	var taken int64
	n := 0
	for ; n < len(pending) && (n == 0 || taken < c.cfg.ChunkBytes); n++ {
		var d decoded
		select {
		case r, ok := <-results:
			if !ok {
				return nil, nil, 0, ctx.Err()
			}
			d = <-r
		case <-ctx.Done():
			return nil, nil, 0, ctx.Err()
		}
		if d.err != nil {
			return nil, nil, 0, d.err
		}
		if c.progress != nil {
			c.progress(done+n+1, total)
		}
		if d.bad != nil {
			if err := c.quarantine(ctx, d.key, d.data, d.bad, res); err != nil {
				return nil, nil, 0, err
			}
			continue
		}
		add(parts, nt, &d)
		taken += d.json
		res.Records += int64(d.rows)
		res.LandingJSON += d.json
	}
	return parts, nt, n, nil
}

// quarantine keeps an undecodable landing object aside with its reason.
func (c *Compactor) quarantine(ctx context.Context, key string, data []byte, reason error, res *CompactResult) error {
	msg := reason.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	c.log.WarnContext(ctx, "quarantining landing object", "key", key, "reason", msg)
	err := c.bucket.Put(ctx, QuarantineKey(key), data, PutOptions{
		ContentType: "application/zstd",
		Metadata:    map[string]string{"reason": msg, "landing_key": key},
	})
	if err != nil {
		return err
	}
	res.Quarantined++
	return nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
