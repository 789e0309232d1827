package features

import (
	"math"

	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// Fit returns a copy of features with imputation and scaling fitted on
// sample, raw feature vectors (model.Stream.Vector) in feature order with
// NaN for missing values: Center is the median of a feature's finite
// values, Scale its interquartile range (iforest.RobustScaling: the standard
// deviation when the range is 0, and 1 when that is 0 too or there is no
// finite value), and Impute the median, so that a missing value enters the
// trees as 0, the most ordinary value. sample is not modified.
func Fit(features []model.Feature, sample [][]float64) []model.Feature {
	out := append([]model.Feature(nil), features...)
	if len(sample) == 0 || len(out) == 0 {
		for i := range out {
			out[i].Impute, out[i].Center, out[i].Scale = 0, 0, 1
		}
		return out
	}
	x := iforest.Matrix{Data: make([]float64, 0, len(sample)*len(out)), Rows: len(sample), Cols: len(out)}
	for _, r := range sample {
		x.Data = append(x.Data, r[:len(out)]...)
	}
	center, scale := iforest.RobustScaling(x)
	for i := range out {
		out[i].Impute, out[i].Center, out[i].Scale = center[i], center[i], scale[i]
	}
	return out
}

// MaxPrepared bounds the prepared values of a training sample
// (PrepareSample).
const MaxPrepared = 1e300

// PrepareSample prepares the rows of a training sample in place, as a
// scorer prepares a row (model.Document.Prepare), and clamps each value to
// ±MaxPrepared. A raw value far beyond any measurement (collectors may send
// 1e308) can overflow to ±Inf in the scaling, and the forest cannot split
// on an infinity; clamped, the row still lies beyond every other, and the
// differences between values stay finite.
func PrepareSample(features []model.Feature, sample [][]float64) {
	prep := model.Document{Features: features}
	for _, r := range sample {
		prep.Prepare(r)
		for j, v := range r {
			r[j] = math.Max(-MaxPrepared, math.Min(MaxPrepared, v))
		}
	}
}
