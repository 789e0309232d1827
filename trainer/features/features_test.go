package features

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

var t0 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

// synthetic streams rows of a few installations with fields of every
// kind Choose distinguishes.
func synthetic(p *Profile, installations, rows int) {
	for i := range installations {
		inst := string(rune('a' + i))
		counter := 1000.0 * float64(i+1)
		for k := range rows {
			counter += float64(k%3) * 0.01
			row := map[string]float64{
				"temp":    20 + 5*math.Sin(float64(k)/10) + float64(i),
				"flag":    float64(k / 7 % 2),
				"const":   42,
				"setting": float64(30 + i), // configuration: varies between installations only
				"counter": counter,
			}
			if k%3 == 0 {
				row["sparse"] = float64(k % 5) // present in a third of the rows
			}
			p.Add(inst, t0.Add(time.Duration(k)*30*time.Second), row)
		}
	}
}

func TestChoose(t *testing.T) {
	p := NewProfile()
	synthetic(p, 3, 200)
	if p.Rows() != 600 || p.Installations() != 3 {
		t.Fatalf("rows %d, installations %d", p.Rows(), p.Installations())
	}
	names := func(fs []model.Feature) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name+":"+f.Kind)
		}
		return strings.Join(out, " ")
	}
	for _, tt := range []struct {
		opts Options
		want string
	}{
		// const is constant, setting configuration, sparse too rare; the
		// counter becomes a rate.
		{Options{RawOnly: true}, "counter_rate:rate flag:raw temp:raw"},
		{Options{RawOnly: true, MinPresence: 0.3}, "counter_rate:rate flag:raw sparse:raw temp:raw"},
		// temp is the only measurement (fractional), flag changes too often
		// to count as a state; no physical relation applies.
		{Options{}, "envelope:envelope jump:jump stuck:stuck"},
		{Options{WithRaw: true}, "counter_rate:rate flag:raw temp:raw envelope:envelope jump:jump stuck:stuck"},
	} {
		got, err := p.Choose(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if names(got) != tt.want {
			t.Errorf("%+v: %s, want %s", tt.opts, names(got), tt.want)
		}
	}
	got, err := p.Choose(Options{RawOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	want := model.Feature{Name: "counter_rate", Kind: model.KindRate, Field: "counter", MaxGap: 900, Scale: 1}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("rate feature %+v, want %+v", got[0], want)
	}
	env, err := p.Choose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	// temp spans 20±5 plus the installation's offset 0…2.
	if e := env[0]; len(e.Fields) != 2 || !(e.Lo[1] > 14 && e.Lo[1] < 16 && e.Hi[1] > 26 && e.Hi[1] < 28) {
		t.Errorf("envelope %+v", e)
	}
}

// TestChooseStale checks the stale feature's fields and norms: b rests for
// ten rows in every fifty while a changes at every row, so b's norm is
// about ten changes of a; a never rests, so its norm is the floor of 1.
func TestChooseStale(t *testing.T) {
	p := NewProfile()
	for i := range 2 {
		inst := string(rune('a' + i))
		b := 0.0
		for k := range 2000 {
			if k%50 >= 10 {
				b = 5 + 3*math.Sin(float64(k)/7) + float64(i)
			}
			p.Add(inst, t0.Add(time.Duration(k)*30*time.Second), map[string]float64{
				"a": 20 + 5*math.Sin(float64(k)/10) + float64(i), "b": b,
			})
		}
	}
	feats, err := p.Choose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	stale := ofKind(feats, model.KindStale)
	if stale == nil || !reflect.DeepEqual(stale.Fields, []string{"a", "b"}) {
		t.Fatalf("stale feature %+v", stale)
	}
	if stale.Norm[0] != 1 || !(stale.Norm[1] >= 8 && stale.Norm[1] <= 11) || stale.Name != "stale" || stale.MaxGap != 900 {
		t.Errorf("stale feature %+v", *stale)
	}
}

// TestChooseResidual checks that the residual feature keeps the fields the
// others predict (b follows a) and leaves out one they cannot (c is noise).
// linearProfile profiles installations whose field b is 2a + 1 plus noise
// and c is noise alone; absurd, if not nil, says which rows (installation
// i, row k) read ±1e200 in a and b instead.
func linearProfile(installations, rows int, absurd func(i, k int) bool) *Profile {
	p := NewProfile()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range installations {
		for k := range rows {
			a := 20 + 5*math.Sin(float64(k)/40) + float64(i)
			row := map[string]float64{"a": a, "b": 2*a + 1 + 0.1*rng.NormFloat64(), "c": 10 + rng.NormFloat64()}
			if absurd != nil && absurd(i, k) {
				row["a"], row["b"] = 1e200, -1e200
			}
			p.Add(string(rune('a'+i)), t0.Add(time.Duration(k)*30*time.Second), row)
		}
	}
	return p
}

func TestChooseResidual(t *testing.T) {
	feats, err := linearProfile(2, 3000, nil).Choose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := ofKind(feats, model.KindResidual)
	if res == nil || !reflect.DeepEqual(res.Fields, []string{"a", "b"}) {
		t.Fatalf("residual feature %+v", res)
	}
	// b = 2a + 1: the weights say so, and the norms are small.
	if w := res.Weights[1*2+0]; math.Abs(w-2) > 0.05 || res.Norm[1] > 0.5 {
		t.Errorf("residual feature %+v", *res)
	}
}

// TestChooseResidualIgnoresAbsurdRows checks that the rows of a collector
// that sends values whose squares overflow (±1e200, once in a while: its
// moving averages stay absurd for hours) stay out of the residual's fits,
// which stay those of the other installations.
func TestChooseResidualIgnoresAbsurdRows(t *testing.T) {
	// 0.1 % of the rows, of one installation: the envelope does not see them.
	absurd := func(i, k int) bool { return i == 2 && k%1000 == 7 }
	feats, err := linearProfile(3, 4000, absurd).Choose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := ofKind(feats, model.KindResidual)
	if res == nil || !reflect.DeepEqual(res.Fields, []string{"a", "b"}) {
		t.Fatalf("residual feature %+v", res)
	}
	if w := res.Weights[1*2+0]; math.Abs(w-2) > 0.05 {
		t.Errorf("residual feature %+v", *res)
	}
	for _, v := range slices.Concat(res.Weights, res.Intercept, res.Norm) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("residual feature with %v: %+v", v, *res)
		}
	}
}

