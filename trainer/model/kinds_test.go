package model_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// step is one row of a known-answer stream.
type step struct {
	sec  float64
	row  map[string]float64
	want float64
}

func runSteps(t *testing.T, f model.Feature, steps []step) {
	t.Helper()
	s := model.NewStream([]model.Feature{f})
	for i, st := range steps {
		ts := t0.Add(time.Duration(st.sec * float64(time.Second)))
		got := s.Vector(nil, "a", ts, st.row)[0]
		if !same(got, st.want) && !(math.Abs(got-st.want) <= 1e-12) {
			t.Errorf("%s step %d: %v, want %v", f.Kind, i, got, st.want)
		}
	}
}

type row = map[string]float64

func TestKindKnownAnswers(t *testing.T) {
	nan := math.NaN()
	t.Run("envelope", func(t *testing.T) {
		f := model.Feature{Kind: model.KindEnvelope, Fields: []string{"a", "b"}, Lo: []float64{0, 10}, Hi: []float64{1, 20}, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"a": 2, "b": 15}, 1},    // a is 1 above hi, relative to 1
			{1, row{"b": 25}, 0.5},          // b is 5 above, relative to 10
			{2, row{"a": -0.5, "b": 0}, 1},  // both below: 0.5 and 1
			{3, row{"a": 0.5, "b": 12}, 0},  // inside
			{4, row{"c": 1}, nan},           // no field
			{5, row{"a": math.Inf(1)}, nan}, // not finite counts as missing
		})
	})
	t.Run("residual", func(t *testing.T) {
		// a and b predict each other one to one.
		f := model.Feature{Kind: model.KindResidual, Fields: []string{"a", "b"}, Weights: []float64{0, 1, 1, 0},
			Intercept: []float64{0, 0}, Norm: []float64{1, 4}, Smooth: 3, MaxGap: 60, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"a": 0, "b": 0}, 0},
			{30, row{"a": 4, "b": 0}, 2},    // averages 2 and 0 (weight 0.5)
			{60, row{"a": 4, "b": 0}, 3},    // averages 3 and 0
			{70, row{"a": 4}, nan},          // b missing: a's average moves on to 3.5
			{80, row{"a": 4, "b": 4}, 1.75}, // averages 3.75 and 2
			{200, row{"a": 1, "b": 9}, 8},   // after a gap both restart at the value
		})
	})
	t.Run("rate", func(t *testing.T) {
		f := model.Feature{Kind: model.KindRate, Field: "e", MaxGap: 60, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"e": 1}, nan},
			{30, row{"e": 1.5}, 60}, // 0.5 in 30 s
			{60, row{"e": 1}, nan},  // reset
			{200, row{"e": 2}, nan}, // gap
		})
	})
	t.Run("jump", func(t *testing.T) {
		f := model.Feature{Kind: model.KindJump, Fields: []string{"a", "b"}, Norm: []float64{1, 2}, MaxGap: 60, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"a": 0, "b": 0}, nan},
			{10, row{"a": 5, "b": 2}, 4},    // relative changes 5 and 1
			{20, row{"a": 5, "b": 2}, 0},    // no change
			{30, row{"a": 7}, 2},            // one field: nothing to subtract
			{40, row{"a": 8, "b": 4}, 0},    // 1 and 1
			{200, row{"a": 0, "b": 0}, nan}, // gap
		})
	})
	t.Run("stuck", func(t *testing.T) {
		f := model.Feature{Kind: model.KindStuck, Fields: []string{"a", "b"}, Norm: []float64{10, 100}, MaxGap: 60, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"a": 1, "b": 1}, 0},
			{10, row{"a": 1, "b": 1}, 1},   // a: 10 s of 10, b: 10 of 100
			{20, row{"a": 1, "b": 2}, 2},   // a: 20 s
			{30, row{"a": 2, "b": 2}, 0.1}, // b: 10 s of 100
			{100, row{"a": 2, "b": 2}, 0},  // a gap restarts both runs
		})
	})
	t.Run("stale", func(t *testing.T) {
		f := model.Feature{Kind: model.KindStale, Fields: []string{"a", "b", "c"}, Norm: []float64{1, 2, 1}, MaxGap: 60, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"a": 1, "b": 1, "c": 1}, 0},
			{10, row{"a": 1, "b": 2, "c": 2}, 2},  // b and c change: a saw 2 changes
			{20, row{"a": 1, "b": 3, "c": 2}, 3},  // b changes: a saw 3, c 1
			{30, row{"a": 2, "b": 3}, 0.5},        // a changes; b saw 1 of 2; c missing
			{40, row{"c": 2}, 2},                  // c unchanged since 10 s: a and b changed since
			{45, row{"x": 1}, nan},                // no field
			{200, row{"a": 2, "b": 3, "c": 2}, 0}, // a gap restarts every run, and counts no change
		})
	})
	t.Run("changes", func(t *testing.T) {
		f := model.Feature{Kind: model.KindChanges, Fields: []string{"s", "m"}, Norm: []float64{2, 1}, Window: 60, MaxGap: 60, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"s": 0, "m": 0}, 0},
			{10, row{"s": 1, "m": 0}, 0.5},
			{20, row{"s": 0, "m": 0}, 1},
			{30, row{"s": 0, "m": 3}, 1},    // m: 1 change of 1
			{75, row{"s": 1, "m": 3}, 1},    // s's change at 10 s left the window; 20 and 75 remain
			{91, row{"x": 1}, nan},          // no field; the changes at 20 and 30 s leave
			{100, row{"s": 1, "m": 3}, 0.5}, // only s at 75 s
		})
	})
	t.Run("rolling_diff", func(t *testing.T) {
		f := model.Feature{Kind: model.KindRollingDiff, Field: "a", Field2: "b", Window: 60, MaxGap: 45, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"a": 10, "b": 5}, 5},
			{30, row{"a": 12, "b": 4}, 6.5},
			{60, row{"a": 20, "b": 10}, 9}, // the row at 0 s leaves: (8+10)/2
			{70, row{"a": 20}, nan},        // missing operand
			{200, row{"a": 1, "b": 1}, 0},  // a gap starts afresh
		})
	})
	t.Run("rolling_ratio", func(t *testing.T) {
		f := model.Feature{Kind: model.KindRollingRatio, Field: "t", Field2: "e", MinDenominator: 1, Window: 60, MaxGap: 45, Scale: 1}
		runSteps(t, f, []step{
			{0, row{"t": 6, "e": 2}, 3},
			{30, row{"t": 0, "e": 0}, 3},     // 6/2 over two rows, mean e 1 >= 1
			{60, row{"t": 0, "e": 0.5}, nan}, // mean e 0.25 < 1
		})
	})
}

