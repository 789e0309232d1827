package model_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

var t0 = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

func same(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func TestStreamRate(t *testing.T) {
	f := model.Feature{Name: "e_rate", Kind: model.KindRate, Field: "e", MaxGap: 600, Scale: 1}
	s := model.NewStream([]model.Feature{f, model.Raw("e")})
	nan := math.NaN()
	steps := []struct {
		inst string
		sec  float64
		row  map[string]float64
		want float64
	}{
		{"a", 0, map[string]float64{"e": 10}, nan},        // no previous value
		{"a", 30, map[string]float64{"e": 10.05}, 6},      // 0.05 kWh in 30 s = 6 kW
		{"b", 30, map[string]float64{"e": 500}, nan},      // another installation
		{"a", 60, map[string]float64{}, nan},              // missing
		{"a", 90, map[string]float64{"e": 10.15}, 6},      // previous value 60 s back
		{"a", 90, map[string]float64{"e": 10.2}, nan},     // same time
		{"a", 120, map[string]float64{"e": 1}, nan},       // counter reset
		{"a", 120 + 601, map[string]float64{"e": 2}, nan}, // gap over max_gap
		{"a", 120 + 601 + 0.5, map[string]float64{"e": 2.5}, 3600},
		{"b", 60, map[string]float64{"e": 500.1}, 0.1 * 3600000 / 30000},
		{"a", 1000, map[string]float64{"e": math.Inf(1)}, nan}, // not finite: ignored
		{"a", 1001, map[string]float64{"e": 2.5}, 0},
	}
	for i, st := range steps {
		ts := t0.Add(time.Duration(st.sec * float64(time.Second)))
		got := s.Vector(nil, st.inst, ts, st.row)
		if !same(got[0], st.want) && !(math.Abs(got[0]-st.want) <= 1e-9) {
			t.Errorf("step %d: rate %v, want %v", i, got[0], st.want)
		}
		if raw, ok := st.row["e"]; ok && !same(got[1], raw) {
			t.Errorf("step %d: raw %v, want %v", i, got[1], raw)
		}
	}
	if s.Installations() != 2 {
		t.Errorf("%d installations", s.Installations())
	}
	s.Forget("a")
	if s.Installations() != 1 {
		t.Errorf("%d installations after Forget", s.Installations())
	}
}

// TestStreamRawMatchesFeatureVector checks that a Stream computes raw
// features exactly as the stateless path does.
func TestStreamRawMatchesFeatureVector(t *testing.T) {
	d, err := model.Unmarshal(smallDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]float64{"temp_outside": 3.5}
	a := d.FeatureVector(nil, row)
	b := d.Stream().Vector(nil, "x", t0, row)
	for i := range a {
		if !same(a[i], b[i]) {
			t.Errorf("feature %d: %v vs %v", i, a[i], b[i])
		}
	}
	if d.Temporal() {
		t.Error("raw document reported temporal")
	}
}

func TestTemporalFeatureRoundTrip(t *testing.T) {
	good := string(smallDoc(t))
	doc := strings.Replace(good,
		`{"name": "power_current", "kind": "raw", "field": "power_current",`,
		`{"name": "energy_rate", "kind": "rate", "field": "energy_heat_total", "max_gap": 900,`, 1)
	d, err := model.Unmarshal([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Temporal() || d.Features[1].MaxGap != 900 {
		t.Fatalf("features %+v", d.Features)
	}
	out, err := model.Marshal(d)
	if err != nil || !bytes.Equal(out, []byte(doc)) {
		t.Fatalf("round trip changed the document (%v):\n%s", err, out)
	}
	// The stateless path imputes temporal features.
	if got, want := d.FeatureVector(nil, map[string]float64{"energy_heat_total": 5})[1], math.NaN(); !same(got, want) {
		t.Errorf("stateless rate %v", got)
	}
	// max_gap on a raw feature is not part of it and is dropped.
	withGap := strings.Replace(good, `"field": "temp_outside",`, `"field": "temp_outside", "max_gap": 5,`, 1)
	d2, err := model.Unmarshal([]byte(withGap))
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := model.Marshal(d2); !bytes.Equal(out, []byte(good)) {
		t.Errorf("max_gap kept on a raw feature:\n%s", out)
	}
	for _, bad := range []string{
		strings.Replace(doc, `"max_gap": 900`, `"max_gap": 0`, 1),
		strings.Replace(doc, `"max_gap": 900`, `"max_gap": 1.5`, 1),
		strings.Replace(doc, `, "max_gap": 900`, ``, 1),
		strings.Replace(doc, `"field": "energy_heat_total"`, `"field": ""`, 1),
	} {
		if _, err := model.Unmarshal([]byte(bad)); !errors.Is(err, model.ErrInvalid) {
			t.Errorf("accepted %s: %v", bad[200:400], err)
		}
	}
}

// VectorValues computes exactly what Vector computes for the same rows:
// every kind, fields missing from the layout or null (NaN) in a row,
// non-finite values, two installations interleaved, and the layout
// changing between rows.
func TestVectorValuesMatchesVector(t *testing.T) {
	feats := allKinds()
	byMap, byValues := model.NewStream(feats), model.NewStream(feats)
	layouts := [][]string{
		{"a", "b", "energy_heat_total", "f", "temp_outside"},
		{"temp_outside", "b", "a", "unrelated"}, // no counter, no f
	}
	rng := rand.New(rand.NewPCG(1, 2))
	numbers := make([]int, len(feats)) // rows where a feature is a number
	var vals []float64
	var got, want []float64
	for k := range 2000 {
		names := layouts[(k/300)%len(layouts)]
		vals = vals[:0]
		row := map[string]float64{}
		for _, n := range names {
			var v float64
			switch x := rng.Float64(); {
			case x < 0.1:
				v = math.NaN() // null
			case x < 0.12:
				v = math.Inf(1)
			case x < 0.5:
				v = float64(rng.IntN(3)) // repeats, for stuck, stale and changes
			default:
				v = math.Round(rng.NormFloat64()*100) / 10
			}
			vals = append(vals, v)
			if v == v {
				row[n] = v
			}
		}
		inst := []string{"x", "y"}[rng.IntN(2)]
		ts := t0.Add(time.Duration(k) * 20 * time.Second)
		want = byMap.Vector(want[:0], inst, ts, row)
		got = byValues.VectorValues(got[:0], inst, ts, names, vals)
		for i := range want {
			if !same(got[i], want[i]) && !(math.IsInf(got[i], 0) && got[i] == want[i]) {
				t.Fatalf("row %d, feature %s: VectorValues %v, Vector %v", k, feats[i].Name, got[i], want[i])
			}
			if !math.IsNaN(want[i]) {
				numbers[i]++
			}
		}
	}
	for i, n := range numbers {
		if n < 100 {
			t.Errorf("feature %s is a number in only %d rows: the test does not exercise it", feats[i].Name, n)
		}
	}
}
