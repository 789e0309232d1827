package server_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/idmtelemetry/idmtelemetry/cmd/server"
	"github.com/idmtelemetry/idmtelemetry/ingest"
	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func zst(t *testing.T, b []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	return enc.EncodeAll(b, nil)
}

// TestSubmitStatuses walks every answer of POST /api/v1/submit over real
// HTTPS: status, message, and what landed.
func TestSubmitStatuses(t *testing.T) {
	h := start(t, setup{ingest: ingest.Config{MaxBody: 64 << 10, MaxInflated: 256 << 10}})
	bomb := gz(t, batch(nowRec(0), `{"timestamp":1,"pad":"`+strings.Repeat("a", 300<<10)+`"}`))
	for _, tc := range []struct {
		name      string
		body      []byte
		hdr       map[string]string
		status    int
		detail    string
		processed float64
	}{
		{"accepted", batch(nowRec(0), nowRec(30)), nil, 200, "", 2},
		{"second token (rotation)", batch(nowRec(60)), map[string]string{"Authorization": "Bearer " + token2}, 200, "", 1},
		{"gzip", gz(t, batch(nowRec(90))), map[string]string{"Content-Encoding": "gzip"}, 200, "", 1},
		{"zstd", zst(t, batch(nowRec(120))), map[string]string{"Content-Encoding": "zstd"}, 200, "", 1},
		{"no content type", batch(nowRec(150)), map[string]string{"Content-Type": ""}, 200, "", 1},
		{"missing auth", batch(nowRec(0)), map[string]string{"Authorization": ""}, 401, "missing Authorization", 0},
		{"wrong token", batch(nowRec(0)), map[string]string{"Authorization": "Bearer nope"}, 403, "invalid token", 0},
		{"wrong scheme", batch(nowRec(0)), map[string]string{"Authorization": "Basic " + token}, 403, "invalid token", 0},
		{"too large", batch(`{"timestamp":1,"pad":"` + strings.Repeat("a", 70<<10) + `"}`), nil, 413, "exceeds 64 KiB", 0},
		{"zip bomb", bomb, map[string]string{"Content-Encoding": "gzip"}, 413, "inflates to more than 256 KiB", 0},
		{"bad gzip", []byte("not gzip"), map[string]string{"Content-Encoding": "gzip"}, 400, "not valid gzip", 0},
		{"unknown encoding", batch(nowRec(0)), map[string]string{"Content-Encoding": "br"}, 415, "not supported", 0},
		{"wrong content type", batch(nowRec(0)), map[string]string{"Content-Type": "text/plain"}, 415, "application/json", 0},
		{"invalid json", []byte(`{"data":`), nil, 400, "not valid JSON", 0},
		{"bad uuid", []byte(`{"installation_id":"x","heatpump_model":"A","version":"1","data":[]}`), nil, 422, "not a UUID", 0},
		{"unconfigured model", []byte(`{"installation_id":"` + instID + `","heatpump_model":null,"version":"1","data":[]}`), nil, 422, "configure the heat-pump model", 0},
		{"string timestamp", batch(`{"timestamp":"1764280800","a":1}`), nil, 422, "is a string", 0},
		{"millisecond timestamp", batch(`{"timestamp":1764280800123,"a":1}`), nil, 422, "milliseconds", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.submit(t, tc.body, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status == 200 {
				if r.body["status"] != "success" || r.body["processed"] != tc.processed {
					t.Fatalf("body %s", r.raw)
				}
				return
			}
			d, _ := r.body["detail"].(string)
			if !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q does not contain %q", d, tc.detail)
			}
		})
	}
	if got := len(h.landed(t)); got != 6 {
		t.Fatalf("%d records landed, want the 6 accepted ones", got)
	}
}

