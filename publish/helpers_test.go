package publish

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"gocloud.dev/blob/memblob"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// smallDoc is a valid model document; seed makes documents differ.
func smallDoc(t testing.TB, seed int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "trainer", "model", "testdata", "small.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), `"seed": 42`, fmt.Sprintf(`"seed": %d`, seed), 1)
	if seed != 42 && s == string(b) {
		t.Fatal("small.json has no seed 42")
	}
	return []byte(s)
}

var telemetryFields = []string{"temp_outside", "temp_heat_pump_flow", "temp_heat_pump_return", "power_current", "humidity"}

func telemetryRow(r *rand.Rand) []float64 {
	out := r.NormFloat64()*6 + 5
	flow := 35 - 0.5*out + r.NormFloat64()
	return []float64{out, flow, flow - 5 + r.NormFloat64()*0.5, math.Abs(r.NormFloat64()*0.5 + 1.5), r.NormFloat64()*10 + 70}
}

// trainedDoc fits a real isolation forest of trees trees on generated
// telemetry and returns its document; 350 trees of ψ=256 make about 1 MB.
func trainedDoc(t testing.TB, trees int) (*model.Document, []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	const n = 2000
	x := iforest.Matrix{Data: make([]float64, 0, n*len(telemetryFields)), Rows: n, Cols: len(telemetryFields)}
	for range n {
		x.Data = append(x.Data, telemetryRow(r)...)
	}
	f, err := iforest.Fit(x, iforest.Config{Trees: trees, Seed: 5, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	features := make([]model.Feature, len(telemetryFields))
	for j, name := range telemetryFields {
		features[j] = model.Raw(name)
	}
	d, err := f.Document(features, "none", model.Metadata{
		HeatpumpModel: "AERO SLM 3-11", Rows: n, Installations: 6, Seed: 5,
		WindowFrom: time.Date(2026, 10, 28, 0, 0, 0, 0, time.UTC),
		WindowTo:   time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		CreatedAt:  time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := model.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return d, b
}

func testKeys(t testing.TB) *Keys {
	t.Helper()
	fk, err := NewFernetKey()
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKeys(fk, WithSigningKey(priv))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// store is one bucket's storage seen through several lake.Buckets: a
// clean one and, per call, one with a fault hook.
type store struct {
	open func(opts ...lake.Option) *lake.Bucket
}

func memStore(t testing.TB) store {
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	return store{open: func(opts ...lake.Option) *lake.Bucket { return lake.NewBucket(b, opts...) }}
}

func fileStore(t testing.TB) store {
	dir := t.TempDir()
	return store{open: func(opts ...lake.Option) *lake.Bucket {
		b, err := lake.OpenBucket(context.Background(), "file://"+dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testNow is in the past of the machine's clock, as Python's Fernet wants
// (it refuses tokens from more than 60 s in the future).
var testNow = time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)

func newCatalog(t testing.TB, b *lake.Bucket, keys *Keys, c *clock) *Catalog {
	t.Helper()
	cat, err := NewCatalog(b, keys, Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// gate answers from a map; unknown installations are eligible.
type gate struct {
	mu sync.Mutex
	m  map[string]Decision
}

const (
	eligibleID    = "550e8400-e29b-41d4-a716-446655440000"
	notEligibleID = "6ba7b810-9dad-41d1-80b4-00c04fd430c8"
)

func newGate() *gate {
	return &gate{m: map[string]Decision{
		notEligibleID: {Eligible: false, Reason: "No data from this installation in the last 30 days.",
			ReasonDE: "Keine Daten dieser Installation in den letzten 30 Tagen.",
			DataPool: map[string]any{"installations": 7, "data_points": 12000}},
	}}
}

func (g *gate) Check(id, model string) Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d, ok := g.m[id]; ok {
		return d
	}
	return Decision{Eligible: true, Reason: "Eligible for community model.", ReasonDE: "Berechtigt für das Community-Modell.",
		DataPool: map[string]any{"installations": 7, "data_points": 12000, "sufficient": true}}
}

const testToken = "s3cret-token"

// requireToken and checkTokenIfPresent behave like cmd/server's.
func requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			writeError(w, http.StatusUnauthorized, "missing Authorization header")
			return
		}
		if h != "Bearer "+testToken {
			writeError(w, http.StatusForbidden, "invalid token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkTokenIfPresent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" && h != "Bearer "+testToken {
			writeError(w, http.StatusForbidden, "invalid token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// harness is a catalog served over real HTTPS.
type harness struct {
	cat     *Catalog
	keys    *Keys
	gate    *gate
	handler *Handler
	srv     *httptest.Server
	client  *http.Client
	reg     *prometheus.Registry
}

func newHarness(t testing.TB, b *lake.Bucket, keys *Keys, c *clock) *harness {
	t.Helper()
	h := &harness{cat: newCatalog(t, b, keys, c), keys: keys, gate: newGate(), reg: prometheus.NewRegistry()}
	hd, err := NewHandler(h.cat, h.gate, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	h.handler = hd
	r := chi.NewRouter()
	hd.Routes(r, requireToken, checkTokenIfPresent)
	h.srv = httptest.NewUnstartedServer(r)
	// Handshakes cut off when the server closes are not test failures.
	h.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h.srv.StartTLS()
	t.Cleanup(h.srv.Close)
	h.client = h.srv.Client()
	return h
}

// get sends a GET with optional headers (key, value pairs).
func (h *harness) get(t testing.TB, path string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func (h *harness) publish(t testing.TB, name string, doc []byte) PublishResult {
	t.Helper()
	res, err := h.cat.Publish(context.Background(), name, doc, Provenance{Candidate: "_models/candidates/x/" + name + ".json"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cat.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return res
}
