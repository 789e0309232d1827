package model_test

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
)

// benchRows rows of 40 standard normal features and a default forest fitted
// on them, built once per test binary.
const benchRows = 100_000

var benchSetup = sync.OnceValues(func() (iforest.Matrix, *iforest.Forest) {
	r := rand.New(rand.NewPCG(3, 4))
	x := iforest.Matrix{Data: make([]float64, benchRows*40), Rows: benchRows, Cols: 40}
	for i := range x.Data {
		x.Data[i] = r.NormFloat64()
	}
	f, err := iforest.Fit(x, iforest.Config{Seed: 1})
	if err != nil {
		panic(err)
	}
	return x, f
})

// BenchmarkScoreBatch measures the single-core scoring kernel.
func BenchmarkScoreBatch(b *testing.B) {
	x, f := benchSetup()
	d, err := f.Document(rawFeatures(40), "none", testMetadata())
	if err != nil {
		b.Fatal(err)
	}
	s := d.Scorer()
	dst := make([]float64, x.Rows)
	start := time.Now()
	for b.Loop() {
		s.ScoreBatch(x.Data, x.Cols, dst)
	}
	b.ReportMetric(float64(b.N)*float64(x.Rows)/time.Since(start).Seconds(), "rows/s")
}
