package publish

import (
	"bufio"
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	verifierPath = filepath.Join("..", "clients", "python", "verify_envelope.py")
	scorerPath   = filepath.Join("..", "clients", "python", "idmt_model.py")
)

// needPythonCrypto skips without Debian's python3 (as the trainer's
// Python tests do) and fails without python3-cryptography: CI installs
// it, and the collector check must not pass silently.
func needPythonCrypto(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(pythonPath); err != nil {
		t.Skipf("%s not available: %v", pythonPath, err)
	}
	if out, err := exec.Command(pythonPath, "-c", "import cryptography.fernet, cryptography.hazmat.primitives.asymmetric.ed25519").CombinedOutput(); err != nil {
		t.Fatalf("python3-cryptography is missing (%v: %s); install it with: apt-get install python3-cryptography", err, bytes.TrimSpace(out))
	}
}

// runVerifier runs verify_envelope.py with the Fernet key in the
// environment (as a collector's service would) and returns its exit code
// and standard error.
func runVerifier(t *testing.T, key string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(pythonPath, append([]string{verifierPath}, args...)...)
	cmd.Env = append(os.Environ(), EnvFernetKey+"="+key)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), stderr.String()
		}
		t.Fatalf("run verifier: %v", err)
	}
	return 0, stderr.String()
}

// TestPythonCollector downloads a trained model over HTTPS as a collector
// does, verifies and decrypts it with verify_envelope.py on Debian's
// python3 and python3-cryptography, scores rows with idmt_model.py and
// requires the Go scorer's numbers to 1e-9. Envelope 3.0 is verified with
// the public key the server publishes.
func TestPythonCollector(t *testing.T) {
	needPythonCrypto(t)
	d, doc := trainedDoc(t, 30)
	h := newHarness(t, memStore(t).open(), testKeys(t), newClock(time.Now().Add(-time.Minute)))
	h.publish(t, "AERO_SLM_3-11", doc)
	dir := t.TempDir()
	key := h.keys.current.text

	resp, pemBytes := h.get(t, "/api/v1/model/pubkey")
	if resp.StatusCode != 200 {
		t.Fatalf("pubkey %d", resp.StatusCode)
	}
	pubPath := filepath.Join(dir, "pubkey.pem")
	if err := os.WriteFile(pubPath, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	// Rows to score: normal ones, one with a missing field, one with a
	// null, one far out.
	r := rand.New(rand.NewPCG(3, 4))
	var lines bytes.Buffer
	var rows []map[string]float64
	for i := range 20 {
		vals := telemetryRow(r)
		row := map[string]float64{}
		var parts []string
		for j, name := range telemetryFields {
			v, text := vals[j], strconv.FormatFloat(vals[j], 'g', -1, 64)
			switch {
			case i == 3 && j == 1:
				continue
			case i == 4 && j == 2:
				v, text = math.NaN(), "null"
			case i == 5 && j == 0:
				v, text = -60, "-60"
			}
			row[name] = v
			parts = append(parts, strconv.Quote(name)+": "+text)
		}
		rows = append(rows, row)
		lines.WriteString("{" + strings.Join(parts, ", ") + "}\n")
	}
	rowsPath := filepath.Join(dir, "rows.jsonl")
	if err := os.WriteFile(rowsPath, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, query string
		extra       []string
	}{
		{"v2", "", nil},
		{"v3", "&format=3", []string{"--pubkey", pubPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, env := h.get(t, "/api/v1/model/download?installation_id="+eligibleID+"&model=AERO+SLM+3-11"+tc.query,
				"Authorization", "Bearer "+testToken)
			if resp.StatusCode != 200 {
				t.Fatalf("download %d", resp.StatusCode)
			}
			envPath := filepath.Join(dir, tc.name+".enc")
			if err := os.WriteFile(envPath, env, 0o644); err != nil {
				t.Fatal(err)
			}
			modelPath := filepath.Join(dir, tc.name+"-model.json")
			args := append([]string{envPath, "--out", modelPath, "--expected-hash", resp.Header.Get("X-Model-Hash")}, tc.extra...)
			if code, stderr := runVerifier(t, key, args...); code != 0 {
				t.Fatalf("verify_envelope.py exit %d: %s", code, stderr)
			}
			plain, err := os.ReadFile(modelPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(plain, doc) {
				t.Fatal("python decrypted another document")
			}
			got := pythonScores(t, modelPath, rowsPath)
			if len(got) != len(rows) {
				t.Fatalf("python printed %d scores for %d rows", len(got), len(rows))
			}
			for i, row := range rows {
				if want := d.Score(row); !(math.Abs(got[i]-want) <= 1e-9) {
					t.Errorf("row %d: python %v, go %v", i, got[i], want)
				}
			}
		})
	}
}

func pythonScores(t *testing.T, modelPath, rowsPath string) []float64 {
	t.Helper()
	cmd := exec.Command(pythonPath, scorerPath, modelPath, rowsPath, "--no-numpy")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("idmt_model.py: %v\n%s", err, stderr.String())
	}
	var scores []float64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		v, err := strconv.ParseFloat(sc.Text(), 64)
		if err != nil {
			t.Fatalf("idmt_model.py printed %q", sc.Text())
		}
		scores = append(scores, v)
	}
	return scores
}

