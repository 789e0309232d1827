package iforest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGoldenDocument pins the bytes of a small model: a change to sampling,
// the random streams, the splits or the encoding changes every published
// model hash, so it must be deliberate. Run with -update to accept one.
func TestGoldenDocument(t *testing.T) {
	for _, tc := range []struct {
		file string
		cfg  Config
	}{
		{"golden_axis.json", Config{Trees: 4, SampleSize: 16, Seed: 2026}},
		{"golden_hyperplane.json", Config{Trees: 2, SampleSize: 8, Seed: 2026, ExtensionLevel: 1}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := docBytes(t, fit(t, blob(100, 3, 12), tc.cfg), tc.cfg.Seed)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("document differs from %s (run with -update if the change is intended):\n%s", path, got)
			}
		})
	}
}
