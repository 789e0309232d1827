package model_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

func TestAveragePathLength(t *testing.T) {
	// Expected values computed independently with Python's math.log and
	// γ = 0.5772156649015329.
	tests := []struct {
		n    int
		want float64
	}{
		{0, 0},
		{1, 0},
		{2, 1},
		{3, 1.207392357589623},
		{4, 1.8516559071392855},
		{10, 3.748880484475505},
		{256, 10.244770920119917},
		{1000, 12.969940887100174},
	}
	for _, tt := range tests {
		if got := model.AveragePathLength(tt.n); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("c(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestHeightLimit(t *testing.T) {
	tests := []struct{ psi, want int }{
		{1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 3}, {255, 8}, {256, 8}, {257, 9}, {4096, 12},
	}
	for _, tt := range tests {
		if got := model.HeightLimit(tt.psi); got != tt.want {
			t.Errorf("HeightLimit(%d) = %d, want %d", tt.psi, got, tt.want)
		}
	}
}

// smallDoc is the document of testdata/small.json: two features, two trees,
// scores worked out by hand in TestScoreKnownAnswer.
func smallDoc(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "small.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScoreKnownAnswer(t *testing.T) {
	d, err := model.Unmarshal(smallDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	// Tree 0 splits temp at 0.5 (scaled); left is a leaf of value 1, right
	// splits power at 2 into leaves 2 and 3.5. Tree 1 is one leaf of value
	// 1.5 + c(3). temp is scaled as (v - 10) / 4, power as (v - 1) / 0.5.
	// Expected scores computed by hand in Python: 2 ** (-((h0 + leaf1) / 2) / c4)
	// with the document's c4 = 1.8516559071392855 and leaf1 = 2.707392357589623.
	score := map[float64]float64{1: 0.49961826907896206, 2: 0.4143349902409184, 3.5: 0.31291152630644026}
	tests := []struct {
		name string
		row  map[string]float64
		want float64
	}{
		{"left leaf", map[string]float64{"temp_outside": 10, "power_current": 5}, score[1]},
		{"right then left", map[string]float64{"temp_outside": 14, "power_current": 2}, score[2]},
		{"right then right", map[string]float64{"temp_outside": 14, "power_current": 2.5}, score[3.5]},
		// Exactly on the threshold goes left: (12-10)/4 = 0.5 is not > 0.5.
		{"threshold goes left", map[string]float64{"temp_outside": 12, "power_current": 9}, score[1]},
		// temp missing: imputed 16 -> 1.5 -> right; power NaN: imputed 1 -> 0 -> left.
		{"imputed", map[string]float64{"power_current": math.NaN()}, score[2]},
		{"infinite imputed", map[string]float64{"temp_outside": math.Inf(1), "power_current": 3}, score[3.5]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.Score(tt.row)
			// Math libraries may differ in the last bit of 2^x.
			if math.Abs(got-tt.want) > 1e-15 {
				t.Errorf("Score = %v, want %v", got, tt.want)
			}
			vec := d.FeatureVector(nil, tt.row)
			if sv := d.ScoreVector(vec); sv != got {
				t.Errorf("ScoreVector = %v, Score = %v", sv, got)
			}
			dst := make([]float64, 1)
			if err := d.ScoreVectors(vec, len(vec), dst); err != nil || dst[0] != got {
				t.Errorf("ScoreVectors = %v, %v; Score = %v", dst[0], err, got)
			}
		})
	}
	if d.Offset() != -0.5 || !d.Anomalous(0.6) || d.Anomalous(0.5) {
		t.Errorf("offset %v, threshold semantics wrong", d.Offset())
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	in := smallDoc(t)
	d, err := model.Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := model.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	// testdata/small.json is written in the canonical form, so reading and
	// writing it must give the same bytes.
	if !bytes.Equal(in, out) {
		t.Errorf("round trip changed the document:\n%s", out)
	}
	d2, err := model.Unmarshal(out)
	if err != nil {
		t.Fatal(err)
	}
	out2, _ := model.Marshal(d2)
	if !bytes.Equal(out, out2) {
		t.Error("second round trip changed the bytes")
	}
	if d2.Metadata != d.Metadata {
		t.Errorf("metadata %+v, want %+v", d2.Metadata, d.Metadata)
	}
}

func TestMarshalFloatsRoundTrip(t *testing.T) {
	d, err := model.Unmarshal(smallDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	// Values without a short decimal form must survive exactly.
	awkward := []float64{0.1 + 0.2, math.Nextafter(1, 2), 1e-300, -123456789.123456789, 5e-324, 1e21}
	for _, v := range awkward {
		d.Forest.Trees[0].Threshold[0] = v
		b, err := model.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := model.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := d2.Forest.Trees[0].Threshold[0]; got != v {
			t.Errorf("threshold %v read back as %v", v, got)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good := string(smallDoc(t))
	tests := []struct {
		name    string
		old     string // replaced once in the good document
		new     string
		wantErr error
	}{
		{"not json", `{`, `[`, model.ErrInvalid},
		{"truncated", good[len(good)/2:], "", model.ErrInvalid},
		{"trailing data", "\n}\n", "\n}\n{}", model.ErrInvalid},
		{"wrong format", `"idmt-iforest"`, `"pickle"`, model.ErrUnsupportedVersion},
		{"future version", `"format_version": 1`, `"format_version": 2`, model.ErrUnsupportedVersion},
		{"version as string", `"format_version": 1`, `"format_version": "1"`, model.ErrInvalid},
		{"no features", `"features": [`, `"features": [], "x": [`, model.ErrInvalid},
		{"unknown kind", `"kind": "raw"`, `"kind": "rolling_spread"`, model.ErrUnknownKind},
		{"empty field", `"field": "temp_outside"`, `"field": ""`, model.ErrInvalid},
		{"duplicate name", `"name": "power_current"`, `"name": "temp_outside"`, model.ErrInvalid},
		{"zero scale", `"scale": 4`, `"scale": 0`, model.ErrInvalid},
		{"negative scale", `"scale": 4`, `"scale": -4`, model.ErrInvalid},
		{"missing impute", `"impute": 16, `, ``, model.ErrInvalid},
		{"huge number", `"center": 10`, `"center": 1e999`, model.ErrInvalid},
		{"n_trees mismatch", `"n_trees": 2`, `"n_trees": 3`, model.ErrInvalid},
		{"c mismatch", `"c_sample_size": 1.8516559071392855`, `"c_sample_size": 1.9`, model.ErrInvalid},
		{"unknown split", `"split": "axis"`, `"split": "oblique"`, model.ErrInvalid},
		{"axis with two terms", `"terms": 1`, `"terms": 2`, model.ErrInvalid},
		{"contamination too high", `"contamination": "auto"`, `"contamination": 0.7`, model.ErrInvalid},
		{"contamination word", `"contamination": "auto"`, `"contamination": "some"`, model.ErrInvalid},
		{"threshold above one", `"threshold": 0.5`, `"threshold": 1.5`, model.ErrInvalid},
		{"no trees", `"n_trees": 2`, `"n_trees": 0`, model.ErrInvalid},
		{"child out of range", `"left": [1,-1,3,-1,-1]`, `"left": [1,-1,7,-1,-1]`, model.ErrInvalid},
		{"child before parent", `"left": [1,-1,3,-1,-1]`, `"left": [1,-1,1,-1,-1]`, model.ErrInvalid},
		{"self loop", `"left": [1,-1,3,-1,-1]`, `"left": [0,-1,3,-1,-1]`, model.ErrInvalid},
		{"one child", `"right": [2,-1,4,-1,-1]`, `"right": [-1,-1,4,-1,-1]`, model.ErrInvalid},
		{"feature out of range", `"feature": [0,-1,1,-1,-1]`, `"feature": [0,-1,2,-1,-1]`, model.ErrInvalid},
		{"negative feature", `"feature": [0,-1,1,-1,-1]`, `"feature": [0,-1,-2,-1,-1]`, model.ErrInvalid},
		{"leaf with feature", `"feature": [0,-1,1,-1,-1]`, `"feature": [0,1,1,-1,-1]`, model.ErrInvalid},
		{"short array", `"value": [0,1,0,2,3.5]`, `"value": [0,1,0,2]`, model.ErrInvalid},
		{"negative leaf value", `"value": [0,1,0,2,3.5]`, `"value": [0,-1,0,2,3.5]`, model.ErrInvalid},
		{"internal value", `"value": [0,1,0,2,3.5]`, `"value": [1,1,0,2,3.5]`, model.ErrInvalid},
		{"fractional index", `"left": [1,-1,3,-1,-1]`, `"left": [1.5,-1,3,-1,-1]`, model.ErrInvalid},
		{"too deep", `"height_limit": 2`, `"height_limit": 1`, model.ErrInvalid},
		{"bad time", `"created_at": "2026-02-01T03:00:00Z"`, `"created_at": "yesterday"`, model.ErrInvalid},
		{"negative rows", `"rows": 4000`, `"rows": -1`, model.ErrInvalid},
		{"missing forest", `"forest"`, `"forest_"`, model.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(good, tt.old) {
				t.Fatalf("test document lacks %q", tt.old)
			}
			bad := strings.Replace(good, tt.old, tt.new, 1)
			_, err := model.Unmarshal([]byte(bad))
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, model.ErrInvalid) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestScoreInvalidDocument(t *testing.T) {
	d := &model.Document{Features: []model.Feature{model.Raw("a")}}
	if s := d.Score(map[string]float64{"a": 1}); !math.IsNaN(s) {
		t.Errorf("Score of an invalid document = %v, want NaN", s)
	}
	if err := d.ScoreVectors([]float64{1}, 1, make([]float64, 1)); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("ScoreVectors error %v", err)
	}
	if _, err := model.Marshal(d); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("Marshal error %v", err)
	}
}

func TestScoreVectorsShortInput(t *testing.T) {
	d, err := model.Unmarshal(smallDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ScoreVectors(make([]float64, 5), 2, make([]float64, 3)); !errors.Is(err, model.ErrShortInput) {
		t.Errorf("error %v, want ErrShortInput", err)
	}
	if s := d.ScoreVector([]float64{1}); !math.IsNaN(s) {
		t.Errorf("ScoreVector of a short vector = %v, want NaN", s)
	}
}

func TestUnknownKeysIgnored(t *testing.T) {
	doc := strings.Replace(string(smallDoc(t)), `"scaling": "robust"`, `"scaling": "robust", "comment": {"by": "a later writer"}`, 1)
	if _, err := model.Unmarshal([]byte(doc)); err != nil {
		t.Errorf("unknown key rejected: %v", err)
	}
}

func TestHyperplaneKnownAnswer(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "hyperplane.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := model.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := model.Marshal(d)
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("round trip changed the document (%v):\n%s", err, out)
	}
	if d.Metadata.Seed != math.MaxUint64 || d.Metadata.CreatedAt.Nanosecond() != 123456789 {
		t.Errorf("metadata %+v", d.Metadata)
	}
	// Expected scores: 2 ** (-h / 1.207392357589623) in Python.
	tests := []struct {
		row  map[string]float64
		want float64
	}{
		// temp 14 -> 1, power 1 -> 0: 0.5*1 - 1*0 = 0.5 > 0.25, right leaf.
		{map[string]float64{"temp_outside": 14, "power_current": 1}, 0.3172160416207152},
		// temp 10 -> 0, power 2 -> 2: -2, left leaf.
		{map[string]float64{"temp_outside": 10, "power_current": 2}, 0.5632193547994557},
		// temp 12 -> 0.5, power imputed 1 -> 0: 0.25 is not > 0.25, left.
		{map[string]float64{"temp_outside": 12}, 0.5632193547994557},
	}
	for i, tt := range tests {
		if got := d.Score(tt.row); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("row %d: score %v, want %v", i, got, tt.want)
		}
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	d, err := model.Unmarshal(smallDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	row := map[string]float64{"temp_outside": 3, "power_current": 1.5}
	vec := []float64{3, 1.5}
	if n := testing.AllocsPerRun(100, func() { d.Score(row) }); n != 0 {
		t.Errorf("Score allocates %v times per row", n)
	}
	if n := testing.AllocsPerRun(100, func() { d.ScoreVector(vec) }); n != 0 {
		t.Errorf("ScoreVector allocates %v times per row", n)
	}
}
