package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/idmtelemetry/idmtelemetry/cmd/server"
	"github.com/idmtelemetry/idmtelemetry/ingest"
	"github.com/idmtelemetry/idmtelemetry/lake"
)

// serveFlags are the settings of the HTTPS server.
type serveFlags struct {
	common
	srv            server.Config
	certFile       string
	keyFile        string
	tokensFile     string
	trustedProxies string
	memoryLimit    string
	ingest         ingest.Config
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	f.common.register(fs)
	d := server.DefaultConfig()
	fs.StringVar(&f.srv.Listen, "listen", d.Listen, "HTTPS address (IDMT_LISTEN)")
	fs.StringVar(&f.srv.HTTPListen, "http-listen", "", "plain-HTTP address for a TLS-terminating reverse proxy; needs --trusted-proxies (IDMT_HTTP_LISTEN)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed (IDMT_TRUSTED_PROXIES)")
	fs.StringVar(&f.certFile, "tls-cert", "", "TLS certificate PEM file (default: self-signed, generated in <data-dir>/tls) (IDMT_TLS_CERT)")
	fs.StringVar(&f.keyFile, "tls-key", "", "TLS private key PEM file (IDMT_TLS_KEY)")
	fs.StringVar(&f.tokensFile, "tokens-file", "", "file of bearer tokens, one per line; else IDMT_TOKENS (comma-separated); else one generated in <data-dir>/token (IDMT_TOKENS_FILE)")
	fs.IntVar(&f.srv.PerAddress, "rate-per-address", d.PerAddress, "requests per client address and minute, 0 for no limit (IDMT_RATE_PER_ADDRESS)")
	fs.IntVar(&f.ingest.PerInstallation, "rate-per-installation", 300, "submissions per installation and minute, -1 for no limit (IDMT_RATE_PER_INSTALLATION)")
	fs.Int64Var(&f.ingest.MaxBody, "max-body", 10<<20, "largest request body in bytes, as sent (IDMT_MAX_BODY)")
	fs.Int64Var(&f.ingest.MaxInflated, "max-inflated", 64<<20, "largest gzip/zstd body once inflated, in bytes (IDMT_MAX_INFLATED)")
	fs.Int64Var(&f.ingest.MaxInflight, "max-inflight", 256<<20, "body bytes processed at once; beyond it submissions get 503 + Retry-After (IDMT_MAX_INFLIGHT)")
	fs.StringVar(&f.memoryLimit, "memory-limit", "768MiB", "soft memory limit for the Go runtime (KiB/MiB/GiB), with GOGC 400 below it; GOMEMLIMIT/GOGC, when set, win; 0 for runtime defaults (IDMT_MEMORY_LIMIT)")
	fs.DurationVar(&f.srv.ReadHeaderTimeout, "read-header-timeout", d.ReadHeaderTimeout, "time to read request headers (IDMT_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&f.srv.ReadTimeout, "read-timeout", d.ReadTimeout, "time to read a whole request (IDMT_READ_TIMEOUT)")
	fs.DurationVar(&f.srv.WriteTimeout, "write-timeout", d.WriteTimeout, "time from the end of the headers to the end of the response (IDMT_WRITE_TIMEOUT)")
	fs.DurationVar(&f.srv.IdleTimeout, "idle-timeout", d.IdleTimeout, "keep-alive idle time (IDMT_IDLE_TIMEOUT)")
	fs.DurationVar(&f.srv.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "time given to running requests on SIGINT/SIGTERM (IDMT_SHUTDOWN_TIMEOUT)")
}

func serveCommand(stdout, stderr io.Writer) *ffcli.Command {
	var f serveFlags
	fs := flag.NewFlagSet("idmtelemetry serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	return &ffcli.Command{
		Name:       "serve",
		ShortUsage: "idmtelemetry serve [flags]",
		ShortHelp:  "Run the HTTPS server (stateless; run as many as you like).",
		LongHelp: `Run the HTTPS server: POST /api/v1/submit, GET /health, GET /metrics.

With no flags it runs on the embedded default: a file bucket under
./var/bucket, a self-signed certificate in ./var/tls and a random bearer
token in ./var/token, all generated on the first start and printed.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("serve takes no arguments, got %q", args)}
			}
			return f.serve(ctx, stdout, stderr)
		},
	}
}

// serve runs the server until ctx ends.
func (f *serveFlags) serve(ctx context.Context, stdout, stderr io.Writer) error {
	log, err := f.logger(stdout)
	if err != nil {
		return err
	}
	if f.srv.TrustedProxies, err = server.ParseCIDRs(f.trustedProxies); err != nil {
		return usageError{err}
	}
	if err := applyMemoryLimit(f.memoryLimit); err != nil {
		return usageError{err}
	}
	bucket, err := f.openBucket(ctx)
	if err != nil {
		return err
	}
	defer bucket.Close()
	cert, err := server.LoadCertificate(f.certFile, f.keyFile, f.dataDir)
	if err != nil {
		return err
	}
	toks, err := server.LoadTokens(f.tokensFile, os.Getenv("IDMT_TOKENS"), f.dataDir)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := server.New(f.srv, cert, server.NewTokens(toks.Tokens...), bucket, log, reg, version)
	if err != nil {
		return usageError{err}
	}
	landing, err := lake.NewLanding(bucket, log)
	if err != nil {
		return err
	}
	submit, err := ingest.NewHandler(landing, log, reg, f.ingest)
	if err != nil {
		return err
	}
	srv.Router().With(srv.RequireToken).Post("/api/v1/submit", submit.ServeHTTP)
	if err := srv.Listen(); err != nil {
		return err
	}
	printBanner(stderr, f, srv, cert, toks)
	log.Info("serving", "addr", srv.Addr(), "http_addr", srv.HTTPAddr(), "bucket", redactURL(f.bucket()), "version", version)
	err = srv.Serve(ctx)
	log.Info("stopped")
	return err
}

// printBanner tells a newcomer what they need: where the server listens,
// where data lives and how to submit a first batch. The token is shown
// only when it lives in the data folder (the embedded default); tokens
// from a file or the environment are secrets and never printed.
func printBanner(w io.Writer, f *serveFlags, srv *server.Server, cert *server.Certificate, toks *server.TokenSource) {
	_, port, _ := net.SplitHostPort(srv.Addr())
	url := "https://localhost:" + port
	var b strings.Builder
	fmt.Fprintf(&b, "\nidmtelemetry %s is listening on %s\n", version, url)
	fmt.Fprintf(&b, "  bucket:      %s\n", redactURL(f.bucket()))
	certNote := ""
	if cert.Generated {
		certNote = " (self-signed, generated now)"
	}
	fmt.Fprintf(&b, "  certificate: %s%s\n", cert.CertFile, certNote)
	token := "<your token>"
	defaultToken := toks.File == filepath.Join(f.dataDir, "token")
	if defaultToken {
		token = toks.Tokens[0]
		note := ""
		if toks.Generated {
			note = ", generated now"
		}
		fmt.Fprintf(&b, "  token:       %s (kept in %s%s)\n", token, toks.File, note)
	} else {
		fmt.Fprintf(&b, "  tokens:      %d configured (not shown)\n", len(toks.Tokens))
	}
	fmt.Fprintf(&b, "  metrics:     %s/metrics   health: %s/health\n", url, url)
	fmt.Fprintf(&b, "\nSubmit a first batch:\n")
	fmt.Fprintf(&b, "  curl --cacert %s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", cert.CertFile, token)
	fmt.Fprintf(&b, "    -d '{\"installation_id\":\"550e8400-e29b-41d4-a716-446655440000\",\"heatpump_model\":\"AERO SLM 3-11\",\"version\":\"1.0.0\",\"data\":[{\"timestamp\":%d,\"temp_outside\":5.4,\"temp_heat_pump_flow\":32.1}]}' \\\n", time.Now().Unix())
	fmt.Fprintf(&b, "    %s/api/v1/submit\n\n", url)
	_, _ = io.WriteString(w, b.String())
}

// redactURL hides credentials and query parameters of a bucket URL in
// logs; they may hold secrets.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		u = u[:i] + "?…"
	}
	if at := strings.IndexByte(u, '@'); at >= 0 {
		if s := strings.Index(u, "://"); s >= 0 && s < at {
			u = u[:s+3] + "…" + u[at:]
		}
	}
	return u
}

// applyMemoryLimit tunes the garbage collector for ingest: the live heap
// is small while every request allocates megabytes, so the default GOGC of
// 100 collects every few requests and empties the buffer pools each time.
// With a memory limit the heap may grow to 5× the live heap (GOGC 400)
// and is still collected before the limit; together with the in-flight
// budget this bounds the server's memory. GOMEMLIMIT and GOGC, when set,
// win.
func applyMemoryLimit(v string) error {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	n, err := parseBytes(v)
	if err != nil {
		return fmt.Errorf("--memory-limit %q: %w", v, err)
	}
	if n > 0 {
		debug.SetMemoryLimit(n)
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(400)
		}
	}
	return nil
}

// parseBytes reads "768MiB", "1GiB", "65536" and the like.
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if num, ok := strings.CutSuffix(v, suffix); ok {
			v, mult = strings.TrimSpace(num), m
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("want a size such as 768MiB")
	}
	return n * mult, nil
}
