package model

import (
	"math"
	"math/bits"
)

// EulerGamma is the Euler–Mascheroni constant. The paper writes it as
// 0.5772156649; this is the same constant to float64 precision, as NumPy's
// euler_gamma used by scikit-learn.
const EulerGamma = 0.5772156649015329

// AveragePathLength returns c(n), the average path length of an unsuccessful
// search in a binary search tree of n points, which the isolation forest uses
// both to normalise scores (c(ψ)) and to account for the points a leaf did not
// isolate (c(size)):
//
//	c(n) = 2 H(n-1) - 2 (n-1)/n,  H(i) = ln(i) + γ,
//
// with c(0) = c(1) = 0 and c(2) = 1 as in the paper and scikit-learn.
func AveragePathLength(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	f := float64(n)
	return 2*(math.Log(f-1)+EulerGamma) - 2*(f-1)/f
}

// HeightLimit returns ⌈log2 ψ⌉, the depth at which tree growth stops, for a
// subsample of psi rows. Like scikit-learn it treats ψ < 2 as 2, so the limit
// is never zero.
func HeightLimit(psi int) int {
	if psi < 2 {
		psi = 2
	}
	return bits.Len(uint(psi - 1))
}

// normalise turns the sum of path lengths over nTrees trees into the paper's
// anomaly score s = 2^(-E[h]/c(ψ)). The operations and their order are part of
// the format (docs/MODEL_FORMAT.md): the mean first, then the ratio. When c(ψ)
// is zero (ψ = 1) the score is 0.5, as in scikit-learn.
func normalise(sum float64, nTrees int, cpsi float64) float64 {
	if cpsi == 0 {
		return 0.5
	}
	mean := sum / float64(nTrees)
	return math.Exp2(-mean / cpsi)
}
