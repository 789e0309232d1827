package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idmtelemetry/idmtelemetry/cmd/server"
	"github.com/idmtelemetry/idmtelemetry/ingest"
	"github.com/idmtelemetry/idmtelemetry/lake"
)

const (
	token   = "s3cret-token"
	token2  = "rotated-token"
	instID  = "550e8400-e29b-41d4-a716-446655440000"
	goodRec = `{"timestamp":%d.5,"temp_outside":5.4,"state_compressor_1":true}`
)

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type harness struct {
	url     string
	plain   string
	client  *http.Client
	bucket  *lake.Bucket
	landing *lake.Landing
	logs    *syncBuffer
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
}

type setup struct {
	cfg    func(*server.Config)
	ingest ingest.Config
	fault  func(lake.Op, string) error
	dir    string
}

// start runs a real server on loopback with a file bucket, a generated
// certificate and two valid tokens (a rotation in progress).
func start(t *testing.T, s setup) *harness {
	t.Helper()
	if s.dir == "" {
		s.dir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var opts []lake.Option
	if s.fault != nil {
		opts = append(opts, lake.WithFault(s.fault))
	}
	bucket, err := lake.OpenBucket(ctx, "file://"+s.dir+"/bucket", opts...)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := server.LoadCertificate("", "", s.dir)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 5 * time.Second
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	reg := prometheus.NewRegistry()
	srv, err := server.New(cfg, cert, server.NewTokens(token, token2), bucket, log, reg, "test")
	if err != nil {
		t.Fatal(err)
	}
	landing, err := lake.NewLanding(bucket, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ingest.NewHandler(landing, log, reg, s.ingest)
	if err != nil {
		t.Fatal(err)
	}
	srv.Router().With(srv.RequireToken).Post("/api/v1/submit", h.ServeHTTP)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	hs := &harness{
		url: "https://" + srv.Addr(), client: tlsClient(t, cert.CertFile, tls.VersionTLS12),
		bucket: bucket, landing: landing, logs: logs, reg: reg, cancel: cancel, done: done,
	}
	if a := srv.HTTPAddr(); a != "" {
		hs.plain = "http://" + a
	}
	t.Cleanup(func() {
		cancel()
		<-done
		bucket.Close()
	})
	return hs
}

func tlsClient(t *testing.T, certFile string, maxVersion uint16) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion},
			ForceAttemptHTTP2: true,
		},
	}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (h *harness) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (h *harness) submit(t *testing.T, body []byte, hdr map[string]string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/submit", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return h.do(t, req)
}

func batch(records ...string) []byte {
	return []byte(fmt.Sprintf(`{"installation_id":%q,"heatpump_model":"AERO SLM 3-11","version":"1.2.0","data":[%s]}`, instID, strings.Join(records, ",")))
}

func nowRec(offset int) string {
	return fmt.Sprintf(goodRec, time.Now().Add(-time.Hour).Unix()+int64(offset))
}

// landed returns every record in the landing zone, decoded back.
func (h *harness) landed(t *testing.T) []map[string]float64 {
	t.Helper()
	ctx := context.Background()
	var out []map[string]float64
	err := h.bucket.List(ctx, lake.LandingPrefix, func(a lake.Attributes) error {
		data, err := h.bucket.Get(ctx, a.Key)
		if err != nil {
			return err
		}
		raw, err := h.landing.Decompress(data)
		if err != nil {
			return err
		}
		// An object holds one landing document per batch (group commit).
		dec := json.NewDecoder(bytes.NewReader(raw))
		for dec.More() {
			var doc struct {
				Data []map[string]float64 `json:"data"`
			}
			if err := dec.Decode(&doc); err != nil {
				return err
			}
			out = append(out, doc.Data...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (h *harness) metric(t *testing.T, name string) string {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				fmt.Fprintf(&b, "%v;", m.String())
			}
		}
	}
	return b.String()
}

var errStorage = errors.New("injected storage failure")
