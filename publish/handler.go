package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// Gate decides whether an installation may download models. The stats
// package implements it; answers must come from memory, since collectors
// call check without authentication and often.
type Gate interface {
	// Check decides for a canonical (lower-case) installation UUID and a
	// heat-pump model's storage name ("" when the collector sent none).
	Check(installationID, model string) Decision
}

// Decision is a Gate's answer, shown to the collector as is.
type Decision struct {
	Eligible bool
	// Reason and ReasonDE explain the decision in English and German.
	Reason, ReasonDE string
	// DataPool describes the pool (installations, samples, thresholds); it
	// is written as a JSON object, {} when nil.
	DataPool any
}

// MediaTypeV3 is the Accept value that selects envelope 3.0 on download.
const MediaTypeV3 = "application/vnd.idmt.model-envelope.v3+json"

// Handler serves the model check, download and public key endpoints from
// a Catalog's memory.
type Handler struct {
	cat    *Catalog
	gate   Gate
	m      *metrics
	pubPEM []byte
	keyID  string
	bufs   sync.Pool
}

// NewHandler builds the handler; its metrics are registered with reg.
func NewHandler(cat *Catalog, gate Gate, reg prometheus.Registerer) (*Handler, error) {
	if cat == nil || gate == nil {
		return nil, errors.New("publish: handler needs a catalog and a gate")
	}
	h := &Handler{cat: cat, gate: gate, m: newMetrics(reg)}
	if k := cat.Keys(); k != nil {
		h.pubPEM, h.keyID = k.PublicKeyPEM(), k.KeyID()
	}
	h.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return h, nil
}

// Routes mounts the endpoints: check answers without Authorization but
// refuses a wrong one (checkTokenIfPresent), download requires a token
// (requireToken), and the public key is public.
func (h *Handler) Routes(r chi.Router, requireToken, checkTokenIfPresent func(http.Handler) http.Handler) {
	if requireToken == nil {
		panic("publish: Routes needs requireToken: model downloads require a bearer token")
	}
	if checkTokenIfPresent == nil {
		checkTokenIfPresent = func(next http.Handler) http.Handler { return next }
	}
	r.With(checkTokenIfPresent).Get("/api/v1/model/check", h.Check)
	r.With(requireToken).Get("/api/v1/model/download", h.Download)
	r.Get("/api/v1/model/pubkey", h.PublicKey)
}

// request is a validated check or download query.
type request struct {
	installation string
	storage      string // "" for the community model
}

// parse reads the query string strictly, as the statistics endpoints do
// (a malformed escape or a ';' is a 400, not a parameter silently dropped,
// which would answer for the community model), and validates
// installation_id and model; a non-empty error message is the 400 detail.
func parse(r *http.Request) (url.Values, request, string) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, request{}, fmt.Sprintf("query string is malformed (%v); percent-encode special characters and separate parameters with &", err)
	}
	req, msg := validate(q)
	return q, req, msg
}

// validate checks installation_id and model.
func validate(q url.Values) (request, string) {
	first := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id := first("installation_id")
	if id == "" {
		return request{}, "installation_id is required: the collector's persistent UUID"
	}
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return request{}, "installation_id " + quote(id) + " is not a UUID in canonical form (8-4-4-4-12 hex digits)"
	}
	if u == uuid.Nil {
		return request{}, "installation_id is the nil UUID; generate a random UUID once and keep it"
	}
	req := request{installation: u.String()}
	if m := first("model"); m != "" {
		req.storage, err = lake.ModelStorageName(m)
		if err != nil {
			return request{}, "model " + quote(m) + ": " + strings.TrimPrefix(err.Error(), lake.ErrInvalidModel.Error()+": ") +
				" (send the heat-pump model as configured, e.g. \"AERO SLM 3-11\", or leave it out for the community model)"
		}
	}
	return req, ""
}

// quote shows at most 64 characters of client input in a message.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// format picks the envelope format: ?format= wins, then Accept.
func format(r *http.Request, q url.Values) (Format, string) {
	if v := q.Get("format"); v != "" {
		f, err := ParseFormat(v)
		if err != nil {
			return "", "format " + quote(v) + ": want 2 (default) or 3"
		}
		return f, ""
	}
	if strings.Contains(r.Header.Get("Accept"), MediaTypeV3) {
		return V3, ""
	}
	return V2, ""
}

