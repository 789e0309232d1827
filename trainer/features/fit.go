package features

import (
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
