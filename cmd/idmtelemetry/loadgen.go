package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// loadgenFlags configure the simulated collectors.
type loadgenFlags struct {
	url           string
	tokenFile     string
	cacert        string
	installations int
	models        int
	days          int
	batchSize     int
	concurrency   int
	gzip          bool
	seed          uint64
	retries       int
	version       string
	pregenerate   bool
	submit        bool
	modelCheck    bool
	keysDir       string
	end           string
}

func loadgenCommand(stdout, stderr io.Writer) *ffcli.Command {
	var f loadgenFlags
	fs := flag.NewFlagSet("idmtelemetry loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "optional YAML file of settings (IDMT_CONFIG)")
	fs.StringVar(&f.url, "url", "https://localhost:8443", "server base URL (IDMT_URL)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file whose first line is the bearer token (default: the token in IDMT_TOKEN if set, else ./var/token) (IDMT_TOKEN_FILE)")
	fs.StringVar(&f.cacert, "cacert", "./var/tls/cert.pem", "CA certificate PEM to trust (the generated dev certificate); empty uses the system roots (IDMT_CACERT)")
	fs.IntVar(&f.installations, "installations", 10, "simulated installations (IDMT_INSTALLATIONS)")
	fs.IntVar(&f.models, "models", 2, "heat-pump models the installations are spread over (IDMT_MODELS)")
	fs.IntVar(&f.days, "days", 1, "days of 30-second records per installation, ending now (IDMT_DAYS)")
	fs.IntVar(&f.batchSize, "batch-size", simulate.DefaultBatchSize, "records per request, like the collectors' 200 (IDMT_BATCH_SIZE)")
	fs.IntVar(&f.concurrency, "concurrency", 8, "installations submitting at once, each on its own connection (IDMT_CONCURRENCY)")
	fs.BoolVar(&f.gzip, "gzip", false, "gzip request bodies (IDMT_GZIP)")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the simulated fleet (IDMT_SEED)")
	fs.IntVar(&f.retries, "retries", 5, "retries per batch on 5xx and 429, with exponential backoff (IDMT_RETRIES)")
	fs.StringVar(&f.version, "collector-version", "loadgen-1.0", "version string the collectors report (IDMT_COLLECTOR_VERSION)")
	fs.BoolVar(&f.submit, "submit", true, "submit the simulated records; --submit=false with --model-check only checks models (IDMT_SUBMIT)")
	fs.BoolVar(&f.modelCheck, "model-check", false, "afterwards, check for and download each installation's model like a collector, verify and decrypt it, and score the installation's own records, reporting how many injected faults it flags (IDMT_MODEL_CHECK)")
	fs.StringVar(&f.keysDir, "keys-dir", "./var/keys", "folder of the shared fernet.key for --model-check; IDMT_FERNET_KEY overrides (IDMT_KEYS_DIR)")
	fs.StringVar(&f.end, "end", "", "end of the simulated period, RFC 3339 (default now); pin it to check models against the records of an earlier run (IDMT_END)")
	fs.BoolVar(&f.pregenerate, "pregenerate", false, "simulate and encode every batch before the clock starts, so the figures measure the server, not the simulator (IDMT_PREGENERATE)")
	return &ffcli.Command{
		Name:       "loadgen",
		ShortUsage: "idmtelemetry loadgen [flags]",
		ShortHelp:  "Simulate collectors submitting realistic telemetry.",
		LongHelp: `Simulate collectors: N installations across several heat-pump models send D
days of 30-second records with IDM field names (and injected faults), in
batches like the collectors in the field, retrying 5xx and 429 with
exponential backoff. Prints records/s, MB/s, latencies and status counts.
With --model-check, each installation then checks for its model like a
collector (GET /api/v1/model/check without a token), downloads it, verifies
X-Model-Hash and the envelope, decrypts it and scores its own records.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("loadgen takes no arguments, got %q", args)}
			}
			sum, ms, err := f.run(ctx)
			if sum != nil && f.submit {
				sum.print(stdout)
			}
			if ms != nil {
				ms.print(stdout)
			}
			return err
		},
	}
}

// summary is what a load run measured.
type summary struct {
	wall      time.Duration
	records   atomic.Int64 // acknowledged as processed
	bytes     atomic.Int64 // request bodies sent (as on the wire)
	raw       atomic.Int64 // JSON bytes before gzip
	batches   atomic.Int64
	failed    atomic.Int64 // batches given up on
	mu        sync.Mutex
	statuses  map[int]int
	latencies []time.Duration
}

func (s *summary) observe(status int, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statuses[status]++
	if status == http.StatusOK {
		s.latencies = append(s.latencies, d)
	}
}

func (s *summary) print(w io.Writer) {
	secs := s.wall.Seconds()
	slices.Sort(s.latencies)
	pct := func(p float64) time.Duration {
		if len(s.latencies) == 0 {
			return 0
		}
		return s.latencies[min(len(s.latencies)-1, int(p*float64(len(s.latencies))))]
	}
	codes := make([]string, 0, len(s.statuses))
	for c, n := range s.statuses {
		codes = append(codes, fmt.Sprintf("%d×%d", n, c))
	}
	slices.Sort(codes)
	fmt.Fprintf(w, "batches %d (given up %d), records %d in %.2fs\n", s.batches.Load(), s.failed.Load(), s.records.Load(), secs)
	fmt.Fprintf(w, "records/s %.0f  wire MB/s %.1f  JSON MB/s %.1f\n", float64(s.records.Load())/secs, float64(s.bytes.Load())/secs/1e6, float64(s.raw.Load())/secs/1e6)
	fmt.Fprintf(w, "latency p50 %s  p99 %s  max %s\n", pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond))
	fmt.Fprintf(w, "statuses %s\n", strings.Join(codes, " "))
}

func (f *loadgenFlags) client() (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("read --cacert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s holds no PEM certificate", f.cacert)
		}
	}
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			TLSClientConfig:     cfg,
			MaxIdleConnsPerHost: f.concurrency,
			// HTTP/1.1 like the Python collectors: one connection each,
			// not all multiplexed over one HTTP/2 connection.
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		},
	}, nil
}

// token returns the bearer token: from --token-file when it is set, else
// from IDMT_TOKEN, else from the embedded default's ./var/token.
func (f *loadgenFlags) token() (string, error) {
	file := f.tokenFile
	if file == "" {
		if t := os.Getenv("IDMT_TOKEN"); t != "" {
			return t, nil
		}
		file = "./var/token"
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read token: %w (set --token-file or IDMT_TOKEN)", err)
	}
	tok, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	return strings.TrimSpace(tok), nil
}

func (f *loadgenFlags) run(ctx context.Context) (*summary, *modelSummary, error) {
	if f.installations < 1 || f.days < 1 || f.batchSize < 1 || f.concurrency < 1 {
		return nil, nil, usageError{errors.New("--installations, --days, --batch-size and --concurrency must be at least 1")}
	}
	tok, err := f.token()
	if err != nil {
		return nil, nil, err
	}
	client, err := f.client()
	if err != nil {
		return nil, nil, err
	}
	fleet, err := simulate.NewFleet(f.seed, f.installations, min(f.models, len(simulate.Models())))
	if err != nil {
		return nil, nil, err
	}
	end := time.Now().UTC().Truncate(time.Minute)
	if f.end != "" {
		if end, err = time.Parse(time.RFC3339, f.end); err != nil {
			return nil, nil, usageError{fmt.Errorf("--end %q: want RFC 3339, e.g. 2026-11-28T00:00:00Z", f.end)}
		}
		end = end.UTC()
	}
	start := end.Add(-time.Duration(f.days) * 24 * time.Hour)
	var sum *summary
	if f.submit {
		if sum, err = f.submitAll(ctx, client, tok, fleet, start, end); err != nil {
			return sum, nil, err
		}
	}
	if !f.modelCheck {
		return sum, nil, nil
	}
	ms, err := f.checkModels(ctx, client, tok, fleet, start, end)
	return sum, ms, err
}

// submitAll sends every installation's records, concurrency at a time.
func (f *loadgenFlags) submitAll(ctx context.Context, client *http.Client, tok string, fleet []simulate.Installation, start, end time.Time) (*summary, error) {
	sum := &summary{statuses: map[int]int{}}
	var ready map[string][][]byte // installation ID → request bodies
	if f.pregenerate {
		ready = make(map[string][][]byte, len(fleet))
		for _, inst := range fleet {
			err := f.payloads(inst, start, end, sum, func(p []byte) error {
				ready[inst.ID] = append(ready[inst.ID], bytes.Clone(p))
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
	}
	work := make(chan simulate.Installation)
	var wg sync.WaitGroup
	errs := make(chan error, f.concurrency)
	t0 := time.Now()
	for w := 0; w < f.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for inst := range work {
				var err error
				if ready != nil {
					for _, p := range ready[inst.ID] {
						if err = f.post(ctx, client, tok, p, sum); err != nil {
							break
						}
					}
				} else {
					err = f.collector(ctx, client, tok, inst, start, end, sum)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
feed:
	for _, inst := range fleet {
		select {
		case work <- inst:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	sum.wall = time.Since(t0)
	select {
	case err := <-errs:
		return sum, err
	default:
	}
	return sum, ctx.Err()
}

// collector sends one installation's records a day at a time, in batches.
func (f *loadgenFlags) collector(ctx context.Context, client *http.Client, tok string, inst simulate.Installation, start, end time.Time, sum *summary) error {
	return f.payloads(inst, start, end, sum, func(payload []byte) error {
		return f.post(ctx, client, tok, payload, sum)
	})
}

// payloads simulates an installation's records a day at a time and calls
// send with each batch's request body (gzipped if asked). The body is
// reused after send returns.
func (f *loadgenFlags) payloads(inst simulate.Installation, start, end time.Time, sum *summary, send func([]byte) error) error {
	g, err := simulate.NewGenerator(inst, simulate.Config{Start: start, FaultRate: simulate.DefaultFaultRate})
	if err != nil {
		return err
	}
	var (
		raw   []byte
		zbody bytes.Buffer
		recs  []simulate.Record
	)
	for day := start.Add(24 * time.Hour); !day.After(end); day = day.Add(24 * time.Hour) {
		recs = g.Generate(recs[:0], day)
		for _, b := range simulate.Batches(recs, f.batchSize) {
			raw = simulate.AppendBatchJSON(raw[:0], inst, f.version, b)
			payload := raw
			if f.gzip {
				zbody.Reset()
				zw := gzip.NewWriter(&zbody)
				_, _ = zw.Write(raw)
				_ = zw.Close()
				payload = zbody.Bytes()
			}
			sum.raw.Add(int64(len(raw)))
			if err := send(payload); err != nil {
				return err
			}
		}
	}
	return nil
}

// post sends one batch, retrying 5xx and 429 with exponential backoff
// and jitter; other 4xx are final, as the integration guide says.
func (f *loadgenFlags) post(ctx context.Context, client *http.Client, tok string, payload []byte, sum *summary) error {
	sum.batches.Add(1)
	backoff := 500 * time.Millisecond
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(f.url, "/")+"/api/v1/submit", bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		if f.gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
		t := time.Now()
		resp, err := client.Do(req)
		status := 0
		var processed int64
		if err == nil {
			status = resp.StatusCode
			var body struct {
				Processed int64 `json:"processed"`
			}
			if status == http.StatusOK {
				_ = json.NewDecoder(resp.Body).Decode(&body)
				processed = body.Processed
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		sum.observe(status, time.Since(t))
		if status == http.StatusOK {
			sum.records.Add(processed)
			sum.bytes.Add(int64(len(payload)))
			return nil
		}
		retryable := status == 0 || status >= 500 || status == http.StatusTooManyRequests
		if !retryable || attempt >= f.retries {
			sum.failed.Add(1)
			return nil
		}
		wait := backoff + rand.N(backoff)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
