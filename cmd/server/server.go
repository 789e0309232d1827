package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the server's part of the settings.
type Config struct {
	// Listen is the HTTPS address (":8443").
	Listen string
	// HTTPListen, when set, is a plain-HTTP address for a reverse proxy
	// that terminates TLS; it needs TrustedProxies.
	HTTPListen string
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed.
	TrustedProxies []netip.Prefix
	// PerAddress caps requests per client address and minute (0 disables).
	PerAddress int

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
}

// DefaultConfig returns the documented defaults. The read timeout leaves a
// 10 MiB upload two minutes, enough for a slow DSL uplink.
func DefaultConfig() Config {
	return Config{
		Listen:            ":8443",
		PerAddress:        1200,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      3 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ShutdownTimeout:   20 * time.Second,
	}
}

// Pinger reports whether storage answers; lake.Bucket implements it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server is the HTTPS server with its router.
type Server struct {
	cfg     Config
	cert    *Certificate
	tokens  *Tokens
	log     *slog.Logger
	router  chi.Router
	reg     *prometheus.Registry
	m       *metrics
	health  *health
	version string

	listeners []net.Listener
}

// New builds a server. Routes are added with Route; Serve starts it.
func New(cfg Config, cert *Certificate, tokens *Tokens, storage Pinger, log *slog.Logger, reg *prometheus.Registry, version string) (*Server, error) {
	if cfg.HTTPListen != "" && len(cfg.TrustedProxies) == 0 {
		return nil, errors.New("--http-listen needs --trusted-proxies: plain HTTP is accepted only from trusted reverse proxies")
	}
	if tokens.Len() == 0 {
		return nil, errors.New("no bearer token configured")
	}
	s := &Server{
		cfg: cfg, cert: cert, tokens: tokens, log: log, reg: reg, version: version,
		m: newMetrics(reg),
	}
	s.health = &health{storage: storage, ttl: 2 * time.Second, log: log}
	// Checked at every scrape too (within the same cache), so that the
	// gauge is right without probes hitting /health.
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "idmt_storage_up", Help: "1 when the bucket answers (and, for a local folder, takes a write), 0 otherwise; checked at each scrape and health probe, at most every 2 s.",
	}, s.health.up)); err != nil {
		return nil, err
	}
	r := chi.NewRouter()
	r.Use(s.requestID, s.clientAddr, s.accessLog, s.instrument, s.recoverer, middleware.GetHead)
	if cfg.PerAddress > 0 {
		r.Use(httprate.LimitBy(cfg.PerAddress, time.Minute,
			func(r *http.Request) (string, error) { return clientFrom(r.Context()).String(), nil },
			httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
				s.deny(w, r, http.StatusTooManyRequests, "rate_limited", "too many requests from this address; retry later")
			})))
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		// RFC 9110: a 405 lists the methods the path has. HEAD goes
		// wherever GET does (middleware.GetHead).
		path := req.URL.RawPath // chi routes on the escaped path when there is one
		if path == "" {
			path = req.URL.Path
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := m
			if m == http.MethodHead {
				probe = http.MethodGet
			}
			if r.Match(chi.NewRouteContext(), probe, path) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, http.StatusMethodNotAllowed, "method "+req.Method+" is not allowed on "+req.URL.Path+"; use "+strings.Join(allow, " or "))
	})
	r.Get("/health", s.health.serve(version))
	r.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.router = r
	return s, nil
}

// Router is where callers mount their endpoints.
func (s *Server) Router() chi.Router { return s.router }

// Handler is the complete handler, as the HTTPS listener serves it.
func (s *Server) Handler() http.Handler { return s.router }

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Listen opens the listeners without serving yet, so callers learn the
// bound addresses (port 0 in tests) before Serve.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	s.listeners = append(s.listeners, ln)
	if s.cfg.HTTPListen != "" {
		pl, err := net.Listen("tcp", s.cfg.HTTPListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen %s: %w", s.cfg.HTTPListen, err)
		}
		s.listeners = append(s.listeners, pl)
	}
	return nil
}

// Addr is the bound HTTPS address (after Listen).
func (s *Server) Addr() string { return s.listeners[0].Addr().String() }

// HTTPAddr is the bound plain-HTTP proxy address, "" when disabled.
func (s *Server) HTTPAddr() string {
	if len(s.listeners) < 2 {
		return ""
	}
	return s.listeners[1].Addr().String()
}

// Serve serves until ctx is cancelled, then shuts down gracefully within
// the shutdown timeout; requests still running then are cut off.
func (s *Server) Serve(ctx context.Context) error {
	if len(s.listeners) == 0 {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	tlsSrv := s.httpServer(s.router)
	tlsSrv.TLSConfig = s.cert.TLSConfig()
	servers := []*http.Server{tlsSrv}
	errc := make(chan error, 2)
	go func() { errc <- tlsSrv.ServeTLS(s.listeners[0], "", "") }()
	if len(s.listeners) > 1 {
		plain := s.httpServer(s.onlyTrustedProxies(s.router))
		servers = append(servers, plain)
		go func() { errc <- plain.Serve(s.listeners[1]) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil {
			s.log.Warn("shutdown cut off open requests", "err", serr)
			srv.Close()
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// onlyTrustedProxies guards the plain-HTTP listener: a request must come
// from a trusted proxy and say that the client used HTTPS.
func (s *Server) onlyTrustedProxies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := parseAddr(r.RemoteAddr)
		if err != nil || !s.trusted(peer) {
			s.m.rejections.WithLabelValues("plain_http").Inc()
			WriteError(w, http.StatusForbidden, "plain HTTP is refused; use HTTPS")
			return
		}
		if !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			s.m.rejections.WithLabelValues("plain_http").Inc()
			WriteError(w, http.StatusForbidden, "plain HTTP is refused; the proxy must forward only HTTPS requests (X-Forwarded-Proto: https)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseCIDRs parses a comma-separated list of networks or addresses.
func ParseCIDRs(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: want an address or CIDR such as 10.0.0.0/8", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or CIDR such as 10.0.0.0/8", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
