package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// Lander writes an accepted batch durably; lake.Landing implements it.
type Lander interface {
	Land(ctx context.Context, b *lake.Batch) (lake.Landed, error)
}

// Config sizes the submit handler. Zero values take the defaults.
type Config struct {
	// MaxBody caps the request body as sent (default 32 MiB: older
	// collectors send 5,000 records, about 14–21 MB, and never split or
	// retry).
	MaxBody int64
	// MaxInflated caps a gzip or zstd body once inflated (default 64 MiB).
	MaxInflated int64
	// MaxInflight caps the memory held by requests being processed at
	// once (default 256 MiB): each holds its body and its normalized copy,
	// so it is charged twice its (inflated) body size: its Content-Length
	// before the body is read, or, without one, the room made for the body
	// as it arrives. A request that cannot get its share within
	// InflightWait is answered 503 with Retry-After.
	MaxInflight  int64
	InflightWait time.Duration
	// BodyIdle is how long the body may send nothing before the request
	// is answered 408 and its budget freed (default 10 s; collectors give
	// up after 30 s in all): a stalled upload cannot hold memory for the
	// server's whole read timeout.
	BodyIdle time.Duration
	// PerInstallation caps submissions per installation and minute
	// (default 300; negative disables).
	PerInstallation int
	Limits          Limits
}

func (c *Config) defaults() {
	if c.MaxBody <= 0 {
		c.MaxBody = 32 << 20
	}
	if c.MaxInflated <= 0 {
		c.MaxInflated = 64 << 20
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 256 << 20
	}
	// The largest request must fit: its body as sent (with the byte that
	// shows its end, in readBudgeted's doubling steps) and, for gzip or
	// zstd, its inflated body (in budgetChunk steps), each twice.
	if most := footprint * (2*c.MaxBody + c.MaxInflated + budgetChunk); c.MaxInflight < most {
		c.MaxInflight = most
	}
	if c.InflightWait <= 0 {
		c.InflightWait = 2 * time.Second
	}
	if c.BodyIdle <= 0 {
		c.BodyIdle = 10 * time.Second
	}
	if c.PerInstallation == 0 {
		c.PerInstallation = 300
	}
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits
	}
}

// footprint is how many bytes of memory a request holds per body byte:
// the body and its normalized copy.
const footprint = 2

// retryAfter is what overloaded and failing responses ask collectors to
// wait, in seconds.
const retryAfter = "30"

// Handler serves POST /api/v1/submit.
type Handler struct {
	cfg      Config
	dec      *Decoder
	land     Lander
	log      *slog.Logger
	now      func() time.Time
	inflight *semaphore.Weighted
	limiter  *httprate.RateLimiter
	bufs     sync.Pool
	m        *metrics
}

// Option configures a Handler.
type Option func(*Handler)

// WithClock injects the clock that stamps received batches.
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// NewHandler returns the submit handler. Metrics register on reg.
func NewHandler(land Lander, log *slog.Logger, reg prometheus.Registerer, cfg Config, opts ...Option) (*Handler, error) {
	cfg.defaults()
	h := &Handler{
		cfg:      cfg,
		dec:      NewDecoder(cfg.Limits),
		land:     land,
		log:      log,
		now:      time.Now,
		inflight: semaphore.NewWeighted(cfg.MaxInflight),
		m:        newMetrics(reg),
	}
	if cfg.PerInstallation > 0 {
		h.limiter = httprate.NewRateLimiter(cfg.PerInstallation, time.Minute)
	}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// response is the 200 body: the shape collectors expect plus drop counts.
type response struct {
	Status    string `json:"status"`
	Processed int    `json:"processed"`
	Drops
}

// detail is the body of every error answer.
type detail struct {
	Detail string `json:"detail"`
}

// WriteError answers status with {"detail": msg}.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, detail{Detail: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) refuse(w http.ResponseWriter, r *Reject) {
	h.m.rejections.WithLabelValues(r.Reason).Inc()
	if r.Status == http.StatusServiceUnavailable || r.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", retryAfter)
	}
	WriteError(w, r.Status, r.Detail)
}

