package model

import (
	"fmt"
	"math"
)

// keys says which optional keys a kind uses; Marshal writes exactly those,
// validate requires them and normalize clears the others.
type keys struct {
	field, field2, fields, lo, hi, weights, norm, minDenominator, smooth, window, maxGap bool
}

// kinds lists every feature kind this package computes and the keys each
// uses. A kind with maxGap is temporal.
var kinds = map[string]keys{
	KindRaw:      {field: true},
	KindEnvelope: {fields: true, lo: true, hi: true},
	KindResidual: {fields: true, weights: true, norm: true, smooth: true, maxGap: true},
	KindRate:     {field: true, maxGap: true},
	KindJump:     {fields: true, norm: true, maxGap: true},
	KindStuck:    {fields: true, norm: true, maxGap: true},
	KindStale:    {fields: true, norm: true, maxGap: true},
	KindChanges:  {fields: true, norm: true, window: true, maxGap: true},

	KindRollingDiff:  {field: true, field2: true, window: true, maxGap: true},
	KindRollingRatio: {field: true, field2: true, minDenominator: true, window: true, maxGap: true},
}

// Temporal reports whether the feature's kind needs earlier rows of the same
// installation; such features are computed by a Stream, and the stateless
// Document.Score and FeatureVector leave them missing (imputed).
func (f *Feature) Temporal() bool { return kinds[f.Kind].maxGap }

// value computes a stateless feature from a raw row, before imputation and
// scaling. It returns NaN when the row lacks what the feature needs, and for
// temporal kinds, which need a Stream. The operations and their order are
// those of docs/MODEL_FORMAT.md, which idmt_model.py follows too.
func (f *Feature) value(row *fields) float64 {
	nan := math.NaN()
	switch f.Kind {
	case KindRaw:
		// As is, even when not finite: prepare imputes it either way.
		if v, ok := row.lookup(0, f.Field); ok {
			return v
		}
	case KindEnvelope:
		out := nan
		for i, name := range f.Fields {
			v, ok := row.get(i, name)
			if !ok {
				continue
			}
			lo, hi := f.Lo[i], f.Hi[i]
			e := 0.0
			if v < lo {
				e = (lo - v) / (hi - lo)
			} else if v > hi {
				e = (v - hi) / (hi - lo)
			}
			out = maxNaN(out, e)
		}
		return out
	}
	return nan
}

// fields is one raw row as features read it: by name from a map (Vector,
// FeatureVector), or by position from a row of values (VectorValues), where
// pos holds the positions of the fields of the feature being computed, in
// the order of Feature.reads; NaN and -1 mean missing.
type fields struct {
	m    map[string]float64
	vals []float64
	pos  []int
}

// lookup returns the value of the feature's k-th field (reads), named name.
func (r *fields) lookup(k int, name string) (float64, bool) {
	if r.m != nil {
		v, ok := r.m[name]
		return v, ok
	}
	if p := r.pos[k]; p >= 0 {
		v := r.vals[p]
		return v, v == v
	}
	return 0, false
}

// get returns the finite value of the feature's k-th field.
func (r *fields) get(k int, name string) (float64, bool) {
	v, ok := r.lookup(k, name)
	return v, ok && finite(v)
}

// reads lists the raw fields the feature reads, in the order fields.lookup
// numbers them: Fields, or Field and Field2.
func (f *Feature) reads() []string {
	if len(f.Fields) > 0 {
		return f.Fields
	}
	if f.Field2 != "" {
		return []string{f.Field, f.Field2}
	}
	return []string{f.Field}
}

// maxNaN is max(a, b) where a may be NaN (nothing yet) and b is a number.
func maxNaN(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}

