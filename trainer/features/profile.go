package features

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"time"
)

// reservoirSize is the number of values a profile keeps per field and
// statistic, and rowSample the number of whole rows: enough for the 0.5 %
// and 99.5 % quantiles (about ten values beyond each) and for linear
// relations between a few dozen fields, small enough that a profile of 130
// fields takes about 10 MB.
const (
	reservoirSize = 2048
	rowSample     = 4096
)

// residualSmooth is the smoothing length in rows of the residual feature:
// half an hour at 30 s, long enough to average out start-ups and defrosts,
// short against a drifting or stuck sensor.
const residualSmooth = 60

// profileGap is the longest gap between two rows of an installation for the
// profile to relate them (changes, runs); it matches the default MaxGap.
const profileGap = 15 * time.Minute

// changeWindow is the window of the changes feature, in which the profile
// counts the changes of whole-numbered fields.
const changeWindow = 30 * time.Minute

// Profile accumulates what feature selection needs from raw rows, streamed
// in (installation, timestamp) order per installation, in memory independent
// of the row count: per field a few counters and fixed-size uniform samples
// (of its values, of its changes between consecutive rows, and of how long
// it has kept the same value), and per installation and field the previous
// value. It is deterministic: the same rows in the same order give the same
// profile. It is not safe for concurrent use.
type Profile struct {
	rows   int64
	index  map[string]int
	fields []*fieldStats
	insts  map[string]*history
	rng    *rand.Rand
	// intervals samples the seconds between consecutive rows of an
	// installation.
	intervals sample
	// sample is a uniform sample of rows, each indexed like fields (NaN
	// where missing; rows taken before a field first appeared are shorter);
	// smooth holds the same rows' moving averages (residualSmooth).
	sample, smooth [][]float64
	// layout is the names slice of the latest AddValues and layoutIdx
	// their field indices (resolve).
	layout    []string
	layoutIdx []int
	// scratch holds Add's row, reused from row to row.
	scratch struct {
		names []string
		vals  []float64
		idx   []int
	}
}

// fieldStats describes one raw field over all rows.
type fieldStats struct {
	name string
	idx  int // index in Profile.fields and in sampled rows
	// present counts the rows that have the field.
	present int64
	// pairs counts consecutive values of the field within an installation;
	// up and down count those that increase and decrease.
	pairs, up, down int64
	// fractional reports a value that is not a whole number.
	fractional bool
	// deltas and runs sample the absolute changes between consecutive
	// values at most profileGap apart, and per row the seconds since the
	// field last changed; counts samples, per row of a whole-numbered
	// field, its changes in the last changeWindow.
	deltas, runs, counts sample
	// stale samples, per row of a lively field (below), the changes of the
	// other lively fields since it last changed; staleRng draws it, so
	// that the other samples do not depend on it.
	stale    sample
	staleRng *rand.Rand
	// rng draws the field's samples: one generator per field, seeded from
	// its name, so that the order in which a row's fields are visited (a
	// map's) does not matter.
	rng *rand.Rand
}

func newFieldStats(name string, idx int) *fieldStats {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &fieldStats{name: name, idx: idx, rng: rand.New(rand.NewPCG(h.Sum64(), 0x51f7)),
		staleRng: rand.New(rand.NewPCG(h.Sum64(), 0x57a1e))}
}

// history is the previous value of each field of one installation, indexed
// like Profile.fields.
type history struct {
	// last is the time of the installation's previous row, if any.
	last    int64
	hasLast bool
	has     []bool
	ms      []int64
	v       []float64
	run     []int64
	// avg is the moving average of each field (residualSmooth).
	avg []float64
	// act counts the changes of lively fields (livelySoFar), and runAct
	// is its value when each field last changed.
	act    int64
	runAct []int64
	// changes holds the times of the changes of a whole-numbered field in
	// the last changeWindow.
	changes [][]int64
}

// NewProfile returns an empty profile.
func NewProfile() *Profile {
	return &Profile{index: map[string]int{}, insts: map[string]*history{}, rng: rand.New(rand.NewPCG(0x1d7, 0x9f))}
}

// Add records one raw row of installation at ts; row maps metric names to
// values (missing metrics absent; non-finite values are ignored).
func (p *Profile) Add(installation string, ts time.Time, row map[string]float64) {
	names, vals, idx := p.scratch.names[:0], p.scratch.vals[:0], p.scratch.idx[:0]
	for n, v := range row {
		j, ok := p.index[n]
		if !ok {
			j = -1
		}
		names, vals, idx = append(names, n), append(vals, v), append(idx, j)
	}
	p.scratch.names, p.scratch.vals, p.scratch.idx = names, vals, idx
	p.add(installation, ts, names, vals, idx)
}

// AddValues is Add for a row given as parallel slices: vals[i] is the value
// of metric names[i], NaN when missing. Rows that pass the same names slice
// (the columns of a scan; it must not change between those calls) look
// the names up once.
func (p *Profile) AddValues(installation string, ts time.Time, names []string, vals []float64) {
	p.add(installation, ts, names, vals, p.resolve(names))
}