// ServeHTTP lands one submission. Authentication happened before.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.now()
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			h.refuse(w, reject(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q is not supported; send application/json", ct))
			return
		}
	}
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	if enc != "" && enc != "identity" && enc != "gzip" && enc != "zstd" {
		h.refuse(w, reject(http.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding %q is not supported; send identity, gzip or zstd", enc))
		return
	}
	if r.ContentLength > h.cfg.MaxBody {
		h.refuse(w, tooLarge(h.cfg.MaxBody))
		return
	}
	// A body of known length takes its whole budget at once, before it is
	// read: in a thundering herd, a request either gets all it needs or is
	// told to retry before it sends, rather than stalling half-way beside
	// others that hold part of theirs (measured in docs/BENCHMARKS.md). A
	// body without a length takes budget as it arrives (readBudgeted).
	hold := &budget{sem: h.inflight, gauge: h.m.inflight}
	defer hold.release()
	first := int64(readChunk)
	if r.ContentLength >= 0 {
		first = r.ContentLength + 1 // +1: the read that sees the end
	}
	if err := hold.grow(r.Context(), footprint*first, h.cfg.InflightWait); err != nil {
		h.refuse(w, overloaded())
		return
	}

	bp := h.getBuf()
	defer h.bufs.Put(bp)
	body, rej := h.readBody(w, r, (*bp)[:0], enc, hold)
	if rej != nil {
		h.refuse(w, rej)
		return
	}
	h.m.bodyBytes.Add(float64(len(body)))

	op := h.getBuf()
	defer h.bufs.Put(op)
	// The normalized output is never longer than the body (it only drops,
	// unescapes and shortens), so one allocation up front avoids growing.
	if cap(*op) < len(body)+16 {
		*op = make([]byte, 0, len(body)+16)
	}
	sub, err := h.dec.Decode(body, received, (*op)[:0])
	*bp = body[:0]
	if err != nil {
		if rj, ok := IsReject(err); ok {
			h.refuse(w, rj)
			return
		}
		h.log.ErrorContext(r.Context(), "decode submission", "err", err)
		h.refuse(w, reject(http.StatusUnprocessableEntity, "invalid_body", "body could not be decoded"))
		return
	}
	*op = sub.Data[:0]
	if h.limiter != nil && h.limiter.OnLimit(w, r, sub.InstallationID) {
		h.refuse(w, reject(http.StatusTooManyRequests, "rate_limited", "too many submissions from this installation; retry later"))
		return
	}
	h.m.count(sub)
	if sub.Records > 0 {
		start := time.Now()
		landed, err := h.land.Land(r.Context(), &lake.Batch{
			RequestID:      middleware.GetReqID(r.Context()),
			ReceivedAt:     received,
			InstallationID: sub.InstallationID,
			Model:          sub.Model,
			Version:        sub.Version,
			Records:        sub.Records,
			Data:           sub.Data,
		})
		h.m.landing.Observe(time.Since(start).Seconds())
		if err != nil {
			if r.Context().Err() != nil {
				h.log.InfoContext(r.Context(), "client went away before landing completed", "err", err)
				return
			}
			h.log.ErrorContext(r.Context(), "land batch", "err", err)
			h.m.batches.WithLabelValues("failed").Inc()
			h.refuse(w, reject(http.StatusServiceUnavailable, "storage_unavailable", "storage is temporarily unavailable; the batch was not stored, retry later"))
			return
		}
		outcome := "accepted"
		if !landed.Created {
			outcome = "duplicate"
		} else {
			h.m.group.Observe(float64(landed.Group))
		}
		h.m.batches.WithLabelValues(outcome).Inc()
		h.m.landedBytes.Add(float64(landed.Bytes))
		h.m.records.Add(float64(sub.Records))
	} else {
		h.m.batches.WithLabelValues("empty").Inc()
	}
	writeJSON(w, http.StatusOK, response{Status: "success", Processed: sub.Records, Drops: sub.Drops})
}

// overloaded answers a request that could not get its share of the
// in-flight budget in time.
func overloaded() *Reject {
	return reject(http.StatusServiceUnavailable, "overloaded", "server is busy; retry later")
}

func tooLarge(limit int64) *Reject {
	return reject(http.StatusRequestEntityTooLarge, "body_too_large",
		"body exceeds %s; split the batch into smaller requests", humanBytes(limit))
}

func (h *Handler) getBuf() *[]byte {
	if p, ok := h.bufs.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// readBody reads and, if needed, inflates the body within the caps,
// growing the in-flight budget as the inflated body grows.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf []byte, enc string, hold *budget) ([]byte, *Reject) {
	idle := &idleReader{r: http.MaxBytesReader(w, r.Body, h.cfg.MaxBody), rc: http.NewResponseController(w), idle: h.cfg.BodyIdle}
	body, err := readBudgeted(idle, buf, r.ContentLength, hold.held/footprint,
		func(n int64) error { return hold.grow(r.Context(), footprint*n, h.cfg.InflightWait) })
	// The rest of the request (decoding, landing) must not meet the last
	// read's deadline: the server's background read would take it for a
	// client gone away.
	_ = idle.rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, tooLarge(h.cfg.MaxBody)
		case errors.Is(err, errBudget):
			return nil, overloaded()
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, reject(http.StatusRequestTimeout, "body_idle", "the body sent nothing for %s; send it without pauses", h.cfg.BodyIdle)
		}
		return nil, reject(http.StatusBadRequest, "body_read", "body could not be read completely: %v", err)
	}
	if enc == "" || enc == "identity" {
		return body, nil
	}
	var src io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, reject(http.StatusBadRequest, "bad_encoding", "body is not valid gzip: %v", err)
		}
		src = zr
	case "zstd":
		// A decoder per request: a zstd.Decoder's streaming state is not
		// safe for concurrent use, and zstd bodies are rare.
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(h.cfg.MaxInflated)))
		if err != nil {
			return nil, reject(http.StatusBadRequest, "bad_encoding", "body is not valid zstd: %v", err)
		}
		defer zr.Close()
		src = zr
	}
	out := make([]byte, 0, 2*len(body))
	lw := &limitWriter{buf: out, limit: h.cfg.MaxInflated, hold: hold, ctx: r.Context(), wait: h.cfg.InflightWait}
	if _, err := io.Copy(lw, src); err != nil {
		switch {
		case errors.Is(err, errInflateLimit):
			return nil, reject(http.StatusRequestEntityTooLarge, "inflated_too_large",
				"body inflates to more than %s; split the batch into smaller requests", humanBytes(h.cfg.MaxInflated))
		case errors.Is(err, errBudget):
			return nil, overloaded()
		}
		return nil, reject(http.StatusBadRequest, "bad_encoding", "body is not valid %s: %v", enc, err)
	}
	return lw.buf, nil
}