// validate checks the keys of f's kind and its imputation and scaling.
func (f *Feature) validate() error {
	k, ok := kinds[f.Kind]
	if !ok {
		return fmt.Errorf("%w: %w %q", ErrInvalid, ErrUnknownKind, f.Kind)
	}
	if k.field && f.Field == "" {
		return invalidf("%s feature without field", f.Kind)
	}
	if k.field2 && f.Field2 == "" {
		return invalidf("%s feature without field2", f.Kind)
	}
	if k.fields {
		if len(f.Fields) == 0 || len(f.Fields) > maxFeatures {
			return invalidf("%s feature with %d fields", f.Kind, len(f.Fields))
		}
		for _, name := range f.Fields {
			if name == "" {
				return invalidf("%s feature with an empty field name", f.Kind)
			}
		}
	}
	if k.lo && (len(f.Lo) != len(f.Fields) || len(f.Hi) != len(f.Fields)) {
		return invalidf("lo and hi need one value per field")
	}
	for i := range f.Lo {
		if !finite(f.Lo[i]) || !finite(f.Hi[i]) || !(f.Lo[i] < f.Hi[i]) || !finite(f.Hi[i]-f.Lo[i]) {
			return invalidf("lo %v and hi %v of field %d not finite with lo < hi", f.Lo[i], f.Hi[i], i)
		}
	}
	if k.weights {
		n := len(f.Fields)
		if len(f.Weights) != n*n || len(f.Intercept) != n {
			return invalidf("residual feature needs %d weights and %d intercepts", n*n, n)
		}
		for i, w := range f.Weights {
			if !finite(w) || i/n == i%n && w != 0 {
				return invalidf("weight %d not finite or on the diagonal", i)
			}
		}
		for _, c := range f.Intercept {
			if !finite(c) {
				return invalidf("intercept not finite")
			}
		}
	}
	if k.norm && len(f.Norm) != len(f.Fields) {
		return invalidf("norm needs one value per field")
	}
	for _, n := range f.Norm {
		if !finite(n) || n <= 0 {
			return invalidf("norm %v not positive and finite", n)
		}
	}
	if k.minDenominator && !(finite(f.MinDenominator) && f.MinDenominator > 0) {
		return invalidf("min_denominator %v not positive and finite", f.MinDenominator)
	}
	if k.smooth && (f.Smooth < 1 || f.Smooth > maxGapLimit) {
		return invalidf("smooth %d outside [1, %d] rows", f.Smooth, maxGapLimit)
	}
	if k.window && (f.Window < 1 || f.Window > maxGapLimit) {
		return invalidf("window %d outside [1, %d] seconds", f.Window, maxGapLimit)
	}
	if k.maxGap && (f.MaxGap < 1 || f.MaxGap > maxGapLimit) {
		return invalidf("max_gap %d outside [1, %d] seconds", f.MaxGap, maxGapLimit)
	}
	if !finite(f.Impute) || !finite(f.Center) {
		return invalidf("impute or center not finite")
	}
	if !finite(f.Scale) || f.Scale <= 0 {
		return invalidf("scale %v not positive and finite", f.Scale)
	}
	return nil
}

// maxGapLimit bounds max_gap and window (a year) so that they count
// milliseconds exactly in every language.
const maxGapLimit = 366 * 24 * 3600

// normalize clears the keys that f's kind does not use, so that a decoded
// document holds only what its kind reads and writes back the same bytes.
func (f *Feature) normalize() {
	k := kinds[f.Kind]
	if !k.field {
		f.Field = ""
	}
	if !k.field2 {
		f.Field2 = ""
	}
	if !k.fields {
		f.Fields = nil
	}
	if !k.lo {
		f.Lo, f.Hi = nil, nil
	}
	if !k.norm {
		f.Norm = nil
	}
	if !k.weights {
		f.Weights, f.Intercept = nil, nil
	}
	if !k.minDenominator {
		f.MinDenominator = 0
	}
	if !k.window {
		f.Window = 0
	}
	if !k.smooth {
		f.Smooth = 0
	}
	if !k.maxGap {
		f.MaxGap = 0
	}
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
// the result to ScoreVector. Temporal features are NaN here (their
// imputation value is used); score rows of an installation in time order
// through a Stream to compute them.
func (d *Document) FeatureVector(dst []float64, row map[string]float64) []float64 {
	r := fields{m: row}
	for i := range d.Features {
		dst = append(dst, d.Features[i].value(&r))
	}
	return dst
}

// Temporal reports whether any feature of d needs a Stream.
func (d *Document) Temporal() bool {
	for i := range d.Features {
		if d.Features[i].Temporal() {
			return true
		}
	}
	return false
}

// Prepare imputes and scales a feature vector in place, turning raw feature
// values into the inputs of the trees (the form Scorer expects).
func (d *Document) Prepare(x []float64) {
	for i := range d.Features {
		x[i] = d.Features[i].prepare(x[i])
	}
}

// Stream returns a new Stream of d's features, to score the rows of one or
// more installations, each in time order:
//
//	s := d.Stream()
//	score := d.ScoreVector(s.Vector(nil, id, ts, row))
func (d *Document) Stream() *Stream { return NewStream(d.Features) }
