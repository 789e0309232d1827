package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/idmtelemetry/idmtelemetry/publish"
	"github.com/idmtelemetry/idmtelemetry/stats"
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
	keysFlag
	stats   statsFlags
	cpuprof string
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
	fs.Int64Var(&f.ingest.MaxBody, "max-body", 32<<20, "largest request body in bytes, as sent; older collectors send 5,000 records (14–21 MB) and never split (IDMT_MAX_BODY)")
	fs.Int64Var(&f.ingest.MaxInflated, "max-inflated", 64<<20, "largest gzip/zstd body once inflated, in bytes (IDMT_MAX_INFLATED)")
	fs.Int64Var(&f.ingest.MaxInflight, "max-inflight", 256<<20, "body bytes processed at once; beyond it submissions get 503 + Retry-After (IDMT_MAX_INFLIGHT)")
	fs.StringVar(&f.memoryLimit, "memory-limit", "768MiB", "soft memory limit for the Go runtime (KiB/MiB/GiB), with GOGC 400 below it; GOMEMLIMIT/GOGC, when set, win; 0 for runtime defaults (IDMT_MEMORY_LIMIT)")
	fs.DurationVar(&f.srv.ReadHeaderTimeout, "read-header-timeout", d.ReadHeaderTimeout, "time to read request headers (IDMT_READ_HEADER_TIMEOUT)")
	fs.DurationVar(&f.srv.ReadTimeout, "read-timeout", d.ReadTimeout, "time to read a whole request (IDMT_READ_TIMEOUT)")
	fs.DurationVar(&f.srv.WriteTimeout, "write-timeout", d.WriteTimeout, "time from the end of the headers to the end of the response (IDMT_WRITE_TIMEOUT)")
	fs.DurationVar(&f.srv.IdleTimeout, "idle-timeout", d.IdleTimeout, "keep-alive idle time (IDMT_IDLE_TIMEOUT)")
	fs.DurationVar(&f.srv.ShutdownTimeout, "shutdown-timeout", d.ShutdownTimeout, "time given to running requests on SIGINT/SIGTERM (IDMT_SHUTDOWN_TIMEOUT)")
	f.keysFlag.register(fs)
	f.stats.register(fs)
	fs.StringVar(&f.cpuprof, "cpuprofile", "", "write a Go CPU profile of the whole run to this file, on shutdown (diagnostics)")
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
		LongHelp: `Run the HTTPS server: POST /api/v1/submit, GET /api/v1/model/check,
/api/v1/model/download and /api/v1/model/pubkey, GET /api/v1/pool/status,
/api/v1/community/averages and /api/v1/stats/{model}[/rank], GET /health and
GET /metrics. It runs no jobs (see run and jobs); it rereads statistics and
published models every 30 s.

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

// app is a server ready to listen: its settings resolved, storage open,
// routes mounted.
type app struct {
	log         *slog.Logger
	bucket      *lake.Bucket
	srv         *server.Server
	reg         *prometheus.Registry
	cert        *server.Certificate
	toks        *server.TokenSource
	keys        *publish.Keys
	keysDir     string
	keysCreated []string
	catalog     *publish.Catalog
	view        *stats.View
}

// setup resolves the settings and builds the server with every endpoint:
// submit, model check and download, statistics, health and metrics.
func (f *serveFlags) setup(ctx context.Context, stdout io.Writer) (*app, error) {
	log, err := f.logger(stdout)
	if err != nil {
		return nil, err
	}
	if f.srv.TrustedProxies, err = server.ParseCIDRs(f.trustedProxies); err != nil {
		return nil, usageError{err}
	}
	if err := applyMemoryLimit(f.memoryLimit); err != nil {
		return nil, usageError{err}
	}
	a := &app{log: log}
	if a.bucket, err = f.openBucket(ctx); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			a.bucket.Close()
		}
	}()
	// A certificate, token or key that cannot be loaded is a configuration
	// mistake, restarting will not fix it; failing to write a generated one
	// may be fixed.
	if a.cert, err = server.LoadCertificate(f.certFile, f.keyFile, f.dataDir); err != nil {
		return nil, configError(err)
	}
	if a.toks, err = server.LoadTokens(f.tokensFile, os.Getenv("IDMT_TOKENS"), f.dataDir); err != nil {
		return nil, configError(err)
	}
	if a.keys, a.keysDir, a.keysCreated, err = f.keysFlag.load(f.dataDir, true); err != nil {
		return nil, configError(err)
	}
	a.reg = prometheus.NewRegistry()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.srv, err = server.New(f.srv, a.cert, server.NewTokens(a.toks.Tokens...), a.bucket, log, a.reg, version); err != nil {
		return nil, usageError{err}
	}
	landing, err := lake.NewLanding(a.bucket, log)
	if err != nil {
		return nil, err
	}
	submit, err := ingest.NewHandler(landing, log, a.reg, f.ingest)
	if err != nil {
		return nil, err
	}
	r := a.srv.Router()
	r.With(a.srv.RequireToken).Post("/api/v1/submit", submit.ServeHTTP)
	if a.view, err = stats.NewView(a.bucket, log, a.reg, f.stats.viewConfig()); err != nil {
		return nil, usageError{err}
	}
	a.view.Routes(r, a.srv.RequireToken)
	if a.catalog, err = publish.NewCatalog(a.bucket, a.keys, publish.Config{Log: log}); err != nil {
		return nil, err
	}
	models, err := publish.NewHandler(a.catalog, gate{a.view}, a.reg)
	if err != nil {
		return nil, err
	}
	models.Routes(r, a.srv.RequireToken, a.srv.CheckTokenIfPresent)
	// Load published releases now, so a restarted server serves them from
	// its first request; Watch keeps them fresh afterwards.
	if err := a.catalog.Refresh(ctx); err != nil {
		log.Warn("published models not loaded yet; retrying in the background", "err", err)
	}
	ok = true
	return a, nil
}

// refreshEvery is how often a server rereads statistics and releases, so
// that the output of jobs run elsewhere (another process holding the
// scheduler lease) reaches every replica.
const refreshEvery = 30 * time.Second

// serve runs the server until ctx ends.
func (f *serveFlags) serve(ctx context.Context, stdout, stderr io.Writer) error {
	a, err := f.setup(ctx, stdout)
	if err != nil {
		return err
	}
	defer a.bucket.Close()
	stop, err := cpuProfile(f.cpuprof)
	if err != nil {
		return err
	}
	defer stop()
	if err := a.srv.Listen(); err != nil {
		return err
	}
	printBanner(stderr, f, a, "")
	a.log.Info("serving", "addr", a.srv.Addr(), "http_addr", a.srv.HTTPAddr(), "bucket", redactURL(f.bucket()), "version", version)
	go a.view.Run(ctx, refreshEvery)
	go a.catalog.Watch(ctx, refreshEvery)
	err = a.srv.Serve(ctx)
	a.log.Info("stopped")
	return err
}

// gate adapts the statistics view to the model endpoints' eligibility.
type gate struct{ v *stats.View }

func (g gate) Check(installationID, model string) publish.Decision {
	d := g.v.Check(installationID, model)
	return publish.Decision{Eligible: d.Eligible, Reason: d.Reason, ReasonDE: d.ReasonDE, DataPool: d.Pool}
}

// printBanner tells a newcomer what they need: where the server listens,
// where data lives and how to submit a first batch. The token is shown
// only when it lives in the data folder (the embedded default); tokens
// from a file or the environment are secrets and never printed.
func printBanner(w io.Writer, f *serveFlags, a *app, jobsNote string) {
	_, port, _ := net.SplitHostPort(a.srv.Addr())
	url := "https://localhost:" + port
	var b strings.Builder
	fmt.Fprintf(&b, "\nidmtelemetry %s is listening on %s\n", version, url)
	fmt.Fprintf(&b, "  bucket:      %s\n", redactURL(f.bucket()))
	certNote := ""
	if a.cert.Generated {
		certNote = " (self-signed, generated now)"
	}
	fmt.Fprintf(&b, "  certificate: %s%s\n", a.cert.CertFile, certNote)
	token := "<your token>"
	toks := a.toks
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
	keysNote := ""
	if len(a.keysCreated) > 0 {
		keysNote = " (generated now)"
	}
	fmt.Fprintf(&b, "  model keys:  %s%s; public key at %s/api/v1/model/pubkey\n", a.keysDir, keysNote, url)
	fmt.Fprintf(&b, "  metrics:     %s/metrics   health: %s/health\n", url, url)
	b.WriteString(jobsNote)
	fmt.Fprintf(&b, "\nSubmit a first batch:\n")
	fmt.Fprintf(&b, "  curl --cacert %s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", a.cert.CertFile, token)
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
