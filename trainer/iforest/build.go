package iforest

import (
	"fmt"
	"math"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// builder grows trees for one worker and reuses its scratch space across
// them. A tree depends only on the data and its own random stream, never on
// what the builder grew before.
type builder struct {
	x      Matrix
	f      *model.Forest
	seed   uint64
	psi, d int
	hyper  bool
	terms  int

	rng  *rng
	seen map[int]struct{}
	rows []int
	// cols holds the sampled rows column by column: value of feature j in
	// sample row p is cols[j*psi+p]. A node scans one feature over its rows,
	// which then reads one contiguous column.
	cols []float64
	// idx holds sample positions; each node owns the range idx[lo:hi] and
	// partitions it in place for its children.
	idx   []int32
	perm  []int32 // features in the order they are drawn, without replacement
	queue []task
	cpath []float64 // c(n) for n in [0, ψ]

	// The growing tree; copied to exact-size slices when done.
	feat   []int32
	weight []float64
	thr    []float64
	left   []int32
	right  []int32
	value  []float64
	// Scratch for one hyperplane: its features, weights and intercept.
	hf   []int32
	hw   []float64
	dots []float64 // Σ w·x of each sample position at the current node
}

// task is a node waiting to be grown: sample positions idx[lo:hi] at depth.
type task struct {
	lo, hi, depth, node int32
}

func newBuilder(x Matrix, f *model.Forest, seed uint64) *builder {
	psi, d := f.SampleSize, x.Cols
	b := &builder{
		x: x, f: f, seed: seed, psi: psi, d: d,
		hyper: f.Split == model.SplitHyperplane, terms: f.Terms,
		rng:   newRNG(),
		seen:  make(map[int]struct{}, psi),
		rows:  make([]int, 0, psi),
		cols:  make([]float64, psi*d),
		idx:   make([]int32, psi),
		perm:  make([]int32, d),
		cpath: make([]float64, psi+1),
		hf:    make([]int32, f.Terms),
		hw:    make([]float64, f.Terms),
		dots:  make([]float64, psi),
	}
	for n := range b.cpath {
		b.cpath[n] = model.AveragePathLength(n)
	}
	return b
}

// grow grows tree t.
func (b *builder) grow(t int) (model.Tree, error) {
	b.rng.seedTree(b.seed, t)
	if err := b.sample(); err != nil {
		return model.Tree{}, fmt.Errorf("tree %d: %w", t, err)
	}
	for i := range b.idx {
		b.idx[i] = int32(i)
	}
	for j := range b.perm {
		b.perm[j] = int32(j)
	}
	b.feat, b.weight, b.thr = b.feat[:0], b.weight[:0], b.thr[:0]
	b.left, b.right, b.value = b.left[:0], b.right[:0], b.value[:0]
	b.addNode()
	b.queue = append(b.queue[:0], task{lo: 0, hi: int32(b.psi), depth: 0, node: 0})

	// Nodes are grown in breadth-first order and both children of a node are
	// created together, so siblings are adjacent in the arrays.
	limit := int32(b.f.HeightLimit)
	for q := 0; q < len(b.queue); q++ {
		tk := b.queue[q]
		split := -1
		if tk.hi-tk.lo > 1 && tk.depth < limit {
			if b.hyper {
				split = b.splitHyperplane(tk)
			} else {
				split = b.splitAxis(tk)
			}
		}
		if split < 0 {
			b.value[tk.node] = float64(tk.depth) + b.cpath[tk.hi-tk.lo]
			continue
		}
		l := b.addNode()
		b.addNode()
		b.left[tk.node], b.right[tk.node] = l, l+1
		b.queue = append(b.queue,
			task{lo: tk.lo, hi: int32(split), depth: tk.depth + 1, node: l},
			task{lo: int32(split), hi: tk.hi, depth: tk.depth + 1, node: l + 1})
	}

	tree := model.Tree{
		Feature:   clone(b.feat),
		Threshold: clone(b.thr),
		Left:      clone(b.left),
		Right:     clone(b.right),
		Value:     clone(b.value),
	}
	if b.hyper {
		tree.Weight = clone(b.weight)
	}
	return tree, nil
}

// addNode appends a leaf and returns its index; a split fills it in later.
func (b *builder) addNode() int32 {
	n := int32(len(b.thr))
	for range b.terms {
		b.feat = append(b.feat, -1)
		if b.hyper {
			b.weight = append(b.weight, 0)
		}
	}
	b.thr = append(b.thr, 0)
	b.left = append(b.left, -1)
	b.right = append(b.right, -1)
	b.value = append(b.value, 0)
	return n
}

// sample draws ψ distinct rows with Floyd's algorithm, which needs ψ random
// numbers and memory for ψ rows however many rows x has, and copies them into
// cols.
func (b *builder) sample() error {
	n, psi := b.x.Rows, b.psi
	clear(b.seen)
	b.rows = b.rows[:0]
	for j := n - psi; j < n; j++ {
		r := b.rng.intn(j + 1)
		if _, dup := b.seen[r]; dup {
			r = j
		}
		b.seen[r] = struct{}{}
		b.rows = append(b.rows, r)
	}
	for p, r := range b.rows {
		row := b.x.Row(r)
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: row %d column %d is %v", ErrNotFinite, r, j, v)
			}
			b.cols[j*psi+p] = v
		}
	}
	return nil
}

