package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/cmd/server"
	"github.com/idmtelemetry/idmtelemetry/ingest"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// BenchmarkSubmit posts realistic 200-record batches (about 0.8 MB of
// JSON, as the collectors send them) over HTTPS to a real server with a
// file bucket, from parallel clients. It is for profiling the server path
// in one process; bench/ingest-e2e.sh measures the real binaries.
func BenchmarkSubmit(b *testing.B) {
	h := start(&testing.T{}, setup{dir: b.TempDir(), ingest: ingest.Config{PerInstallation: -1}, cfg: func(c *server.Config) { c.PerAddress = 0 }})
	fleet, err := simulate.NewFleet(1, 64, 2)
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	start := time.Now().Add(-48 * time.Hour).Truncate(time.Hour)
	// Distinct batches, so that no request finds its batch already landed.
	for _, inst := range fleet {
		g, _ := simulate.NewGenerator(inst, simulate.Config{Start: start})
		recs := g.Generate(nil, start.Add(20*200*30*time.Second))
		for _, batch := range simulate.Batches(recs, 200) {
			bodies = append(bodies, simulate.AppendBatchJSON(nil, inst, "bench", batch))
		}
	}
	b.SetBytes(int64(len(bodies[0])))
	b.SetParallelism(8)
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/submit", bytes.NewReader(bodies[i%len(bodies)]))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := h.client.Do(req)
			if err != nil {
				panic(err)
			}
			if resp.StatusCode != 200 {
				panic(fmt.Sprint(resp.StatusCode))
			}
			resp.Body.Close()
		}
	})
}
