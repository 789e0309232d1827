package features_test

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/features"
	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// pythonPath is Debian's interpreter, the one the reference scorer promises
// to run on with the standard library only.
const pythonPath = "/usr/bin/python3"

var scorerPath = filepath.Join("..", "..", "clients", "python", "idmt_model.py")

// streamRow is one row of the cross-language test stream.
type streamRow struct {
	inst string
	ms   int64
	row  map[string]float64
	line string // the row as a JSON object, as a collector would send it
}

// simulatedStream returns the rows of installations simulated from start
// for dur at interval, with faults, interleaved round-robin as the lake
// delivers them (each installation in time order).
func simulatedStream(t *testing.T, seed uint64, n int, start time.Time, dur, interval time.Duration, faults float64) [][]streamRow {
	t.Helper()
	var out [][]streamRow
	for i := range n {
		inst, err := simulate.NewInstallation(seed+uint64(i), "AERO SLM 3-11")
		if err != nil {
			t.Fatal(err)
		}
		g, err := simulate.NewGenerator(inst, simulate.Config{Start: start, Interval: interval, FaultRate: faults, JSONBools: true})
		if err != nil {
			t.Fatal(err)
		}
		var rows []streamRow
		for _, r := range g.Generate(nil, start.Add(dur)) {
			row := map[string]float64{}
			for j, name := range g.Fields() {
				row[name] = r.Values[j]
			}
			rows = append(rows, streamRow{inst: inst.ID, ms: int64(math.Round(r.Timestamp * 1000)), row: row,
				line: string(simulate.AppendRecordJSON(nil, &r))})
		}
		out = append(out, rows)
	}
	return out
}

