package stats

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// Routes mounts the statistics endpoints on r. requireToken is the bearer
// token middleware; pool status is public, the rest need it.
//
//	GET /api/v1/pool/status                                      public
//	GET /api/v1/community/averages?model=&metrics=a,b            bearer
//	GET /api/v1/stats/{model}?window=1d|7d|30d                   bearer
//	GET /api/v1/stats/{model}/rank?installation_id=&metric=&window=  bearer
func (v *View) Routes(r chi.Router, requireToken func(http.Handler) http.Handler) {
	if requireToken == nil {
		panic("stats: Routes needs the bearer token middleware")
	}
	r.Get("/api/v1/pool/status", v.servePool)
	r.With(requireToken).Get("/api/v1/community/averages", v.serveAverages)
	r.With(requireToken).Get("/api/v1/stats/{model}", v.serveStats)
	r.With(requireToken).Get("/api/v1/stats/{model}/rank", v.serveRank)
}

// metricName is what ingest accepts as a metric name, and so what may be
// asked for.
var metricName = regexp.MustCompile(`^[a-zA-Z0-9_]+$`)

const (
	maxMetricNameLen = 64
	maxMetricsAsked  = 500
	defaultWindow    = "7d"
	rankWindow       = "30d"
)

// writeError answers status with {"detail": msg}, the shape of every error
// of this server.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Every figure is finite by construction; this is a bug.
		writeError(w, http.StatusInternalServerError, "internal error encoding the statistics")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(data, '\n'))
}

// snapshot returns the view's state or answers 503 while none is loaded.
func (v *View) snapshotOr503(w http.ResponseWriter) *snapshot {
	s := v.snap.Load()
	if s == nil {
		w.Header().Set("Retry-After", "30")
		writeError(w, http.StatusServiceUnavailable, "statistics are still loading; retry in a minute")
	}
	return s
}

// query parses the query string strictly: a malformed escape is a 400,
// not a silently dropped parameter.
func query(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query string is malformed (%v); percent-encode special characters", err))
		return nil, false
	}
	return q, true
}

// param returns a parameter given at most once ("" when absent).
func param(w http.ResponseWriter, q url.Values, name string) (string, bool) {
	vals := q[name]
	if len(vals) > 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s is given %d times; give it once", name, len(vals)))
		return "", false
	}
	if len(vals) == 0 {
		return "", true
	}
	return vals[0], true
}

// model validates a heat-pump model name and returns its storage name.
func model(w http.ResponseWriter, raw string) (string, bool) {
	if raw == "" {
		writeError(w, http.StatusBadRequest, "model is required: the heat-pump model name, e.g. model=AERO SLM 3-11")
		return "", false
	}
	storage, err := lake.ModelStorageName(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("model %q: %v", truncate(raw), err))
		return "", false
	}
	return storage, true
}

func checkMetric(w http.ResponseWriter, name string) bool {
	switch {
	case name == "":
		writeError(w, http.StatusBadRequest, "empty metric name; give names separated by commas, e.g. metrics=temp_outside,power_current")
		return false
	case len(name) > maxMetricNameLen || !metricName.MatchString(name):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid metric name %q: use letters, digits and _ only (^[a-zA-Z0-9_]+$), at most %d characters", truncate(name), maxMetricNameLen))
		return false
	}
	return true
}

// modelParam is the {model} path segment, decoded. chi matches the raw
// path when the request's escaping is not the default one.
func modelParam(r *http.Request) string {
	p := chi.URLParam(r, "model")
	if r.URL.RawPath != "" {
		if u, err := url.PathUnescape(p); err == nil {
			return u
		}
	}
	return p
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// queryWindow resolves the window a request asks for (its window
// parameter, def when absent) for a model, answering the error itself when
// there is none to serve.
func (v *View) queryWindow(w http.ResponseWriter, q url.Values, storage, asked, def string) (*window, bool) {
	name, ok := param(w, q, "window")
	if !ok {
		return nil, false
	}
	i, ok := v.windowIndex(w, name, def)
	if !ok {
		return nil, false
	}
	s := v.snapshotOr503(w)
	if s == nil {
		return nil, false
	}
	return v.modelWindow(w, s, storage, asked, i)
}

// windowIndex finds a window by name; "" takes def.
func (v *View) windowIndex(w http.ResponseWriter, name, def string) (int, bool) {
	if name == "" {
		name = def
	}
	names := v.Windows()
	if i := slices.Index(names, name); i >= 0 {
		return i, true
	}
	writeError(w, http.StatusBadRequest, fmt.Sprintf("window %q: want one of %s", truncate(name), strings.Join(names, ", ")))
	return 0, false
}

// modelWindow finds a model's window and applies the privacy floor: a 404
// when the model is unknown, has no data in the window, or has fewer than
// K installations in it. Below the floor is a 404 rather than a 403: to
// the caller the figures do not exist (yet), and 403 on this API means a
// wrong token.
func (v *View) modelWindow(w http.ResponseWriter, s *snapshot, storage, asked string, i int) (*window, bool) {
	mv := s.models[storage]
	if mv == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no statistics for heat-pump model %q in the last %d days", truncate(asked), v.cfg.Days))
		return nil, false
	}
	win := mv.windows[i]
	span := "the " + win.name + " window"
	if !win.to.IsZero() {
		span = fmt.Sprintf("the %s window (%s to %s)", win.name, lake.Day(win.from), lake.Day(win.to))
	}
	if win.installations == 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no data for heat-pump model %q in %s", truncate(asked), span))
		return nil, false
	}
	if win.installations < v.cfg.K {
		writeError(w, http.StatusNotFound, fmt.Sprintf("statistics for heat-pump model %q in %s cover fewer than %d installations; "+
			"they are published only from %d installations on, so that no installation's data can be singled out", truncate(asked), span, v.cfg.K, v.cfg.K))
		return nil, false
	}
	return win, true
}