// A 200 means the batch is in the bucket and decodes back to what was
// sent; an identical resend does not land a second object.
func TestSubmitDurableAndIdempotent(t *testing.T) {
	h := start(t, setup{})
	ts := time.Now().Add(-time.Hour).Unix()
	body := batch(
		`{"timestamp":`+itoa(ts)+`.25,"temp_outside":-3.5,"state_compressor_1":true,"note":"x"}`,
		`{"timestamp":`+itoa(ts+30)+`.25,"temp_outside":-3.25,"state_compressor_1":false}`,
	)
	r := h.submit(t, body, nil)
	if r.status != 200 || r.body["processed"] != 2.0 || r.body["dropped_fields"] != 1.0 {
		t.Fatalf("submit: %d %s", r.status, r.raw)
	}
	if r := h.submit(t, body, nil); r.status != 200 {
		t.Fatalf("resend: %d %s", r.status, r.raw)
	}
	got := h.landed(t)
	if len(got) != 2 {
		t.Fatalf("%d records landed after a resend, want 2", len(got))
	}
	want := []map[string]float64{
		{"timestamp": float64(ts) + 0.25, "temp_outside": -3.5, "state_compressor_1": 1},
		{"timestamp": float64(ts+30) + 0.25, "temp_outside": -3.25, "state_compressor_1": 0},
	}
	for i := range want {
		for k, v := range want[i] {
			if got[i][k] != v {
				t.Fatalf("record %d %s = %v, want %v (all: %v)", i, k, got[i][k], v, got[i])
			}
		}
		if len(got[i]) != len(want[i]) {
			t.Fatalf("record %d has fields %v", i, got[i])
		}
	}
	if m := h.metric(t, "idmt_ingest_batches_total"); !strings.Contains(m, `value:"duplicate"`) {
		t.Fatalf("duplicate not counted: %s", m)
	}
}

// A failed write is a 503 with Retry-After, never a 200.
// TestOlderCollectorBatch submits what older collectors send
// (spec/wire-compat.md): 5,000 records of 130 fields in one uncompressed
// body of over 10 MiB, which they never split or retry.
func TestOlderCollectorBatch(t *testing.T) {
	h := start(t, setup{})
	fleet, err := simulate.NewFleet(3, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().Add(-44 * time.Hour).Truncate(time.Hour)
	g, err := simulate.NewGenerator(fleet[0], simulate.Config{Start: from})
	if err != nil {
		t.Fatal(err)
	}
	recs := g.Generate(nil, from.Add(5000*30*time.Second))
	if len(recs) != 5000 {
		t.Fatalf("%d records", len(recs))
	}
	body := simulate.AppendBatchJSON(nil, fleet[0], "v0.9.0", recs)
	if len(body) <= 10<<20 {
		t.Fatalf("body of %d bytes: not an older collector's batch", len(body))
	}
	r := h.submit(t, body, nil)
	if r.status != 200 || r.body["processed"] != float64(5000) {
		t.Fatalf("older collector's batch of %.1f MB: %d %.300s", float64(len(body))/1e6, r.status, r.raw)
	}
}

func TestSubmitStorageFailure(t *testing.T) {
	h := start(t, setup{fault: func(op lake.Op, key string) error { return errStorage }})
	r := h.submit(t, batch(nowRec(0)), nil)
	if r.status != 503 || r.header.Get("Retry-After") == "" || !strings.Contains(r.raw, "retry later") {
		t.Fatalf("got %d %s (Retry-After %q), want 503 with Retry-After", r.status, r.raw, r.header.Get("Retry-After"))
	}
	if n := len(h.landed(t)); n != 0 {
		t.Fatalf("%d records visible after a failed write", n)
	}
}

// Auth is checked before the body is read: a request whose body never
// arrives still gets its 401/403 at once.
func TestAuthBeforeBody(t *testing.T) {
	h := start(t, setup{})
	for _, auth := range []string{"", "Bearer wrong"} {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/submit", pr)
		req.ContentLength = 5 << 20
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		done := make(chan reply, 1)
		go func() { done <- h.do(t, req) }()
		select {
		case r := <-done:
			if r.status != 401 && r.status != 403 {
				t.Fatalf("auth %q: status %d", auth, r.status)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("auth %q: server waited for the body", auth)
		}
		pw.Close()
	}
}

func TestTLSOnly(t *testing.T) {
	h := start(t, setup{})
	// TLS 1.1 is refused during the handshake.
	old := tlsClient(t, h.certFile(t), tls.VersionTLS11)
	if _, err := old.Get(h.url + "/health"); err == nil {
		t.Fatal("a TLS 1.1 client connected")
	}
	// Plain HTTP on the HTTPS port gets no success.
	resp, err := http.Get(strings.Replace(h.url, "https://", "http://", 1) + "/health")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("plain HTTP answered %d", resp.StatusCode)
		}
	}
	if r := h.do(t, mustReq(t, "GET", h.url+"/health")); r.status != 200 || r.body["status"] != "healthy" {
		t.Fatalf("health over TLS 1.2+: %d %s", r.status, r.raw)
	}
}