// add is Add and AddValues: idx[i] is the field index of names[i], -1 for
// a field not seen with a finite value yet (set here when it is).
func (p *Profile) add(installation string, ts time.Time, names []string, vals []float64, idx []int) {
	p.rows++
	h := p.insts[installation]
	if h == nil {
		h = &history{}
		p.insts[installation] = h
	}
	ms := ts.UnixMilli()
	gap := profileGap.Milliseconds()
	if dt := ms - h.last; h.hasLast && dt > 0 {
		p.intervals.add(p.rng, float64(dt)/1000)
	}
	h.last, h.hasLast = ms, true
	alpha := 2 / (float64(residualSmooth) + 1)
	// The row's changes of lively fields join the installation's count
	// before any run starts, as in model.KindStale.
	for i, v := range vals {
		if j := idx[i]; j >= 0 && finite(v) && j < len(h.has) && p.fields[j].livelySoFar() {
			if dt := ms - h.ms[j]; h.has[j] && dt > 0 && dt <= gap && v != h.v[j] {
				h.act++
			}
		}
	}
	for i, v := range vals {
		if !finite(v) {
			continue
		}
		j := idx[i]
		if j < 0 {
			j = p.field(names[i])
			idx[i] = j
		}
		if j >= len(h.has) {
			n := len(p.fields)
			h.has = append(h.has, make([]bool, n-len(h.has))...)
			h.ms = append(h.ms, make([]int64, n-len(h.ms))...)
			h.v = append(h.v, make([]float64, n-len(h.v))...)
			h.run = append(h.run, make([]int64, n-len(h.run))...)
			h.runAct = append(h.runAct, make([]int64, n-len(h.runAct))...)
			h.avg = append(h.avg, make([]float64, n-len(h.avg))...)
			h.changes = append(h.changes, make([][]int64, n-len(h.changes))...)
		}
		fs := p.fields[j]
		fs.present++
		if v != math.Trunc(v) {
			fs.fractional = true
		}
		dt := ms - h.ms[j]
		near := h.has[j] && dt > 0 && dt <= gap
		if h.has[j] {
			fs.pairs++
			switch prev := h.v[j]; {
			case v > prev:
				fs.up++
			case v < prev:
				fs.down++
			}
		}
		if near {
			fs.deltas.add(fs.rng, math.Abs(v-h.v[j]))
		}
		if !near || v != h.v[j] {
			h.run[j] = ms
			h.runAct[j] = h.act
		}
		if fs.livelySoFar() {
			fs.stale.add(fs.staleRng, float64(h.act-h.runAct[j]))
		}
		if near {
			h.avg[j] += alpha * (v - h.avg[j])
		} else {
			h.avg[j] = v
		}
		fs.runs.add(fs.rng, float64(ms-h.run[j])/1000)
		if fs.fractional {
			h.changes[j] = nil
		} else {
			c := h.changes[j]
			if near && v != h.v[j] {
				c = append(c, ms)
			}
			drop := 0
			for drop < len(c) && c[drop] <= ms-changeWindow.Milliseconds() {
				drop++
			}
			c = append(c[:0], c[drop:]...)
			h.changes[j] = c
			fs.counts.add(fs.rng, float64(len(c)))
		}
		h.has[j], h.ms[j], h.v[j] = true, ms, v
	}
	p.sampleRow(idx, vals, h)
}

// resolve returns the field index of each name, -1 for a name not seen with
// a finite value yet (AddValues fills it in then), and keeps the answer for
// the next call with the same slice.
func (p *Profile) resolve(names []string) []int {
	if len(names) > 0 && len(p.layout) == len(names) && &p.layout[0] == &names[0] {
		return p.layoutIdx
	}
	idx := make([]int, len(names))
	for i, n := range names {
		j, ok := p.index[n]
		if !ok {
			j = -1
		}
		idx[i] = j
	}
	p.layout, p.layoutIdx = names, idx
	return idx
}

// field returns the index of the field name, adding it if it is new.
func (p *Profile) field(name string) int {
	j, ok := p.index[name]
	if !ok {
		j = len(p.fields)
		p.index[name] = j
		p.fields = append(p.fields, newFieldStats(name, j))
	}
	return j
}

// livelySoFar reports whether the field, on the rows so far, is a lively
// measurement (fractional, changing in at least livelyChange of its
// consecutive values, over at least minLivelyPairs of them): the fields
// whose changes the stale feature counts.
func (fs *fieldStats) livelySoFar() bool {
	return fs.fractional && fs.pairs >= minLivelyPairs && float64(fs.up+fs.down) >= livelyChange*float64(fs.pairs)
}

// minLivelyPairs is the fewest consecutive values before a field counts as
// lively in the profile.
const minLivelyPairs = 100

// sampleRow keeps the row (AddValues') in the uniform row sample
// (algorithm R).
func (p *Profile) sampleRow(idx []int, vals []float64, h *history) {
	slot := len(p.sample)
	if slot == rowSample {
		j := p.rng.Int64N(p.rows)
		if j >= rowSample {
			return
		}
		slot = int(j)
	} else {
		p.sample = append(p.sample, nil)
		p.smooth = append(p.smooth, nil)
	}
	r, a := p.sample[slot][:0], p.smooth[slot][:0]
	for range p.fields {
		r = append(r, math.NaN())
		a = append(a, math.NaN())
	}
	for i, v := range vals {
		if j := idx[i]; j >= 0 && finite(v) {
			r[j], a[j] = v, h.avg[j]
		}
	}
	p.sample[slot], p.smooth[slot] = r, a
}

// column returns the finite values of field j in the row sample.
func (p *Profile) column(j int) []float64 {
	var out []float64
	for _, r := range p.sample {
		if j < len(r) && finite(r[j]) {
			out = append(out, r[j])
		}
	}
	return out
}

// Rows is the number of rows added.
func (p *Profile) Rows() int64 { return p.rows }

// Installations is the number of installations seen.
func (p *Profile) Installations() int { return len(p.insts) }

// sample is a uniform sample of fixed size of a stream of values (Vitter's
// algorithm R).
type sample struct {
	seen int64
	v    []float64
}

func (s *sample) add(r *rand.Rand, v float64) {
	s.seen++
	if len(s.v) < reservoirSize {
		s.v = append(s.v, v)
		return
	}
	if j := r.Int64N(s.seen); j < reservoirSize {
		s.v[j] = v
	}
}
