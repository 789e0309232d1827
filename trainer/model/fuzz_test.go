package model_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// FuzzUnmarshal checks that Unmarshal never panics and that every document
// it accepts can be written, read back to the same bytes and scored. The seed
// corpus is testdata/*.json plus testdata/fuzz/FuzzUnmarshal.
func FuzzUnmarshal(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := model.Unmarshal(b)
		if err != nil {
			return
		}
		out, err := model.Marshal(d)
		if err != nil {
			t.Fatalf("accepted document does not marshal: %v", err)
		}
		d2, err := model.Unmarshal(out)
		if err != nil {
			t.Fatalf("marshalled document does not unmarshal: %v", err)
		}
		out2, err := model.Marshal(d2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("marshal is not stable: %v", err)
		}
		rows := []map[string]float64{
			{},
			{"temp_outside": 1e308, "power_current": -1e308},
		}
		vec := make([]float64, len(d.Features))
		for i := range vec {
			vec[i] = math.NaN()
		}
		for _, row := range rows {
			if s := d.Score(row); !(s > 0 && s <= 1) {
				t.Fatalf("score %v outside (0, 1]", s)
			}
		}
		if s := d.ScoreVector(vec); !(s > 0 && s <= 1) {
			t.Fatalf("score %v outside (0, 1]", s)
		}
	})
}
