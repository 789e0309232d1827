package model

import (
	"fmt"
	"math"
	"unsafe"
)

// Scorer is a forest compiled for fast scoring of feature vectors that are
// already imputed and scaled. It is read-only and safe for concurrent use.
//
// Compilation renumbers every tree breadth-first so that the two children of
// a node are adjacent (right = left + 1) and turns every leaf into a node that
// points to itself with threshold +Inf. A row then takes exactly height steps
// in a tree (the depth of its deepest leaf), each step one load of the node,
// one load of the row and a branch-free compare and add. Since the number of
// steps does not depend on the data, a block of rows advances level by level
// without a mispredicted branch at the end of each walk, and the processor
// overlaps the independent steps of many rows. The leaf's path length is
// added once at the end.
type Scorer struct {
	nodes  []node
	values []float64 // path length of the leaf at the same index, else 0
	trees  []span
	// terms, tfeat and tweight hold hyperplane splits: a node uses tfeat and
	// tweight at [node.feat, node.feat+terms). Both are nil for axis splits.
	terms    int
	tfeat    []int32
	tweight  []float64
	features int
	cpsi     float64
}

// node is one compiled node: 16 bytes, four to a cache line. Offsets are
// kept in bytes, unsigned, so that a step of the walk needs no index
// arithmetic or sign extension.
type node struct {
	// feat is, for an axis split, the byte offset of the feature in a row
	// (index × 8); for a hyperplane split, the index in tfeat and tweight of
	// the node's first term.
	feat uint32
	// left is the byte offset of the left child from the tree's first node
	// (index × 16); the right child follows it.
	left uint32
	thr  float64
}

const nodeSize = uint32(unsafe.Sizeof(node{}))

// maxTreeNodes bounds the nodes of one tree so that byte offsets fit in
// 32 bits; a tree of height MaxHeight could otherwise be larger.
const maxTreeNodes = math.MaxInt32 / 16

// maxFeatures bounds the feature count so that byte offsets into a row fit
// in uint32.
const maxFeatures = 1 << 24

type span struct {
	base, end int32
	height    int32
}

// blockRows is the number of rows walked through one tree before moving to the
// next tree: large enough that a tree's hot nodes are reused from L1, small
// enough that the rows themselves stay in L1 too.
const blockRows = 64

// NewScorer validates f for feature vectors of the given length and compiles
// it. The error wraps ErrInvalid.
func NewScorer(f *Forest, features int) (*Scorer, error) {
	if features < 1 || features > maxFeatures {
		return nil, invalidf("%d features", features)
	}
	if err := f.validate(features); err != nil {
		return nil, err
	}
	total := 0
	for i := range f.Trees {
		total += f.Trees[i].Nodes()
		if total > maxEntries/f.Terms {
			return nil, invalidf("more than %d nodes", maxEntries/f.Terms)
		}
	}
	s := &Scorer{
		nodes:    make([]node, 0, total),
		values:   make([]float64, 0, total),
		trees:    make([]span, 0, len(f.Trees)),
		terms:    f.Terms,
		features: features,
		cpsi:     f.CSampleSize,
	}
	if f.Split == SplitHyperplane {
		s.tfeat = make([]int32, 0, total*f.Terms)
		s.tweight = make([]float64, 0, total*f.Terms)
	}
	var c compiler
	for i := range f.Trees {
		if err := c.compile(s, f, &f.Trees[i]); err != nil {
			return nil, fmt.Errorf("tree %d: %w", i, err)
		}
	}
	return s, nil
}

// compiler holds scratch space reused across trees.
type compiler struct {
	parents []int8
	depth   []int32
	order   []int32
}

