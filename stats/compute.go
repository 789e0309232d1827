package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"golang.org/x/sync/errgroup"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// DefaultK is the privacy floor: no figure is served that covers fewer
// installations.
const DefaultK = 5

// JobConfig configures the statistics job. Zero values take the defaults.
type JobConfig struct {
	// K is the privacy floor recorded in each Daily document's Published
	// flag (default DefaultK). The View enforces its own floor when serving.
	K int
	// COP configures the efficiency curve.
	COP COPConfig
}

// Job computes the statistics documents of UTC days from the lake. It is
// safe to run again at any point: a day whose partitions did not change is
// nothing to do, and a rerun after a crash rewrites the same bytes.
type Job struct {
	bucket      *lake.Bucket
	log         *slog.Logger
	cfg         JobConfig
	fingerprint string
}

// NewJob returns a Job over the lake in bucket.
func NewJob(bucket *lake.Bucket, log *slog.Logger, cfg JobConfig) (*Job, error) {
	if cfg.K <= 0 {
		cfg.K = DefaultK
	}
	cfg.COP.defaults()
	if err := cfg.COP.validate(); err != nil {
		return nil, err
	}
	// Everything that changes the documents' bytes is in the fingerprint,
	// so that a configuration change makes every day "changed".
	fp := fmt.Sprintf("k=%d cop=%+v", cfg.K, cfg.COP)
	return &Job{bucket: bucket, log: log, cfg: cfg, fingerprint: fp}, nil
}

// Result is what computing one day did. NothingToDo is a normal outcome:
// the day's statistics already match its partitions.
type Result struct {
	Day         time.Time
	NothingToDo bool
	Models      int   // models with a partition that day
	Scanned     int   // partitions read
	Reused      int   // partitions unchanged since the last run, not read
	Rows        int64 // rows read
}

// Compute brings the statistics of one UTC day up to date with its lake
// partitions: it reads the partitions that changed since the last run,
// writes their Daily documents, then the day's Installations document.
func (j *Job) Compute(ctx context.Context, day time.Time) (Result, error) {
	day = truncDay(day)
	parts, err := lake.ListPartitions(ctx, j.bucket, day, day)
	if err != nil {
		return Result{}, err
	}
	return j.compute(ctx, day, parts)
}