// allKinds returns one feature of every kind.
func allKinds() []model.Feature {
	return []model.Feature{
		{Name: "t", Kind: model.KindRaw, Field: "temp_outside", Impute: 1, Center: 2, Scale: 3},
		{Name: "e", Kind: model.KindRate, Field: "energy_heat_total", MaxGap: 900, Scale: 1},
		{Name: "env", Kind: model.KindEnvelope, Fields: []string{"a", "b"}, Lo: []float64{0, -1.5}, Hi: []float64{1, 2}, Scale: 1},
		{Name: "res", Kind: model.KindResidual, Fields: []string{"a", "b"}, Weights: []float64{0, 0.5, 2, 0},
			Intercept: []float64{1, -1}, Norm: []float64{0.25, 3}, Smooth: 60, MaxGap: 900, Scale: 1},
		{Name: "j", Kind: model.KindJump, Fields: []string{"a"}, Norm: []float64{0.1}, MaxGap: 900, Scale: 1},
		{Name: "s", Kind: model.KindStuck, Fields: []string{"a", "b"}, Norm: []float64{600, 700}, MaxGap: 900, Scale: 1},
		{Name: "c", Kind: model.KindChanges, Fields: []string{"f"}, Norm: []float64{2}, Window: 1800, MaxGap: 900, Scale: 1},
		{Name: "d", Kind: model.KindRollingDiff, Field: "a", Field2: "b", Window: 600, MaxGap: 900, Scale: 1},
		{Name: "r", Kind: model.KindRollingRatio, Field: "a", Field2: "b", MinDenominator: 0.25, Window: 600, MaxGap: 900, Scale: 1},
		{Name: "st", Kind: model.KindStale, Fields: []string{"a", "b"}, Norm: []float64{20, 30}, MaxGap: 900, Scale: 1},
	}
}

func TestAllKindsRoundTrip(t *testing.T) {
	d, err := model.Unmarshal(smallDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	d.Features = allKinds()
	b, err := model.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := model.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d2.Features, d.Features) {
		t.Errorf("features read back as\n%+v", d2.Features)
	}
	if b2, _ := model.Marshal(d2); !bytes.Equal(b, b2) {
		t.Error("second round trip changed the bytes")
	}
	if !d2.Temporal() {
		t.Error("not temporal")
	}
	// Each kind's keys are required.
	doc := string(b)
	for _, key := range []string{`"field": "temp_outside", `, `"max_gap": 900, `, `"lo": [0,-1.5], `, `"weights": [0,0.5,2,0], `,
		`"intercept": [1,-1], `, `"norm": [0.1], `, `"smooth": 60, `, `"window": 1800, `, `"field2": "b", `, `"min_denominator": 0.25, `} {
		if !strings.Contains(doc, key) {
			t.Fatalf("document lacks %s:\n%s", key, doc)
		}
		if _, err := model.Unmarshal([]byte(strings.Replace(doc, key, "", 1))); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("accepted without %s: %v", key, err)
		}
	}
	for _, bad := range [][2]string{
		{`"lo": [0,-1.5]`, `"lo": [1,-1.5]`},                 // lo not below hi
		{`"weights": [0,0.5,2,0]`, `"weights": [1,0.5,2,0]`}, // diagonal weight
		{`"weights": [0,0.5,2,0]`, `"weights": [0,0.5,2]`},   // too few
		{`"norm": [0.1]`, `"norm": [0]`},                     // zero norm
		{`"fields": ["f"]`, `"fields": [""]`},                // empty field name
		{`"min_denominator": 0.25`, `"min_denominator": -1`}, // negative guard
		{`"window": 1800`, `"window": 0`},                    // empty window
		{`"smooth": 60`, `"smooth": 0.5`},                    // not an integer
	} {
		if _, err := model.Unmarshal([]byte(strings.Replace(doc, bad[0], bad[1], 1))); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("accepted %s: %v", bad[1], err)
		}
	}
}

// TestKindsDocument checks testdata/kinds.json, a document with one feature
// of every kind (also a seed of FuzzUnmarshal), against allKinds.
func TestKindsDocument(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "kinds.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := model.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Features, allKinds()) {
		t.Errorf("features %+v", d.Features)
	}
	if out, _ := model.Marshal(d); !bytes.Equal(out, b) {
		t.Errorf("round trip changed the document:\n%s", out)
	}
}
