package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/oklog/ulid/v2"
)

// WriteError answers status with {"detail": msg}, the shape every error of
// this server has.
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": msg})
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	s.m.rejections.WithLabelValues(reason).Inc()
	WriteError(w, status, msg)
}

// requestID gives every request a ULID (time-ordered, so logs sort), kept
// where chi's middleware.GetReqID finds it and echoed in X-Request-Id.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ulid.Make().String()
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), middleware.RequestIDKey, id)))
	})
}

type clientKey struct{}

// clientAddr resolves the client's address: the peer, or, when the peer
// is a trusted proxy, the right-most X-Forwarded-For entry that is not a
// trusted proxy itself. The address stays in memory (rate limits); only
// its masked form is ever logged.
func (s *Server) clientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip, _ := parseAddr(r.RemoteAddr)
		if s.trusted(ip) {
			if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
				hops := strings.Split(strings.Join(xff, ","), ",")
				for i := len(hops) - 1; i >= 0; i-- {
					h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
					if err != nil {
						break
					}
					ip = h
					if !s.trusted(h) {
						break
					}
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, ip.Unmap())))
	})
}

func clientFrom(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientKey{}).(netip.Addr)
	return ip
}

// accessLog writes one line per request with the masked client address.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		client := "invalid"
		if ip := clientFrom(r.Context()); ip.IsValid() {
			client = MaskIP(ip.String())
		}
		level := slog.LevelInfo
		if ww.Status() >= 500 {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", middleware.GetReqID(r.Context())),
			slog.String("method", r.Method),
			slog.String("route", routeOf(r)),
			slog.Int("status", ww.Status()),
			slog.Int64("bytes_in", max(r.ContentLength, 0)),
			slog.Int("bytes_out", ww.BytesWritten()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("client", client),
			slog.String("proto", r.Proto),
		)
	})
}

// routeOf is the route pattern (bounded, safe as a metric label).
func routeOf(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.m.inflight.Inc()
		defer s.m.inflight.Dec()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := routeOf(r)
		code := strconv.Itoa(ww.Status())
		s.m.requests.WithLabelValues(route, r.Method, code).Inc()
		s.m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		s.m.bytesOut.WithLabelValues(route).Add(float64(ww.BytesWritten()))
		if r.ContentLength > 0 {
			s.m.bytesIn.WithLabelValues(route).Add(float64(r.ContentLength))
		}
	})
}

// recoverer turns a panic into a logged 500 instead of a dropped
// connection; a panic is a bug, and the stack says where.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.m.panics.Inc()
				s.log.ErrorContext(r.Context(), "handler panic", "panic", v, "stack", string(debug.Stack()),
					"request_id", middleware.GetReqID(r.Context()))
				WriteError(w, http.StatusInternalServerError, "internal error; it has been logged")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
