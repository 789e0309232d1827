package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/publish"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// The end-to-end tests drive the real binary as child processes, the way
// operators and collectors do: idmtelemetry run on a temporary bucket,
// loadgen as the collectors, "jobs run pipeline" to let the scheduler run
// the nightly pipeline now, and DuckDB as the data scientist.

// buildBinary builds idmtelemetry once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "idmt-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "idmtelemetry")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// proc is a running idmtelemetry run.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *lockedBuffer
	done   chan error
}

// e2e holds what the tests of one data folder share.
type e2e struct {
	t       *testing.T
	bin     string
	dir     string
	yday    string    // the pipeline's window
	end     time.Time // end of the simulated period
	records int64     // acknowledged by the server
}

func newE2E(t *testing.T) *e2e {
	if testing.Short() {
		t.Skip("end-to-end test: builds and runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	return &e2e{t: t, bin: bin, dir: t.TempDir(), yday: lake.Day(today.AddDate(0, 0, -1)), end: today}
}

// start runs "idmtelemetry run" on the test's data folder with schedules
// that do not fire during the test (the pipeline is triggered by request)
// and waits for its banner.
func (e *e2e) start() *proc {
	e.t.Helper()
	p := &proc{stderr: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(e.bin, "run", "--data-dir", e.dir, "--listen", "127.0.0.1:0", "--log-format", "text",
		"--nightly", "0 0 1 1 *", "--hourly", "off", "--lease-ttl", "3s", "--rate-per-address", "0",
		"--train-min-installations", "4", "--train-trees", "50", "--train-sample-rows", "8192")
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	e.t.Cleanup(func() { p.kill() })
	banner := regexp.MustCompile(`listening on (https://localhost:\d+)`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := banner.FindStringSubmatch(p.stderr.String()); m != nil {
			p.url = m[1]
			return p
		}
		select {
		case err := <-p.done:
			e.t.Fatalf("run exited: %v\n%s", err, p.stderr.String())
		default:
		}
	}
	e.t.Fatalf("no banner:\n%s", p.stderr.String())
	return nil
}

// kill stops the process with SIGKILL: no cleanup, no lease release.
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		p.done <- nil // for a second kill
	}
}

// cli runs a one-shot idmtelemetry command and returns its stdout.
func (e *e2e) cli(args ...string) string {
	e.t.Helper()
	out, err := e.cliErr(args...)
	if err != nil {
		e.t.Fatalf("idmtelemetry %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *e2e) cliErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, e.bin, args...).CombinedOutput()
	return string(out), err
}

// loadgen submits 3 days of 8 installations over 2 models, ending at
// midnight, so that yesterday's pipeline trains on all of it.
func (e *e2e) loadgen(p *proc, extra ...string) string {
	args := append([]string{"loadgen", "--url", p.url, "--token-file", filepath.Join(e.dir, "token"),
		"--cacert", filepath.Join(e.dir, "tls", "cert.pem"), "--keys-dir", filepath.Join(e.dir, "keys"),
		"--installations", "8", "--models", "2", "--days", "3", "--end", e.end.Format(time.RFC3339), "--concurrency", "4"}, extra...)
	return e.cli(args...)
}

var processedRe = regexp.MustCompile(`records (\d+) in`)

func (e *e2e) submit(p *proc) {
	e.t.Helper()
	out := e.loadgen(p)
	m := processedRe.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "given up 0") {
		e.t.Fatalf("loadgen:\n%s", out)
	}
	e.records, _ = strconv.ParseInt(m[1], 10, 64)
	if e.records != 8*3*2880 {
		e.t.Fatalf("acknowledged %d records, want %d:\n%s", e.records, 8*3*2880, out)
	}
}

// pipeline asks the running scheduler to run the nightly pipeline for
// yesterday now and waits for its outcome.
func (e *e2e) pipeline() string {
	return e.cli("jobs", "run", "pipeline", "--data-dir", e.dir, "--day", e.yday, "--force", "--log-format", "text")
}

// checkLake reads the lake with DuckDB: every acknowledged record exactly
// once.
func (e *e2e) checkLake() {
	e.t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	glob := strings.ReplaceAll(filepath.Join(e.dir, "bucket", "lake", "telemetry"), "'", "''") + "/**/*.parquet"
	var rows, keys, installations, models int64
	err = db.QueryRow(`SELECT count(*), count(DISTINCT (installation_id, "timestamp")), count(DISTINCT installation_id), count(DISTINCT heatpump_model)
		FROM read_parquet('`+glob+`', hive_partitioning=true, union_by_name=true)`).Scan(&rows, &keys, &installations, &models)
	if err != nil {
		e.t.Fatal(err)
	}
	if rows != e.records || keys != e.records || installations != 8 || models != 2 {
		e.t.Fatalf("DuckDB reads %d rows, %d distinct keys, %d installations, %d models; want %d records of 8 installations and 2 models once each",
			rows, keys, installations, models, e.records)
	}
}

var scoredRe = regexp.MustCompile(`flagged ([0-9.]+)% of \d+ records with an injected fault, ([0-9.]+)% of \d+ healthy`)

var modelCheckRe = regexp.MustCompile(`(\d+) installations asked, (\d+) eligible, (\d+) saw a model, (\d+) downloaded with a matching hash \((\d+) mismatches\)`)

// checkAsCollectors runs loadgen's model check: every installation is
// eligible, downloads its model with a matching hash, verifies and
// decrypts the envelope and scores its own records with the Go scorer.
func (e *e2e) checkAsCollectors(p *proc) string {
	e.t.Helper()
	out := e.loadgen(p, "--submit=false", "--model-check")
	m := modelCheckRe.FindStringSubmatch(out)
	if m == nil || m[1] != "8" || m[2] != "8" || m[3] != "8" || m[4] != "8" || m[5] != "0" {
		e.t.Fatalf("model check:\n%s\nserver:\n%s", out, p.stderr.String())
	}
	// The model must tell faults from healthy rows: few healthy rows
	// flagged, clearly more faulty ones.
	sm := scoredRe.FindStringSubmatch(out)
	if sm == nil {
		e.t.Fatalf("no scoring:\n%s", out)
	}
	faulty, _ := strconv.ParseFloat(sm[1], 64)
	healthy, _ := strconv.ParseFloat(sm[2], 64)
	if healthy > 10 || faulty < 2*healthy {
		e.t.Errorf("the downloaded model flags %.1f%% of faulty and %.1f%% of healthy records:\n%s", faulty, healthy, out)
	}
	return out
}

func TestEndToEnd(t *testing.T) {
	e := newE2E(t)
	p := e.start()
	e.submit(p)
	out := e.pipeline()
	for _, want := range []string{"compact " + e.yday + ": done", "stats " + e.yday + ": done", "train " + e.yday + ": done", "publish " + e.yday + ": done"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pipeline output lacks %q:\n%s\nserver:\n%s", want, out, p.stderr.String())
		}
	}
	t.Log(e.checkAsCollectors(p))
	e.checkLake()
	status := e.cli("jobs", "status", "--data-dir", e.dir)
	if !strings.Contains(status, "holds the lease") || strings.Count(status, " done ") < 4 {
		t.Errorf("jobs status:\n%s", status)
	}
}

// kill -9 during compaction and during publishing: after a restart nothing
// acknowledged is lost or doubled, and clients never see a half-published
// model.
func TestEndToEndKill(t *testing.T) {
	e := newE2E(t)
	p := e.start()
	e.submit(p)

	// Kill while compaction runs.
	e.killDuring(p, jobCompact)

	// Restart; the interrupted compaction converges. Train without
	// publishing yet.
	p = e.start()
	for _, job := range []string{jobCompact, jobStats, jobTrain} {
		e.cli("jobs", "run", job, "--data-dir", e.dir, "--day", e.yday, "--force")
	}
	e.checkLake()

	// Collectors poll for the model while the first publish is killed and
	// the restarted scheduler publishes again: every download they get is
	// whole (hash of the bytes, envelope verifies and decrypts).
	box, tok, client := e.client(p)
	keys, err := publish.LoadKeys(filepath.Join(e.dir, "keys"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := simulate.NewFleet(1, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	download := "/api/v1/model/download?" + url.Values{"installation_id": {fleet[0].ID}, "model": {fleet[0].Model}}.Encode()
	var bad, good atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			pollDownload(client, box.get()+download, tok, keys, &good, &bad)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	e.killDuring(p, jobPublish)
	p = e.start()
	box.set(p.url)
	e.pipeline()
	waitFor(t, func() bool { return good.Load() > 0 || bad.Load() > 0 })
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Fatalf("downloads around the publish kill: %d whole, %d broken", good.Load(), bad.Load())
	}
	e.checkLake()
	e.checkAsCollectors(p)
}

// killDuring asks the scheduler of p to run job for yesterday and kills p
// with SIGKILL as soon as the job's run record says it is running.
func (e *e2e) killDuring(p *proc, job string) {
	e.t.Helper()
	rec := filepath.Join(e.dir, "bucket", filepath.FromSlash(lake.JobRunKey(job, e.yday)))
	before, _ := os.ReadFile(rec)
	go func() { _, _ = e.cliErr("jobs", "run", job, "--data-dir", e.dir, "--day", e.yday, "--force") }()
	waitFor(e.t, func() bool {
		b, err := os.ReadFile(rec)
		return err == nil && string(b) != string(before) && strings.Contains(string(b), `"running"`)
	})
	p.kill()
	if b, _ := os.ReadFile(rec); !strings.Contains(string(b), `"running"`) {
		e.t.Logf("%s finished before the kill; the restart must still converge", job)
	}
}

// urlBox lets the poller follow the server across restarts.
type urlBox struct {
	mu sync.Mutex
	u  string
}

func (b *urlBox) set(u string) { b.mu.Lock(); b.u = u; b.mu.Unlock() }
func (b *urlBox) get() string  { b.mu.Lock(); defer b.mu.Unlock(); return b.u }

func (e *e2e) client(p *proc) (*urlBox, string, *http.Client) {
	e.t.Helper()
	pem, err := os.ReadFile(filepath.Join(e.dir, "tls", "cert.pem"))
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tok, err := os.ReadFile(filepath.Join(e.dir, "token"))
	if err != nil {
		e.t.Fatal(err)
	}
	box := &urlBox{u: p.url}
	return box, strings.TrimSpace(string(tok)), &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// pollDownload downloads a model once. A refused connection (the server
// is down) is fine; a 200 whose bytes do not match their hash or do not
// open is not.
func pollDownload(client *http.Client, u, tok string, keys *publish.Keys, good, bad *atomic.Int64) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		time.Sleep(20 * time.Millisecond)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return
	}
	sum := sha256.Sum256(body)
	_, oerr := publish.Open(keys, body)
	if hex.EncodeToString(sum[:]) != resp.Header.Get("X-Model-Hash") || oerr != nil {
		bad.Add(1)
		return
	}
	good.Add(1)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}
