package features

import (
	"math"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// ridge is the ridge penalty of the linear predictions, relative to the
// standardised fields' unit variance: it keeps the fits stable when fields
// are nearly collinear (sensors that read the same temperature).
const ridge = 1e-3

// maxFitted is the largest magnitude of a value in the rows the linear
// predictions are fitted on: far beyond any measurement, small enough that
// sums of squares of thousands of rows stay finite.
const maxFitted = 1e100

// minPredicted is the smallest share of a field's variance that the linear
// prediction from the other fields must explain (R²) for the field to stay
// in the residual feature. A field the others cannot predict (a battery's
// discharge, humidity, a hot-water tap sensor) only adds the tail of its own
// noise to every normal row's residual, where it outranks the faults of
// other kinds; measured in docs/MODEL_QUALITY.md.
const minPredicted = 0.5

// residual fits, on the profile's row sample, a linear prediction of each
// measured field from all the others (ridge regression on standardised
// values), and returns the KindResidual feature: how far the worst field of
// a row lies from its prediction, relative to the 99.5 % quantile of that
// distance on the sample. Fields whose prediction explains less than
// minPredicted of their variance are left out, and the others fitted again
// without them. It returns a feature without fields when there are fewer
// than two fields or too few complete rows.
func (p *Profile) residual(fields []*fieldStats, maxGap int64) model.Feature {
	f := model.Feature{Name: "residual", Kind: model.KindResidual, Smooth: residualSmooth, MaxGap: maxGap, Scale: 1}
	k := len(fields)
	if k < 2 {
		return f
	}
	var rows [][]float64
	for _, r := range p.smooth {
		x := make([]float64, k)
		ok := true
		for j, fs := range fields {
			// Values whose squares overflow (a collector sending ±1e308)
			// cannot enter a least-squares fit: the row is left out.
			if fs.idx >= len(r) || !(math.Abs(r[fs.idx]) <= maxFitted) {
				ok = false
				break
			}
			x[j] = r[fs.idx]
		}
		if ok {
			rows = append(rows, x)
		}
	}
	if len(rows) < 10*k {
		return f
	}
	n := float64(len(rows))
	mean := make([]float64, k)
	sd := make([]float64, k)
	for _, x := range rows {
		for j, v := range x {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= n
	}
	for _, x := range rows {
		for j, v := range x {
			sd[j] += (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range sd {
		sd[j] = math.Sqrt(sd[j] / n)
		if sd[j] == 0 {
			return f // a constant column: Choose never passes one
		}
	}
	// Correlation matrix of the standardised fields.
	c := make([][]float64, k)
	for a := range c {
		c[a] = make([]float64, k)
	}
	for _, x := range rows {
		for a := range k {
			za := (x[a] - mean[a]) / sd[a]
			for b := a; b < k; b++ {
				c[a][b] += za * (x[b] - mean[b]) / sd[b]
			}
		}
	}
	for a := range k {
		for b := a; b < k; b++ {
			c[a][b] /= n
			c[b][a] = c[a][b]
		}
	}
	weights := make([]float64, k*k)
	intercept := make([]float64, k)
	norm := make([]float64, k)
	others := make([]int, 0, k-1)
	for i := range k {
		others = others[:0]
		for j := range k {
			if j != i {
				others = append(others, j)
			}
		}
		m := len(others)
		a := make([][]float64, m)
		b := make([]float64, m)
		for r, jr := range others {
			a[r] = make([]float64, m)
			for s, js := range others {
				a[r][s] = c[jr][js]
			}
			a[r][r] += ridge
			b[r] = c[jr][i]
		}
		beta := solve(a, b)
		intercept[i] = mean[i]
		for r, j := range others {
			w := sd[i] * beta[r] / sd[j]
			weights[i*k+j] = w
			intercept[i] -= w * mean[j]
		}
	}
	// Norms: the 99.5 % quantile of each field's distance from its
	// prediction, with a floor of 1 % of its spread so that a field the
	// others predict exactly does not turn rounding into anomalies.
	dist := make([]float64, len(rows))
	var predicted []*fieldStats
	for i := range k {
		for r, x := range rows {
			pred := intercept[i]
			for j := range k {
				pred += float64(weights[i*k+j] * x[j])
			}
			dist[r] = math.Abs(x[i] - pred)
		}
		norm[i] = max(Quantile(dist, normQ), 0.01*sd[i])
		var sq float64
		for _, d := range dist {
			sq += d * d
		}
		if 1-sq/n/(sd[i]*sd[i]) >= minPredicted {
			predicted = append(predicted, fields[i])
		}
	}
	if len(predicted) < k {
		// Without the unpredictable fields the others' fits change, and
		// so may their share explained: fit again.
		return p.residual(predicted, maxGap)
	}
	for _, fs := range fields {
		f.Fields = append(f.Fields, fs.name)
	}
	f.Weights, f.Intercept, f.Norm = weights, intercept, norm
	return f
}

// solve solves a·x = b for a symmetric positive definite a by Cholesky
// decomposition; a and b are overwritten.
func solve(a [][]float64, b []float64) []float64 {
	n := len(b)
	for j := range n {
		s := a[j][j]
		for k := range j {
			s -= a[j][k] * a[j][k]
		}
		a[j][j] = math.Sqrt(s)
		for i := j + 1; i < n; i++ {
			s := a[i][j]
			for k := range j {
				s -= a[i][k] * a[j][k]
			}
			a[i][j] = s / a[j][j]
		}
	}
	x := make([]float64, n)
	for i := range n {
		s := b[i]
		for k := range i {
			s -= a[i][k] * x[k]
		}
		x[i] = s / a[i][i]
	}
	for i := n - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < n; k++ {
			s -= a[k][i] * x[k]
		}
		x[i] = s / a[i][i]
	}
	return x
}