func (h *harness) certFile(t *testing.T) string {
	// start keeps the generated certificate in the data folder.
	return strings.TrimSuffix(h.bucketDir(t), "/bucket") + "/tls/cert.pem"
}

func (h *harness) bucketDir(t *testing.T) string {
	u := h.bucket.URL()
	return strings.TrimPrefix(u, "file://")
}

func mustReq(t *testing.T, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Behind a reverse proxy: plain HTTP only from trusted proxies that say
// the client used HTTPS; the client address comes from X-Forwarded-For
// and is logged masked.
func TestTrustedProxy(t *testing.T) {
	h := start(t, setup{cfg: func(c *server.Config) {
		c.HTTPListen = "127.0.0.1:0"
		c.TrustedProxies, _ = server.ParseCIDRs("127.0.0.0/8")
	}})
	send := func(xfp string) int {
		req, _ := http.NewRequest(http.MethodPost, h.plain+"/api/v1/submit", bytes.NewReader(batch(nowRec(0))))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", "203.0.113.77")
		if xfp != "" {
			req.Header.Set("X-Forwarded-Proto", xfp)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := send(""); s != 403 {
		t.Fatalf("plain HTTP without X-Forwarded-Proto: %d, want 403", s)
	}
	if s := send("http"); s != 403 {
		t.Fatalf("X-Forwarded-Proto: http: %d, want 403", s)
	}
	if s := send("https"); s != 200 {
		t.Fatalf("trusted proxy with https: %d, want 200", s)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, `"client":"203.0.xxx.xxx"`) || strings.Contains(logs, "203.0.113.77") {
		t.Fatalf("logs do not show the masked forwarded client only:\n%s", logs)
	}
}

func TestUntrustedPlainHTTPRefused(t *testing.T) {
	h := start(t, setup{cfg: func(c *server.Config) {
		c.HTTPListen = "127.0.0.1:0"
		c.TrustedProxies, _ = server.ParseCIDRs("10.0.0.0/8")
	}})
	req, _ := http.NewRequest(http.MethodGet, h.plain+"/health", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("untrusted peer on the plain listener: %d, want 403", resp.StatusCode)
	}
}

func TestNoUnmaskedAddressLogged(t *testing.T) {
	h := start(t, setup{})
	h.submit(t, batch(nowRec(0)), nil)
	h.do(t, mustReq(t, "GET", h.url+"/health"))
	logs := h.logs.String()
	if strings.Contains(logs, "127.0.0.1") || !strings.Contains(logs, `"client":"127.0.xxx.xxx"`) {
		t.Fatalf("logs must show only masked addresses:\n%s", logs)
	}
	for _, want := range []string{`"request_id":"`, `"route":"/api/v1/submit"`, `"status":200`, `"duration_ms":`, `"bytes_out":`} {
		if !strings.Contains(logs, want) {
			t.Fatalf("access log lacks %s:\n%s", want, logs)
		}
	}
	// Nor does the bucket hold the address.
	dir := h.bucketDir(t)
	out, _ := exec("grep", "-rl", "127.0.0.1", dir)
	if strings.TrimSpace(out) != "" {
		t.Fatalf("bucket files contain the client address: %s", out)
	}
}

func TestRateLimits(t *testing.T) {
	t.Run("per installation", func(t *testing.T) {
		h := start(t, setup{ingest: ingest.Config{PerInstallation: 2}})
		for i := 0; i < 2; i++ {
			if r := h.submit(t, batch(nowRec(i)), nil); r.status != 200 {
				t.Fatalf("submit %d: %d", i, r.status)
			}
		}
		r := h.submit(t, batch(nowRec(5)), nil)
		if r.status != 429 || r.header.Get("Retry-After") == "" || r.body["detail"] == nil {
			t.Fatalf("third submit: %d %s, want 429 with Retry-After", r.status, r.raw)
		}
	})
	t.Run("per address", func(t *testing.T) {
		h := start(t, setup{cfg: func(c *server.Config) { c.PerAddress = 3 }})
		var last reply
		for i := 0; i < 4; i++ {
			last = h.do(t, mustReq(t, "GET", h.url+"/health"))
		}
		if last.status != 429 || last.header.Get("Retry-After") == "" {
			t.Fatalf("fourth request: %d %s, want 429 with Retry-After", last.status, last.raw)
		}
	})
}

// Beyond the in-flight byte budget a submission waits briefly, then gets
// 503 with Retry-After instead of growing memory. A body of known length
// takes its budget before it is read; one that then stalls is answered 408
// after BodyIdle, which frees it. A body without a length takes budget as
// it arrives, so stalled ones hold little.
func TestOverload(t *testing.T) {
	// The budget is 8 MiB: twice the largest body as sent (1 MiB, counted
	// twice) and inflated (1 MiB) plus a step.
	h := start(t, setup{ingest: ingest.Config{MaxBody: 1 << 20, MaxInflated: 1 << 20, MaxInflight: 1 << 20,
		InflightWait: 200 * time.Millisecond, BodyIdle: time.Second}})
	var wg sync.WaitGroup
	statuses := make(chan int, 8)
	// slow starts an upload of length n (-1: unknown) that sends only its
	// first bytes; its pipe's writer cuts it off.
	slow := func(n int64) *io.PipeWriter {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/submit", pr)
		req.ContentLength = n
		req.Header.Set("Authorization", "Bearer "+token)
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := 0 // the transport may report the cut instead of a status
			if resp, err := h.client.Do(req); err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			statuses <- status
		}()
		_, _ = pw.Write([]byte(`{"installation_id":"`))
		return pw
	}
	inflight := func(want float64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			m := h.metric(t, "idmt_ingest_inflight_bytes")
			if strings.Contains(m, fmt.Sprintf("value:%g", want)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("in-flight bytes %s, want %g", m, want)
			}
		}
	}
	big := batch(nowRec(0), `{"timestamp":1,"pad":"`+strings.Repeat("a", 600<<10)+`"}`)

	// Four uploads announcing 900 KiB hold 7.2 MiB of 8 and stall: a
	// 600 KiB submission does not fit.
	var pws []*io.PipeWriter
	for range 4 {
		pws = append(pws, slow(900<<10))
	}
	inflight(4 * 2 * (900<<10 + 1))
	if r := h.submit(t, big, nil); r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("submission over budget: %d %s, want 503 with Retry-After", r.status, r.raw)
	}
	// After BodyIdle they are answered 408, and the budget is free.
	for range 4 {
		if status := <-statuses; status != http.StatusRequestTimeout {
			t.Errorf("stalled upload: status %d, want 408", status)
		}
	}
	inflight(0)
	if r := h.submit(t, big, nil); r.status != 200 {
		t.Fatalf("after the stalled uploads: %d %s", r.status, r.raw)
	}
	for _, pw := range pws {
		pw.Close()
	}

	// Four stalled uploads of unknown length hold 512 KiB each: the
	// submission goes through beside them.
	pws = pws[:0]
	for range 4 {
		pws = append(pws, slow(-1))
	}
	inflight(4 * 2 * readChunk)
	if r := h.submit(t, big, nil); r.status != 200 {
		t.Fatalf("submission beside stalled uploads of unknown length: %d %s, want 200", r.status, r.raw)
	}
	for _, pw := range pws {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	wg.Wait()
	close(statuses)
	for status := range statuses {
		if status == 200 {
			t.Error("truncated body accepted")
		}
	}
}

// readChunk is ingest's first step of budget for a body (256 KiB).
const readChunk = 256 << 10

func TestHealthDegraded(t *testing.T) {
	dir := t.TempDir()
	var readOnly atomic.Bool
	h := start(t, setup{dir: dir, fault: func(op lake.Op, _ string) error {
		if readOnly.Load() && op == lake.OpWrite {
			return syscall.EROFS
		}
		return nil
	}})
	// The gauge is right before any probe has asked.
	if m := h.metric(t, "idmt_storage_up"); !strings.Contains(m, "value:1") {
		t.Fatalf("idmt_storage_up before any probe: %s", m)
	}
	if r := h.do(t, mustReq(t, "GET", h.url+"/health")); r.status != 200 || r.body["status"] != "healthy" {
		t.Fatalf("health: %d %s", r.status, r.raw)
	}
	// A bucket folder that reads but cannot be written is down: every
	// batch would fail to land.
	readOnly.Store(true)
	time.Sleep(2100 * time.Millisecond) // the probe result is cached for 2 s
	r := h.do(t, mustReq(t, "GET", h.url+"/health"))
	if r.status != 503 || r.body["status"] != "degraded" {
		t.Fatalf("health of a read-only bucket: %d %s, want 503 degraded", r.status, r.raw)
	}
	if m := h.metric(t, "idmt_storage_up"); !strings.Contains(m, "value:0") {
		t.Fatalf("idmt_storage_up of a read-only bucket: %s", m)
	}
	readOnly.Store(false)
	if err := removeAll(dir + "/bucket"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond)
	r = h.do(t, mustReq(t, "GET", h.url+"/health"))
	if r.status != 503 || r.body["status"] != "degraded" {
		t.Fatalf("health without storage: %d %s, want 503 degraded", r.status, r.raw)
	}
}

func TestMetricsExposed(t *testing.T) {
	h := start(t, setup{})
	h.submit(t, batch(nowRec(0), `{"a":1}`), nil)
	h.submit(t, batch(`{"timestamp":"x"}`), nil)
	r := h.do(t, mustReq(t, "GET", h.url+"/metrics"))
	for _, want := range []string{
		`idmt_http_requests_total{code="200",method="POST",route="/api/v1/submit"} 1`,
		`idmt_ingest_records_total 1`,
		`idmt_ingest_dropped_records_total{reason="missing_timestamp"} 1`,
		`idmt_ingest_rejections_total{reason="timestamp_string"} 1`,
		`idmt_ingest_landing_seconds_count 1`,
		`idmt_ingest_landing_group_batches_bucket{le="1"} 1`,
		`idmt_http_in_flight_requests`,
		`idmt_ingest_inflight_bytes 0`,
	} {
		if !strings.Contains(r.raw, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Shutdown lets a running request finish, then stops.
func TestGracefulShutdown(t *testing.T) {
	h := start(t, setup{})
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/submit", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	body := batch(nowRec(0))
	req.ContentLength = int64(len(body))
	got := make(chan reply, 1)
	go func() { got <- h.do(t, req) }()
	_, _ = pw.Write(body[:10])
	time.Sleep(100 * time.Millisecond)
	h.cancel()
	time.Sleep(100 * time.Millisecond)
	_, _ = pw.Write(body[10:])
	pw.Close()
	if r := <-got; r.status != 200 {
		t.Fatalf("request running at shutdown: %d %s", r.status, r.raw)
	}
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatal(err)
		}
		h.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(h.url, "https://"), time.Second); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

// Compressed bodies decode concurrently without sharing decoder state.
func TestConcurrentCompressedSubmits(t *testing.T) {
	h := start(t, setup{})
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body, enc := batch(nowRec(i*30)), "gzip"
			if i%2 == 0 {
				body, enc = zst(t, body), "zstd"
			} else {
				body = gz(t, body)
			}
			req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/submit", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Encoding", enc)
			resp, err := h.client.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := len(h.landed(t)); n != 16 {
		t.Fatalf("%d records landed, want 16", n)
	}
}

// TestMethods checks that a wrong method gets 405 with the path's methods
// in Allow (RFC 9110), and that HEAD works wherever GET does.
func TestMethods(t *testing.T) {
	h := start(t, setup{})
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/api/v1/submit", "POST"},
		{"PUT", "/api/v1/submit", "POST"},
		{"POST", "/health", "GET, HEAD"},
		{"DELETE", "/health", "GET, HEAD"},
	} {
		req := mustReq(t, c.method, h.url+c.path)
		req.Header.Set("Authorization", "Bearer "+token)
		r := h.do(t, req)
		if r.status != 405 || r.header.Get("Allow") != c.allow || r.body["detail"] == nil {
			t.Errorf("%s %s: %d, Allow %q, %s; want 405, Allow %q", c.method, c.path, r.status, r.header.Get("Allow"), r.raw, c.allow)
		}
	}
	r := h.do(t, mustReq(t, "HEAD", h.url+"/health"))
	if r.status != 200 || len(r.raw) != 0 || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD /health: %d, %q, Content-Type %q", r.status, r.raw, r.header.Get("Content-Type"))
	}
}
