package lake

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// cursor walks one sorted, duplicate-free source of rows for a partition:
// the existing file, a spilled run, or the rows of the last chunk.
type cursor interface {
	inst() string
	ts() int64
	recv() int64
	// fill sets the current row's metrics into vals/valid, indexed like
	// the output columns.
	fill(vals []float64, valid []bool)
	version() string
	next() (bool, error)
}

// fileCursor reads a Parquet partition file or run.
type fileCursor struct {
	r   *partReader
	out []int // output column → file metric, -1 if absent
}

func (f *fileCursor) inst() string    { return f.r.inst.Value(f.r.i) }
func (f *fileCursor) ts() int64       { return int64(f.r.ts.Value(f.r.i)) }
func (f *fileCursor) recv() int64     { return int64(f.r.rcv.Value(f.r.i)) }
func (f *fileCursor) version() string { return f.r.ver.Value(f.r.i) }
func (f *fileCursor) next() (bool, error) {
	return f.r.next()
}
func (f *fileCursor) fill(vals []float64, valid []bool) {
	i := f.r.i
	for o, j := range f.out {
		if j < 0 || f.r.cols[j].IsNull(i) {
			valid[o] = false
			continue
		}
		vals[o], valid[o] = f.r.cols[j].Value(i), true
	}
}

// memCursor walks rows held in memory, sorted and deduplicated.
type memCursor struct {
	rows []row
	i    int
	out  []int // chunk name id → output column
}

func (m *memCursor) inst() string    { return m.rows[m.i].src.inst }
func (m *memCursor) ts() int64       { return m.rows[m.i].ts }
func (m *memCursor) recv() int64     { return m.rows[m.i].src.recv }
func (m *memCursor) version() string { return m.rows[m.i].src.ver }
func (m *memCursor) next() (bool, error) {
	m.i++
	return m.i < len(m.rows), nil
}
func (m *memCursor) fill(vals []float64, valid []bool) {
	clear(valid)
	r := &m.rows[m.i]
	for k := r.off; k < r.off+r.n; k++ {
		o := m.out[r.src.cols[k]]
		vals[o], valid[o] = r.src.vals[k], true
	}
}

// sortRows orders rows by (installation, timestamp) and keeps, of equal
// keys, the one received last (ties: the later landing key, then the
// later document in it).
func sortRows(rows []row) []row {
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(strings.Compare(a.src.inst, b.src.inst), cmp.Compare(a.ts, b.ts),
			cmp.Compare(b.src.recv, a.src.recv), strings.Compare(b.src.key, a.src.key), cmp.Compare(b.src.seq, a.src.seq))
	})
	return slices.CompactFunc(rows, func(a, b row) bool { return a.src.inst == b.src.inst && a.ts == b.ts })
}

// mergeInput is what one partition is merged from.
type mergeInput struct {
	existing bool     // the lake file at key exists and is merged in
	runs     []string // spilled runs in the scratch bucket, oldest first
	mem      *partition
}

