package model

import (
	"math"
	"time"
)

// Stream computes the feature vectors of rows streamed per installation in
// time order. Temporal kinds keep a little state per installation and
// feature (per field the previous value, its time, the start of its run of
// equal values or its moving average; a count of changes; the recent
// changes; the rows of a rolling window), so the rows of one
// installation must arrive in time order; rows of different installations
// may interleave freely. Memory grows with the number of installations,
// never with the number of rows; Forget drops one.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	features []Feature
	temporal bool
	insts    map[string][]state
	// layout is the names slice of the latest VectorValues, and pos[i] the
	// positions in it of the fields feature i reads.
	layout []string
	pos    [][]int
}

// state is what a temporal feature remembers about one installation: per
// field, the previous value, its time and the start of its run of equal
// values; for KindChanges, the rows with changes in the window and their
// total.
type state struct {
	has    []bool
	ms     []int64
	v      []float64
	run    []int64
	events []event
	count  []int64
	rows   []pair
	// act counts KindStale's changes of the installation's fields.
	act int64
}

// event is a change of field number n at ms.
type event struct{ ms, n int64 }

// pair is one row of a rolling kind: its time and its two operands.
type pair struct {
	ms   int64
	a, b float64
}

// NewStream returns a Stream computing features (which it copies).
func NewStream(features []Feature) *Stream {
	s := &Stream{features: append([]Feature(nil), features...), insts: map[string][]state{}}
	for i := range s.features {
		s.temporal = s.temporal || s.features[i].Temporal()
	}
	return s
}

// Features returns the features s computes. Do not modify them.
func (s *Stream) Features() []Feature { return s.features }

// Vector appends to dst the raw (unimputed, unscaled) feature values of a
// row of installation at time ts, NaN where missing, and records what the
// temporal features need for the installation's next row. row maps field
// names to values; absent and non-finite values are missing. Timestamps
// count in whole Unix milliseconds (ts.UnixMilli()).
func (s *Stream) Vector(dst []float64, installation string, ts time.Time, row map[string]float64) []float64 {
	return s.vector(dst, installation, ts, &fields{m: row}, nil)
}

// VectorValues is Vector for a row given as parallel slices: vals[i] is the
// value of field names[i], NaN when missing. Rows that pass the same names
// slice (the columns of a scan; it must not change between those calls)
// look the names up once, which makes this much faster than Vector.
func (s *Stream) VectorValues(dst []float64, installation string, ts time.Time, names []string, vals []float64) []float64 {
	if len(names) == 0 || len(s.layout) != len(names) || &s.layout[0] != &names[0] {
		s.resolve(names)
	}
	return s.vector(dst, installation, ts, &fields{vals: vals}, s.pos)
}

// resolve finds, for every feature, the position in names of each field it
// reads (fields.lookup), -1 when names lacks it.
func (s *Stream) resolve(names []string) {
	at := make(map[string]int, len(names))
	for i, n := range names {
		at[n] = i
	}
	s.layout, s.pos = names, make([][]int, len(s.features))
	for i := range s.features {
		for _, n := range s.features[i].reads() {
			p, ok := at[n]
			if !ok {
				p = -1
			}
			s.pos[i] = append(s.pos[i], p)
		}
	}
}

func (s *Stream) vector(dst []float64, installation string, ts time.Time, row *fields, pos [][]int) []float64 {
	var st []state
	if s.temporal {
		st = s.insts[installation]
		if st == nil {
			st = make([]state, len(s.features))
			for i := range s.features {
				if f := &s.features[i]; f.Temporal() {
					n := max(len(f.Fields), 1)
					st[i] = state{has: make([]bool, n), ms: make([]int64, n), v: make([]float64, n),
						run: make([]int64, n), count: make([]int64, n)}
				}
			}
			s.insts[installation] = st
		}
	}
	ms := ts.UnixMilli()
	for i := range s.features {
		f := &s.features[i]
		if pos != nil {
			row.pos = pos[i]
		}
		if !f.Temporal() {
			dst = append(dst, f.value(row))
			continue
		}
		dst = append(dst, f.step(&st[i], ms, row))
	}
	return dst
}

// Forget drops the state of installation, e.g. once its rows are done.
func (s *Stream) Forget(installation string) { delete(s.insts, installation) }

// Installations returns the number of installations s holds state for.
func (s *Stream) Installations() int { return len(s.insts) }

