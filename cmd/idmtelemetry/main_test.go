package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/peterbourgon/ff/v3"
)

// Settings come from flags, then IDMT_* environment, then the YAML file,
// then defaults.
func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "idmt.yaml")
	if err := os.WriteFile(cfg, []byte("listen: ':1111'\nmax-body: 100\nlog-format: text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDMT_LISTEN", ":2222")
	t.Setenv("IDMT_MAX_BODY", "200")
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	f.register(fs)
	if err := ff.Parse(fs, []string{"--config", cfg, "--max-body", "300"}, ffOptions()...); err != nil {
		t.Fatal(err)
	}
	if f.srv.Listen != ":2222" {
		t.Errorf("listen = %q: environment must win over the file", f.srv.Listen)
	}
	if f.ingest.MaxBody != 300 {
		t.Errorf("max-body = %d: the flag must win over environment and file", f.ingest.MaxBody)
	}
	if f.logFormat != "text" {
		t.Errorf("log-format = %q: the file must win over the default", f.logFormat)
	}
	if f.dataDir != "./var" || f.bucket() != "file://var/bucket" {
		t.Errorf("defaults: data-dir %q, bucket %q", f.dataDir, f.bucket())
	}
}

func TestHelpExplainsSettings(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"serve", "--help"}, &out, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve --help: %v", err)
	}
	for _, want := range []string{"IDMT_LISTEN", "IDMT_TOKENS", "--trusted-proxies", "embedded default"} {
		if !strings.Contains(out.String(), strings.TrimPrefix(want, "--")) {
			t.Errorf("help lacks %s:\n%s", want, out.String())
		}
	}
	for cmd, wants := range map[string][]string{
		"run":           {"IDMT_NIGHTLY", "IDMT_KEYS_DIR", "IDMT_TRAIN_MIN_INSTALLATIONS", "IDMT_POOL_MIN_SAMPLES", "embedded default"},
		"jobs":          {"IDMT_LEASE_TTL", "compact-hourly", "status", "backfill"},
		"jobs run":      {"pipeline", "--force", "handed to it"},
		"train":         {"IDMT_TRAIN_WINDOW", "family", "community"},
		"stats":         {"IDMT_STATS_K", "nothing to do"},
		"publish":       {"--rollback", "envelope", "current"},
		"keys generate": {"--out", "ed25519"},
		"loadgen":       {"--model-check", "IDMT_FERNET_KEY"},
	} {
		out.Reset()
		err := run(context.Background(), append(strings.Fields(cmd), "--help"), &out, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s --help: %v", cmd, err)
		}
		for _, want := range wants {
			if !strings.Contains(out.String(), strings.TrimPrefix(want, "--")) {
				t.Errorf("%s --help lacks %s:\n%s", cmd, want, out.String())
			}
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"serve", "--no-such-flag"}, &out, &out); exitCode(err) != exitConfig {
		t.Fatalf("unknown flag: %v (exit %d), want a usage error", err, exitCode(err))
	}
}

// TestConfigMistakes checks that mistakes in the command line or the
// configuration exit with exitConfig, which the systemd unit does not
// restart, with a message that names what to fix.
func TestConfigMistakes(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nosuchcmd"}, `unknown command "nosuchcmd"`},
		{[]string{"keys", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing}, "missing.pem"},
		{[]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--tls-cert", missing}, "--tls-key"},
		{[]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--tokens-file", missing}, "missing.pem"},
		{[]string{"compact", "--data-dir", dir, "--bucket", "file:" + dir}, "file://"},
		{[]string{"compact", "--data-dir", dir, "--bucket", dir}, "file://"},
		{[]string{"jobs", "run", "compactt", "--data-dir", dir, "--metrics-listen", "off"}, "compactt"},
		{[]string{"jobs", "status", "--data-dir", dir, "--catch-up", "0"}, "--catch-up 0"},
		{[]string{"jobs", "status", "--data-dir", dir, "extra"}, "no arguments"},
		{[]string{"jobs", "run", "pipeline", "--data-dir", dir, "--day", "2026/11/27", "--metrics-listen", "off"}, "YYYY-MM-DD"},
		{[]string{"jobs", "run", "pipeline", "--data-dir", dir, "--day", time.Now().UTC().Format(time.DateOnly), "--metrics-listen", "off"}, "has not ended"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), c.args, &out, &out)
		if exitCode(err) != exitConfig || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%q: %v (exit %d), want exit %d naming %q", c.args, err, exitCode(err), exitConfig, c.want)
		}
	}
}

