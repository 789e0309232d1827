package iforest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// chunkRows is the number of rows a scoring worker takes at a time: large
// enough to amortise the hand-out, small enough to balance two cores on
// modest inputs.
const chunkRows = 4096

// Score returns the paper's anomaly score s(x) = 2^(-E[h(x)]/c(ψ)) of every
// row of x: in (0, 1], near 1 for anomalies, well below 0.5 for normal rows.
func (f *Forest) Score(x Matrix) ([]float64, error) {
	dst := make([]float64, x.Rows)
	if err := f.ScoreInto(dst, x); err != nil {
		return nil, err
	}
	return dst, nil
}

// ScoreInto is Score writing into dst, which must have x.Rows entries; it
// does not allocate per row.
func (f *Forest) ScoreInto(dst []float64, x Matrix) error {
	if err := f.checkInput(x); err != nil {
		return err
	}
	if len(dst) != x.Rows {
		return fmt.Errorf("%w: %d scores for %d rows", ErrShape, len(dst), x.Rows)
	}
	f.score(x, dst)
	return nil
}

// ScoreSamples returns scikit-learn's score_samples: -s, lower is more
// abnormal.
func (f *Forest) ScoreSamples(x Matrix) ([]float64, error) {
	s, err := f.Score(x)
	for i := range s {
		s[i] = -s[i]
	}
	return s, err
}

// DecisionFunction returns scikit-learn's decision_function:
// ScoreSamples - Offset, negative for anomalies.
func (f *Forest) DecisionFunction(x Matrix) ([]float64, error) {
	s, err := f.Score(x)
	off := f.Offset()
	for i := range s {
		s[i] = -s[i] - off
	}
	return s, err
}

// Predict returns scikit-learn's predict: -1 for an anomaly (decision
// function below 0), +1 otherwise.
func (f *Forest) Predict(x Matrix) ([]int, error) {
	d, err := f.DecisionFunction(x)
	if err != nil {
		return nil, err
	}
	p := make([]int, len(d))
	for i, v := range d {
		p[i] = 1
		if v < 0 {
			p[i] = -1
		}
	}
	return p, nil
}

// PathLength returns E[h(x)], the mean path length of one row over the
// trees.
func (f *Forest) PathLength(x []float64) float64 {
	return f.scorer.PathLength(x)
}

func (f *Forest) checkInput(x Matrix) error {
	if x.Rows == 0 && x.Cols == f.features {
		return nil
	}
	if err := x.check(); err != nil {
		return err
	}
	if x.Cols != f.features {
		return fmt.Errorf("%w: %d columns for a forest of %d", ErrShape, x.Cols, f.features)
	}
	return nil
}

// score scores the rows of x into dst over the workers, a chunk of rows at a
// time. Each row's score depends on that row only, so the split into chunks
// does not change any result.
func (f *Forest) score(x Matrix, dst []float64) {
	chunks := (x.Rows + chunkRows - 1) / chunkRows
	workers := min(f.workers, chunks)
	run := func(c int) {
		a, b := c*chunkRows, min((c+1)*chunkRows, x.Rows)
		part := x.slice(a, b)
		f.scorer.ScoreBatch(part.Data, part.Stride, dst[a:b])
	}
	if workers <= 1 {
		for c := range chunks {
			run(c)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := int(next.Add(1)) - 1; c < chunks; c = int(next.Add(1)) - 1 {
				run(c)
			}
		})
	}
	wg.Wait()
}

// contaminationThreshold returns the score threshold that marks the fraction
// c of the training scores as anomalies. It computes scikit-learn's
// offset_ = np.percentile(score_samples, 100*c) with NumPy's default linear
// interpolation, step by step, and returns its negation.
func contaminationThreshold(scores []float64, c float64) float64 {
	ss := make([]float64, len(scores))
	for i, s := range scores {
		ss[i] = -s
	}
	slices.Sort(ss)
	q := 100.0 * c / 100
	vi := q * float64(len(ss)-1)
	lo := min(int(vi), len(ss)-1)
	hi := min(lo+1, len(ss)-1)
	g := vi - float64(lo)
	a, b := ss[lo], ss[hi]
	diff := b - a
	var offset float64
	// NumPy's _lerp interpolates from the nearer end for accuracy.
	if g >= 0.5 {
		offset = b - diff*(1-g)
	} else {
		offset = a + diff*g
	}
	return -offset
}