// splitAxis splits node tk as the paper does: a random feature, a split value
// uniform between the feature's minimum and maximum in the node. A feature
// that is constant in the node cannot split it, so, like scikit-learn, it
// draws again among the features not yet tried; the node becomes a leaf when
// every feature is constant (the paper's "all data in X have the same
// values"). The result is a uniform choice among the non-constant features.
// It returns the index in idx where the right child starts, or -1 for a leaf.
func (b *builder) splitAxis(tk task) int {
	idx := b.idx[tk.lo:tk.hi]
	for k := 0; k < b.d; k++ {
		j := k + b.rng.intn(b.d-k)
		b.perm[k], b.perm[j] = b.perm[j], b.perm[k]
		q := b.perm[k]
		col := b.cols[int(q)*b.psi:][:b.psi]
		lo, hi := col[idx[0]], col[idx[0]]
		for _, p := range idx[1:] {
			v := col[p]
			lo = min(lo, v)
			hi = max(hi, v)
		}
		if !(hi > lo) {
			continue
		}
		// Uniform in [lo, hi), computed as scikit-learn does; rounding can
		// reach hi, and then the split falls back to lo. Rows with values
		// <= thr go left, so both children get at least one row.
		thr := (hi-lo)*b.rng.float64() + lo
		if thr >= hi {
			thr = lo
		}
		b.feat[tk.node] = q
		b.thr[tk.node] = thr
		return int(tk.lo) + partition(idx, func(p int32) bool { return col[p] > thr })
	}
	return -1
}

// splitHyperplane splits node tk as the Extended Isolation Forest does: a
// normal vector with standard normal weights on terms distinct random
// features (the extension level plus one) and an intercept point uniform in
// the node's bounding box on those features. Rows go right when
// Σ w·x > Σ w·p. As in Hariri et al.'s reference code a split may leave one
// side empty; only when all rows of the node are identical does the node
// become a leaf (the paper's rule), since no hyperplane can separate them.
func (b *builder) splitHyperplane(tk task) int {
	idx := b.idx[tk.lo:tk.hi]
	k := b.terms
	constant := true
	thr := 0.0
	for t := 0; t < k; t++ {
		j := t + b.rng.intn(b.d-t)
		b.perm[t], b.perm[j] = b.perm[j], b.perm[t]
		q := b.perm[t]
		col := b.cols[int(q)*b.psi:][:b.psi]
		lo, hi := col[idx[0]], col[idx[0]]
		for _, p := range idx[1:] {
			lo = min(lo, col[p])
			hi = max(hi, col[p])
		}
		if hi > lo {
			constant = false
		}
		w := b.rng.normal()
		p := (hi-lo)*b.rng.float64() + lo
		b.hf[t], b.hw[t] = q, w
		thr += float64(w * p)
	}
	if constant && b.identical(idx) {
		return -1
	}
	// The dot products use the same operations in the same order as
	// model.Scorer, so every training row lands where scoring sends it.
	for _, p := range idx {
		dot := 0.0
		for t, q := range b.hf {
			dot += float64(b.hw[t] * b.cols[int(q)*b.psi+int(p)])
		}
		b.dots[p] = dot
	}
	base := int(tk.node) * k
	copy(b.feat[base:base+k], b.hf)
	copy(b.weight[base:base+k], b.hw)
	b.thr[tk.node] = thr
	return int(tk.lo) + partition(idx, func(p int32) bool { return b.dots[p] > thr })
}

// identical reports whether all sample rows at idx are equal.
func (b *builder) identical(idx []int32) bool {
	for j := 0; j < b.d; j++ {
		col := b.cols[j*b.psi:][:b.psi]
		v := col[idx[0]]
		for _, p := range idx[1:] {
			if col[p] != v {
				return false
			}
		}
	}
	return true
}

// partition moves the positions for which right is false to the front of
// idx and returns how many there are.
func partition(idx []int32, right func(int32) bool) int {
	i, j := 0, len(idx)-1
	for {
		for i <= j && !right(idx[i]) {
			i++
		}
		for i <= j && right(idx[j]) {
			j--
		}
		if i >= j {
			return i
		}
		idx[i], idx[j] = idx[j], idx[i]
	}
}
