package lake

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// CompactConfig bounds a compaction run. Zero values take the defaults.
type CompactConfig struct {
	// Retention is how long landing objects are kept after they are
	// consumed, and so how far back a run looks for unconsumed ones
	// (default 7 days).
	Retention time.Duration
	// ChunkBytes caps the landing JSON merged at once (default 256 MiB);
	// it bounds the run's memory together with one row group per merge.
	ChunkBytes int64
	// From and To restrict the run to batches received on those UTC days
	// (inclusive); zero means the whole retention window.
	From, To time.Time
}

func (c *CompactConfig) defaults() {
	if c.Retention <= 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 256 << 20
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
func (c *Compactor) Compact(ctx context.Context) (CompactResult, error) {
	var res CompactResult
	pending, consumed, err := c.pending(ctx)
	if err != nil || len(pending) == 0 {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the decode workers on an early return
	results := c.decodeAll(ctx, pending)
	for done := 0; done < len(pending); {
		n, err := c.chunk(ctx, results, pending[done:], consumed, &res)
		if err != nil {
			return res, err
		}
		done += n
	}
	return res, nil
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

// chunk merges the next landing objects, up to ChunkBytes of landing JSON,
// records them as consumed, and returns how many it took.
func (c *Compactor) chunk(ctx context.Context, results <-chan chan decoded, pending []Attributes, consumed map[hourKey]map[string]bool, res *CompactResult) (int, error) {
	parts := map[string]*partition{}
	nt := newNames()
	var taken int64
	n := 0
	for ; n < len(pending) && (n == 0 || taken < c.cfg.ChunkBytes); n++ {
		var d decoded
		select {
		case r, ok := <-results:
			if !ok {
				return 0, ctx.Err()
			}
			d = <-r
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if d.err != nil {
			return 0, d.err
		}
		if c.progress != nil {
			c.progress(res.Landing+n+1, res.Landing+len(pending))
		}
		if d.bad != nil {
			if err := c.quarantine(ctx, d.key, d.data, d.bad, res); err != nil {
				return 0, err
			}
			continue
		}
		add(parts, nt, &d)
		taken += d.json
		res.Records += int64(d.rows)
		res.LandingJSON += d.json
	}
	keys := slices.Sorted(maps.Keys(parts))
	rows := make([]int64, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, k := range keys {
		g.Go(func() error {
			var err error
			rows[i], err = c.merge(gctx, parts[k], nt)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	for _, r := range rows {
		res.Partitions++
		res.Rows += r
	}
	// Only now, with every row durable in its partition, are the landing
	// objects consumed.
	touched := map[hourKey]bool{}
	for _, a := range pending[:n] {
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
			return 0, err
		}
	}
	res.Landing += n
	return n, nil
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

// merge rewrites one partition file with its new rows, deduplicated on
// (installation_id, timestamp), the last received winning. Both inputs
// are sorted, so the existing file streams through a row group at a time.
func (c *Compactor) merge(ctx context.Context, p *partition, nt *names) (int64, error) {
	rows := p.rows
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(strings.Compare(a.src.inst, b.src.inst), cmp.Compare(a.ts, b.ts),
			cmp.Compare(b.src.recv, a.src.recv), strings.Compare(b.src.key, a.src.key))
	})
	rows = slices.CompactFunc(rows, func(a, b row) bool { return a.src.inst == b.src.inst && a.ts == b.ts })

	old, err := openPartReader(ctx, c.bucket, p.key)
	switch {
	case errors.Is(err, ErrNotFound):
		old = nil
	case err != nil:
		return 0, err
	}
	if old != nil {
		defer old.close()
	}
	// Output columns: the union of the file's and the new rows' metrics.
	metricSet := map[string]bool{}
	for id, ok := range p.cols {
		if ok {
			metricSet[nt.list[id]] = true
		}
	}
	if old != nil {
		for _, m := range old.metrics {
			metricSet[m] = true
		}
	}
	metrics := make([]string, 0, len(metricSet))
	for m := range metricSet {
		metrics = append(metrics, m)
	}
	slices.Sort(metrics)
	outOf := make(map[string]int, len(metrics))
	for i, m := range metrics {
		outOf[m] = i
	}
	newIdx := make([]int, len(nt.list)) // run name id → output column
	for id, n := range nt.list {
		newIdx[id] = -1
		if i, ok := outOf[n]; ok {
			newIdx[id] = i
		}
	}
	var oldIdx []int // output column → file column, -1 if absent
	if old != nil {
		oldIdx = make([]int, len(metrics))
		for i := range oldIdx {
			oldIdx[i] = -1
		}
		for j, m := range old.metrics {
			oldIdx[outOf[m]] = j
		}
	}

	w, err := c.bucket.NewWriter(ctx, p.key, PutOptions{ContentType: "application/vnd.apache.parquet"})
	if err != nil {
		return 0, err
	}
	pw, err := newPartWriter(w, metrics)
	if err != nil {
		w.Abort()
		return 0, err
	}
	vals := make([]float64, len(metrics))
	valid := make([]bool, len(metrics))
	addNew := func(r *row) error {
		clear(valid)
		s := r.src
		for k := r.off; k < r.off+r.n; k++ {
			i := newIdx[s.cols[k]]
			vals[i], valid[i] = s.vals[k], true
		}
		return pw.add(s.inst, r.ts, s.recv, s.ver, vals, valid)
	}
	addOld := func() error {
		i := old.i
		for o, j := range oldIdx {
			if j < 0 || old.cols[j].IsNull(i) {
				valid[o] = false
				continue
			}
			vals[o], valid[o] = old.cols[j].Value(i), true
		}
		return pw.add(old.inst.Value(i), int64(old.ts.Value(i)), int64(old.rcv.Value(i)), old.ver.Value(i), vals, valid)
	}
	fail := func(err error) (int64, error) {
		pw.b.Release()
		w.Abort()
		return 0, err
	}
	haveOld := false
	if old != nil {
		if haveOld, err = old.next(); err != nil {
			return fail(err)
		}
	}
	n := 0
	for haveOld || n < len(rows) {
		var err error
		switch {
		case !haveOld:
			err = addNew(&rows[n])
			n++
		case n == len(rows):
			err = addOld()
			haveOld, err = advance(old, err)
		default:
			r := &rows[n]
			order := cmp.Or(strings.Compare(old.inst.Value(old.i), r.src.inst), cmp.Compare(int64(old.ts.Value(old.i)), r.ts))
			switch {
			case order < 0:
				err = addOld()
				haveOld, err = advance(old, err)
			case order > 0:
				err = addNew(r)
				n++
			default:
				// The same record: the one received last wins; a tie is
				// the same batch merged again.
				if int64(old.rcv.Value(old.i)) > r.src.recv {
					err = addOld()
				} else {
					err = addNew(r)
				}
				n++
				haveOld, err = advance(old, err)
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := pw.close(); err != nil {
		w.Abort()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return pw.rows, nil
}

// advance moves old to its next row unless err is set.
func advance(old *partReader, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	return old.next()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