func (v *View) servePool(w http.ResponseWriter, r *http.Request) {
	s := v.snapshotOr503(w)
	if s == nil {
		return
	}
	writeJSON(w, s.pool)
}

// averagesResponse is exactly the shape the earlier server answered.
type averagesResponse struct {
	Model      string                   `json:"model"`
	Window     string                   `json:"window"`
	SampleSize int                      `json:"sample_size"`
	Metrics    map[string]averageFigure `json:"metrics"`
}

type averageFigure struct {
	Avg float64 `json:"avg"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// serveAverages answers community/averages from the last complete day
// (the 1d window). avg is the mean of the installations' own daily means,
// so that each installation weighs the same (the earlier server's
// avg(avg_over_time)); min and max are over all values. Figures are
// rounded to 2 decimals as before. Metrics that are unknown for the model
// or sent by fewer than K installations are left out; without metrics=,
// every metric is answered.
func (v *View) serveAverages(w http.ResponseWriter, r *http.Request) {
	q, ok := query(w, r)
	if !ok {
		return
	}
	asked, ok := param(w, q, "model")
	if !ok {
		return
	}
	storage, ok := model(w, asked)
	if !ok {
		return
	}
	list, ok := param(w, q, "metrics")
	if !ok {
		return
	}
	var names []string
	if strings.TrimSpace(list) != "" {
		for n := range strings.SplitSeq(list, ",") {
			n = strings.TrimSpace(n)
			if !checkMetric(w, n) {
				return
			}
			names = append(names, n)
		}
		if len(names) > maxMetricsAsked {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%d metrics asked for; at most %d at once", len(names), maxMetricsAsked))
			return
		}
	}
	s := v.snapshotOr503(w)
	if s == nil {
		return
	}
	win, ok := v.modelWindow(w, s, storage, asked, 0)
	if !ok {
		return
	}
	if names == nil {
		names = slices.Collect(maps.Keys(win.metrics))
	}
	resp := averagesResponse{Model: asked, Window: "24h", SampleSize: win.installations, Metrics: map[string]averageFigure{}}
	for _, n := range names {
		mv := win.metrics[n]
		if mv == nil || len(mv.sorted) < v.cfg.K {
			continue
		}
		resp.Metrics[n] = averageFigure{Avg: round2(mv.avgOfMeans), Min: round2(mv.Min), Max: round2(mv.Max)}
	}
	writeJSON(w, resp)
}

// round2 rounds to 2 decimals, as the earlier server did; adding 0 turns
// a -0 into 0.
func round2(x float64) float64 { return math.Round(x*100)/100 + 0 }

// StatsResponse is the answer of GET /api/v1/stats/{model}.
type StatsResponse struct {
	Model      string `json:"model"`
	Window     string `json:"window"`
	From       string `json:"from"`
	To         string `json:"to"`
	SampleSize int    `json:"sample_size"`
	Records    int64  `json:"records"`
	// FieldSamples counts the non-null metric values.
	FieldSamples int64 `json:"field_samples"`
	// RelativeAccuracy is the quantiles' guarantee (0.01: ±1 %).
	RelativeAccuracy float64                `json:"relative_accuracy"`
	Metrics          map[string]MetricStats `json:"metrics"`
	// SuppressedMetrics are sent by fewer than K installations in the
	// window: their figures are withheld.
	SuppressedMetrics []string  `json:"suppressed_metrics"`
	COP               *COPStats `json:"cop,omitempty"`
}

// MetricStats is one metric over a window.
type MetricStats struct {
	Count         int64   `json:"count"`
	Installations int     `json:"installations"`
	Mean          float64 `json:"mean"`
	Min           float64 `json:"min"`
	Max           float64 `json:"max"`
	Quantiles
}

// COPStats is the efficiency curve over a window.
type COPStats struct {
	Thermal         string      `json:"thermal"`
	Electric        string      `json:"electric"`
	Outside         string      `json:"outside"`
	Compressor      string      `json:"compressor,omitempty"`
	MinElectric     float64     `json:"min_electric"`
	MaxCOP          float64     `json:"max_cop"`
	Bands           []BandStats `json:"bands"`
	SuppressedBands []string    `json:"suppressed_bands"`
}

// BandStats is the COP in one outdoor-temperature band.
type BandStats struct {
	Band           string   `json:"band"`
	From           *float64 `json:"from,omitempty"`
	To             *float64 `json:"to,omitempty"`
	Count          int64    `json:"count"`
	Installations  int      `json:"installations"`
	Mean           float64  `json:"mean"`
	EnergyWeighted float64  `json:"energy_weighted"`
	Quantiles
}

func (v *View) serveStats(w http.ResponseWriter, r *http.Request) {
	asked := modelParam(r)
	storage, ok := model(w, asked)
	if !ok {
		return
	}
	q, ok := query(w, r)
	if !ok {
		return
	}
	win, ok := v.queryWindow(w, q, storage, asked, defaultWindow)
	if !ok {
		return
	}
	resp := StatsResponse{Model: asked, Window: win.name, From: lake.Day(win.from), To: lake.Day(win.to),
		SampleSize: win.installations, Records: win.records, FieldSamples: win.fieldSamples,
		RelativeAccuracy: RelativeAccuracy, Metrics: map[string]MetricStats{}, SuppressedMetrics: []string{}}
	for name, mv := range win.metrics {
		if mv.Installations < v.cfg.K {
			resp.SuppressedMetrics = append(resp.SuppressedMetrics, name)
			continue
		}
		resp.Metrics[name] = MetricStats{Count: mv.Count, Installations: mv.Installations, Mean: mv.Mean,
			Min: mv.Min, Max: mv.Max, Quantiles: mv.Quantiles}
	}
	slices.Sort(resp.SuppressedMetrics)
	if c := win.cop; c != nil {
		cs := &COPStats{Thermal: c.Thermal, Electric: c.Electric, Outside: c.Outside, Compressor: c.Compressor,
			MinElectric: c.MinElectric, MaxCOP: c.MaxCOP, Bands: []BandStats{}, SuppressedBands: []string{}}
		for _, b := range c.Bands {
			if b.Installations < v.cfg.K {
				cs.SuppressedBands = append(cs.SuppressedBands, b.Band)
				continue
			}
			cs.Bands = append(cs.Bands, BandStats{Band: b.Band, From: b.From, To: b.To, Count: b.Count,
				Installations: b.Installations, Mean: b.Mean, EnergyWeighted: b.EnergyWeighted, Quantiles: b.Quantiles})
		}
		resp.COP = cs
	}
	writeJSON(w, resp)
}

// RankResponse is the answer of GET /api/v1/stats/{model}/rank: the
// caller's own mean and where it stands, nothing about anyone else.
type RankResponse struct {
	Model          string  `json:"model"`
	Metric         string  `json:"metric"`
	Window         string  `json:"window"`
	InstallationID string  `json:"installation_id"`
	Value          float64 `json:"value"`
	// Percentile is the share of installations whose mean is below the
	// caller's, ties counting half, in percent (0–100, one decimal).
	Percentile float64 `json:"percentile"`
	SampleSize int     `json:"sample_size"`
}

func (v *View) serveRank(w http.ResponseWriter, r *http.Request) {
	asked := modelParam(r)
	storage, ok := model(w, asked)
	if !ok {
		return
	}
	q, ok := query(w, r)
	if !ok {
		return
	}
	id, ok := param(w, q, "installation_id")
	if !ok {
		return
	}
	if u, err := uuid.Parse(id); err != nil || len(id) != 36 || u == uuid.Nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("installation_id %q: want the collector's UUID in canonical form (8-4-4-4-12 hex digits)", truncate(id)))
		return
	}
	id = strings.ToLower(id)
	metric, ok := param(w, q, "metric")
	if !ok {
		return
	}
	if metric == "" {
		writeError(w, http.StatusBadRequest, "metric is required, e.g. metric=temp_outside")
		return
	}
	if !checkMetric(w, metric) {
		return
	}
	win, ok := v.queryWindow(w, q, storage, asked, rankWindow)
	if !ok {
		return
	}
	mv := win.metrics[metric]
	if mv == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("heat-pump model %q has no %s values in the %s window", truncate(asked), metric, win.name))
		return
	}
	if len(mv.sorted) < v.cfg.K {
		writeError(w, http.StatusNotFound, fmt.Sprintf("fewer than %d installations of heat-pump model %q sent %s in the %s window; "+
			"a rank is given only from %d on, so that no installation's data can be singled out", v.cfg.K, truncate(asked), metric, win.name, v.cfg.K))
		return
	}
	j, seen := win.installIndex[id]
	if !seen || math.IsNaN(mv.means[j]) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("installation %s has no %s values for heat-pump model %q in the %s window (%s to %s)",
			id, metric, truncate(asked), win.name, lake.Day(win.from), lake.Day(win.to)))
		return
	}
	value := mv.means[j]
	below := sort.SearchFloat64s(mv.sorted, value)
	upTo := sort.Search(len(mv.sorted), func(k int) bool { return mv.sorted[k] > value })
	pct := 100 * (float64(below) + 0.5*float64(upTo-below)) / float64(len(mv.sorted))
	writeJSON(w, RankResponse{Model: asked, Metric: metric, Window: win.name, InstallationID: id,
		Value: value, Percentile: math.Round(pct*10) / 10, SampleSize: len(mv.sorted)})
}