// ComputeRange computes every day in [from, to] (UTC days; a zero bound is
// open) that has partitions or statistics, oldest first, listing the lake
// once. It stops at the first error and returns the results so far.
func (j *Job) ComputeRange(ctx context.Context, from, to time.Time) ([]Result, error) {
	byDay, days, err := j.daysIn(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(days))
	for _, d := range days {
		res, err := j.compute(ctx, d, byDay[d])
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// Changed lists the UTC days in [from, to] (a zero bound is open), oldest
// first, whose statistics do not match their partitions: new days, days a
// late record changed, days whose statistics a crashed run left behind.
// Its cost is one listing of the lake and of the statistics plus one stat
// (no read) per day, so the nightly job recomputes only what changed.
func (j *Job) Changed(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	byDay, days, err := j.daysIn(ctx, from, to)
	if err != nil {
		return nil, err
	}
	changed := make([]bool, len(days))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, d := range days {
		g.Go(func() error {
			current, err := j.current(gctx, d, byDay[d])
			changed[i] = !current
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var out []time.Time
	for i, d := range days {
		if changed[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// daysIn groups the partitions in [from, to] by day and adds the days that
// have statistics but no partitions left.
func (j *Job) daysIn(ctx context.Context, from, to time.Time) (map[time.Time][]lake.Partition, []time.Time, error) {
	parts, err := lake.ListPartitions(ctx, j.bucket, from, to)
	if err != nil {
		return nil, nil, err
	}
	byDay := map[time.Time][]lake.Partition{}
	for _, p := range parts {
		d := truncDay(p.Day)
		byDay[d] = append(byDay[d], p)
	}
	prefix := installationsPrefix()
	err = j.bucket.List(ctx, prefix, func(a lake.Attributes) error {
		d, ok := installationsDay(prefix, a.Key)
		if !ok || (!from.IsZero() && d.Before(truncDay(from))) || (!to.IsZero() && d.After(truncDay(to))) {
			return nil
		}
		if _, seen := byDay[d]; !seen {
			byDay[d] = nil
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list statistics: %w", err)
	}
	days := slices.SortedFunc(maps.Keys(byDay), time.Time.Compare)
	for _, d := range days {
		// ListPartitions sorts by model then day; keep each day's
		// partitions in key order, which is model order.
		slices.SortFunc(byDay[d], func(x, y lake.Partition) int { return strings.Compare(x.Key, y.Key) })
	}
	return byDay, days, nil
}

// current reports whether the day's Installations document was computed
// from exactly these partitions, with this configuration.
func (j *Job) current(ctx context.Context, day time.Time, parts []lake.Partition) (bool, error) {
	a, err := j.bucket.Stat(ctx, lake.StatsInstallationsKey(day))
	if errors.Is(err, lake.ErrNotFound) {
		return len(parts) == 0, nil
	}
	if err != nil {
		return false, err
	}
	return a.Metadata[metaDigest] == digest(j.fingerprint, sourcesOf(parts)), nil
}

func sourcesOf(parts []lake.Partition) []Source {
	out := make([]Source, len(parts))
	for i, p := range parts {
		out[i] = sourceOf(p)
	}
	return out
}

func (j *Job) compute(ctx context.Context, day time.Time, parts []lake.Partition) (Result, error) {
	res := Result{Day: day, Models: len(parts)}
	current, err := j.current(ctx, day, parts)
	if err != nil {
		return res, err
	}
	if current {
		res.NothingToDo = true
		return res, nil
	}
	prev := j.previous(ctx, day)
	sources := sourcesOf(parts)
	doc := &Installations{Format: Format, Day: lake.Day(day), ComputedFrom: sources,
		Models: map[string]map[string]*Installation{}}
	for i, p := range parts {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if insts, ok := j.reusable(ctx, prev, p, sources[i]); ok {
			doc.Models[p.Model] = insts
			res.Reused++
			continue
		}
		daily, insts, rows, err := j.scan(ctx, day, p, sources[i])
		if err != nil {
			return res, err
		}
		res.Scanned++
		res.Rows += rows
		if err := j.put(ctx, lake.StatsDayKey(day, p.Model), daily, digest(j.fingerprint, sources[i:i+1])); err != nil {
			return res, err
		}
		doc.Models[p.Model] = insts
	}
	// The Installations document commits the day: it is written last.
	if err := j.put(ctx, lake.StatsInstallationsKey(day), doc, digest(j.fingerprint, sources)); err != nil {
		return res, err
	}
	j.removeStale(ctx, day, doc)
	j.log.InfoContext(ctx, "stats computed", "day", lake.Day(day), "models", res.Models,
		"scanned", res.Scanned, "reused", res.Reused, "rows", res.Rows)
	return res, nil
}

// previous reads the day's last Installations document, or nil.
func (j *Job) previous(ctx context.Context, day time.Time) *Installations {
	data, err := j.bucket.Get(ctx, lake.StatsInstallationsKey(day))
	if err != nil {
		return nil
	}
	var doc Installations
	if json.Unmarshal(data, &doc) != nil || doc.Format != Format {
		return nil
	}
	return &doc
}

// reusable returns a partition's installation figures from the last run
// when neither the partition nor its Daily document changed since.
func (j *Job) reusable(ctx context.Context, prev *Installations, p lake.Partition, src Source) (map[string]*Installation, bool) {
	if prev == nil || !slices.ContainsFunc(prev.ComputedFrom, func(s Source) bool {
		return s.Key == src.Key && s.Size == src.Size && s.ModTime.Equal(src.ModTime)
	}) {
		return nil, false
	}
	insts, ok := prev.Models[p.Model]
	if !ok {
		return nil, false
	}
	a, err := j.bucket.Stat(ctx, lake.StatsDayKey(p.Day, p.Model))
	if err != nil || a.Metadata[metaDigest] != digest(j.fingerprint, []Source{src}) {
		return nil, false
	}
	return insts, true
}

func (j *Job) put(ctx context.Context, key string, doc any, dig string) error {
	data, err := marshal(doc)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return j.bucket.Put(ctx, key, data, lake.PutOptions{
		ContentType: "application/json",
		Metadata:    map[string]string{metaDigest: dig},
	})
}

// removeStale deletes Daily documents of models that no longer have a
// partition that day. Readers already ignore them (the Installations
// document does not name them), so a failure only leaves garbage.
func (j *Job) removeStale(ctx context.Context, day time.Time, doc *Installations) {
	var stale []string
	_ = j.bucket.List(ctx, lake.StatsDayPrefix(day), func(a lake.Attributes) error {
		model := strings.TrimSuffix(strings.TrimPrefix(a.Key, lake.StatsDayPrefix(day)), ".json")
		if _, ok := doc.Models[model]; !ok && a.Key == lake.StatsDayKey(day, model) {
			stale = append(stale, a.Key)
		}
		return nil
	})
	for _, key := range stale {
		if err := j.bucket.Delete(ctx, key); err != nil {
			j.log.WarnContext(ctx, "stale stats not removed", "key", key, "err", err)
		}
	}
}

// metricAcc accumulates one metric column of a partition.
type metricAcc struct {
	count, excluded int64
	sum, min, max   float64
	sketch          *ddsketch.DDSketch
}

// instAcc accumulates one installation's rows of a partition.
type instAcc struct {
	id          string
	records     int64
	first, last int64 // µs
	sums        []float64
	counts      []int64
	bands       []bool // COP bands contributed to
}

// scan reads one partition in bounded memory: per metric a sketch of at
// most sketchMaxBins bins, per installation a sum and a count per metric.
func (j *Job) scan(ctx context.Context, day time.Time, p lake.Partition, src Source) (*Daily, map[string]*Installation, int64, error) {
	var (
		metrics []string
		accs    []metricAcc
		insts   = map[string]*instAcc{}
		rows    int64
		cop     *copAcc
		rowInst []*instAcc
	)
	err := lake.Scan(ctx, j.bucket, p.Key, func(c *lake.Columns) error {
		if metrics == nil {
			metrics = slices.Clone(c.Metrics)
			accs = make([]metricAcc, len(metrics))
			cop = newCOPAcc(&j.cfg.COP, metrics)
		}
		rows += int64(c.Rows)
		rowInst = slices.Grow(rowInst[:0], c.Rows)[:c.Rows]
		// Rows are sorted by installation: look an installation up once
		// per run of its rows. Arrow strings alias the batch's memory, so
		// a kept ID is cloned.
		var cur *instAcc
		for i := range c.Rows {
			if id := c.Installation.Value(i); cur == nil || id != cur.id {
				cur = insts[id]
				if cur == nil {
					cur = &instAcc{id: strings.Clone(id), first: math.MaxInt64, last: math.MinInt64,
						sums: make([]float64, len(metrics)), counts: make([]int64, len(metrics))}
					insts[cur.id] = cur
				}
			}
			rowInst[i] = cur
			ts := int64(c.Timestamp.Value(i))
			cur.records++
			cur.first = min(cur.first, ts)
			cur.last = max(cur.last, ts)
		}
		for m, col := range c.Values {
			if col.NullN() == c.Rows {
				continue
			}
			a := &accs[m]
			for i := range c.Rows {
				if col.IsNull(i) {
					continue
				}
				v := col.Value(i)
				if !usable(v) {
					a.excluded++
					continue
				}
				if a.count == 0 {
					a.min, a.max, a.sketch = v, v, newSketch()
				}
				a.count++
				a.sum += v
				a.min = min(a.min, v)
				a.max = max(a.max, v)
				_ = a.sketch.Add(v) // |v| ≤ MaxAbsValue: always indexable
				in := rowInst[i]
				in.sums[m] += v
				in.counts[m]++
			}
		}
		if cop != nil {
			cop.add(c.Values, c.Rows, rowInst)
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("scan %s: %w", p.Key, err)
	}
	d := &Daily{Format: Format, Model: p.Model, Day: lake.Day(day), ComputedFrom: src,
		Installations: len(insts), Records: rows, Metrics: map[string]*Metric{}}
	for m, name := range metrics {
		a := &accs[m]
		if a.count == 0 && a.excluded == 0 {
			continue
		}
		mt := &Metric{Count: a.count, Excluded: a.excluded}
		if a.count > 0 {
			mt.Sum, mt.Min, mt.Max = a.sum, a.min, a.max
			mt.Mean = a.sum / float64(a.count)
			mt.Quantiles = quantilesOf(a.sketch, a.min, a.max)
			mt.Sketch = encodeSketch(a.sketch)
		}
		for _, in := range insts {
			if in.counts[m] > 0 {
				mt.Installations++
			}
		}
		d.FieldSamples += a.count
		d.Metrics[name] = mt
	}
	if cop != nil {
		d.COP = cop.curve(cop.comp >= 0)
	}
	d.Published = d.Installations >= j.cfg.K
	if !d.Published {
		d.Message = fmt.Sprintf("%d installations, fewer than the %d needed to publish figures; kept for windows that reach %d",
			d.Installations, j.cfg.K, j.cfg.K)
	}
	out := make(map[string]*Installation, len(insts))
	for id, in := range insts {
		fig := &Installation{Records: in.records, FirstSeen: time.UnixMicro(in.first).UTC(),
			LastSeen: time.UnixMicro(in.last).UTC(), Metrics: map[string]InstallationMetric{}}
		for m, name := range metrics {
			if in.counts[m] > 0 {
				fig.Metrics[name] = InstallationMetric{Count: in.counts[m], Mean: in.sums[m] / float64(in.counts[m])}
			}
		}
		if cop != nil {
			for b, ok := range in.bands {
				if ok {
					fig.COPBands = append(fig.COPBands, cop.bands[b].Band)
				}
			}
		}
		out[id] = fig
	}
	return d, out, rows, nil
}