// compile validates t and appends it to s.
func (c *compiler) compile(s *Scorer, f *Forest, t *Tree) error {
	n := t.Nodes()
	k := f.Terms
	hyper := f.Split == SplitHyperplane
	if n == 0 || n > maxTreeNodes {
		return invalidf("%d nodes", n)
	}
	if len(t.Left) != n || len(t.Right) != n || len(t.Value) != n || len(t.Feature) != n*k {
		return invalidf("array lengths differ")
	}
	wantWeights := 0
	if hyper {
		wantWeights = n * k
	}
	if len(t.Weight) != wantWeights {
		return invalidf("weight has %d entries, want %d", len(t.Weight), wantWeights)
	}
	c.parents = resize(c.parents, n)
	c.depth = resize(c.depth, n)
	height := int32(0)
	for i := 0; i < n; i++ {
		l, r := t.Left[i], t.Right[i]
		feats := t.Feature[i*k : (i+1)*k]
		if l == -1 || r == -1 {
			if l != r {
				return invalidf("node %d has one child", i)
			}
			if t.Threshold[i] != 0 {
				return invalidf("leaf %d has a threshold", i)
			}
			for j, ft := range feats {
				if ft != -1 || hyper && t.Weight[i*k+j] != 0 {
					return invalidf("leaf %d has a feature", i)
				}
			}
			if v := t.Value[i]; !finite(v) || v < 0 {
				return invalidf("leaf %d value %v", i, v)
			}
			height = max(height, c.depth[i])
			continue
		}
		if l <= int32(i) || r <= int32(i) || l >= int32(n) || r >= int32(n) || l == r {
			return invalidf("node %d children %d, %d out of order or range", i, l, r)
		}
		for j, ft := range feats {
			if ft < 0 || int(ft) >= s.features {
				return invalidf("node %d feature %d out of range", i, ft)
			}
			if hyper && !finite(t.Weight[i*k+j]) {
				return invalidf("node %d weight not finite", i)
			}
		}
		if !finite(t.Threshold[i]) {
			return invalidf("node %d threshold not finite", i)
		}
		if t.Value[i] != 0 {
			return invalidf("internal node %d has a value", i)
		}
		for _, ch := range [2]int32{l, r} {
			if c.parents[ch] != 0 {
				return invalidf("node %d has two parents", ch)
			}
			c.parents[ch] = 1
			c.depth[ch] = c.depth[i] + 1
			if int(c.depth[ch]) > f.HeightLimit {
				return invalidf("node %d deeper than height_limit %d", ch, f.HeightLimit)
			}
		}
	}
	// Children always have larger indices than their parent, so there is no
	// cycle; a node other than the root without a parent is unreachable.
	for i := 1; i < n; i++ {
		if c.parents[i] == 0 {
			return invalidf("node %d unreachable", i)
		}
	}

	// Renumber breadth-first: when a node is placed at new index j, its
	// children are given the next two free indices, so they are adjacent.
	base := int32(len(s.nodes))
	c.order = append(c.order[:0], 0)
	for j := 0; j < len(c.order); j++ {
		old := c.order[j]
		if t.Left[old] == -1 {
			s.nodes = append(s.nodes, node{thr: math.Inf(1), left: uint32(j) * nodeSize})
			s.values = append(s.values, t.Value[old])
			if hyper {
				s.tfeat = append(s.tfeat, make([]int32, k)...)
				s.tweight = append(s.tweight, make([]float64, k)...)
			}
			continue
		}
		nd := node{thr: t.Threshold[old], left: uint32(len(c.order)) * nodeSize}
		if !hyper {
			nd.feat = uint32(t.Feature[old]) * 8
		} else {
			nd.feat = uint32(len(s.tfeat))
			s.tfeat = append(s.tfeat, t.Feature[int(old)*k:int(old+1)*k]...)
			s.tweight = append(s.tweight, t.Weight[int(old)*k:int(old+1)*k]...)
		}
		s.nodes = append(s.nodes, nd)
		s.values = append(s.values, 0)
		c.order = append(c.order, t.Left[old], t.Right[old])
	}
	s.trees = append(s.trees, span{base: base, end: int32(len(s.nodes)), height: height})
	return nil
}

