package iforest

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// The benchmark data: 1M rows of 40 features, standard normal, generated
// once per test binary.
const (
	benchRows = 1_000_000
	benchCols = 40
)

var benchData = sync.OnceValue(func() Matrix {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]float64, benchRows*benchCols)
	for i := range data {
		data[i] = r.NormFloat64()
	}
	return Matrix{Data: data, Rows: benchRows, Cols: benchCols}
})

// BenchmarkFit fits 100 trees with ψ = 256 on 1M × 40 rows on one core.
func BenchmarkFit(b *testing.B) {
	for _, ext := range []int{0, 3} {
		b.Run(fmt.Sprintf("ext=%d", ext), func(b *testing.B) {
			x := benchData()
			b.ReportAllocs()
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				if _, err := Fit(x, Config{Seed: uint64(i), Workers: 1, ExtensionLevel: ext}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*benchRows/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// BenchmarkScore scores 1M × 40 rows with 100 trees (ψ = 256) on one worker
// and on GOMAXPROCS workers; rows/s is the figure to compare. The Extended
// Isolation Forest is slower per row, so it scores a 100k-row prefix to keep
// the benchmark short.
func BenchmarkScore(b *testing.B) {
	all := benchData()
	for _, ext := range []int{0, 3} {
		f, err := Fit(all, Config{Seed: 1, ExtensionLevel: ext})
		if err != nil {
			b.Fatal(err)
		}
		x := all
		if ext > 0 {
			x = all.slice(0, 100_000)
		}
		dst := make([]float64, x.Rows)
		for _, w := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("ext=%d/workers=%d", ext, w), func(b *testing.B) {
				f.workers = w
				b.ReportAllocs()
				start := time.Now()
				for b.Loop() {
					if err := f.ScoreInto(dst, x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)*float64(x.Rows)/time.Since(start).Seconds(), "rows/s")
			})
		}
	}
}
