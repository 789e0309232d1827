package stats

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

const token = "test-token"

// requireToken mimics the server's bearer middleware: 401 without a
// header, 403 with a wrong one.
func requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		switch {
		case h == "":
			writeError(w, http.StatusUnauthorized, "missing Authorization header")
		case h != "Bearer "+token:
			writeError(w, http.StatusForbidden, "invalid token")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func serve(t *testing.T, v *View) *httptest.Server {
	t.Helper()
	r := chi.NewRouter()
	v.Routes(r, requireToken)
	srv := httptest.NewTLSServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// get requests path over TLS and decodes the JSON body.
func get(t *testing.T, srv *httptest.Server, path string, auth bool) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: content type %q", path, ct)
	}
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("%s: %d %q: %v", path, resp.StatusCode, data, err)
	}
	return resp.StatusCode, body, resp.Header
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keys(m); !slices.Equal(got, want) {
		t.Errorf("%s keys %v, want exactly %v", what, got, want)
	}
}

func TestEndpoints(t *testing.T) {
	v, f, _ := fixtureView(t)
	srv := serve(t, v)
	anchor := day0.AddDate(0, 0, nDays-1)
	aeroPath := "/api/v1/stats/" + url.PathEscape(aero)

	t.Run("pool status", func(t *testing.T) {
		code, body, _ := get(t, srv, "/api/v1/pool/status", false)
		if code != http.StatusOK {
			t.Fatalf("%d %v", code, body)
		}
		wantKeys(t, "pool", body, "total_installations", "total_data_points", "models_available", "data_sufficient", "message", "message_de")
		models, _ := body["models_available"].([]any)
		if body["total_installations"] != 9.0 || body["data_sufficient"] != true || len(models) != 1 || models[0] != aero ||
			body["message"] != "Data pool is ready. Community models are available." ||
			body["message_de"] != "Datenpool ist bereit. Community-Modelle sind verfügbar." {
			t.Errorf("pool %v", body)
		}
	})

	t.Run("community averages", func(t *testing.T) {
		code, body, _ := get(t, srv, "/api/v1/community/averages?model="+url.QueryEscape(aero)+"&metrics=temp_outside,power_current,humidity,nonexistent", true)
		if code != http.StatusOK {
			t.Fatalf("%d %v", code, body)
		}
		wantKeys(t, "averages", body, "model", "window", "sample_size", "metrics")
		if body["model"] != aero || body["window"] != "24h" || body["sample_size"] != 6.0 {
			t.Errorf("averages %v", body)
		}
		metrics := body["metrics"].(map[string]any)
		// humidity comes from 2 installations: withheld; nonexistent: left out.
		wantKeys(t, "metrics", metrics, "temp_outside", "power_current")
		rows := f.rows(aeroStore, anchor, anchor)
		for name, fig := range metrics {
			fig := fig.(map[string]any)
			wantKeys(t, name, fig, "avg", "min", "max")
			means := instMeans(rows, name)
			var total float64
			for _, m := range means {
				total += m
			}
			e := exactOf(metricValues(rows, name))
			if fig["avg"] != round2(total/float64(len(means))) || fig["min"] != round2(e.min) || fig["max"] != round2(e.max) {
				t.Errorf("%s = %v, want avg %v min %v max %v", name, fig, round2(total/float64(len(means))), e.min, e.max)
			}
		}
		// Without metrics=: every published metric.
		_, body, _ = get(t, srv, "/api/v1/community/averages?model="+aeroStore, true)
		if m := body["metrics"].(map[string]any); len(m) != 5 || m["humidity"] != nil {
			t.Errorf("all metrics: %v", keys(m))
		}
	})

	t.Run("stats", func(t *testing.T) {
		for _, w := range []string{"1d", "7d", "30d"} {
			code, body, _ := get(t, srv, aeroPath+"?window="+w, true)
			if code != http.StatusOK {
				t.Fatalf("%s: %d %v", w, code, body)
			}
			wantKeys(t, "stats", body, "model", "window", "from", "to", "sample_size", "records", "field_samples",
				"relative_accuracy", "metrics", "suppressed_metrics", "cop")
			if body["window"] != w || body["to"] != "2026-11-27" || body["sample_size"] != 6.0 {
				t.Errorf("%s: %v", w, body)
			}
			temp := body["metrics"].(map[string]any)["temp_outside"].(map[string]any)
			wantKeys(t, "metric", temp, "count", "installations", "mean", "min", "max", "p5", "p25", "p50", "p75", "p95")
			if sup := body["suppressed_metrics"].([]any); len(sup) != 1 || sup[0] != "humidity" {
				t.Errorf("suppressed %v", sup)
			}
			cop := body["cop"].(map[string]any)
			if bands := cop["bands"].([]any); len(bands) == 0 || cop["thermal"] != "power_thermal" {
				t.Errorf("cop %v", cop)
			}
			for _, b := range cop["bands"].([]any) {
				if n := b.(map[string]any)["installations"].(float64); n < 5 {
					t.Errorf("band below the floor served: %v", b)
				}
			}
		}
		code, body, _ := get(t, srv, "/api/v1/stats/"+aeroStore, true)
		if code != http.StatusOK || body["window"] != "7d" || body["from"] != "2026-11-21" {
			t.Errorf("default window: %d %v", code, body)
		}
	})

	t.Run("rank", func(t *testing.T) {
		code, body, _ := get(t, srv, aeroPath+"/rank?installation_id="+instID(3)+"&metric=temp_heat_pump_flow", true)
		if code != http.StatusOK {
			t.Fatalf("%d %v", code, body)
		}
		wantKeys(t, "rank", body, "model", "metric", "window", "installation_id", "value", "percentile", "sample_size")
		means := instMeans(f.rows(aeroStore, day0, anchor), "temp_heat_pump_flow")
		own := means[instID(3)]
		below, ties := 0.0, 0.0
		for _, m := range means {
			if m < own {
				below++
			} else if m == own {
				ties++
			}
		}
		pct := math.Round(1000*(below+ties/2)/float64(len(means))) / 10
		if body["window"] != "30d" || math.Abs(body["value"].(float64)-own) > 1e-9 || body["percentile"] != pct || body["sample_size"] != 6.0 {
			t.Errorf("rank %v, want value %v percentile %v", body, own, pct)
		}
	})

	errorCases := []struct {
		name, path string
		auth       bool
		code       int
		detail     string
	}{
		{"averages without token", "/api/v1/community/averages?model=" + aeroStore, false, 401, "missing"},
		{"averages without model", "/api/v1/community/averages?metrics=temp_outside", true, 400, "model is required"},
		{"averages, bad model", "/api/v1/community/averages?model=..%2Fetc", true, 400, "must not contain"},
		{"averages, model with *", "/api/v1/community/averages?model=AERO*", true, 400, "only letters"},
		{"averages, bad metric", "/api/v1/community/averages?model=" + aeroStore + "&metrics=temp-outside", true, 400, "invalid metric name \"temp-outside\""},
		{"averages, empty metric", "/api/v1/community/averages?model=" + aeroStore + "&metrics=a,,b", true, 400, "empty metric name"},
		{"averages, model twice", "/api/v1/community/averages?model=a&model=b", true, 400, "given 2 times"},
		{"averages, malformed query", "/api/v1/community/averages?model=%zz", true, 400, "malformed"},
		{"averages, unknown model", "/api/v1/community/averages?model=NOPE", true, 404, "no statistics for heat-pump model \"NOPE\""},
		{"averages below the floor", "/api/v1/community/averages?model=" + url.QueryEscape(terra), true, 404, "fewer than 5 installations"},
		{"stats without token", aeroPath, false, 401, ""},
		{"stats, bad window", aeroPath + "?window=2d", true, 400, "want one of 1d, 7d, 30d"},
		{"stats, bad model", "/api/v1/stats/AERO*", true, 400, "only letters"},
		{"stats, unknown model", "/api/v1/stats/NOPE", true, 404, "no statistics"},
		{"stats below the floor", "/api/v1/stats/" + terraStor + "?window=30d", true, 404, "fewer than 5 installations"},
		{"rank without token", aeroPath + "/rank?installation_id=" + instID(1) + "&metric=temp_outside", false, 401, ""},
		{"rank, bad installation", aeroPath + "/rank?installation_id=123&metric=temp_outside", true, 400, "canonical form"},
		{"rank, no installation", aeroPath + "/rank?metric=temp_outside", true, 400, "canonical form"},
		{"rank, no metric", aeroPath + "/rank?installation_id=" + instID(1), true, 400, "metric is required"},
		{"rank, bad metric", aeroPath + "/rank?installation_id=" + instID(1) + "&metric=a-b", true, 400, "invalid metric name"},
		{"rank, bad window", aeroPath + "/rank?installation_id=" + instID(1) + "&metric=temp_outside&window=1y", true, 400, "window"},
		{"rank below the floor", aeroPath + "/rank?installation_id=" + instID(1) + "&metric=humidity", true, 404, "fewer than 5 installations"},
		{"rank, metric unknown", aeroPath + "/rank?installation_id=" + instID(1) + "&metric=brine", true, 404, "no brine values"},
		{"rank, other model's installation", aeroPath + "/rank?installation_id=" + instID(8) + "&metric=temp_outside", true, 404, "has no temp_outside values"},
		{"rank, unknown model", "/api/v1/stats/NOPE/rank?installation_id=" + instID(1) + "&metric=temp_outside", true, 404, "no statistics"},
	}
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) {
			code, body, _ := get(t, srv, c.path, c.auth)
			wantKeys(t, "error", body, "detail")
			if detail, _ := body["detail"].(string); code != c.code || !strings.Contains(detail, c.detail) {
				t.Errorf("%d %q, want %d containing %q", code, detail, c.code, c.detail)
			}
		})
	}

	// A wrong token is the middleware's 403.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+aeroPath, nil)
	req.Header.Set("Authorization", "Bearer nope")
	if resp, err := srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong token: %v %v", resp.StatusCode, err)
	}

	// No input makes a 5xx.
	for _, path := range []string{
		"/api/v1/community/averages?model=" + strings.Repeat("A", 500),
		"/api/v1/community/averages?model=%00&metrics=%00",
		"/api/v1/community/averages?model=" + aeroStore + "&metrics=" + strings.Repeat("a,", 600) + "a",
		"/api/v1/community/averages?model=" + aeroStore + "&metrics=" + strings.Repeat("x", 100),
		"/api/v1/stats/%2E%2E%2Fx",
		"/api/v1/stats/" + aeroStore + "/rank?installation_id=00000000-0000-0000-0000-000000000000&metric=x",
		"/api/v1/stats/" + aeroStore + "/rank?installation_id=" + strings.ToUpper(instID(3)) + "&metric=temp_outside",
		"/api/v1/stats/" + aeroStore + "?window=",
		"/api/v1/stats/" + aeroStore + "?window=%",
		"/api/v1/stats/" + aeroStore + "/rank?metric=a;b",
	} {
		code, body, _ := get(t, srv, path, true)
		if code >= 500 || (code >= 400 && body["detail"] == nil) {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
}

// Before the first refresh every endpoint says it is loading: 503 with
// Retry-After (collectors retry 503).
func TestEndpointsBeforeLoad(t *testing.T) {
	v := newView(t, openBucket(t, "mem://"), viewAt, ViewConfig{}, nil)
	srv := serve(t, v)
	for _, path := range []string{"/api/v1/pool/status", "/api/v1/community/averages?model=X", "/api/v1/stats/X", "/api/v1/stats/X/rank?installation_id=" + instID(1) + "&metric=a"} {
		code, body, h := get(t, srv, path, true)
		if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || body["detail"] == nil {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
}

// An empty but loaded pool answers pool status with the shortfall.
func TestPoolStatusEmpty(t *testing.T) {
	v := newView(t, openBucket(t, "mem://"), viewAt, ViewConfig{}, nil)
	if err := v.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, body, _ := get(t, serve(t, v), "/api/v1/pool/status", false)
	models, ok := body["models_available"].([]any)
	if code != http.StatusOK || !ok || len(models) != 0 || body["data_sufficient"] != false ||
		body["message"] != "Building data pool: the data pool has 0 of the 5 installations and 0 of the 10,000 field samples needed from the last 30 days. Data is being collected - thank you for contributing!" ||
		!strings.Contains(body["message_de"].(string), "0 von 5 benötigten Installationen und 0 von 10.000 benötigten Datenpunkten") {
		t.Errorf("%d %v", code, body)
	}
}

func TestRound2(t *testing.T) {
	for in, want := range map[float64]string{-0.001: "0", 1.005: "1", 2.6749: "2.67", 2.6751: "2.68", -3.14159: "-3.14", 12345.678: "12345.68"} {
		got, _ := json.Marshal(round2(in))
		if string(got) != want {
			t.Errorf("round2(%v) = %s, want %s", in, got, want)
		}
	}
}
