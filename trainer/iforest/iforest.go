package iforest

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// Defaults, as in the paper and scikit-learn.
const (
	DefaultTrees      = 100
	DefaultSampleSize = 256
	// AutoThreshold is the score threshold of contamination "auto":
	// scikit-learn's offset_ of -0.5.
	AutoThreshold = 0.5
)

// Config sets how a forest is grown. The zero value gives the paper's and
// scikit-learn's defaults.
type Config struct {
	// Trees is t, the number of trees (default 100).
	Trees int
	// SampleSize is ψ, the rows drawn without replacement for each tree
	// (default 256). It is capped at the number of rows.
	SampleSize int
	// Seed determines every random choice: the same data, Config and Seed
	// give the same forest, bit for bit.
	Seed uint64
	// Contamination sets the threshold between normal rows and anomalies.
	// 0 means scikit-learn's "auto": a row is anomalous when its score s is
	// above 0.5. A fraction in (0, 0.5] sets the threshold so that this
	// fraction of the training rows is anomalous (scikit-learn's offset_ is
	// the matching percentile of the training rows' score_samples).
	Contamination float64
	// Workers is the number of goroutines that grow trees and score rows
	// (0 means GOMAXPROCS). It changes speed only, never results.
	Workers int
	// ExtensionLevel selects the Extended Isolation Forest when positive:
	// each split is a random hyperplane through ExtensionLevel+1 randomly
	// chosen features (Hariri et al.). 0 is the original, axis-parallel
	// forest. It must be less than the number of columns. Hyperplanes mix
	// features, so scale them first (RobustScaling).
	ExtensionLevel int
}

// Forest is a fitted isolation forest. It is read-only after Fit and safe for
// concurrent use.
type Forest struct {
	m        model.Forest
	scorer   *model.Scorer
	features int
	workers  int
}

// Fit grows a forest on the rows of x. Only the rows sampled for the trees
// are read (all of them when Contamination is a fraction); they must be
// finite, so impute missing values first.
func Fit(x Matrix, cfg Config) (*Forest, error) {
	if err := x.check(); err != nil {
		return nil, err
	}
	if err := cfg.defaults(x); err != nil {
		return nil, err
	}
	psi := cfg.SampleSize
	mf := model.Forest{
		SampleSize:    psi,
		CSampleSize:   model.AveragePathLength(psi),
		HeightLimit:   model.HeightLimit(psi),
		Split:         model.SplitAxis,
		Terms:         1,
		Contamination: cfg.Contamination,
		Threshold:     AutoThreshold,
		Trees:         make([]model.Tree, cfg.Trees),
	}
	if cfg.ExtensionLevel > 0 {
		mf.Split = model.SplitHyperplane
		mf.Terms = cfg.ExtensionLevel + 1
	}

	// Trees are handed out one at a time; each is grown from its own random
	// stream into its own slot, so the order in which workers take them does
	// not matter.
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
		errTree  = cfg.Trees
	)
	for range min(cfg.Workers, cfg.Trees) {
		wg.Go(func() {
			b := newBuilder(x, &mf, cfg.Seed)
			for {
				t := int(next.Add(1)) - 1
				if t >= cfg.Trees {
					return
				}
				tree, err := b.grow(t)
				if err != nil {
					// Report the error of the lowest tree so that the
					// message does not depend on scheduling.
					errMu.Lock()
					if t < errTree {
						firstErr, errTree = err, t
					}
					errMu.Unlock()
					return
				}
				mf.Trees[t] = tree
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}

	s, err := model.NewScorer(&mf, x.Cols)
	if err != nil {
		// The builder only writes valid trees; this is a bug, not bad input.
		return nil, fmt.Errorf("compile forest: %w", err)
	}
	f := &Forest{m: mf, scorer: s, features: x.Cols, workers: cfg.Workers}
	if cfg.Contamination > 0 {
		scores := make([]float64, x.Rows)
		f.score(x, scores)
		f.m.Threshold = contaminationThreshold(scores, cfg.Contamination)
	}
	return f, nil
}

func (c *Config) defaults(x Matrix) error {
	if c.Trees == 0 {
		c.Trees = DefaultTrees
	}
	if c.SampleSize == 0 {
		c.SampleSize = DefaultSampleSize
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case c.Trees < 0:
		return fmt.Errorf("%w: %d trees", ErrConfig, c.Trees)
	case c.SampleSize < 0:
		return fmt.Errorf("%w: sample size %d", ErrConfig, c.SampleSize)
	case c.Workers < 0:
		return fmt.Errorf("%w: %d workers", ErrConfig, c.Workers)
	case c.Contamination != 0 && !(c.Contamination > 0 && c.Contamination <= 0.5):
		return fmt.Errorf("%w: contamination %v outside (0, 0.5]", ErrConfig, c.Contamination)
	case c.ExtensionLevel < 0 || c.ExtensionLevel >= x.Cols:
		return fmt.Errorf("%w: extension level %d outside [0, %d)", ErrConfig, c.ExtensionLevel, x.Cols)
	}
	c.SampleSize = min(c.SampleSize, x.Rows)
	return nil
}

// Trees returns the number of trees.
func (f *Forest) Trees() int { return len(f.m.Trees) }

// SampleSize returns ψ.
func (f *Forest) SampleSize() int { return f.m.SampleSize }

// Features returns the number of columns the forest was fitted on.
func (f *Forest) Features() int { return f.features }

// Threshold returns the score above which a row is an anomaly.
func (f *Forest) Threshold() float64 { return f.m.Threshold }

// Offset returns scikit-learn's offset_, -Threshold.
func (f *Forest) Offset() float64 { return -f.m.Threshold }

// Model returns a copy of the forest in the model document's flat arrays.
func (f *Forest) Model() model.Forest {
	m := f.m
	m.Trees = make([]model.Tree, len(f.m.Trees))
	for i, t := range f.m.Trees {
		m.Trees[i] = model.Tree{
			Feature:   clone(t.Feature),
			Weight:    clone(t.Weight),
			Threshold: clone(t.Threshold),
			Left:      clone(t.Left),
			Right:     clone(t.Right),
			Value:     clone(t.Value),
		}
	}
	return m
}

// clone copies s, keeping nil nil so that copies compare equal.
func clone[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// Document wraps a copy of the forest into a model document. features
// describe the columns the forest was fitted on, in order: how each is
// computed from raw fields, imputed and scaled (the forest's thresholds are
// in scaled units); scaling names how the centers and scales were derived.
func (f *Forest) Document(features []model.Feature, scaling string, meta model.Metadata) (*model.Document, error) {
	if len(features) != f.features {
		return nil, fmt.Errorf("%w: %d features for a forest of %d columns", ErrShape, len(features), f.features)
	}
	d := &model.Document{
		Features: append([]model.Feature(nil), features...),
		Scaling:  scaling,
		Forest:   f.Model(),
		Metadata: meta,
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}
