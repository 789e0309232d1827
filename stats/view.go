package stats

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// ViewConfig configures a View. Zero values take the defaults.
type ViewConfig struct {
	// K is the privacy floor: no figure covering fewer installations is
	// served (default DefaultK).
	K int
	// Days is the pool window and the longest statistics window, in UTC
	// days (default 30, at least 7).
	Days int
	// SeenDays is how far back an installation's last record is
	// remembered, so that an installation silent for longer than Days is
	// told apart from one never seen (default 90, at least Days).
	SeenDays int
	// MinInstallations and MinDataPoints are the pool gate of eligibility
	// (defaults 5 and 10,000, as collectors' messages assume).
	MinInstallations int
	MinDataPoints    int64
}

func (c *ViewConfig) defaults() error {
	if c.K <= 0 {
		c.K = DefaultK
	}
	if c.Days == 0 {
		c.Days = 30
	}
	if c.SeenDays == 0 {
		c.SeenDays = max(90, c.Days)
	}
	if c.MinInstallations <= 0 {
		c.MinInstallations = 5
	}
	if c.MinDataPoints <= 0 {
		c.MinDataPoints = 10_000
	}
	if c.Days < 7 || c.Days > 366 {
		return fmt.Errorf("view: %d days: want 7 to 366", c.Days)
	}
	if c.SeenDays < c.Days {
		return fmt.Errorf("view: remembers %d days, fewer than the %d-day window", c.SeenDays, c.Days)
	}
	return nil
}

// ViewOption configures a View.
type ViewOption func(*View)

// WithViewClock injects the clock that decides windows and eligibility.
func WithViewClock(now func() time.Time) ViewOption { return func(v *View) { v.now = now } }

// WithModelsAvailable replaces what pool status reports as
// models_available (by default: the models with at least K installations
// in the pool window) by, say, the models that have a published release.
func WithModelsAvailable(f func() []string) ViewOption {
	return func(v *View) { v.modelsAvailable = f }
}

// View holds the last days of statistics in memory and answers from them
// alone: requests never touch the bucket. Refresh reloads what changed.
type View struct {
	bucket          *lake.Bucket
	log             *slog.Logger
	cfg             ViewConfig
	now             func() time.Time
	m               *viewMetrics
	modelsAvailable func() []string
	windows         []int // window lengths in days, ascending

	refreshMu sync.Mutex
	cache     map[time.Time]*dayCache // guarded by refreshMu
	snap      atomic.Pointer[snapshot]
}

// NewView returns a View over the statistics in bucket; it holds nothing
// until the first Refresh. reg may be nil.
func NewView(bucket *lake.Bucket, log *slog.Logger, reg prometheus.Registerer, cfg ViewConfig, opts ...ViewOption) (*View, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	v := &View{bucket: bucket, log: log, cfg: cfg, now: time.Now, m: newViewMetrics(reg),
		cache: map[time.Time]*dayCache{}}
	v.windows = slices.Compact([]int{1, 7, cfg.Days})
	for _, o := range opts {
		o(v)
	}
	return v, nil
}

// Windows names the statistics windows served ("1d", "7d", "30d").
func (v *View) Windows() []string {
	out := make([]string, len(v.windows))
	for i, n := range v.windows {
		out[i] = windowName(n)
	}
	return out
}

func windowName(days int) string { return fmt.Sprintf("%dd", days) }

