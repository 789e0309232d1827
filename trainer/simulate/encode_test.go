package simulate

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAppendNumber(t *testing.T) {
	tenth, fifth := 0.1, 0.2 // variables: constant arithmetic would be exact
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {21, "21"}, {-3, "-3"}, {21.3, "21.3"}, {-0.5, "-0.5"}, {tenth + fifth, "0.30000000000000004"},
		{12345.67, "12345.67"}, {0.001, "0.001"}, {0.0001, "0.0001"}, {1e-5, "1e-05"}, {1.5e-7, "1.5e-07"},
		{3276.7, "3276.7"}, {-3276.8, "-3276.8"}, {0.254, "0.254"}, {1e16 + 2, "1.0000000000000002e+16"},
		{123456789012.5, "123456789012.5"}, {math.NaN(), "null"},
	} {
		if got := string(appendNumber(nil, c.v)); got != c.want {
			t.Errorf("appendNumber(%v) = %s, want %s", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v    float64
		want string
	}{
		{1769904000, "1769904000.0"}, {1769904000.123, "1769904000.123"}, {1769904000.12, "1769904000.12"},
		{1769904000.5, "1769904000.5"}, {1769904000.007, "1769904000.007"}, {1769904000.0001, "1769904000.0001"},
	} {
		if got := string(appendTimestamp(nil, c.v)); got != c.want {
			t.Errorf("appendTimestamp(%v) = %s, want %s", c.v, got, c.want)
		}
	}
	// The fast decimal path agrees with the shortest round-trip formatting.
	r := newRNG(1, 1)
	for i := 0; i < 200000; i++ {
		d := r.intn(4)
		v := math.Round(r.uniform(-2e5, 2e5)*pow10[d]) / pow10[d]
		got := string(appendNumber(nil, v))
		want := strconv.FormatFloat(v, 'f', -1, 64)
		if got != want {
			t.Fatalf("appendNumber(%v) = %s, want %s", v, got, want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"AERO SLM 3-11":    `"AERO SLM 3-11"`,
		`a"b\c`:            `"a\"b\\c"`,
		"tab\there\n":      `"tab\there\n"`,
		"\x01\x7f":         `"\u0001\u007f"`,
		"Wärmepumpe":       `"W\u00e4rmepumpe"`,
		"heat \U0001F525!": `"heat \ud83d\udd25!"`,
	} {
		if got := string(appendJSONString(nil, in)); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
}

type payload struct {
	InstallationID string           `json:"installation_id"`
	HeatpumpModel  string           `json:"heatpump_model"`
	Version        string           `json:"version"`
	Data           []map[string]any `json:"data"`
}

func TestBatchJSON(t *testing.T) {
	in := mustFleet(t, 9, 1, 1)[0]
	for _, jsonBools := range []bool{false, true} {
		recs, g := day(t, in, Config{JSONBools: jsonBools, FaultRate: 3})
		batches := Batches(recs, 0)
		if len(batches) != 15 || len(batches[0]) != 200 || len(batches[14]) != 80 {
			t.Fatalf("batches of a day: %d, first %d, last %d", len(batches), len(batches[0]), len(batches[len(batches)-1]))
		}
		s := g.Schema()
		raw := AppendBatchJSON(nil, in, "v1.0.3-12-gabc1234", batches[3])
		var p payload
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.InstallationID != in.ID || p.HeatpumpModel != in.Model || p.Version != "v1.0.3-12-gabc1234" || len(p.Data) != 200 {
			t.Fatalf("payload header %q %q %q, %d records", p.InstallationID, p.HeatpumpModel, p.Version, len(p.Data))
		}
		sawBool := false
		for k, m := range p.Data {
			r := batches[3][k]
			if len(m) != s.Len()+1 {
				t.Fatalf("record %d: %d keys, want %d", k, len(m), s.Len()+1)
			}
			ts := m["timestamp"].(json.Number)
			if !strings.Contains(ts.String(), ".") {
				t.Fatalf("record %d: timestamp %s is not a float", k, ts)
			}
			if f, _ := ts.Float64(); f != r.Timestamp {
				t.Fatalf("record %d: timestamp %v, want %v", k, f, r.Timestamp)
			}
			for i, name := range s.Fields() {
				switch x := m[name].(type) {
				case bool:
					sawBool = true
					if !jsonBools || !s.binary[i] || x != (r.Values[i] == 1) {
						t.Fatalf("record %d: %s = %v", k, name, x)
					}
				case json.Number:
					if s.binary[i] && jsonBools {
						t.Fatalf("record %d: binary %s sent as number %s", k, name, x)
					}
					if s.Kinds()[i] != Analog && strings.ContainsAny(x.String(), ".e") {
						t.Fatalf("record %d: %s = %s is not an integer", k, name, x)
					}
					if f, _ := x.Float64(); f != r.Values[i] {
						t.Fatalf("record %d: %s = %s, want %v", k, name, x, r.Values[i])
					}
				default:
					t.Fatalf("record %d: %s has type %T", k, name, x)
				}
			}
		}
		if sawBool != jsonBools {
			t.Errorf("JSONBools %v: saw true/false %v", jsonBools, sawBool)
		}
		// The batches of a day are about as large as the field reports (8-10 MB
		// for 100-130 fields).
		size := len(encodeDay(recs, in))
		t.Logf("one day, %d fields: %.1f MB of JSON", s.Len(), float64(size)/1e6)
		if size < 5e6 || size > 20e6 {
			t.Errorf("one day is %d bytes", size)
		}
	}
	empty := AppendBatchJSON(nil, Installation{ID: "x", Model: ""}, "unknown", nil)
	if got := string(empty); got != `{"installation_id": "x", "heatpump_model": "", "version": "unknown", "data": []}` {
		t.Errorf("empty batch: %s", got)
	}
}

// TestPythonRoundTrip feeds a payload through Python's json module, as the
// collectors produce it: json.dumps(json.loads(body)) must give the body back
// byte for byte, which pins separators, escaping and number formatting.
func TestPythonRoundTrip(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	in := mustFleet(t, 4, 1, 1)[0]
	in.Model = "AERO SLM 3-11 (Wärme)"
	g := mustGenerator(t, in, Config{Fields: 200, FaultRate: 20, JSONBools: true})
	recs := g.Generate(nil, g.Next().Add(6*time.Hour))
	var body []byte
	for _, b := range Batches(recs, 500) {
		body = AppendBatchJSON(body, in, "v1.0.3-12-gabc1234", b)
		body = append(body, '\n')
	}
	cmd := exec.Command(py, "-c", `import json, sys
for line in sys.stdin:
    sys.stdout.write(json.dumps(json.loads(line)) + "\n")`)
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, body) {
		a, b := string(body), string(out)
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		lo := max(0, i-80)
		t.Fatalf("Python re-encodes differently at byte %d:\nours:   %s\npython: %s", i, a[lo:min(len(a), i+80)], b[lo:min(len(b), i+80)])
	}
}
