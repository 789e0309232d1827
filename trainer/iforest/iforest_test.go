package iforest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// blob returns n rows of d independent standard normal features.
func blob(n, d int, seed uint64) Matrix {
	r := rand.New(rand.NewPCG(seed, 99))
	m := Matrix{Data: make([]float64, n*d), Rows: n, Cols: d}
	for i := range m.Data {
		m.Data[i] = r.NormFloat64()
	}
	return m
}

func fit(t testing.TB, x Matrix, cfg Config) *Forest {
	t.Helper()
	f, err := Fit(x, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func meta(seed uint64) model.Metadata {
	return model.Metadata{
		HeatpumpModel: "TERRA SW 6-17",
		WindowFrom:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		WindowTo:      time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
		Rows:          2000,
		Installations: 9,
		Seed:          seed,
		CreatedAt:     time.Date(2026, 2, 1, 2, 0, 0, 0, time.UTC),
	}
}

func rawFeatures(n int) []model.Feature {
	fs := make([]model.Feature, n)
	for i := range fs {
		fs[i] = model.Raw(fmt.Sprintf("f%d", i))
	}
	return fs
}

func docBytes(t testing.TB, f *Forest, seed uint64) []byte {
	t.Helper()
	d, err := f.Document(rawFeatures(f.Features()), "none", meta(seed))
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeterminismAcrossWorkers(t *testing.T) {
	x := blob(3000, 8, 1)
	for _, ext := range []int{0, 3} {
		t.Run(fmt.Sprintf("ext=%d", ext), func(t *testing.T) {
			cfg := Config{Seed: 42, ExtensionLevel: ext, Contamination: 0.05}
			var (
				models []model.Forest
				scores [][]float64
				docs   [][]byte
			)
			for _, w := range []int{1, 4, 3} {
				c := cfg
				c.Workers = w
				f := fit(t, x, c)
				s, err := f.Score(x)
				if err != nil {
					t.Fatal(err)
				}
				models = append(models, f.Model())
				scores = append(scores, s)
				docs = append(docs, docBytes(t, f, cfg.Seed))
			}
			for i := 1; i < len(models); i++ {
				if !reflect.DeepEqual(models[0], models[i]) {
					t.Errorf("run %d grew different trees", i)
				}
				if !slices.Equal(scores[0], scores[i]) {
					t.Errorf("run %d gave different scores", i)
				}
				if !bytes.Equal(docs[0], docs[i]) {
					t.Errorf("run %d gave different document bytes", i)
				}
			}
			other := cfg
			other.Seed = 43
			if bytes.Equal(docs[0], docBytes(t, fit(t, x, other), cfg.Seed)) {
				t.Error("a different seed gave the same document")
			}
		})
	}
}

func TestOutlierScores(t *testing.T) {
	const d = 4
	x := blob(2000, d, 2)
	for _, ext := range []int{0, d - 1} {
		t.Run(fmt.Sprintf("ext=%d", ext), func(t *testing.T) {
			f := fit(t, x, Config{Seed: 7, ExtensionLevel: ext})
			probe, _ := Dense([][]float64{
				{6, 6, 6, 6}, // far outside the blob
				{0, 0, 0, 8}, // one channel out of range
				{0, 0, 0, 0}, // the centre
				{0.5, -0.5, 0.3, 0.1},
			})
			s, err := f.Score(probe)
			if err != nil {
				t.Fatal(err)
			}
			if s[0] <= 0.6 {
				t.Errorf("outlier scored %v, want > 0.6", s[0])
			}
			// A single channel out of range changes few path lengths: the
			// paper's forest ranks it above the centre, not much more.
			if s[1] <= s[2] {
				t.Errorf("one channel out of range scored %v, centre %v", s[1], s[2])
			}
			if s[2] >= 0.5 || s[3] >= 0.5 {
				t.Errorf("inliers scored %v and %v, want < 0.5", s[2], s[3])
			}
			// Path lengths: the far outlier is isolated within a few
			// splits; the centre needs about c(ψ) or more, up to the height
			// limit plus c(ψ) when no split ever separates it.
			c := model.AveragePathLength(256)
			ho, hc := f.PathLength(probe.Row(0)), f.PathLength(probe.Row(2))
			if ho > hc/2 {
				t.Errorf("outlier path length %v, centre %v", ho, hc)
			}
			if hc < c || hc > 8+c {
				t.Errorf("centre path length %v, want in [c(ψ), 8 + c(ψ)] = [%v, %v]", hc, c, 8+c)
			}
			// Most training rows are normal: the mean score sits below 0.5
			// and the median path length is about c(ψ).
			train, _ := f.Score(x)
			mean := 0.0
			for _, v := range train {
				mean += v / float64(len(train))
			}
			slices.Sort(train)
			median := train[len(train)/2]
			t.Logf("training scores: mean %.4f, median %.4f; outlier %.4f, centre %.4f; path lengths %.3f, %.3f", mean, median, s[0], s[2], ho, hc)
			if mean < 0.35 || mean > 0.5 || median >= 0.5 {
				t.Errorf("training scores: mean %v, median %v", mean, median)
			}
		})
	}
}

// TestTreeInvariants grows trees directly and checks them against the
// sample they were grown on: each sampled row reaches a leaf whose value is
// its depth plus c(rows in that leaf), leaves above the height limit hold one
// row or identical rows, siblings are adjacent, and an axis split never uses
// a feature that is constant in its node and leaves rows on both sides.
func TestTreeInvariants(t *testing.T) {
	x := blob(1000, 5, 3)
	// Column 2 is constant and column 4 takes two values, so the builder
	// meets constant features in the nodes.
	for i := range x.Rows {
		x.Row(i)[2] = 7
		x.Row(i)[4] = float64(i % 2)
	}
	for _, ext := range []int{0, 2} {
		t.Run(fmt.Sprintf("ext=%d", ext), func(t *testing.T) {
			mf := model.Forest{SampleSize: 128, HeightLimit: model.HeightLimit(128), Split: model.SplitAxis, Terms: 1}
			if ext > 0 {
				mf.Split, mf.Terms = model.SplitHyperplane, ext+1
			}
			b := newBuilder(x, &mf, 11)
			for tree := range 30 {
				tr, err := b.grow(tree)
				if err != nil {
					t.Fatal(err)
				}
				checkTree(t, x, &mf, tr, b.rows)
			}
		})
	}
}

func checkTree(t *testing.T, x Matrix, mf *model.Forest, tr model.Tree, rows []int) {
	t.Helper()
	if len(rows) != mf.SampleSize {
		t.Fatalf("sampled %d rows, want %d", len(rows), mf.SampleSize)
	}
	seen := map[int]bool{}
	for _, r := range rows {
		if r < 0 || r >= x.Rows || seen[r] {
			t.Fatalf("sampled row %d twice or out of range", r)
		}
		seen[r] = true
	}
	k := int32(mf.Terms)
	depth := make([]int, tr.Nodes())
	for i := range tr.Nodes() {
		if l := tr.Left[i]; l != -1 {
			if tr.Right[i] != l+1 {
				t.Fatalf("node %d: children %d and %d not adjacent", i, l, tr.Right[i])
			}
			depth[l], depth[l+1] = depth[i]+1, depth[i]+1
		}
	}
	members := make([][]int, tr.Nodes())
	for _, r := range rows {
		row := x.Row(r)
		i := int32(0)
		for {
			members[i] = append(members[i], r)
			if tr.Left[i] == -1 {
				break
			}
			v := 0.0
			if mf.Split == model.SplitAxis {
				v = row[tr.Feature[i]]
			} else {
				for j := i * k; j < (i+1)*k; j++ {
					v += float64(tr.Weight[j] * row[tr.Feature[j]])
				}
			}
			if v > tr.Threshold[i] {
				i = tr.Right[i]
			} else {
				i = tr.Left[i]
			}
		}
	}
	for i := range tr.Nodes() {
		count := len(members[i])
		if tr.Left[i] != -1 {
			if mf.Split == model.SplitAxis {
				if tr.Feature[i] == 2 {
					t.Fatalf("node %d splits the constant column", i)
				}
				if len(members[tr.Left[i]]) == 0 || len(members[tr.Right[i]]) == 0 {
					t.Fatalf("node %d: an axis split left a side empty", i)
				}
			}
			continue
		}
		want := float64(depth[i]) + model.AveragePathLength(count)
		if tr.Value[i] != want {
			t.Fatalf("leaf %d: value %v, want depth %d + c(%d) = %v", i, tr.Value[i], depth[i], count, want)
		}
		if depth[i] > mf.HeightLimit {
			t.Fatalf("leaf %d at depth %d", i, depth[i])
		}
		if depth[i] < mf.HeightLimit && count > 1 {
			for _, r := range members[i][1:] {
				if !slices.Equal(x.Row(r), x.Row(members[i][0])) {
					t.Fatalf("leaf %d above the height limit holds distinct rows", i)
				}
			}
		}
	}
}

func TestConstantData(t *testing.T) {
	x := Matrix{Data: make([]float64, 300*3), Rows: 300, Cols: 3}
	for i := range x.Data {
		x.Data[i] = 1.5
	}
	f := fit(t, x, Config{Seed: 1})
	for i, tr := range f.Model().Trees {
		if tr.Nodes() != 1 {
			t.Fatalf("tree %d has %d nodes, want a single leaf", i, tr.Nodes())
		}
	}
	s, _ := f.Score(x)
	if math.Abs(s[0]-0.5) > 1e-12 {
		t.Errorf("score %v, want 0.5 (every row at the average path length)", s[0])
	}
}

func TestContamination(t *testing.T) {
	x := blob(5000, 3, 4)
	for _, c := range []float64{0.01, 0.1, 0.25} {
		f := fit(t, x, Config{Seed: 3, Contamination: c})
		pred, err := f.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		anomalies := 0
		for _, p := range pred {
			if p == -1 {
				anomalies++
			}
		}
		if frac := float64(anomalies) / float64(x.Rows); math.Abs(frac-c) > 0.002 {
			t.Errorf("contamination %v: %v of the training rows predicted anomalous", c, frac)
		}
	}
	auto := fit(t, x, Config{Seed: 3})
	if auto.Threshold() != 0.5 || auto.Offset() != -0.5 {
		t.Errorf("auto threshold %v offset %v", auto.Threshold(), auto.Offset())
	}
}

func TestSklearnOutputs(t *testing.T) {
	x := blob(1000, 3, 5)
	f := fit(t, x, Config{Seed: 1, Contamination: 0.1})
	s, _ := f.Score(x)
	ss, _ := f.ScoreSamples(x)
	df, _ := f.DecisionFunction(x)
	pred, _ := f.Predict(x)
	for i := range s {
		if ss[i] != -s[i] || df[i] != ss[i]-f.Offset() {
			t.Fatalf("row %d: score %v, score_samples %v, decision %v, offset %v", i, s[i], ss[i], df[i], f.Offset())
		}
		if (pred[i] == -1) != (df[i] < 0) || (pred[i] == -1) != (s[i] > f.Threshold()) {
			t.Fatalf("row %d: predict %d for decision %v", i, pred[i], df[i])
		}
	}
}

func TestContaminationThresholdLikeNumPy(t *testing.T) {
	// np.percentile(-s, 10) for s = [0.1 .. 0.9] is -0.82: virtual index
	// 0.8, between -0.9 and -0.8.
	scores := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	if got := contaminationThreshold(scores, 0.1); math.Abs(got-0.82) > 1e-15 {
		t.Errorf("threshold %v, want 0.82", got)
	}
	if got := contaminationThreshold([]float64{0.7}, 0.5); got != 0.7 {
		t.Errorf("threshold of one score %v, want 0.7", got)
	}
}

func TestStrideMatchesDense(t *testing.T) {
	x := blob(500, 3, 6)
	f := fit(t, x, Config{Seed: 1, Workers: 2})
	wide := Matrix{Data: make([]float64, 500*5), Rows: 500, Cols: 3, Stride: 5}
	for i := range 500 {
		copy(wide.Data[i*5:], x.Row(i))
		wide.Data[i*5+3] = math.NaN()
	}
	a, _ := f.Score(x)
	b, err := f.Score(wide)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Error("strided matrix scored differently")
	}
	fw := fit(t, wide, Config{Seed: 1})
	if !reflect.DeepEqual(f.Model(), fw.Model()) {
		t.Error("strided matrix grew different trees")
	}
}

func TestScoreManyChunks(t *testing.T) {
	// More rows than one chunk, so that several workers share the work.
	x := blob(3*chunkRows+17, 4, 8)
	f := fit(t, x, Config{Seed: 2, Trees: 20, Workers: 3})
	got, err := f.Score(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, chunkRows - 1, chunkRows, 2*chunkRows + 5, x.Rows - 1} {
		if want := f.scorer.Score(x.Row(i)); got[i] != want {
			t.Fatalf("row %d: %v, want %v", i, got[i], want)
		}
	}
}

func TestFitErrors(t *testing.T) {
	x := blob(100, 3, 9)
	nan := blob(100, 3, 9)
	for i := range nan.Rows {
		nan.Row(i)[1] = math.NaN()
	}
	tests := []struct {
		name    string
		x       Matrix
		cfg     Config
		wantErr error
	}{
		{"no rows", Matrix{Cols: 3}, Config{}, ErrShape},
		{"no columns", Matrix{Rows: 3}, Config{}, ErrShape},
		{"short data", Matrix{Data: make([]float64, 8), Rows: 3, Cols: 3}, Config{}, ErrShape},
		{"stride below columns", Matrix{Data: make([]float64, 9), Rows: 3, Cols: 3, Stride: 2}, Config{}, ErrShape},
		{"negative trees", x, Config{Trees: -1}, ErrConfig},
		{"negative sample size", x, Config{SampleSize: -5}, ErrConfig},
		{"negative workers", x, Config{Workers: -1}, ErrConfig},
		{"contamination above half", x, Config{Contamination: 0.6}, ErrConfig},
		{"negative contamination", x, Config{Contamination: -0.1}, ErrConfig},
		{"extension level too high", x, Config{ExtensionLevel: 3}, ErrConfig},
		{"negative extension level", x, Config{ExtensionLevel: -1}, ErrConfig},
		{"not finite", nan, Config{}, ErrNotFinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Fit(tt.x, tt.cfg); !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestScoreShapeErrors(t *testing.T) {
	f := fit(t, blob(100, 3, 10), Config{Seed: 1})
	if _, err := f.Score(blob(10, 4, 1)); !errors.Is(err, ErrShape) {
		t.Errorf("wrong column count: %v", err)
	}
	if err := f.ScoreInto(make([]float64, 3), blob(10, 3, 1)); !errors.Is(err, ErrShape) {
		t.Errorf("short destination: %v", err)
	}
	if s, err := f.Score(Matrix{Cols: 3}); err != nil || len(s) != 0 {
		t.Errorf("empty matrix: %v, %v", s, err)
	}
	if _, err := f.Document(rawFeatures(2), "none", model.Metadata{}); !errors.Is(err, ErrShape) {
		t.Errorf("wrong feature count: %v", err)
	}
}

func TestSmallInputs(t *testing.T) {
	// One row: ψ = 1, c(ψ) = 0, and scikit-learn's convention gives 0.5.
	one, _ := Dense([][]float64{{1, 2}})
	f := fit(t, one, Config{Seed: 1})
	if f.SampleSize() != 1 {
		t.Errorf("sample size %d, want 1", f.SampleSize())
	}
	s, _ := f.Score(one)
	if s[0] != 0.5 {
		t.Errorf("score %v, want 0.5", s[0])
	}
	two, _ := Dense([][]float64{{1, 2}, {3, 4}})
	f = fit(t, two, Config{Seed: 1, Trees: 3})
	if f.Trees() != 3 || f.SampleSize() != 2 || f.Features() != 2 {
		t.Errorf("trees %d, sample size %d, features %d", f.Trees(), f.SampleSize(), f.Features())
	}
	if _, err := Dense([][]float64{{1, 2}, {3}}); !errors.Is(err, ErrShape) {
		t.Errorf("ragged rows: %v", err)
	}
}

func TestDocumentScoresLikeForest(t *testing.T) {
	x := blob(2000, 5, 11)
	for _, ext := range []int{0, 2} {
		f := fit(t, x, Config{Seed: 5, ExtensionLevel: ext, Contamination: 0.02})
		d, err := f.Document(rawFeatures(5), "none", meta(5))
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d, err = model.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if d.Forest.Threshold != f.Threshold() {
			t.Errorf("threshold %v, forest %v", d.Forest.Threshold, f.Threshold())
		}
		want, _ := f.Score(x)
		got := make([]float64, x.Rows)
		if err := d.ScoreVectors(x.Data, x.Cols, got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ext=%d: document scores differ from the forest's", ext)
		}
	}
}

func TestRobustScaling(t *testing.T) {
	m, _ := Dense([][]float64{
		{1, 5, math.NaN(), 3},
		{2, 5, math.NaN(), 3},
		{3, 5, math.NaN(), 3},
		{4, 5, math.NaN(), 3},
		{100, 5, math.NaN(), 9},
	})
	center, scale := RobustScaling(m)
	// Column 0: median 3, quartiles 2 and 4. Column 1: constant. Column 2:
	// nothing finite. Column 3: IQR 0, standard deviation 2.4.
	wantCenter := []float64{3, 5, 0, 3}
	wantScale := []float64{2, 1, 1, 2.4}
	for j := range wantCenter {
		if center[j] != wantCenter[j] || math.Abs(scale[j]-wantScale[j]) > 1e-12 {
			t.Errorf("column %d: center %v scale %v, want %v %v", j, center[j], scale[j], wantCenter[j], wantScale[j])
		}
	}
}
