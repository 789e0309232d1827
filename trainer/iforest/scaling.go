package iforest

import (
	"math"
	"slices"
)

// RobustScaling returns, for each column of x, its median as center and its
// interquartile range as scale, ignoring NaN and infinite values; quantiles
// interpolate linearly as NumPy's do. A column whose interquartile range is
// zero (mostly constant, which is common for status channels) falls back to
// its standard deviation, and to 1 when that is zero too or the column has no
// finite value, so that scaling never divides by zero. The median is also a
// sensible imputation value.
func RobustScaling(x Matrix) (center, scale []float64) {
	center = make([]float64, x.Cols)
	scale = make([]float64, x.Cols)
	col := make([]float64, 0, x.Rows)
	for j := 0; j < x.Cols; j++ {
		col = col[:0]
		for i := 0; i < x.Rows; i++ {
			if v := x.Row(i)[j]; !math.IsNaN(v) && !math.IsInf(v, 0) {
				col = append(col, v)
			}
		}
		center[j], scale[j] = 0, 1
		if len(col) == 0 {
			continue
		}
		slices.Sort(col)
		center[j] = quantile(col, 0.5)
		if iqr := quantile(col, 0.75) - quantile(col, 0.25); iqr > 0 {
			scale[j] = iqr
		} else if sd := stddev(col); sd > 0 {
			scale[j] = sd
		}
	}
	return center, scale
}

// quantile returns the q-quantile of sorted values with linear interpolation.
func quantile(sorted []float64, q float64) float64 {
	vi := q * float64(len(sorted)-1)
	lo := int(vi)
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(vi-float64(lo))
}

func stddev(v []float64) float64 {
	mean := 0.0
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss / float64(len(v)))
}
