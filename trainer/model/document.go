package model

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"
)

// Format and FormatVersion identify the document. A reader rejects a document
// with another format or a version it does not know (docs/MODEL_FORMAT.md,
// "Versioning").
const (
	Format        = "idmt-iforest"
	FormatVersion = 1
)

// Feature kinds. New kinds are added to feature.go (Go) and idmt_model.py
// (Python) together, and readers that do not know a kind reject the document
// with ErrUnknownKind rather than score it wrongly. docs/MODEL_FORMAT.md
// gives the exact formula of each.
const (
	// KindRaw is a raw telemetry field used as is.
	KindRaw = "raw"
	// KindEnvelope is how far the row lies outside the training envelope:
	// the largest distance of a field of Fields below Lo or above Hi,
	// relative to Hi - Lo; 0 inside.
	KindEnvelope = "envelope"
	// KindRate is the rate of change per hour of a monotone counter (Field)
	// since its previous value in the same installation, at most MaxGap
	// seconds earlier; missing after a gap or when the counter goes down (a
	// reset). Temporal: computed by a Stream.
	KindRate = "rate"
	// KindJump is the largest change of a field of Fields since its
	// previous value, relative to the field's Norm (a spike). Temporal.
	KindJump = "jump"
	// KindStuck is the largest time a field of Fields has kept exactly the
	// same value, relative to the field's Norm in seconds (a stuck sensor).
	// Temporal.
	KindStuck = "stuck"
	// KindStale is, over the fields of Fields, the largest number of
	// changes of the other fields of the list since a field last changed,
	// relative to the field's Norm: a sensor that keeps its value while the
	// plant around it moves (a stuck sensor), whereas a sensor at rest in a
	// plant at rest is normal. Temporal.
	KindStale = "stale"
	// KindRollingDiff is the mean of Field minus Field2 over the rows of the
	// last Window seconds that have both (e.g. the heat pump's flow-return
	// spread over ten minutes). Temporal.
	KindRollingDiff = "rolling_diff"
	// KindRollingRatio is the sum of Field over the sum of Field2 over the
	// rows of the last Window seconds that have both, when the mean of
	// Field2 is at least MinDenominator (e.g. the COP over ten minutes, which
	// start-ups and defrosts barely move). Temporal.
	KindRollingRatio = "rolling_ratio"
	// KindResidual is the largest error of a linear prediction of a field of
	// Fields from the others, relative to the field's Norm, on values
	// smoothed per installation over about Smooth rows: field i is predicted
	// as Intercept[i] + Σj Weights[i*k+j]·field j (k fields, Weights[i*k+i]
	// = 0). Sensors of one plant move together; a drifting or stuck sensor
	// leaves the relation. Missing when a field is. Temporal.
	KindResidual = "residual"
	// KindChanges counts the changes of value of the fields of Fields in
	// the rows of the last Window seconds (short cycling). Temporal.
	KindChanges = "changes"
)

// Split kinds of the internal nodes of a forest.
const (
	// SplitAxis is the split of the original isolation forest: go right when
	// x[feature] > threshold.
	SplitAxis = "axis"
	// SplitHyperplane is the split of the Extended Isolation Forest (Hariri et
	// al.): go right when the sum of weight·x[feature] over the node's terms is
	// greater than threshold.
	SplitHyperplane = "hyperplane"
)

// Limits that keep a valid document cheap to score.
const (
	// MaxHeight bounds the depth of every tree.
	MaxHeight = 64
	// maxEntries bounds node and term counts so that int32 indices never
	// overflow.
	maxEntries = math.MaxInt32 / 2
)

// Document is a trained model: how to compute the feature vector from a raw
// telemetry row, and the forest that scores it. Use Unmarshal to read one and
// Marshal to write one. A Document built in code, or changed after it was
// read, must be checked with Validate before it is scored: Validate compiles
// the forest that the Score methods use.
type Document struct {
	// Features lists the model's inputs in the order the trees index them.
	Features []Feature
	// Scaling names how the centers and scales were derived ("robust" for
	// median and interquartile range, "none" for center 0 and scale 1). It is
	// informational: scoring uses the numbers in Features only.
	Scaling string
	// Forest holds the trees and the score normalisation.
	Forest Forest
	// Metadata describes the training run.
	Metadata Metadata

	// scorer is the compiled forest, set by Validate (and so by Unmarshal).
	scorer atomic.Pointer[Scorer]
}