func resize[T int8 | int32](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// Features returns the length of the feature vectors s scores.
func (s *Scorer) Features() int { return s.features }

// Trees returns the number of trees.
func (s *Scorer) Trees() int { return len(s.trees) }

// PathLength returns E[h(x)], the mean path length of x over the trees. x
// holds at least Features values.
func (s *Scorer) PathLength(x []float64) float64 {
	var sum [1]float64
	s.sums(x, s.features, sum[:])
	return sum[0] / float64(len(s.trees))
}

// Score returns the anomaly score s(x) = 2^(-E[h(x)]/c(ψ)) in (0, 1]: close to
// 1 for anomalies, well below 0.5 for normal rows. x holds at least Features
// values; a NaN compares false and so goes left. Like the other methods that
// take rows, Score panics when the input is shorter than it must be, as an
// out-of-range slice index would.
func (s *Scorer) Score(x []float64) float64 {
	var sum [1]float64
	s.sums(x, s.features, sum[:])
	return normalise(sum[0], len(s.trees), s.cpsi)
}

// ScoreBatch scores len(dst) rows stored row-major in data, row i starting at
// data[i*stride], and writes the scores to dst. It does not allocate.
func (s *Scorer) ScoreBatch(data []float64, stride int, dst []float64) {
	s.sums(data, stride, dst)
	for i, sum := range dst {
		dst[i] = normalise(sum, len(s.trees), s.cpsi)
	}
}

// PathSums writes to dst the sum over the trees of the path lengths of
// len(dst) rows stored like ScoreBatch's; dst[i]/Trees() is E[h(x_i)].
func (s *Scorer) PathSums(data []float64, stride int, dst []float64) {
	s.sums(data, stride, dst)
}

func (s *Scorer) sums(data []float64, stride int, dst []float64) {
	rows := len(dst)
	if rows == 0 {
		return
	}
	if stride < s.features || len(data) < (rows-1)*stride+s.features {
		panic(fmt.Sprintf("model: %d rows of stride %d need %d values, have %d",
			rows, stride, (rows-1)*stride+s.features, len(data)))
	}
	clear(dst)
	for b := 0; b < rows; b += blockRows {
		e := min(b+blockRows, rows)
		if s.tfeat != nil {
			s.blockHyper(data, stride, b, e, dst)
		} else {
			s.blockAxis(data, stride, b, e, dst)
		}
	}
}

// blockAxis adds the path lengths of rows [b, e) over all trees to dst.
// Within a tree the rows advance one level at a time: every step of every row
// at one level is independent of the others, so the processor runs many of
// them at once instead of waiting for one walk's chain of loads. The
// additions into dst happen tree by tree, in tree order, which is the order
// the format prescribes.
//
// The walk uses unsafe pointer arithmetic to drop two bounds checks per step
// (a third of its instructions). It is safe because compile only emits nodes
// whose child offsets stay inside their tree and whose features are below
// s.features, and sums checked that every row has s.features values.
func (s *Scorer) blockAxis(data []float64, stride, b, e int, dst []float64) {
	var (
		pos [blockRows]uint32         // byte offset of each row's current node
		row [blockRows]unsafe.Pointer // start of each row
	)
	n := e - b
	for r := 0; r < n; r++ {
		row[r] = unsafe.Pointer(&data[(b+r)*stride])
	}
	for _, t := range s.trees {
		np := unsafe.Pointer(&s.nodes[t.base])
		vals := s.values[t.base:t.end]
		p := pos[:n]
		clear(p)
		walkAxis(np, p, row[:n], t.height)
		out := dst[b:e]
		for r, off := range p {
			out[r] += vals[off/nodeSize]
		}
	}
}

// walkAxis advances every row height levels down the tree at np. It is a
// function of its own so that the compiler keeps its few live values in
// registers.
func walkAxis(np unsafe.Pointer, pos []uint32, row []unsafe.Pointer, height int32) {
	row = row[:len(pos)]
	for range height {
		// Four rows per iteration cut the loop overhead and bounds checks.
		r := 0
		for ; r+4 <= len(pos); r += 4 {
			p := pos[r : r+4 : r+4]
			x := row[r : r+4 : r+4]
			n0 := (*node)(unsafe.Add(np, p[0]))
			n1 := (*node)(unsafe.Add(np, p[1]))
			n2 := (*node)(unsafe.Add(np, p[2]))
			n3 := (*node)(unsafe.Add(np, p[3]))
			p[0] = n0.left + b2i(*(*float64)(unsafe.Add(x[0], n0.feat)) > n0.thr)*nodeSize
			p[1] = n1.left + b2i(*(*float64)(unsafe.Add(x[1], n1.feat)) > n1.thr)*nodeSize
			p[2] = n2.left + b2i(*(*float64)(unsafe.Add(x[2], n2.feat)) > n2.thr)*nodeSize
			p[3] = n3.left + b2i(*(*float64)(unsafe.Add(x[3], n3.feat)) > n3.thr)*nodeSize
		}
		for ; r < len(pos); r++ {
			nd := (*node)(unsafe.Add(np, pos[r]))
			pos[r] = nd.left + b2i(*(*float64)(unsafe.Add(row[r], nd.feat)) > nd.thr)*nodeSize
		}
	}
}

// blockHyper is blockAxis for hyperplane splits, level by level too. The
// dot product is summed in term order with every product rounded before it
// is added (the explicit float64 conversion forbids a fused multiply-add), as
// the Python scorer does.
func (s *Scorer) blockHyper(data []float64, stride, b, e int, dst []float64) {
	var pos [blockRows]uint32 // byte offset of each row's current node
	nf, k := s.features, s.terms
	n := e - b
	for _, t := range s.trees {
		nodes := s.nodes[t.base:t.end]
		vals := s.values[t.base:t.end]
		p := pos[:n]
		clear(p)
		for range t.height {
			for r, off := range p {
				nd := &nodes[off/nodeSize]
				x := data[(b+r)*stride:][:nf]
				fs := s.tfeat[nd.feat:][:k]
				ws := s.tweight[nd.feat:][:k]
				dot := 0.0
				for j, f := range fs {
					dot += float64(ws[j] * x[f])
				}
				p[r] = nd.left + b2i(dot > nd.thr)*nodeSize
			}
		}
		out := dst[b:e]
		for r, off := range p {
			out[r] += vals[off/nodeSize]
		}
	}
}

// b2i compiles to a flag set, not a branch.
func b2i(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