// mergeTo writes dst's file at key from the k-way merge of its inputs:
// of rows with the same (installation_id, timestamp) the one received
// last wins; a tie goes to the newer source (runs after the existing
// file, memory last), which only happens when a batch is merged again.
func (c *Compactor) mergeTo(ctx context.Context, dst *Bucket, key string, in mergeInput, nt *names, scratch *Bucket) (int64, error) {
	var readers []*partReader
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	open := func(b *Bucket, k string) error {
		r, err := openPartReader(ctx, b, k)
		if err != nil {
			return err
		}
		readers = append(readers, r)
		return nil
	}
	fileCols := 0 // metric columns of the existing file, if any
	if in.existing {
		switch err := open(c.bucket, key); {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return 0, err
		default:
			fileCols = len(readers[0].metrics)
		}
	}
	for _, run := range in.runs {
		if err := open(scratch, run); err != nil {
			return 0, err
		}
	}
	// Output columns: the union of every source's metrics, sorted.
	set := map[string]bool{}
	for _, r := range readers {
		for _, m := range r.metrics {
			set[m] = true
		}
	}
	if in.mem != nil {
		for id, ok := range in.mem.cols {
			if ok {
				set[nt.list[id]] = true
			}
		}
	}
	metrics := slices.Sorted(func(yield func(string) bool) {
		for m := range set {
			if !yield(m) {
				return
			}
		}
	})
	if len(metrics) > c.cfg.MaxColumns {
		return 0, fmt.Errorf("%w: %s would have %d metric columns (the file has %d now), over the limit of %d%s; "+
			"move the landing objects of the collector that sends changing field names to _quarantine/, or raise --max-columns if the names are real, then run compact (and compact-hourly) again with force",
			ErrTooManyColumns, key, len(metrics), fileCols, c.cfg.MaxColumns, namesPerSource(in.mem))
	}
	outOf := make(map[string]int, len(metrics))
	for i, m := range metrics {
		outOf[m] = i
	}
	var cursors []cursor
	for _, r := range readers {
		f := &fileCursor{r: r, out: make([]int, len(metrics))}
		for i := range f.out {
			f.out[i] = -1
		}
		for j, m := range r.metrics {
			f.out[outOf[m]] = j
		}
		cursors = append(cursors, f)
	}
	if in.mem != nil {
		m := &memCursor{rows: sortRows(in.mem.rows), out: make([]int, len(nt.list)), i: -1}
		for id, n := range nt.list {
			if o, ok := outOf[n]; ok {
				m.out[id] = o
			}
		}
		cursors = append(cursors, m)
	}
	// Position every cursor on its first row; drop the empty ones.
	live := cursors[:0]
	for _, cur := range cursors {
		ok, err := cur.next()
		if err != nil {
			return 0, err
		}
		if ok {
			live = append(live, cur)
		}
	}

	w, err := dst.NewWriter(ctx, key, PutOptions{ContentType: "application/vnd.apache.parquet"})
	if err != nil {
		return 0, err
	}
	pw, err := newPartWriter(w, metrics)
	if err != nil {
		w.Abort()
		return 0, err
	}
	fail := func(err error) (int64, error) {
		pw.b.Release()
		w.Abort()
		return 0, err
	}
	vals := make([]float64, len(metrics))
	valid := make([]bool, len(metrics))
	for len(live) > 0 {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		// The smallest key; of the cursors on it, the winner.
		win := 0
		for i := 1; i < len(live); i++ {
			a, b := live[i], live[win]
			switch o := cmp.Or(strings.Compare(a.inst(), b.inst()), cmp.Compare(a.ts(), b.ts())); {
			case o < 0:
				win = i
			case o == 0 && a.recv() >= b.recv():
				win = i // later sources come later in live: ties go to them
			}
		}
		wc := live[win]
		inst, ts := wc.inst(), wc.ts()
		wc.fill(vals, valid)
		if err := pw.add(inst, ts, wc.recv(), wc.version(), vals, valid); err != nil {
			return fail(err)
		}
		// Advance every cursor on this key.
		keep := live[:0]
		for _, cur := range live {
			if cur.inst() == inst && cur.ts() == ts {
				ok, err := cur.next()
				if err != nil {
					return fail(err)
				}
				if !ok {
					continue
				}
			}
			keep = append(keep, cur)
		}
		live = keep
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

// namesPerSource names the landing objects of p's rows (the run's last
// chunk; earlier chunks are spilled without their sources) that use the
// most distinct metric names, for ErrTooManyColumns.
func namesPerSource(p *partition) string {
	if p == nil || len(p.rows) == 0 {
		return ""
	}
	used := map[string]map[int32]bool{}
	for _, r := range p.rows {
		set := used[r.src.key]
		if set == nil {
			set = map[int32]bool{}
			used[r.src.key] = set
		}
		for _, id := range r.src.cols[r.off : r.off+r.n] {
			set[id] = true
		}
	}
	keys := slices.SortedFunc(maps.Keys(used), func(a, b string) int {
		return cmp.Or(cmp.Compare(len(used[b]), len(used[a])), strings.Compare(a, b))
	})
	var b strings.Builder
	b.WriteString("; the landing objects of the last chunk that use the most names:")
	for i, k := range keys[:min(3, len(keys))] {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s (%d)", k, len(used[k]))
	}
	return b.String()
}