// Feature is one model input. Its value is computed from a raw row according
// to Kind, replaced by Impute when missing or not finite, and then scaled:
// (value - Center) / Scale.
type Feature struct {
	// Name identifies the feature; names are unique within a document.
	Name string
	// Kind says how the value is computed from a raw row (KindRaw).
	Kind string
	// Field is the raw field a single-field kind reads; Field2 is the
	// second operand of KindRollingDiff and KindRollingRatio.
	Field, Field2 string
	// Fields are the raw fields of the kinds that combine many (envelope,
	// residual, jump, stuck, changes).
	Fields []string
	// Lo and Hi are KindEnvelope's bounds per field of Fields; Norm is, per
	// field, what counts as 1: KindResidual's prediction error, KindJump's
	// change, KindStuck's duration in seconds, KindChanges's count.
	Lo, Hi, Norm []float64
	// Weights and Intercept are KindResidual's linear predictions: k×k
	// weights row by row, and k intercepts.
	Weights, Intercept []float64
	// MinDenominator is the smallest mean Field2 for which KindRollingRatio
	// is defined.
	MinDenominator float64
	// Smooth is KindResidual's smoothing length in rows: each field's
	// exponential moving average with weight 2/(Smooth+1) on the newest
	// value (1: no smoothing).
	Smooth int64
	// Window is the window in whole seconds of KindChanges and the rolling
	// kinds.
	Window int64
	// MaxGap is, for temporal kinds, the longest time in whole seconds
	// between two rows of an installation for the earlier one to count as
	// the previous row of the later one.
	MaxGap int64
	// Impute replaces a missing or non-finite value, in raw units.
	Impute float64
	// Center and Scale standardise the value; Scale is positive.
	Center float64
	Scale  float64
}

// Raw returns a KindRaw feature named after field, with imputation 0 and no
// scaling.
func Raw(field string) Feature {
	return Feature{Name: field, Kind: KindRaw, Field: field, Scale: 1}
}

// Forest is an isolation forest in flat arrays.
type Forest struct {
	// SampleSize is ψ, the number of rows each tree was grown on.
	SampleSize int
	// CSampleSize is c(ψ), the normaliser of path lengths.
	CSampleSize float64
	// HeightLimit is the depth limit used when growing, ⌈log2 ψ⌉.
	HeightLimit int
	// Split is SplitAxis or SplitHyperplane.
	Split string
	// Terms is the number of (feature, weight) terms of an internal node: 1
	// for SplitAxis, the extension level plus one for SplitHyperplane.
	Terms int
	// Contamination is the expected fraction of anomalies that set Threshold,
	// or 0 for scikit-learn's "auto" (Threshold 0.5).
	Contamination float64
	// Threshold separates anomalies: a row is anomalous when its score is
	// greater than Threshold. scikit-learn's offset_ is -Threshold.
	Threshold float64
	// Trees are the isolation trees.
	Trees []Tree
}

// Tree is one isolation tree in flat arrays indexed by node; node 0 is the
// root and children have larger indices than their parent. A leaf has Left
// and Right -1, Feature -1, Threshold 0 and Weight 0; its Value is the path
// length depth + c(size) of a row that ends there. Internal nodes have Value
// 0.
type Tree struct {
	// Feature holds Terms feature indices per node (node i uses
	// Feature[i*Terms : (i+1)*Terms]).
	Feature []int32
	// Weight holds the hyperplane weights parallel to Feature; it is empty
	// for SplitAxis.
	Weight []float64
	// Threshold is the split value of each node.
	Threshold []float64
	// Left and Right are the child indices of each node.
	Left, Right []int32
	// Value is the path length of each leaf.
	Value []float64
}

