package iforest

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// pythonPath is Debian's interpreter, the one the reference scorer promises
// to run on with the standard library only.
const pythonPath = "/usr/bin/python3"

var scorerPath = filepath.Join("..", "..", "clients", "python", "idmt_model.py")

// telemetryFields are raw fields as IDM collectors name them.
var telemetryFields = []string{
	"temp_outside", "temp_heat_pump_flow", "temp_heat_pump_return",
	"power_current", "state_compressor_1", "humidity",
}

// telemetryRow returns a plausible raw row; anomalous rows break one
// relation or one range.
func telemetryRow(r *rand.Rand, anomalous bool) []float64 {
	out := r.NormFloat64()*6 + 5
	flow := 35 - 0.5*out + r.NormFloat64()
	ret := flow - 5 + r.NormFloat64()*0.5
	power := math.Abs(r.NormFloat64()*0.5 + 1.5)
	comp := float64(r.IntN(2))
	hum := r.NormFloat64()*10 + 70
	if anomalous {
		switch r.IntN(3) {
		case 0:
			ret = flow + 8 // return above flow
		case 1:
			power = 9
		default:
			out = -60 // out-of-range sensor
		}
	}
	return []float64{out, flow, ret, power, comp, hum}
}

// TestPythonScorerAgrees fits forests on generated telemetry, writes each
// model document and a set of raw rows to a temporary directory, scores the
// rows with the reference Python scorer and requires the Go scores to agree
// to 1e-9 on every row.
func TestPythonScorerAgrees(t *testing.T) {
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("%s not available: %v", pythonPath, err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	const n = 3000
	x := Matrix{Data: make([]float64, 0, n*len(telemetryFields)), Rows: n, Cols: len(telemetryFields)}
	for range n {
		x.Data = append(x.Data, telemetryRow(r, false)...)
	}
	center, scale := RobustScaling(x)
	scaled := Matrix{Data: make([]float64, len(x.Data)), Rows: x.Rows, Cols: x.Cols}
	for i, v := range x.Data {
		j := i % x.Cols
		scaled.Data[i] = (v - center[j]) / scale[j]
	}
	features := make([]model.Feature, len(telemetryFields))
	for j, name := range telemetryFields {
		features[j] = model.Feature{Name: name, Kind: model.KindRaw, Field: name,
			Impute: center[j], Center: center[j], Scale: scale[j]}
	}

	// Rows to score: normal, anomalous, and rows with missing, null, boolean
	// and extreme values, written as JSON Lines; the Go side reads the same
	// values into maps (null as NaN, booleans as 0 and 1).
	var (
		lines bytes.Buffer
		rows  []map[string]float64
	)
	for i := range 600 {
		vals := telemetryRow(r, i%5 == 0)
		row := map[string]float64{}
		var parts []string
		for j, name := range telemetryFields {
			v := vals[j]
			text := strconv.FormatFloat(v, 'g', -1, 64)
			switch {
			case i%7 == 0 && j == 1:
				continue // missing
			case i%11 == 0 && j == 3:
				text, v = "null", math.NaN()
			case name == "state_compressor_1" && i%3 == 0:
				text = strconv.FormatBool(v == 1)
			case i%13 == 0 && j == 5:
				text, v = "1e300", 1e300
			}
			row[name] = v
			parts = append(parts, strconv.Quote(name)+": "+text)
		}
		rows = append(rows, row)
		lines.WriteString("{" + strings.Join(parts, ", ") + "}\n")
	}
	dir := t.TempDir()
	rowsPath := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(rowsPath, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, ext := range []int{0, 2} {
		f := fit(t, scaled, Config{Seed: 77, ExtensionLevel: ext, Contamination: 0.05})
		d, err := f.Document(features, "robust", meta(77))
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		modelPath := filepath.Join(dir, fmt.Sprintf("model-%d.json", ext))
		if err := os.WriteFile(modelPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, len(rows))
		for i, row := range rows {
			want[i] = d.Score(row)
		}
		// The standard-library path is the reference; the NumPy path is
		// checked too where NumPy is installed.
		modes := []struct{ name, flag string }{{"stdlib", "--no-numpy"}}
		if exec.Command(pythonPath, "-c", "import numpy").Run() == nil {
			modes = append(modes, struct{ name, flag string }{"numpy", ""})
		}
		for _, mode := range modes {
			t.Run(fmt.Sprintf("ext=%d/%s", ext, mode.name), func(t *testing.T) {
				args := []string{scorerPath, modelPath, rowsPath}
				if mode.flag != "" {
					args = append(args, mode.flag)
				}
				got := runPython(t, args)
				if len(got) != len(want) {
					t.Fatalf("python printed %d scores for %d rows", len(got), len(want))
				}
				exact, worst := 0, 0.0
				for i := range want {
					diff := math.Abs(got[i] - want[i])
					if !(diff <= 1e-9) {
						t.Errorf("row %d: python %v, go %v", i, got[i], want[i])
					}
					worst = max(worst, diff)
					if got[i] == want[i] {
						exact++
					}
				}
				t.Logf("%d of %d scores bit-identical, largest difference %g", exact, len(want), worst)
			})
		}
	}
}

func runPython(t *testing.T, args []string) []float64 {
	t.Helper()
	cmd := exec.Command(pythonPath, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var scores []float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		v, err := strconv.ParseFloat(sc.Text(), 64)
		if err != nil {
			t.Fatalf("python printed %q: %v", sc.Text(), err)
		}
		scores = append(scores, v)
	}
	return scores
}

// TestPythonScorerRejects checks that the reference scorer refuses the same
// kinds of corrupt documents as model.Unmarshal, with an error rather than a
// traceback.
func TestPythonScorerRejects(t *testing.T) {
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("%s not available: %v", pythonPath, err)
	}
	good, err := os.ReadFile(filepath.Join("..", "model", "testdata", "small.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, old, new string }{
		{"valid", "", ""},
		{"future version", `"format_version": 1`, `"format_version": 2`},
		{"unknown kind", `"kind": "raw"`, `"kind": "rolling_spread"`},
		{"cycle", `"left": [1,-1,3,-1,-1]`, `"left": [1,-1,0,-1,-1]`},
		{"two parents", `"right": [2,-1,4,-1,-1]`, `"right": [2,-1,3,-1,-1]`},
		{"feature out of range", `"feature": [0,-1,1,-1,-1]`, `"feature": [0,-1,2,-1,-1]`},
		{"too deep", `"height_limit": 2`, `"height_limit": 1`},
		{"c mismatch", `"c_sample_size": 1.8516559071392855`, `"c_sample_size": 1.9`},
		{"not json", `{`, `[`},
	}
	dir := t.TempDir()
	rows := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(rows, []byte(`{"temp_outside": 1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(string(good), tt.old, tt.new, 1)
			if tt.old != "" && doc == string(good) {
				t.Fatalf("document lacks %q", tt.old)
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
				t.Fatalf("go: %v; python: %v %s", goErr, pyErr, stderr.String())
			}
			if pyErr != nil && !strings.HasPrefix(stderr.String(), "idmt_model: ") {
				t.Errorf("python failed without a clear message: %s", stderr.String())
			}
		})
	}
}