// lockedBuffer collects the server's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The embedded default works on a fresh folder: certificate, token and
// bucket are generated, printed, and a submit works with what was printed.
func TestServeEmbeddedDefault(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	banner := regexp.MustCompile(`listening on (https://localhost:\d+)`)
	var url string
	for deadline := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := banner.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no banner; stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	}
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	for _, want := range []string{"generated now", token, "curl --cacert " + filepath.Join(dir, "tls", "cert.pem"), url + "/api/v1/submit"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, stderr.String())
		}
	}
	pem, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := `{"installation_id":"550e8400-e29b-41d4-a716-446655440000","heatpump_model":"AERO SLM 3-11","version":"1.0.0","data":[{"timestamp":` +
		strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10) + `,"temp_outside":5.4}]}`
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/submit", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"processed":1`) {
		t.Fatalf("submit with the printed token: %d %s", resp.StatusCode, raw)
	}
	landed, _ := filepath.Glob(filepath.Join(dir, "bucket", "landing", "*", "*", "*.json.zst"))
	if len(landed) != 1 {
		t.Fatalf("landing objects: %v", landed)
	}
	stopRun(t, "serve", cancel, done)
}

// stopRun cancels a command started with run in a goroutine (its error comes
// on done) as SIGINT would, and checks that it stops cleanly.
func stopRun(t *testing.T, name string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s returned %v after a SIGINT-like cancel", name, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop", name)
	}
}

// TestJobsMetricsListen checks that `jobs` serves its metrics at
// --metrics-listen on /metrics, and nothing else there.
func TestJobsMetricsListen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"jobs", "--data-dir", t.TempDir(), "--metrics-listen", addr}, &stdout, &stderr)
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	var code int
	var body string
	for deadline := time.Now().Add(20 * time.Second); code != 200 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, body = get("/metrics")
	}
	if code != 200 || !strings.Contains(body, "idmt_jobs_lease_held") {
		t.Fatalf("GET /metrics: %d %.300s\nstderr:\n%s", code, body, stderr.String())
	}
	if code, body := get("/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d %.100s, want 404", code, body)
	}
	stopRun(t, "jobs", cancel, done)
}

// TestLoadgenToken checks loadgen's documented precedence: an explicit
// --token-file, then IDMT_TOKEN.
func TestLoadgenToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\nsecond\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDMT_TOKEN", "from-env")
	for _, c := range []struct{ file, want string }{{file, "from-file"}, {"", "from-env"}} {
		f := loadgenFlags{tokenFile: c.file}
		if got, err := f.token(); err != nil || got != c.want {
			t.Errorf("--token-file %q with IDMT_TOKEN set: %q %v, want %q", c.file, got, err, c.want)
		}
	}
}

// TestConfigErrorKeepsIOFailures checks that a failure to write a generated
// file (a full disk) is not taken for a configuration mistake: the unit
// restarts the service, which may then succeed.
func TestConfigErrorKeepsIOFailures(t *testing.T) {
	full := &fs.PathError{Op: "write", Path: "var/tls/cert.pem", Err: syscall.ENOSPC}
	missing := &fs.PathError{Op: "open", Path: "cert.pem", Err: fs.ErrNotExist}
	for err, want := range map[error]int{
		fmt.Errorf("generate certificate: %w", full):    1,
		fmt.Errorf("load certificate: %w", missing):     exitConfig,
		errors.New("set both --tls-cert and --tls-key"): exitConfig,
	} {
		if got := exitCode(configError(err)); got != want {
			t.Errorf("%v: exit %d, want %d", err, got, want)
		}
	}
}