// Nodes returns the number of nodes of t.
func (t *Tree) Nodes() int { return len(t.Threshold) }

// Metadata describes the training run. It does not affect scores.
type Metadata struct {
	// HeatpumpModel is the heat-pump model (or family, or "community") the
	// model was trained for.
	HeatpumpModel string
	// WindowFrom and WindowTo bound the training data.
	WindowFrom, WindowTo time.Time
	// Rows is the number of training rows, Installations the number of
	// installations they came from.
	Rows          int64
	Installations int64
	// Seed is the random seed of the fit.
	Seed uint64
	// CreatedAt is when the model was trained. A job that wants reproducible
	// bytes sets it from its input (the job's day), not from the wall clock.
	CreatedAt time.Time
}

// Offset returns scikit-learn's offset_: decision_function = -score - offset.
func (d *Document) Offset() float64 { return -d.Forest.Threshold }

// Anomalous reports whether score (from Score or ScoreVector) marks an
// anomaly, that is scikit-learn's predict would return -1.
func (d *Document) Anomalous(score float64) bool { return score > d.Forest.Threshold }

// Validate checks d and prepares it for scoring. Unmarshal calls it; call it
// yourself on a Document built in code. The error wraps ErrInvalid.
func (d *Document) Validate() error {
	if err := d.validateHead(); err != nil {
		return err
	}
	s, err := NewScorer(&d.Forest, len(d.Features))
	if err != nil {
		return err
	}
	d.scorer.Store(s)
	return nil
}

func (d *Document) validateHead() error {
	if len(d.Features) == 0 {
		return invalidf("no features")
	}
	if len(d.Features) > maxFeatures {
		return invalidf("%d features", len(d.Features))
	}
	seen := make(map[string]bool, len(d.Features))
	for i := range d.Features {
		f := &d.Features[i]
		if f.Name == "" {
			return invalidf("feature %d: empty name", i)
		}
		if seen[f.Name] {
			return invalidf("feature %d: duplicate name %q", i, f.Name)
		}
		seen[f.Name] = true
		if err := f.validate(); err != nil {
			return fmt.Errorf("feature %q: %w", f.Name, err)
		}
	}
	m := &d.Metadata
	if m.Rows < 0 || m.Installations < 0 {
		return invalidf("metadata: negative rows or installations")
	}
	return nil
}

// validate checks everything about f that does not depend on the tree
// structure; NewScorer checks the trees while compiling them.
func (f *Forest) validate(features int) error {
	if f.SampleSize < 1 || f.SampleSize > maxEntries {
		return invalidf("sample_size %d out of range", f.SampleSize)
	}
	want := AveragePathLength(f.SampleSize)
	if !finite(f.CSampleSize) || math.Abs(f.CSampleSize-want) > 1e-9*math.Max(1, want) {
		return invalidf("c_sample_size %v does not match c(%d) = %v", f.CSampleSize, f.SampleSize, want)
	}
	if f.HeightLimit < 0 || f.HeightLimit > MaxHeight {
		return invalidf("height_limit %d out of range [0, %d]", f.HeightLimit, MaxHeight)
	}
	switch f.Split {
	case SplitAxis:
		if f.Terms != 1 {
			return invalidf("axis split with %d terms", f.Terms)
		}
	case SplitHyperplane:
		if f.Terms < 1 || f.Terms > features {
			return invalidf("hyperplane split with %d terms for %d features", f.Terms, features)
		}
	default:
		return invalidf("unknown split %q", f.Split)
	}
	if f.Contamination != 0 && !(f.Contamination > 0 && f.Contamination <= 0.5) {
		return invalidf("contamination %v outside (0, 0.5]", f.Contamination)
	}
	if !(f.Threshold >= 0 && f.Threshold <= 1) {
		return invalidf("threshold %v outside [0, 1]", f.Threshold)
	}
	if len(f.Trees) == 0 {
		return invalidf("no trees")
	}
	if len(f.Trees) > maxEntries {
		return invalidf("%d trees", len(f.Trees))
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
