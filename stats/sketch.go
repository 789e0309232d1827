package stats

import (
	"encoding/base64"
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
)

// RelativeAccuracy is the DDSketch guarantee of every quantile this
// package reports: the value returned for quantile q lies within ±1 % of
// the exact order statistic at rank ⌊q·(n−1)⌋ (for 0 itself: exactly 0).
const RelativeAccuracy = 0.01

// sketchMaxBins bounds a sketch's memory (at most 2 × 2,048 bins, 32 KiB)
// whatever the data. With 1 % accuracy 2,048 bins span a factor of about
// 10^17 between the smallest and largest magnitude of a sign; only values
// below that range, next to zero, are collapsed and lose the guarantee.
const sketchMaxBins = 2048

// MaxAbsValue is the largest magnitude a metric value may have to count in
// the statistics. Beyond it a reading is a sensor or register fault (no
// heat-pump quantity gets near 10^15), and letting it in could overflow a
// sum over a month. Such values are counted as excluded.
const MaxAbsValue = 1e15

// quantiles are the ones every figure reports, in this order.
var quantiles = []float64{0.05, 0.25, 0.50, 0.75, 0.95}

func newSketch() *ddsketch.DDSketch {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(RelativeAccuracy, sketchMaxBins)
	if err != nil {
		// Constant, valid arguments: this cannot happen.
		panic(fmt.Sprintf("stats: new sketch: %v", err))
	}
	return s
}

// encodeSketch serializes a sketch in DDSketch's own binary encoding,
// index mapping included, as standard base64. The encoding depends only on
// the sketch's bins, so equal inputs give equal text.
func encodeSketch(s *ddsketch.DDSketch) string {
	var b []byte
	s.Encode(&b, false)
	return base64.StdEncoding.EncodeToString(b)
}

// mergeSketch decodes an encoded sketch into dst.
func mergeSketch(dst *ddsketch.DDSketch, enc string) error {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	if err := dst.DecodeAndMergeWith(raw); err != nil {
		return fmt.Errorf("sketch: %w", err)
	}
	return nil
}

// Quantiles are p5, p25, p50, p75 and p95 of a distribution.
type Quantiles struct {
	P5  float64 `json:"p5"`
	P25 float64 `json:"p25"`
	P50 float64 `json:"p50"`
	P75 float64 `json:"p75"`
	P95 float64 `json:"p95"`
}

// quantilesOf reads the reported quantiles off a non-empty sketch, clamped
// to the exact [min, max] (a sketch's bin value may lie 1 % outside).
func quantilesOf(s *ddsketch.DDSketch, lo, hi float64) Quantiles {
	var q [5]float64
	for i, p := range quantiles {
		v, err := s.GetValueAtQuantile(p)
		if err != nil || math.IsNaN(v) {
			v = lo
		}
		q[i] = min(max(v, lo), hi)
	}
	return Quantiles{P5: q[0], P25: q[1], P50: q[2], P75: q[3], P95: q[4]}
}