// TestPythonCollectorRejects: what verify_envelope.py must refuse, and a
// rotation it must accept.
func TestPythonCollectorRejects(t *testing.T) {
	needPythonCrypto(t)
	keys := testKeys(t)
	doc := smallDoc(t, 42)
	at := time.Now().Add(-time.Hour)
	v2, err := Seal(keys, V2, "community", doc, at)
	if err != nil {
		t.Fatal(err)
	}
	v3, err := Seal(keys, V3, "community", doc, at)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2Path, v3Path := write("v2.enc", v2), write("v3.enc", v3)
	pub := write("pub.pem", keys.PublicKeyPEM())
	otherPub := write("other.pem", testKeys(t).PublicKeyPEM())
	tampered := write("tampered.enc", bytes.Replace(v2, []byte(`"timestamp": `), []byte(`"timestamp": 1`), 1))
	future, err := Seal(keys, V2, "community", doc, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	futurePath := write("future.enc", future)
	out := filepath.Join(dir, "out.json")
	otherKey, _ := NewFernetKey()

	tests := []struct {
		name string
		key  string
		args []string
		code int
		msg  string
	}{
		{"valid v2", keys.current.text, []string{v2Path, "--out", out, "--expected-hash", hashHex(v2)}, 0, "ok"},
		{"wrong hash", keys.current.text, []string{v2Path, "--out", out, "--expected-hash", hashHex(v3)}, 1, "sha256"},
		{"tampered metadata", keys.current.text, []string{tampered, "--out", out}, 1, "HMAC"},
		{"wrong key", otherKey, []string{v2Path, "--out", out}, 1, "HMAC"},
		{"rotated: previous key", otherKey, []string{v2Path, "--out", out, "--previous-key", keys.current.text}, 0, "previous key"},
		{"valid v3", keys.current.text, []string{v3Path, "--out", out, "--pubkey", pub}, 0, "ed25519 key " + keys.KeyID()},
		{"v3 other public key", keys.current.text, []string{v3Path, "--out", out, "--pubkey", otherPub}, 1, "key"},
		{"v3 without public key", keys.current.text, []string{v3Path, "--out", out}, 1, "--pubkey"},
		{"v2 when v3 wanted", keys.current.text, []string{v2Path, "--out", out, "--pubkey", pub}, 1, "format=3"},
		// Fernet checks token times only against a ttl; collectors decrypt
		// without one, so a server clock ahead of theirs does no harm.
		{"sealed in the future", keys.current.text, []string{futurePath, "--out", out}, 0, "ok"},
		{"no key", "", []string{v2Path, "--out", out}, 2, "IDMT_FERNET_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr := runVerifier(t, tt.key, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d (want %d): %s", code, tt.code, stderr)
			}
			if code == 1 && strings.Contains(stderr, "Traceback") {
				t.Errorf("traceback instead of a message: %s", stderr)
			}
		})
	}
}