// TestPythonStreamAgrees trains models with every feature kind on simulated
// telemetry through the training pipeline (Profile, Choose, Stream, Fit,
// iforest), streams rows of several interleaved installations (with faults,
// missing and null values, booleans, a gap, a repeated timestamp) through
// the Go Stream and the reference Python scorer, and requires the feature
// values and the scores to agree to 1e-9.
func TestPythonStreamAgrees(t *testing.T) {
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("%s not available: %v", pythonPath, err)
	}
	start := simulate.DefaultStart
	train := simulatedStream(t, 100, 3, start, 24*time.Hour, time.Minute, 1)
	prof := features.NewProfile()
	for _, rows := range train {
		for _, r := range rows {
			prof.Add(r.inst, time.UnixMilli(r.ms), r.row)
		}
	}
	feats, err := prof.Choose(features.Options{WithRaw: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, f := range feats {
		kinds[f.Kind] = true
	}
	for _, k := range []string{model.KindRaw, model.KindRate, model.KindEnvelope, model.KindResidual, model.KindJump,
		model.KindStuck, model.KindStale, model.KindChanges, model.KindRollingDiff, model.KindRollingRatio} {
		if !kinds[k] {
			t.Errorf("no %s feature chosen", k)
		}
	}
	s := model.NewStream(feats)
	var sample [][]float64
	for _, rows := range train {
		for _, r := range rows {
			sample = append(sample, s.Vector(nil, r.inst, time.UnixMilli(r.ms), r.row))
		}
	}
	feats = features.Fit(feats, sample)
	prep := model.Document{Features: feats}
	for _, r := range sample {
		prep.Prepare(r)
	}
	x, err := iforest.Dense(sample)
	if err != nil {
		t.Fatal(err)
	}

	// The test stream: three installations, interleaved, with faults.
	test := simulatedStream(t, 200, 3, start.Add(24*time.Hour), 6*time.Hour, time.Minute, 6)
	var stream []streamRow
	for k := 0; ; k++ {
		more := false
		for i := range test {
			if k < len(test[i]) {
				stream = append(stream, test[i][k])
				more = true
			}
		}
		if !more {
			break
		}
	}
	// Damage some rows: a missing field, a null, a gap longer than
	// max_gap (rows dropped), a repeated timestamp.
	var lines bytes.Buffer
	var kept []streamRow
	for i, r := range stream {
		if i >= 300 && i < 360 && r.inst == stream[0].inst {
			continue // a 20-minute gap in the first installation
		}
		switch {
		case i%17 == 0:
			name := feats[i%len(feats)].Field
			if name == "" {
				name = "temp_heat_pump_flow"
			}
			delete(r.row, name)
			r.line = dropKey(r.line, name)
		case i%23 == 0:
			r.row["power_current"] = math.NaN()
			r.line = strings.Replace(r.line, `"power_current": `, `"power_current": null, "_was": `, 1)
		case i == 500:
			r.ms = kept[len(kept)-3].ms // same time as the previous row of its installation
			r.line = replaceTimestamp(r.line, r.ms)
		}
		kept = append(kept, r)
		fmt.Fprintf(&lines, "{\"installation_id\": %q, %s\n", r.inst, r.line[1:])
	}
	dir := t.TempDir()
	rowsPath := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(rowsPath, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, ext := range []int{0, 2} {
		f, err := iforest.Fit(x, iforest.Config{Seed: 9, Trees: 50, ExtensionLevel: ext})
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.Document(feats, "robust", model.Metadata{Seed: 9})
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		// The document reads back to the same bytes.
		if d2, err := model.Unmarshal(b); err != nil {
			t.Fatal(err)
		} else if b2, _ := model.Marshal(d2); !bytes.Equal(b, b2) {
			t.Fatal("document does not round-trip")
		}
		modelPath := filepath.Join(dir, fmt.Sprintf("model-%d.json", ext))
		if err := os.WriteFile(modelPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		st := d.Stream()
		var wantVec [][]float64
		var want []float64
		for _, r := range kept {
			v := st.Vector(nil, r.inst, time.UnixMilli(r.ms), r.row)
			wantVec = append(wantVec, v)
			want = append(want, d.ScoreVector(v))
		}
		t.Run(fmt.Sprintf("ext=%d/features", ext), func(t *testing.T) {
			got := runPython(t, scorerPath, modelPath, rowsPath, "--no-numpy", "--features")
			if len(got) != len(wantVec) {
				t.Fatalf("python printed %d vectors for %d rows", len(got), len(wantVec))
			}
			exact, defined := 0, 0
			for i := range wantVec {
				for j, w := range wantVec[i] {
					g := got[i][j]
					if math.IsNaN(w) != math.IsNaN(g) || !(math.IsNaN(w) || math.Abs(g-w) <= 1e-9*max(1, math.Abs(w))) {
						t.Fatalf("row %d feature %s (%s): python %v, go %v", i, feats[j].Name, feats[j].Kind, g, w)
					}
					if g == w || math.IsNaN(w) {
						exact++
					}
					if !math.IsNaN(w) {
						defined++
					}
				}
			}
			t.Logf("%d of %d feature values bit-identical, %d defined", exact, len(wantVec)*len(feats), defined)
		})
		for _, mode := range []string{"--no-numpy", ""} {
			if mode == "" && exec.Command(pythonPath, "-c", "import numpy").Run() != nil {
				continue
			}
			t.Run(fmt.Sprintf("ext=%d/scores%s", ext, mode), func(t *testing.T) {
				args := []string{scorerPath, modelPath, rowsPath}
				if mode != "" {
					args = append(args, mode)
				}
				got := runPython(t, args...)
				if len(got) != len(want) {
					t.Fatalf("python printed %d scores for %d rows", len(got), len(want))
				}
				for i := range want {
					if !(math.Abs(got[i][0]-want[i]) <= 1e-9) {
						t.Errorf("row %d: python %v, go %v", i, got[i][0], want[i])
					}
				}
			})
		}
	}
}

// dropKey removes `"name": value, ` from a record's JSON text.
func dropKey(line, name string) string {
	i := strings.Index(line, `"`+name+`": `)
	if i < 0 {
		return line
	}
	j := strings.IndexAny(line[i:], ",}")
	if line[i+j] == ',' {
		return line[:i] + line[i+j+2:]
	}
	return strings.TrimSuffix(line[:i], ", ") + "}"
}

// replaceTimestamp sets a record's timestamp to ms.
func replaceTimestamp(line string, ms int64) string {
	i := strings.Index(line, `"timestamp": `) + len(`"timestamp": `)
	j := i + strings.IndexAny(line[i:], ",}")
	return line[:i] + strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64) + line[j:]
}

func runPython(t *testing.T, args ...string) [][]float64 {
	t.Helper()
	cmd := exec.Command(pythonPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var rows [][]float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r []float64
		for _, f := range strings.Fields(sc.Text()) {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Fatalf("python printed %q: %v", f, err)
			}
			r = append(r, v)
		}
		rows = append(rows, r)
	}
	return slices.Clip(rows)
}

// TestPythonRejectsLikeGo checks that the reference scorer accepts the
// document with one feature of every kind and refuses the same broken
// variants of it as model.Unmarshal, with an error rather than a traceback.
func TestPythonRejectsLikeGo(t *testing.T) {
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("%s not available: %v", pythonPath, err)
	}
	good, err := os.ReadFile(filepath.Join("..", "model", "testdata", "kinds.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := [][2]string{
		{"", ""},
		{`"kind": "stuck"`, `"kind": "unchanged"`},
		{`"max_gap": 900, "impute": 0, "center": 0, "scale": 1},
    {"name": "env"`, `"impute": 0, "center": 0, "scale": 1},
    {"name": "env"`},
		{`"lo": [0,-1.5]`, `"lo": [1,-1.5]`},
		{`"lo": [0,-1.5]`, `"lo": [0]`},
		{`"weights": [0,0.5,2,0]`, `"weights": [1,0.5,2,0]`},
		{`"weights": [0,0.5,2,0]`, `"weights": [0,0.5,2]`},
		{`"intercept": [1,-1]`, `"intercept": [1]`},
		{`"norm": [0.1]`, `"norm": [0]`},
		{`"fields": ["f"]`, `"fields": [""]`},
		{`"fields": ["f"]`, `"fields": []`},
		{`"field2": "b"`, `"field2": ""`},
		{`"min_denominator": 0.25`, `"min_denominator": -1`},
		{`"window": 1800`, `"window": 0`},
		{`"smooth": 60`, `"smooth": 0.5`},
		{`"max_gap": 900`, `"max_gap": 1e9`},
	}
	dir := t.TempDir()
	rows := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(rows, []byte(`{"timestamp": 1769904000.5, "a": 1, "b": 2}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		doc := strings.Replace(string(good), tt[0], tt[1], 1)
		if tt[0] != "" && doc == string(good) {
			t.Fatalf("document lacks %q", tt[0])
		}
		p := filepath.Join(dir, "model.json")
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, goErr := model.Unmarshal([]byte(doc))
		cmd := exec.Command(pythonPath, scorerPath, p, rows, "--no-numpy")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		pyErr := cmd.Run()
		if (goErr == nil) != (pyErr == nil) {
			t.Errorf("%s: go: %v; python: %v %s", tt[1], goErr, pyErr, stderr.String())
		}
		if pyErr != nil && !strings.HasPrefix(stderr.String(), "idmt_model: ") {
			t.Errorf("%s: python failed without a clear message: %s", tt[1], stderr.String())
		}
	}
}

// AddValues (the training job's path: the columns of a scan, nulls as NaN)
// profiles exactly like Add (a map per row): the same features come out.
func TestAddValuesMatchesAdd(t *testing.T) {
	start := simulate.DefaultStart
	stream := simulatedStream(t, 7, 3, start, 12*time.Hour, time.Minute, 2)
	names := slices.Sorted(maps.Keys(stream[0][0].row))
	byMap, byValues := features.NewProfile(), features.NewProfile()
	vals := make([]float64, len(names))
	k := 0
	for _, rows := range stream {
		for _, r := range rows {
			row := maps.Clone(r.row)
			for j, n := range names {
				vals[j] = row[n]
				if k++; k%97 == 0 { // a null now and then
					vals[j] = math.NaN()
					delete(row, n)
				}
			}
			byMap.Add(r.inst, time.UnixMilli(r.ms), row)
			byValues.AddValues(r.inst, time.UnixMilli(r.ms), names, vals)
		}
	}
	want, err := byMap.Choose(features.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := byValues.Choose(features.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 5 || !reflect.DeepEqual(got, want) {
		t.Fatalf("AddValues chose\n%+v\nAdd chose\n%+v", got, want)
	}
}
