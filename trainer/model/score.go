package model

import (
	"fmt"
	"math"
)

// stackFeatures is the feature count up to which scoring one row needs no
// heap allocation.
const stackFeatures = 64

// Score computes the features of a raw telemetry row (field name to value),
// imputes, scales and returns the anomaly score s = 2^(-E[h]/c(ψ)) in (0, 1];
// a row is anomalous when the score is greater than Forest.Threshold. A field
// that is absent, NaN or infinite takes the feature's imputation value. Score
// returns NaN if d is not valid.
func (d *Document) Score(row map[string]float64) float64 {
	s := d.compiled()
	if s == nil {
		return math.NaN()
	}
	var buf [stackFeatures]float64
	x := d.FeatureVector(buf[:0], row)
	d.Prepare(x)
	return s.Score(x)
}

// ScoreVector scores a feature vector computed elsewhere (by FeatureVector or
// by a collector's own code): len(d.Features) values in feature order, in raw
// units, NaN for missing. x is not modified. It returns NaN if d is not valid
// or x has the wrong length.
func (d *Document) ScoreVector(x []float64) float64 {
	s := d.compiled()
	if s == nil || len(x) != len(d.Features) {
		return math.NaN()
	}
	var buf [stackFeatures]float64
	p := append(buf[:0], x...)
	d.Prepare(p)
	return s.Score(p)
}

// ScoreVectors scores len(dst) feature vectors stored row-major in data (row i
// at data[i*stride:], raw units, NaN for missing) into dst, a block of rows at
// a time. data is not modified. The error wraps ErrInvalid if d is not valid,
// ErrShortInput if data holds fewer rows than dst.
func (d *Document) ScoreVectors(data []float64, stride int, dst []float64) error {
	s := d.compiled()
	if s == nil {
		return d.Validate()
	}
	nf := len(d.Features)
	if stride < nf || len(dst) > 0 && len(data) < (len(dst)-1)*stride+nf {
		return fmt.Errorf("%w: %d rows of %d features with stride %d in %d values",
			ErrShortInput, len(dst), nf, stride, len(data))
	}
	block := make([]float64, blockRows*nf)
	for b := 0; b < len(dst); b += blockRows {
		e := min(b+blockRows, len(dst))
		for r := b; r < e; r++ {
			p := block[(r-b)*nf:][:nf]
			copy(p, data[r*stride:][:nf])
			d.Prepare(p)
		}
		s.ScoreBatch(block, nf, dst[b:e])
	}
	return nil
}

// Scorer returns the compiled forest, which scores vectors that are already
// imputed and scaled (see Prepare), or nil if d is not valid.
func (d *Document) Scorer() *Scorer { return d.compiled() }

// compiled returns the scorer built by Validate, validating now if no one has
// yet (a Document built in code and never validated).
func (d *Document) compiled() *Scorer {
	if s := d.scorer.Load(); s != nil {
		return s
	}
	if d.Validate() != nil {
		return nil
	}
	return d.scorer.Load()
}