// Check answers GET /api/v1/model/check with every key collectors read:
// eligible, reason, reason_de, model_available, model_hash,
// update_available (when current_hash is missing or differs from
// model_hash), model_metadata (object or null) and data_pool (object);
// model_name and release say which release answered. ?format=3 reports the
// hash of envelope 3.0.
func (h *Handler) Check(w http.ResponseWriter, r *http.Request) {
	q, req, msg := parse(r)
	if msg != "" {
		h.m.checkInvalid.Inc()
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	f, msg := format(r, q)
	if msg != "" {
		h.m.checkInvalid.Inc()
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	dec := h.gate.Check(req.installation, req.storage)
	s, scope := h.cat.resolve(req.storage)
	var art *artefactBytes
	if s != nil {
		art = s.env[f]
	}
	current := strings.ToLower(strings.TrimSpace(q.Get("current_hash")))
	update := art != nil && current != art.hash

	bp := h.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"eligible":`...)
	b = appendBool(b, dec.Eligible)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, dec.Reason)
	b = append(b, `,"reason_de":`...)
	b = appendJSONString(b, dec.ReasonDE)
	b = append(b, `,"model_available":`...)
	b = appendBool(b, art != nil)
	b = append(b, `,"model_hash":`...)
	if art != nil {
		b = append(b, art.etag...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"update_available":`...)
	b = appendBool(b, update)
	b = append(b, `,"model_metadata":`...)
	if art != nil {
		b = append(b, s.metaJSON...)
		b = append(b, `,"scope":"`...)
		b = append(b, scope...)
		b = append(b, `","envelope":"`...)
		b = append(b, f.Version()...)
		b = append(b, `"}`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"data_pool":`...)
	b = appendPool(b, dec.DataPool)
	b = append(b, `,"model_name":`...)
	if art != nil {
		b = appendJSONString(b, s.release.Name)
		b = append(b, `,"release":`...)
		b = appendJSONString(b, s.release.ID)
	} else {
		b = append(b, `null,"release":null`...)
	}
	b = append(b, "}\n"...)

	hd := w.Header()
	hd["Content-Type"] = jsonType
	hd["Cache-Control"] = noStore
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b
	h.bufs.Put(bp)

	switch {
	case !dec.Eligible:
		h.m.checkNotEligible.Inc()
	case art == nil:
		h.m.checkNoModel.Inc()
	case update:
		h.m.checkUpdate.Inc()
	default:
		h.m.checkCurrent.Inc()
	}
}

// Header values shared by every response (never modified).
var (
	jsonType   = []string{"application/json"}
	octetType  = []string{"application/octet-stream"}
	v3Type     = []string{MediaTypeV3}
	noStore    = []string{"no-store"}
	noCache    = []string{"private, no-cache"}
	varyAccept = []string{"Accept"}
)

// Download answers GET /api/v1/model/download with the envelope bytes of
// the most specific current release: 400 for a bad query, 403 when the
// installation is not eligible, 404 when there is no model (never 503),
// 304 when If-None-Match holds the hash. The bytes come from memory and go
// out in one Write.
func (h *Handler) Download(w http.ResponseWriter, r *http.Request) {
	q, req, msg := parse(r)
	if msg == "" {
		var f Format
		if f, msg = format(r, q); msg == "" {
			h.download(w, r, req, f)
			return
		}
	}
	h.m.download("", "invalid").Inc()
	writeError(w, http.StatusBadRequest, msg)
}

func (h *Handler) download(w http.ResponseWriter, r *http.Request, req request, f Format) {
	dec := h.gate.Check(req.installation, req.storage)
	if !dec.Eligible {
		h.m.download(f, "not_eligible").Inc()
		reason := dec.Reason
		if reason == "" {
			reason = "this installation is not eligible for model downloads"
		}
		writeError(w, http.StatusForbidden, reason)
		return
	}
	s, _ := h.cat.resolve(req.storage)
	if s == nil || s.env[f] == nil {
		h.m.download(f, "no_model").Inc()
		msg := "no model has been published yet for this heat-pump model, its family or the community; check again tomorrow"
		if s != nil {
			msg = "the current model has no envelope " + f.Version() + "; download format 2"
		}
		writeError(w, http.StatusNotFound, msg)
		return
	}
	a := s.env[f]
	hd := w.Header()
	hd["Etag"] = []string{a.etag}
	hd["Vary"] = varyAccept
	hd["Cache-Control"] = noCache
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, a.hash) {
		h.m.download(f, "not_modified").Inc()
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if f == V3 {
		hd["Content-Type"] = v3Type
	} else {
		hd["Content-Type"] = octetType
	}
	hd["Content-Length"] = []string{a.length}
	hd["X-Model-Hash"] = []string{a.hash}
	hd["X-Model-Name"] = []string{s.release.Name}
	hd["X-Model-Release"] = []string{s.release.ID}
	hd["Content-Disposition"] = []string{`attachment; filename="` + s.release.Name + `.enc"`}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	n, _ := w.Write(a.data)
	h.m.download(f, "served").Inc()
	h.m.bytes(f).Add(float64(n))
}

// etagMatch implements If-None-Match's weak comparison for one entity tag.
func etagMatch(header, hash string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.EqualFold(strings.Trim(t, `"`), hash) {
			return true
		}
	}
	return false
}

// PublicKey answers GET /api/v1/model/pubkey with the Ed25519 public key
// (PKIX PEM) that verifies envelope 3.0, and its ID in X-Key-Id.
func (h *Handler) PublicKey(w http.ResponseWriter, r *http.Request) {
	if h.pubPEM == nil {
		writeError(w, http.StatusNotFound, "this server does not sign envelope 3.0 (no ed25519 key configured)")
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Key-Id", h.keyID)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(h.pubPEM)
}

// writeError answers status with {"detail": msg}, the shape of every error
// of the server (cmd/server.WriteError).
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": msg})
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// appendJSONString quotes s as JSON; strings that need no escaping (every
// reason message in practice) are copied as they are.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendPool writes data_pool, which must be an object.
func appendPool(b []byte, v any) []byte {
	if v == nil {
		return append(b, "{}"...)
	}
	if raw, ok := v.(json.RawMessage); ok && len(raw) > 0 && raw[0] == '{' && json.Valid(raw) {
		return append(b, raw...)
	}
	out, err := json.Marshal(v)
	if err != nil || len(out) == 0 || out[0] != '{' {
		return append(b, "{}"...)
	}
	return append(b, out...)
}

// metrics are the endpoint's counters; children are resolved once so a
// request only increments.
type metrics struct {
	checkUpdate, checkCurrent, checkNoModel, checkNotEligible, checkInvalid prometheus.Counter

	downloads *prometheus.CounterVec
	served    *prometheus.CounterVec
	dl        map[string]prometheus.Counter
	by        map[Format]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	checks := f.NewCounterVec(prometheus.CounterOpts{
		Name: "idmt_publish_checks_total",
		Help: "Model checks by outcome (update, current, no_model, not_eligible, invalid).",
	}, []string{"outcome"})
	m := &metrics{
		checkUpdate:      checks.WithLabelValues("update"),
		checkCurrent:     checks.WithLabelValues("current"),
		checkNoModel:     checks.WithLabelValues("no_model"),
		checkNotEligible: checks.WithLabelValues("not_eligible"),
		checkInvalid:     checks.WithLabelValues("invalid"),
		downloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_publish_downloads_total",
			Help: "Model downloads by envelope format and outcome (served, not_modified, no_model, not_eligible, invalid).",
		}, []string{"format", "outcome"}),
		served: f.NewCounterVec(prometheus.CounterOpts{
			Name: "idmt_publish_served_bytes_total",
			Help: "Envelope bytes sent by model downloads, by envelope format.",
		}, []string{"format"}),
		dl: map[string]prometheus.Counter{},
		by: map[Format]prometheus.Counter{},
	}
	for _, fm := range []Format{V2, V3} {
		for _, o := range []string{"served", "not_modified", "no_model", "not_eligible"} {
			m.dl[string(fm)+o] = m.downloads.WithLabelValues(string(fm), o)
		}
		m.by[fm] = m.served.WithLabelValues(string(fm))
	}
	m.dl["invalid"] = m.downloads.WithLabelValues("", "invalid")
	return m
}

func (m *metrics) download(f Format, outcome string) prometheus.Counter {
	return m.dl[string(f)+outcome]
}

func (m *metrics) bytes(f Format) prometheus.Counter { return m.by[f] }
