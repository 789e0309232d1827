package publish

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchHarness serves a real trained model document of about 1 MB (350
// trees of ψ=256 on 5 features) over loopback TLS.
func benchHarness(b *testing.B) (*harness, int) {
	b.Helper()
	_, doc := trainedDoc(b, 350)
	h := newHarness(b, memStore(b).open(), testKeys(b), newClock(testNow))
	h.publish(b, "AERO_SLM_3-11", doc)
	tr := h.client.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 256
	tr.MaxIdleConns = 256
	return h, len(doc)
}

// runClients sends b.N requests from parallel clients (8 per CPU, each with
// its own keep-alive connection, like many collectors at once) and reports
// requests per second and the 99th percentile latency.
func runClients(b *testing.B, h *harness, path string, headers []string, wantStatus int) {
	b.Helper()
	var (
		mu   sync.Mutex
		lats []time.Duration
	)
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		req, err := http.NewRequest(http.MethodGet, h.srv.URL+path, nil)
		if err != nil {
			b.Error(err)
			return
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			resp, err := h.client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != wantStatus {
				b.Errorf("status %d, %v", resp.StatusCode, err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lats) == 0 {
		return
	}
	slices.Sort(lats)
	p99 := lats[min(len(lats)-1, len(lats)*99/100)]
	b.ReportMetric(float64(len(lats))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// BenchmarkCheck: anonymous model checks over loopback HTTPS (HTTP/1.1,
// as collectors speak it). Target: ≥ 20,000 req/s with p99 < 5 ms.
func BenchmarkCheck(b *testing.B) {
	h, _ := benchHarness(b)
	b.ReportAllocs()
	runClients(b, h, checkURL(eligibleID, "AERO SLM 3-11", "current_hash", "0123"), nil, http.StatusOK)
}

// BenchmarkDownload: authenticated downloads of a 1 MB model's envelope
// over loopback HTTPS; MB/s is the envelope bytes delivered.
func BenchmarkDownload(b *testing.B) {
	h, docSize := benchHarness(b)
	data, _, _ := h.cat.Envelope("AERO_SLM_3-11", V2)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	runClients(b, h, "/api/v1/model/download?installation_id="+eligibleID+"&model=AERO+SLM+3-11",
		[]string{"Authorization", "Bearer " + testToken}, http.StatusOK)
	b.ReportMetric(float64(docSize)/1e6, "model-MB")
	b.ReportMetric(float64(len(data))/1e6, "envelope-MB")
}

// discard is a ResponseWriter that drops the body, to measure the
// handler's own allocations without a network or a client.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkDownloadHandler shows that a download allocates per request,
// not per byte: B/op stays far below the envelope size.
func BenchmarkDownloadHandler(b *testing.B) {
	h, _ := benchHarness(b)
	data, _, _ := h.cat.Envelope("AERO_SLM_3-11", V2)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/model/download?installation_id="+eligibleID+"&model=AERO+SLM+3-11", nil)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.handler.Download(&discard{h: http.Header{}}, req)
	}
}

// BenchmarkCheckHandler is the check's own cost, without TLS and HTTP.
func BenchmarkCheckHandler(b *testing.B) {
	h, _ := benchHarness(b)
	req := httptest.NewRequest(http.MethodGet, checkURL(eligibleID, "AERO SLM 3-11", "current_hash", "0123"), nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.handler.Check(&discard{h: http.Header{}}, req)
	}
}

// BenchmarkDownloadBaseline serves the same bytes from a bare handler on
// the same kind of TLS server and client: the ceiling BenchmarkDownload
// is compared with.
func BenchmarkDownloadBaseline(b *testing.B) {
	h, _ := benchHarness(b)
	data, _, _ := h.cat.Envelope("AERO_SLM_3-11", V2)
	bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
	}))
	bare.Config.ErrorLog = log.New(io.Discard, "", 0)
	bare.StartTLS()
	defer bare.Close()
	h.srv, h.client = bare, bare.Client()
	tr := h.client.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = 256, 256
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	runClients(b, h, "/", nil, http.StatusOK)
}
