package publish

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// pythonPath is Debian's interpreter, the one collectors run on.
const pythonPath = "/usr/bin/python3"

func TestPythonJSON(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"metadata", map[string]any{"timestamp": int64(1769918400), "filename": "AERO_SLM_3-11.model", "size_original": int64(183422)},
			`{"filename": "AERO_SLM_3-11.model", "size_original": 183422, "timestamp": 1769918400}`},
		{"empty object", map[string]any{}, `{}`},
		{"list", []any{1, "a", nil, true, false}, `[1, "a", null, true, false]`},
		{"nested sorted", map[string]any{"b": map[string]any{"z": 1, "a": []any{}}, "a": 0}, `{"a": 0, "b": {"a": [], "z": 1}}`},
		{"escapes", "q\"b\\s/\b\f\n\r\t\x00\x1f\x7f", `"q\"b\\s/\b\f\n\r\t\u0000\u001f\u007f"`},
		{"non-ascii", "Wärmepumpe €", `"W\u00e4rmepumpe \u20ac"`},
		{"astral", "🔥", `"\ud83d\udd25"`},
		{"big integer", json.Number("123456789012345678901234567890"), `123456789012345678901234567890`},
		{"negative", json.Number("-7"), `-7`},
		{"uppercase key sorts first", map[string]any{"a": 1, "B": 2, "_": 3}, `{"B": 2, "_": 3, "a": 1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pythonJSON(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	for _, bad := range []any{1.5, json.Number("1.0"), json.Number("1e3"), "\xff", map[string]any{"x": float32(1)}} {
		if _, err := pythonJSON(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("pythonJSON(%#v) = %v, want ErrMalformed", bad, err)
		}
	}
}

// TestPythonJSONMatchesPython prints random values with pythonJSON and
// with python3's json.dumps(v, sort_keys=True) and requires equal bytes.
func TestPythonJSONMatchesPython(t *testing.T) {
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("%s not available: %v", pythonPath, err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09_-. ()\"\\/\b\f\n\r\t\x00\x01\x1f\x7f\u0080äöüß€\u2028\ufeff\U0001F525\U00010000\U0010FFFF")
	str := func() string {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	var value func(depth int) any
	value = func(depth int) any {
		switch k := r.IntN(8); {
		case k == 0 && depth < 3:
			m := map[string]any{}
			for range r.IntN(5) {
				m[str()] = value(depth + 1)
			}
			return m
		case k == 1 && depth < 3:
			l := []any{}
			for range r.IntN(4) {
				l = append(l, value(depth+1))
			}
			return l
		case k == 2:
			return r.Int64() - r.Int64()
		case k == 3:
			return r.IntN(2) == 0
		case k == 4:
			return nil
		default:
			return str()
		}
	}
	var in bytes.Buffer
	var want []string
	for range 300 {
		v := map[string]any{"v": value(0), "filename": str() + ".model", "timestamp": r.Int64N(1 << 40), "size_original": r.Int64N(1 << 30)}
		line, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(line)
		in.WriteByte('\n')
		got, err := pythonJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, string(got))
	}
	cmd := exec.Command(pythonPath, "-c", `
import json, sys
for line in sys.stdin.buffer:
    sys.stdout.write(json.dumps(json.loads(line), sort_keys=True) + "\n")
`)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("python printed %d lines for %d values", len(lines), len(want))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("value %d:\npython %s\ngo     %s", i, lines[i], want[i])
		}
	}
}
