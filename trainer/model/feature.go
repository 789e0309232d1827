package model

import "math"

// value computes the feature from a raw row, before imputation and scaling.
// It returns NaN when the row lacks what the feature needs. New kinds are
// added here and in idmt_model.py; Feature.validate lists the known kinds.
func (f *Feature) value(row map[string]float64) float64 {
	switch f.Kind {
	case KindRaw:
		if v, ok := row[f.Field]; ok {
			return v
		}
	}
	return math.NaN()
}

// prepare imputes and scales v. The operations are part of the format: the
// imputation value replaces NaN and ±Inf, then (v - center) / scale.
func (f *Feature) prepare(v float64) float64 {
	if !finite(v) {
		v = f.Impute
	}
	return (v - f.Center) / f.Scale
}

// FeatureVector computes the feature values of a raw row in feature order,
// in raw units, NaN where a value is missing, and appends them to dst. Pass
// the result to ScoreVector.
func (d *Document) FeatureVector(dst []float64, row map[string]float64) []float64 {
	for i := range d.Features {
		dst = append(dst, d.Features[i].value(row))
	}
	return dst
}

// Prepare imputes and scales a feature vector in place, turning raw feature
// values into the inputs of the trees (the form Scorer expects).
func (d *Document) Prepare(x []float64) {
	for i := range d.Features {
		x[i] = d.Features[i].prepare(x[i])
	}
}
