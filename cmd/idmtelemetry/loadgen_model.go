package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/idmtelemetry/idmtelemetry/publish"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// modelSummary is what the collectors' model check found: eligibility,
// downloads whose hash matched, and how the downloaded model scored the
// collectors' own records against the injected faults.
type modelSummary struct {
	checked, eligible, avail  int
	downloaded, hashMismatch  int
	faulty, faultyFlagged     int64
	healthy, healthyFlagged   int64
	models                    map[string]int // model name served → installations
	reasons                   map[string]int // reasons of ineligibility
	faultKinds, flaggedByKind map[simulate.Fault]int64
}

func (m *modelSummary) print(w io.Writer) {
	fmt.Fprintf(w, "model check: %d installations asked, %d eligible, %d saw a model, %d downloaded with a matching hash (%d mismatches)\n",
		m.checked, m.eligible, m.avail, m.downloaded, m.hashMismatch)
	for name, n := range m.models {
		fmt.Fprintf(w, "  served %q to %d installations\n", name, n)
	}
	for r, n := range m.reasons {
		fmt.Fprintf(w, "  not eligible (%d): %s\n", n, r)
	}
	if m.downloaded > 0 {
		pct := func(a, b int64) float64 { return 100 * float64(a) / float64(max(b, 1)) }
		fmt.Fprintf(w, "scored own records with the Go scorer: flagged %.1f%% of %d records with an injected fault, %.1f%% of %d healthy ones\n",
			pct(m.faultyFlagged, m.faulty), m.faulty, pct(m.healthyFlagged, m.healthy), m.healthy)
		for _, k := range simulate.Faults() {
			if n := m.faultKinds[k]; n > 0 {
				fmt.Fprintf(w, "  %-14s %6d records, %5.1f%% flagged\n", k, n, pct(m.flaggedByKind[k], n))
			}
		}
	}
}

// checkModels plays the collectors' model update for every installation:
// check (no Authorization, as real collectors do), download, verify the
// hash and the envelope, decrypt, and score the installation's own
// records.
func (f *loadgenFlags) checkModels(ctx context.Context, client *http.Client, tok string, fleet []simulate.Installation, start, end time.Time) (*modelSummary, error) {
	keys, err := publish.LoadKeys(f.keysDir, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("model check needs the shared Fernet key: %w (set --keys-dir or IDMT_FERNET_KEY)", err)
	}
	ms := &modelSummary{models: map[string]int{}, reasons: map[string]int{}, faultKinds: map[simulate.Fault]int64{}, flaggedByKind: map[simulate.Fault]int64{}}
	base := strings.TrimRight(f.url, "/")
	for _, inst := range fleet {
		q := url.Values{"installation_id": {inst.ID}, "model": {inst.Model}}
		var check struct {
			Eligible       bool   `json:"eligible"`
			Reason         string `json:"reason"`
			ModelAvailable bool   `json:"model_available"`
			ModelHash      string `json:"model_hash"`
		}
		if err := getJSON(ctx, client, base+"/api/v1/model/check?"+q.Encode(), "", &check); err != nil {
			return ms, err
		}
		ms.checked++
		if !check.Eligible {
			ms.reasons[check.Reason]++
			continue
		}
		ms.eligible++
		if !check.ModelAvailable {
			continue
		}
		ms.avail++
		body, hdr, err := get(ctx, client, base+"/api/v1/model/download?"+q.Encode(), tok)
		if err != nil {
			return ms, err
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != hdr.Get("X-Model-Hash") || got != check.ModelHash {
			ms.hashMismatch++
			continue
		}
		opened, err := publish.Open(keys, body)
		if err != nil {
			return ms, fmt.Errorf("open the envelope of %s: %w", inst.ID, err)
		}
		doc, err := model.Unmarshal(opened.Document)
		if err != nil {
			return ms, fmt.Errorf("model of %s: %w", inst.ID, err)
		}
		ms.downloaded++
		ms.models[hdr.Get("X-Model-Name")]++
		if err := scoreOwn(doc, inst, start, end, ms); err != nil {
			return ms, err
		}
	}
	return ms, nil
}

// scoreOwn regenerates an installation's records (the generator is
// deterministic) and scores them in time order, as a collector would.
func scoreOwn(doc *model.Document, inst simulate.Installation, start, end time.Time, ms *modelSummary) error {
	g, err := simulate.NewGenerator(inst, simulate.Config{Start: start, FaultRate: simulate.DefaultFaultRate})
	if err != nil {
		return err
	}
	stream := doc.Stream()
	fields := g.Fields()
	row := map[string]float64{}
	var recs []simulate.Record
	var x []float64
	for day := start.Add(24 * time.Hour); !day.After(end); day = day.Add(24 * time.Hour) {
		recs = g.Generate(recs[:0], day)
		for i := range recs {
			r := &recs[i]
			clear(row)
			for j, v := range r.Values {
				if v == v { // NaN: the collector has no sample
					row[fields[j]] = v
				}
			}
			sec := int64(r.Timestamp)
			ts := time.Unix(sec, int64((r.Timestamp-float64(sec))*1e9)).UTC()
			x = stream.Vector(x[:0], inst.ID, ts, row)
			flagged := doc.Anomalous(doc.ScoreVector(x))
			if r.Label != simulate.FaultNone {
				ms.faulty++
				ms.faultKinds[r.Label]++
				if flagged {
					ms.faultyFlagged++
					ms.flaggedByKind[r.Label]++
				}
			} else {
				ms.healthy++
				if flagged {
					ms.healthyFlagged++
				}
			}
		}
	}
	return nil
}

func get(ctx context.Context, client *http.Client, u, tok string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, resp.Header, nil
}

func getJSON(ctx context.Context, client *http.Client, u, tok string, v any) error {
	body, _, err := get(ctx, client, u, tok)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}