// Run refreshes the view now and then every interval until ctx ends. A
// failed refresh is logged and the last good state kept.
func (v *View) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := v.Refresh(ctx); err != nil && ctx.Err() == nil {
			v.log.WarnContext(ctx, "stats view refresh", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ready reports whether a refresh has succeeded.
func (v *View) Ready() bool { return v.snap.Load() != nil }

// dayCache is one day's statistics as loaded; attrs tell whether the
// Installations document changed since.
type dayCache struct {
	size    int64
	modTime time.Time
	// doc and dailies are kept for the days of the windows only; older
	// days keep the last-seen times alone.
	doc      *Installations
	dailies  map[string]*Daily
	lastSeen map[string]time.Time
}

// Refresh reloads the statistics documents that changed since the last
// refresh and rebuilds the windows. Documents that cannot be decoded are
// skipped and logged; a bucket error keeps the previous state and is
// returned.
func (v *View) Refresh(ctx context.Context) error {
	v.refreshMu.Lock()
	defer v.refreshMu.Unlock()
	start := time.Now()
	err := v.refresh(ctx)
	v.m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		v.m.errors.Inc()
		return err
	}
	v.m.refreshed.SetToCurrentTime()
	return nil
}

func (v *View) refresh(ctx context.Context) error {
	now := v.now()
	today := truncDay(now)
	oldest := today.AddDate(0, 0, -v.cfg.SeenDays)
	prefix := installationsPrefix()
	listed := map[time.Time]lake.Attributes{}
	err := v.bucket.List(ctx, prefix, func(a lake.Attributes) error {
		if d, ok := installationsDay(prefix, a.Key); ok && !d.Before(oldest) && !d.After(today) {
			listed[d] = a
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list statistics: %w", err)
	}
	anchor := lastComplete(listed, today)
	fullFrom := today.AddDate(0, 0, -(v.cfg.Days - 1))
	if !anchor.IsZero() {
		fullFrom = minTime(fullFrom, anchor.AddDate(0, 0, -(v.cfg.Days-1)))
	}
	next := make(map[time.Time]*dayCache, len(listed))
	for d, a := range listed {
		full := !d.Before(fullFrom)
		c := v.cache[d]
		if c != nil && c.size == a.Size && c.modTime.Equal(a.ModTime) && (c.doc != nil || !full) {
			if !full && c.doc != nil {
				c = &dayCache{size: c.size, modTime: c.modTime, lastSeen: c.lastSeen}
			}
			next[d] = c
			continue
		}
		c, err := v.load(ctx, d, a, full, v.cache[d])
		if err != nil {
			return err
		}
		if c != nil {
			next[d] = c
		}
	}
	v.cache = next
	s := v.build(now, today, anchor)
	v.snap.Store(s)
	v.m.models.Set(float64(len(s.models)))
	v.m.installations.Set(float64(s.pool.TotalInstallations))
	if !anchor.IsZero() {
		v.m.lastDay.Set(float64(anchor.Unix()))
	}
	return nil
}

// lastComplete is the latest day before today that has statistics: the
// anchor of every window (today is still arriving).
func lastComplete(listed map[time.Time]lake.Attributes, today time.Time) time.Time {
	var out time.Time
	for d := range listed {
		if d.Before(today) && d.After(out) {
			out = d
		}
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// load reads one day's Installations document and, for window days, the
// Daily documents it names (reusing those of prev that still match).
func (v *View) load(ctx context.Context, day time.Time, a lake.Attributes, full bool, prev *dayCache) (*dayCache, error) {
	data, err := v.bucket.Get(ctx, a.Key)
	if errors.Is(err, lake.ErrNotFound) {
		return nil, nil // removed since the listing
	}
	if err != nil {
		return nil, err
	}
	v.m.objectsRead.Inc()
	var doc Installations
	if err := json.Unmarshal(data, &doc); err != nil || doc.Format != Format {
		v.log.WarnContext(ctx, "stats document skipped", "key", a.Key, "err", err, "format", doc.Format)
		return nil, nil
	}
	c := &dayCache{size: a.Size, modTime: a.ModTime, lastSeen: map[string]time.Time{}}
	for _, insts := range doc.Models {
		for id, in := range insts {
			if in.LastSeen.After(c.lastSeen[id]) {
				c.lastSeen[id] = in.LastSeen
			}
		}
	}
	if !full {
		return c, nil
	}
	c.doc = &doc
	c.dailies = map[string]*Daily{}
	for model := range doc.Models {
		key := lake.PartitionFile(model, day)
		i := slices.IndexFunc(doc.ComputedFrom, func(s Source) bool { return s.Key == key })
		if i < 0 {
			continue
		}
		src := doc.ComputedFrom[i]
		if prev != nil && prev.dailies[model] != nil && sameSource(prev.dailies[model].ComputedFrom, src) {
			c.dailies[model] = prev.dailies[model]
			continue
		}
		d, err := v.loadDaily(ctx, day, model, src)
		if err != nil {
			return nil, err
		}
		if d != nil {
			c.dailies[model] = d
		}
	}
	return c, nil
}

func sameSource(a, b Source) bool {
	return a.Key == b.Key && a.Size == b.Size && a.ModTime.Equal(b.ModTime)
}

// loadDaily reads a Daily document and keeps it only if it was computed
// from the partition the day's Installations document names: a rerun in
// progress may have replaced it already.
func (v *View) loadDaily(ctx context.Context, day time.Time, model string, src Source) (*Daily, error) {
	key := lake.StatsDayKey(day, model)
	data, err := v.bucket.Get(ctx, key)
	if errors.Is(err, lake.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v.m.objectsRead.Inc()
	var d Daily
	if err := json.Unmarshal(data, &d); err != nil || d.Format != Format || !sameSource(d.ComputedFrom, src) {
		v.log.DebugContext(ctx, "stats document skipped", "key", key, "err", err)
		return nil, nil
	}
	return &d, nil
}

// snapshot is an immutable state of the view that requests read.
type snapshot struct {
	built, today, anchor time.Time
	models               map[string]*modelView // by storage name
	lastSeen             map[string]time.Time  // installation → last record, any model
	pool                 Pool
}

type modelView struct {
	windows []*window // as View.windows
}

// window is a model's statistics over a run of days ending at the anchor.
type window struct {
	name          string
	from, to      time.Time
	installations int
	records       int64
	fieldSamples  int64
	metrics       map[string]*metricView
	cop           *COPCurve // bands merged; Installations counted over the window
	installIndex  map[string]int
}

// metricView is one metric over a window.
type metricView struct {
	Metric
	// means holds each installation's mean over the window (NaN: none),
	// indexed by window.installIndex; sorted the non-NaN ones, for rank.
	means  []float64
	sorted []float64
	// avgOfMeans is the mean of the installations' means: each
	// installation weighs the same.
	avgOfMeans float64
}

// build computes the windows, the pool and the last-seen times from the
// cache.
func (v *View) build(now, today, anchor time.Time) *snapshot {
	s := &snapshot{built: now, today: today, anchor: anchor, models: map[string]*modelView{},
		lastSeen: map[string]time.Time{}}
	days := slices.SortedFunc(maps.Keys(v.cache), time.Time.Compare)
	for _, d := range days {
		for id, t := range v.cache[d].lastSeen {
			if t.After(s.lastSeen[id]) {
				s.lastSeen[id] = t
			}
		}
	}
	// Every model with statistics on a loaded window day is known.
	models := map[string]bool{}
	for _, d := range days {
		if c := v.cache[d]; c.doc != nil {
			for m := range c.doc.Models {
				models[m] = true
			}
		}
	}
	for m := range models {
		mv := &modelView{}
		for _, n := range v.windows {
			mv.windows = append(mv.windows, v.buildWindow(m, n, anchor, days))
		}
		s.models[m] = mv
	}
	s.pool = v.buildPool(today, days)
	return s
}

// buildWindow merges a model's days in [anchor−n+1, anchor].
func (v *View) buildWindow(model string, n int, anchor time.Time, days []time.Time) *window {
	w := &window{name: windowName(n), metrics: map[string]*metricView{}, installIndex: map[string]int{}}
	if anchor.IsZero() {
		return w
	}
	w.from, w.to = anchor.AddDate(0, 0, -(n-1)), anchor
	type instSum struct {
		sum   float64
		count int64
	}
	perInst := map[string]map[string]*instSum{} // metric → installation → sums
	metricInsts := map[string]map[string]bool{}
	bandInsts := map[string]map[string]bool{}
	sketches := map[string]*ddsketch.DDSketch{}
	bandSketches := map[string]*ddsketch.DDSketch{}
	bands := map[string]*Band{}
	for _, d := range days {
		c := v.cache[d]
		if d.Before(w.from) || d.After(w.to) || c.doc == nil {
			continue
		}
		for id, in := range c.doc.Models[model] {
			if _, ok := w.installIndex[id]; !ok {
				w.installIndex[id] = len(w.installIndex)
			}
			for name, im := range in.Metrics {
				if perInst[name] == nil {
					perInst[name] = map[string]*instSum{}
					metricInsts[name] = map[string]bool{}
				}
				is := perInst[name][id]
				if is == nil {
					is = &instSum{}
					perInst[name][id] = is
				}
				is.sum += im.Mean * float64(im.Count)
				is.count += im.Count
				metricInsts[name][id] = true
			}
			for _, b := range in.COPBands {
				if bandInsts[b] == nil {
					bandInsts[b] = map[string]bool{}
				}
				bandInsts[b][id] = true
			}
		}
		daily := c.dailies[model]
		if daily == nil {
			continue
		}
		w.records += daily.Records
		w.fieldSamples += daily.FieldSamples
		for name, m := range daily.Metrics {
			if m.Count == 0 {
				continue
			}
			mv := w.metrics[name]
			if mv == nil {
				mv = &metricView{Metric: Metric{Min: m.Min, Max: m.Max}}
				w.metrics[name] = mv
				sketches[name] = newSketch()
			}
			mv.Count += m.Count
			mv.Excluded += m.Excluded
			mv.Sum += m.Sum
			mv.Min = min(mv.Min, m.Min)
			mv.Max = max(mv.Max, m.Max)
			if err := mergeSketch(sketches[name], m.Sketch); err != nil {
				v.log.Warn("stats sketch skipped", "model", model, "day", lake.Day(d), "metric", name, "err", err)
			}
		}
		if daily.COP != nil {
			if w.cop == nil {
				cp := *daily.COP
				cp.Bands = nil
				w.cop = &cp
			}
			if daily.COP.Compressor != "" {
				w.cop.Compressor = daily.COP.Compressor
			}
			for _, b := range daily.COP.Bands {
				acc := bands[b.Band]
				if acc == nil {
					acc = &Band{Band: b.Band, From: b.From, To: b.To}
					bands[b.Band] = acc
					bandSketches[b.Band] = newSketch()
				}
				acc.Count += b.Count
				acc.Sum += b.Sum
				acc.ThermalSum += b.ThermalSum
				acc.ElectricSum += b.ElectricSum
				if err := mergeSketch(bandSketches[b.Band], b.Sketch); err != nil {
					v.log.Warn("stats sketch skipped", "model", model, "day", lake.Day(d), "band", b.Band, "err", err)
				}
			}
		}
	}
	w.installations = len(w.installIndex)
	for name, mv := range w.metrics {
		mv.Mean = mv.Sum / float64(mv.Count)
		mv.Quantiles = quantilesOf(sketches[name], mv.Min, mv.Max)
		mv.Installations = len(metricInsts[name])
		mv.means = make([]float64, len(w.installIndex))
		for i := range mv.means {
			mv.means[i] = math.NaN()
		}
		var total float64
		for id, is := range perInst[name] {
			if is.count > 0 {
				mean := is.sum / float64(is.count)
				mv.means[w.installIndex[id]] = mean
				mv.sorted = append(mv.sorted, mean)
				total += mean
			}
		}
		slices.Sort(mv.sorted)
		if len(mv.sorted) > 0 {
			mv.avgOfMeans = total / float64(len(mv.sorted))
		}
	}
	if w.cop != nil {
		for label, b := range bands {
			if b.Count == 0 {
				continue
			}
			b.Mean = b.Sum / float64(b.Count)
			b.EnergyWeighted = b.ThermalSum / b.ElectricSum
			b.Installations = len(bandInsts[label])
			b.Quantiles = quantilesOf(bandSketches[label], 0, w.cop.MaxCOP)
			w.cop.Bands = append(w.cop.Bands, b)
		}
		slices.SortFunc(w.cop.Bands, compareBands)
		if len(w.cop.Bands) == 0 {
			w.cop = nil
		}
	}
	return w
}

// compareBands orders bands by temperature, the open lowest band first.
func compareBands(x, y *Band) int {
	lo := func(b *Band) float64 {
		if b.From == nil {
			return math.Inf(-1)
		}
		return *b.From
	}
	if c := cmp.Compare(lo(x), lo(y)); c != 0 {
		return c
	}
	return strings.Compare(x.Band, y.Band)
}

// Pool is the data pool over the last Days days, as the wire protocol's
// data_pool object and pool status spell it.
type Pool struct {
	TotalInstallations int      `json:"total_installations"`
	TotalDataPoints    int64    `json:"total_data_points"`
	ModelsAvailable    []string `json:"models_available"`
	DataSufficient     bool     `json:"data_sufficient"`
	Message            string   `json:"message"`
	MessageDE          string   `json:"message_de"`
	// The gate, for callers that explain it.
	Days             int   `json:"-"`
	MinInstallations int   `json:"-"`
	MinDataPoints    int64 `json:"-"`
}

// buildPool counts the whole pool (every model) over the last Days UTC
// days, today included: distinct installations and field samples.
func (v *View) buildPool(today time.Time, days []time.Time) Pool {
	from := today.AddDate(0, 0, -(v.cfg.Days - 1))
	p := Pool{Days: v.cfg.Days, MinInstallations: v.cfg.MinInstallations, MinDataPoints: v.cfg.MinDataPoints}
	all := map[string]bool{}
	perModel := map[string]map[string]bool{}
	for _, d := range days {
		c := v.cache[d]
		if d.Before(from) || c.doc == nil {
			continue
		}
		for model, insts := range c.doc.Models {
			if perModel[model] == nil {
				perModel[model] = map[string]bool{}
			}
			for id, in := range insts {
				all[id] = true
				perModel[model][id] = true
				for _, m := range in.Metrics {
					p.TotalDataPoints += m.Count
				}
			}
		}
	}
	p.TotalInstallations = len(all)
	if v.modelsAvailable != nil {
		p.ModelsAvailable = v.modelsAvailable()
	} else {
		for model, insts := range perModel {
			if len(insts) >= v.cfg.K {
				p.ModelsAvailable = append(p.ModelsAvailable, DisplayName(model))
			}
		}
	}
	if p.ModelsAvailable == nil {
		p.ModelsAvailable = []string{}
	}
	slices.Sort(p.ModelsAvailable)
	p.DataSufficient = p.TotalInstallations >= v.cfg.MinInstallations && p.TotalDataPoints >= v.cfg.MinDataPoints
	p.Message, p.MessageDE = poolMessages(p)
	return p
}

// DisplayName turns a model's storage name back into the name collectors
// send ("AERO_SLM_3-11" → "AERO SLM 3-11"), as the earlier server did.
func DisplayName(storage string) string { return strings.ReplaceAll(storage, "_", " ") }

// Pool returns the data pool as of the last refresh (zero before it).
func (v *View) Pool() Pool {
	s := v.snap.Load()
	if s == nil {
		return Pool{ModelsAvailable: []string{}, Days: v.cfg.Days, MinInstallations: v.cfg.MinInstallations,
			MinDataPoints: v.cfg.MinDataPoints, Message: msgLoading, MessageDE: msgLoadingDE}
	}
	return s.pool
}