// ofKind returns the feature of the kind, or nil.
func ofKind(feats []model.Feature, kind string) *model.Feature {
	for i := range feats {
		if feats[i].Kind == kind {
			return &feats[i]
		}
	}
	return nil
}

// TestChooseDeterministic checks that the same rows give the same features.
func TestChooseDeterministic(t *testing.T) {
	var docs [2][]model.Feature
	for i := range docs {
		p := NewProfile()
		synthetic(p, 4, 300)
		var err error
		if docs[i], err = p.Choose(Options{WithRaw: true}); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(docs[0], docs[1]) {
		t.Error("two profiles of the same rows chose different features")
	}
}

func TestChooseNothing(t *testing.T) {
	if _, err := NewProfile().Choose(Options{}); !errors.Is(err, ErrNoFeatures) {
		t.Errorf("empty profile: %v", err)
	}
	p := NewProfile()
	for k := range 10 {
		p.Add("a", t0.Add(time.Duration(k)*time.Minute), map[string]float64{"c": 1})
	}
	if _, err := p.Choose(Options{}); !errors.Is(err, ErrNoFeatures) {
		t.Errorf("constant profile: %v", err)
	}
	if _, err := p.Choose(Options{MinPresence: 2}); !errors.Is(err, ErrNoFeatures) {
		t.Errorf("bad options: %v", err)
	}
}

func TestFit(t *testing.T) {
	fs := []model.Feature{model.Raw("a"), model.Raw("b"), model.Raw("c")}
	nan := math.NaN()
	sample := [][]float64{{1, 5, nan}, {2, 5, nan}, {3, 5, nan}, {4, 5, nan}, {nan, 5, nan}}
	got := Fit(fs, sample)
	// a: median 2.5, IQR 3.25-1.75 = 1.5; b: constant, scale falls back to
	// 1 (sd 0); c: no finite value: 0 and 1.
	want := [][3]float64{{2.5, 2.5, 1.5}, {5, 5, 1}, {0, 0, 1}}
	for i, w := range want {
		if got[i].Impute != w[0] || got[i].Center != w[1] || got[i].Scale != w[2] {
			t.Errorf("feature %d: impute %v center %v scale %v, want %v", i, got[i].Impute, got[i].Center, got[i].Scale, w)
		}
	}
	if fs[0].Scale != 1 || fs[0].Center != 0 {
		t.Error("Fit modified its input")
	}
}

// TestPipeline runs the three steps as the training job does and checks
// that the result is a valid, scorable model document.
func TestPipeline(t *testing.T) {
	p := NewProfile()
	synthetic(p, 3, 300)
	fs, err := p.Choose(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := model.NewStream(fs)
	var sample [][]float64
	for i := range 3 {
		inst := string(rune('a' + i))
		for k := range 300 {
			row := map[string]float64{"temp": 20 + float64(k%17), "flag": float64(k % 2), "counter": float64(k)}
			sample = append(sample, s.Vector(nil, inst, t0.Add(time.Duration(k)*30*time.Second), row))
		}
	}
	fitted := Fit(fs, sample)
	d := model.Document{Features: fitted, Scaling: "robust"}
	for _, r := range sample {
		d.Prepare(r)
		for j, v := range r {
			if !finite(v) {
				t.Fatalf("prepared value %d not finite: %v", j, v)
			}
		}
	}
}

// TestPrepareSampleClamps checks that a value whose scaling overflows
// enters the forest as ±MaxPrepared, not ±Inf, and that ordinary values
// are prepared as the scorer prepares them.
func TestPrepareSampleClamps(t *testing.T) {
	feats := []model.Feature{{Name: "a", Kind: model.KindRaw, Field: "a", Impute: 0, Center: 1, Scale: 1e-10}}
	sample := [][]float64{{1e300}, {-1e300}, {1 + 2e-10}, {math.NaN()}}
	PrepareSample(feats, sample)
	want := []float64{MaxPrepared, -MaxPrepared, 2, -1e10}
	for i, w := range want {
		if got := sample[i][0]; math.Abs(got-w) > 1e-6*math.Abs(w) {
			t.Errorf("row %d: %v, want %v", i, got, w)
		}
	}
}