// step computes a temporal feature of the row at ms and updates st. The
// operations are those of docs/MODEL_FORMAT.md, in the same order, so that
// every implementation gets the same bits.
func (f *Feature) step(st *state, ms int64, row *fields) float64 {
	switch f.Kind {
	case KindRollingDiff, KindRollingRatio:
		return f.rolling(st, ms, row)
	case KindResidual:
		return f.residual(st, ms, row)
	case KindRate:
		return f.rate(st, ms, row)
	case KindStale:
		return f.stale(st, ms, row)
	}
	gap := f.MaxGap * 1000
	out := math.NaN()
	present := false
	second := math.NaN() // KindJump: the second largest relative change
	for i, name := range f.Fields {
		v, ok := row.get(i, name)
		if !ok {
			continue
		}
		present = true
		// The previous value counts if it is earlier and recent enough.
		dt := ms - st.ms[i]
		prev := st.has[i] && dt > 0 && dt <= gap
		p := st.v[i]
		switch f.Kind {
		case KindJump:
			if prev {
				z := math.Abs(v-p) / f.Norm[i]
				if math.IsNaN(out) || z > out {
					out, second = z, out
				} else {
					second = maxNaN(second, z)
				}
			}
		case KindStuck:
			if !prev || v != p {
				st.run[i] = ms
			}
			out = maxNaN(out, float64(ms-st.run[i])/1000/f.Norm[i])
		case KindChanges:
			if prev && v != p {
				st.events = append(st.events, event{ms: ms, n: int64(i)})
				st.count[i]++
			}
		}
		st.has[i], st.ms[i], st.v[i] = true, ms, v
	}
	switch f.Kind {
	case KindJump:
		// A spike moves one field; a start-up or a defrost moves many
		// together, so the largest change counts only by how much it
		// exceeds the second largest.
		if !math.IsNaN(second) {
			out -= second
		}
	case KindChanges:
		// Changes older than the window leave it, oldest first.
		drop := 0
		for drop < len(st.events) && st.events[drop].ms <= ms-f.Window*1000 {
			st.count[st.events[drop].n]--
			drop++
		}
		if drop > 0 {
			st.events = append(st.events[:0], st.events[drop:]...)
		}
		if present {
			out = 0
			for i, c := range st.count {
				out = max(out, float64(c)/f.Norm[i])
			}
		}
	}
	return out
}

// stale is KindStale: the row's changes (present fields with a usable
// previous value that differs) join the installation's count act; a field
// that changed, or has no usable previous value, starts a run at the new
// count (run); the value is the largest act − run over the present fields,
// each relative to its Norm.
func (f *Feature) stale(st *state, ms int64, row *fields) float64 {
	gap := f.MaxGap * 1000
	for i, name := range f.Fields {
		if v, ok := row.get(i, name); ok {
			if dt := ms - st.ms[i]; st.has[i] && dt > 0 && dt <= gap && v != st.v[i] {
				st.act++
			}
		}
	}
	out := math.NaN()
	for i, name := range f.Fields {
		v, ok := row.get(i, name)
		if !ok {
			continue
		}
		if dt := ms - st.ms[i]; !(st.has[i] && dt > 0 && dt <= gap) || v != st.v[i] {
			st.run[i] = st.act
		}
		out = maxNaN(out, float64(st.act-st.run[i])/f.Norm[i])
		st.has[i], st.ms[i], st.v[i] = true, ms, v
	}
	return out
}

// rate is KindRate: the change per hour of a counter since its previous
// value, if recent, earlier and not larger (a counter reset).
func (f *Feature) rate(st *state, ms int64, row *fields) float64 {
	v, ok := row.get(0, f.Field)
	if !ok {
		return math.NaN()
	}
	out := math.NaN()
	if dt := ms - st.ms[0]; st.has[0] && dt > 0 && dt <= f.MaxGap*1000 && v >= st.v[0] {
		out = (v - st.v[0]) * 3600000 / float64(dt)
	}
	st.has[0], st.ms[0], st.v[0] = true, ms, v
	return out
}

// rolling computes the rolling kinds: the row joins the window (which
// starts afresh after a gap or a row out of order), rows older than Window
// seconds leave it, and the sums run over the window's rows in time order.
func (f *Feature) rolling(st *state, ms int64, row *fields) float64 {
	a, ok1 := row.get(0, f.Field)
	b, ok2 := row.get(1, f.Field2)
	if !ok1 || !ok2 {
		return math.NaN()
	}
	if n := len(st.rows); n > 0 {
		if dt := ms - st.rows[n-1].ms; dt <= 0 || dt > f.MaxGap*1000 {
			st.rows = st.rows[:0]
		}
	}
	st.rows = append(st.rows, pair{ms: ms, a: a, b: b})
	drop := 0
	for st.rows[drop].ms <= ms-f.Window*1000 {
		drop++
	}
	if drop > 0 {
		st.rows = append(st.rows[:0], st.rows[drop:]...)
	}
	n := float64(len(st.rows))
	if f.Kind == KindRollingDiff {
		sum := 0.0
		for _, r := range st.rows {
			sum += r.a - r.b
		}
		return sum / n
	}
	sa, sb := 0.0, 0.0
	for _, r := range st.rows {
		sa += r.a
		sb += r.b
	}
	if sb >= n*f.MinDenominator {
		return sa / sb
	}
	return math.NaN()
}

// residual updates each field's moving average (restarting at the field's
// value after a gap or a row out of order) and returns the largest relative
// error of the linear predictions on the averages. The weights apply in field
// order, each product rounded before it is added.
func (f *Feature) residual(st *state, ms int64, row *fields) float64 {
	alpha := 2 / (float64(f.Smooth) + 1)
	gap := f.MaxGap * 1000
	complete := true
	for i, name := range f.Fields {
		v, ok := row.get(i, name)
		if !ok {
			complete = false
			continue
		}
		if dt := ms - st.ms[i]; st.has[i] && dt > 0 && dt <= gap {
			st.v[i] += float64(alpha * (v - st.v[i]))
		} else {
			st.v[i] = v
		}
		st.has[i], st.ms[i] = true, ms
	}
	if !complete {
		return math.NaN()
	}
	k := len(f.Fields)
	out := math.NaN()
	for i := range k {
		pred := f.Intercept[i]
		for j, w := range f.Weights[i*k : (i+1)*k] {
			pred += float64(w * st.v[j])
		}
		out = maxNaN(out, math.Abs(st.v[i]-pred)/f.Norm[i])
	}
	return out
}
