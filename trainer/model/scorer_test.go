package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// naiveScore walks each tree of f node by node from the document's arrays,
// the way docs/MODEL_FORMAT.md describes, as a reference for the compiled
// scorer.
func naiveScore(f *model.Forest, x []float64) float64 {
	sum := 0.0
	for _, t := range f.Trees {
		i := int32(0)
		for t.Left[i] != -1 {
			var v float64
			if f.Split == model.SplitAxis {
				v = x[t.Feature[i]]
			} else {
				for j := int32(0); j < int32(f.Terms); j++ {
					k := i*int32(f.Terms) + j
					v += float64(t.Weight[k] * x[t.Feature[k]])
				}
			}
			if v > t.Threshold[i] {
				i = t.Right[i]
			} else {
				i = t.Left[i]
			}
		}
		sum += t.Value[i]
	}
	mean := sum / float64(len(f.Trees))
	return math.Exp2(-mean / f.CSampleSize)
}

// preorder renumbers t depth-first, so that siblings are no longer adjacent,
// to exercise the scorer's renumbering.
func preorder(t model.Tree, terms int) model.Tree {
	var out model.Tree
	var visit func(old int32) int32
	visit = func(old int32) int32 {
		i := int32(len(out.Threshold))
		out.Threshold = append(out.Threshold, t.Threshold[old])
		out.Value = append(out.Value, t.Value[old])
		out.Feature = append(out.Feature, t.Feature[int(old)*terms:int(old+1)*terms]...)
		if t.Weight != nil {
			out.Weight = append(out.Weight, t.Weight[int(old)*terms:int(old+1)*terms]...)
		}
		out.Left = append(out.Left, -1)
		out.Right = append(out.Right, -1)
		if t.Left[old] != -1 {
			l := visit(t.Left[old])
			r := visit(t.Right[old])
			out.Left[i], out.Right[i] = l, r
		}
		return i
	}
	visit(0)
	return out
}

func TestScorerMatchesNaiveWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows, cols = 300, 6
	x := iforest.Matrix{Data: make([]float64, rows*cols), Rows: rows, Cols: cols}
	for i := range x.Data {
		x.Data[i] = r.NormFloat64() * float64(1+i%cols)
	}
	// Test rows: fresh normal rows, far outliers, and non-finite values,
	// which the raw scorer sends left.
	test := make([]float64, 0, 200*cols)
	for i := range 200 {
		for j := range cols {
			v := r.NormFloat64() * float64(1+j)
			switch {
			case i%17 == 0:
				v *= 50
			case i%29 == 0 && j == 2:
				v = math.NaN()
			case i%31 == 0 && j == 1:
				v = math.Inf(-1)
			}
			test = append(test, v)
		}
	}
	for _, ext := range []int{0, 2} {
		f, err := iforest.Fit(x, iforest.Config{Trees: 25, SampleSize: 64, Seed: 9, ExtensionLevel: ext})
		if err != nil {
			t.Fatal(err)
		}
		mf := f.Model()
		dfs := mf
		dfs.Trees = nil
		for _, tr := range mf.Trees {
			dfs.Trees = append(dfs.Trees, preorder(tr, mf.Terms))
		}
		for name, forest := range map[string]*model.Forest{"bfs": &mf, "dfs": &dfs} {
			t.Run(fmt.Sprintf("ext=%d/%s", ext, name), func(t *testing.T) {
				s, err := model.NewScorer(forest, cols)
				if err != nil {
					t.Fatal(err)
				}
				n := len(test) / cols
				batch := make([]float64, n)
				s.ScoreBatch(test, cols, batch)
				sums := make([]float64, n)
				s.PathSums(test, cols, sums)
				for i := range n {
					row := test[i*cols : (i+1)*cols]
					want := naiveScore(forest, row)
					if got := s.Score(row); got != want {
						t.Fatalf("row %d: Score %v, naive walk %v", i, got, want)
					}
					if batch[i] != want {
						t.Fatalf("row %d: ScoreBatch %v, naive walk %v", i, batch[i], want)
					}
					if pl := s.PathLength(row); pl != sums[i]/float64(s.Trees()) {
						t.Fatalf("row %d: PathLength %v, PathSums/trees %v", i, pl, sums[i]/float64(s.Trees()))
					}
				}
			})
		}
	}
}

func TestScoreBatchStrideAndSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const cols, stride = 3, 5
	x := iforest.Matrix{Data: make([]float64, 500*cols), Rows: 500, Cols: cols}
	for i := range x.Data {
		x.Data[i] = r.Float64()
	}
	f, err := iforest.Fit(x, iforest.Config{Trees: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	mf := f.Model()
	s, err := model.NewScorer(&mf, cols)
	if err != nil {
		t.Fatal(err)
	}
	// Rows of a wider matrix: the extra columns are garbage the scorer must
	// not read.
	for _, n := range []int{1, 3, 4, 63, 64, 65, 130} {
		wide := make([]float64, (n-1)*stride+cols)
		for i := range wide {
			wide[i] = math.NaN()
		}
		want := make([]float64, n)
		for i := range n {
			copy(wide[i*stride:], x.Row(i))
			want[i] = s.Score(x.Row(i))
		}
		got := make([]float64, n)
		s.ScoreBatch(wide, stride, got)
		for i := range n {
			if got[i] != want[i] {
				t.Fatalf("n=%d row %d: %v, want %v", n, i, got[i], want[i])
			}
		}
	}
}
