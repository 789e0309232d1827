package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/idmtelemetry/idmtelemetry/jobs"
	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/publish"
)

// jobsFlags are the settings of the scheduler-only process and of the
// operator commands under "jobs".
type jobsFlags struct {
	common
	keysFlag
	stats         statsFlags
	metricsListen string
	jobFlags
}

func (f *jobsFlags) register(fs *flag.FlagSet) {
	f.common.register(fs)
	f.keysFlag.register(fs)
	f.stats.register(fs)
	f.jobFlags.register(fs)
	fs.StringVar(&f.metricsListen, "metrics-listen", "localhost:9464", "plain-HTTP address of the scheduler's /metrics (idmt_jobs_*), for Prometheus; \"off\" disables it (IDMT_METRICS_LISTEN)")
}

// open builds the scheduler over the bucket, logging to logTo; close the
// bucket when done.
func (f *jobsFlags) open(ctx context.Context, logTo io.Writer) (*jobs.Runner, *lake.Bucket, error) {
	return f.openWith(ctx, logTo, prometheus.NewRegistry())
}

func (f *jobsFlags) openWith(ctx context.Context, logTo io.Writer, reg *prometheus.Registry) (*jobs.Runner, *lake.Bucket, error) {
	log, err := f.logger(logTo)
	if err != nil {
		return nil, nil, err
	}
	bucket, err := f.openBucket(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Without keys the scheduler still runs (and status still reads);
	// only the publish job fails, saying what is missing.
	var cat *publish.Catalog
	if keys, _, _, err := f.keysFlag.load(f.dataDir, false); err != nil {
		log.Warn("model keys not loaded; the publish job will fail until they are", "err", err)
	} else if cat, err = publish.NewCatalog(bucket, keys, publish.Config{Log: log}); err != nil {
		bucket.Close()
		return nil, nil, err
	}
	p, err := newPipeline(bucket, log, &f.jobFlags, &f.stats, cat)
	if err != nil {
		bucket.Close()
		return nil, nil, err
	}
	r, err := newRunner(p, reg, &f.sched)
	if err != nil {
		bucket.Close()
		return nil, nil, err
	}
	return r, bucket, nil
}

func jobsCommand(stdout, stderr io.Writer) *ffcli.Command {
	var f jobsFlags
	fs := flag.NewFlagSet("idmtelemetry jobs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	return &ffcli.Command{
		Name:       "jobs",
		ShortUsage: "idmtelemetry jobs [status | run JOB | backfill] [flags]",
		ShortHelp:  "Run the job scheduler (no server), or inspect and trigger jobs.",
		LongHelp: `Without a subcommand, run the scheduler alone: the nightly pipeline
compact → stats → train → publish for the UTC day that ended (--nightly,
default 04:30 UTC) and the hourly compaction (--hourly). One scheduler per
bucket holds a lease; others wait and take over when it stops renewing.
Every run is recorded under _jobs/runs/ (see "jobs status").

Jobs: compact, stats, train, publish (nightly, in that order), compact-hourly.`,
		FlagSet: fs,
		Options: ffOptions(),
		Subcommands: []*ffcli.Command{
			jobsStatusCommand(stdout, stderr),
			jobsRunCommand(stdout, stderr),
			jobsBackfillCommand(stdout, stderr),
		},
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unknown jobs subcommand %q: want status, run or backfill", args[0])}
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			r, bucket, err := f.openWith(ctx, stdout, reg)
			if err != nil {
				return err
			}
			defer bucket.Close()
			g, gctx := errgroup.WithContext(ctx)
			if f.metricsListen != "off" {
				ln, err := net.Listen("tcp", f.metricsListen)
				if err != nil {
					return fmt.Errorf("--metrics-listen: %w", err)
				}
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
				srv := &http.Server{Handler: mux,
					ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
				g.Go(func() error {
					if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
						return err
					}
					return nil
				})
				g.Go(func() error {
					<-gctx.Done()
					sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
					defer cancel()
					return srv.Shutdown(sctx)
				})
			}
			g.Go(func() error { return r.Run(gctx) })
			return g.Wait()
		},
	}
}

func jobsStatusCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		f     jobsFlags
		limit int
		job   string
	)
	fs := flag.NewFlagSet("idmtelemetry jobs status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	fs.IntVar(&limit, "limit", 20, "runs to show, newest window first")
	fs.StringVar(&job, "job", "", "only this job's runs")
	return &ffcli.Command{
		Name:       "status",
		ShortUsage: "idmtelemetry jobs status [--job NAME] [--limit N]",
		ShortHelp:  "Show the lease holder, halted jobs and recent runs.",
		FlagSet:    fs,
		Options:    ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("jobs status takes no arguments, got %q", args)}
			}
			r, bucket, err := f.open(ctx, io.Discard)
			if err != nil {
				return err
			}
			defer bucket.Close()
			st, err := r.Status(ctx)
			if err != nil {
				return err
			}
			switch {
			case st.LeaseHolder == "":
				fmt.Fprintln(stdout, "scheduler: none holds the lease")
			default:
				fmt.Fprintf(stdout, "scheduler: %s holds the lease (term %d, until %s)\n", st.LeaseHolder, st.LeaseTerm, st.LeaseExpires.UTC().Format(time.RFC3339))
			}
			for _, h := range st.Halted {
				fmt.Fprintf(stdout, "HALTED: %s since window %s: %s (fix the cause, then: idmtelemetry jobs run %s --day %s --force)\n", h.Job, h.Window, h.Error, h.Job, h.Window)
			}
			recs, err := jobs.Records(ctx, bucket, job, limit)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tWINDOW\tOUTCOME\tATTEMPTS\tSTARTED\tDURATION\tFIGURES / ERROR")
			for _, rec := range recs {
				dur := ""
				if !rec.Finished.IsZero() {
					dur = rec.Finished.Sub(rec.Started).Round(time.Millisecond).String()
				}
				detail := rec.Error
				if detail == "" {
					detail = figures(rec.Figures)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", rec.Job, rec.Window, rec.Outcome, rec.Attempts,
					rec.Started.UTC().Format(time.RFC3339), dur, detail)
			}
			return tw.Flush()
		},
	}
}

// figures prints a run's figures as "k=v" in a stable order.
func figures(m map[string]int64) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func jobsRunCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		f     jobsFlags
		day   string
		force bool
	)
	fs := flag.NewFlagSet("idmtelemetry jobs run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	fs.StringVar(&day, "day", "", "window: the UTC day (YYYY-MM-DD; default yesterday), or for compact-hourly the hour (YYYY-MM-DDTHH)")
	fs.BoolVar(&force, "force", false, "run even if the window is done, and clear a halted job on success (a window whose jobs had nothing to do runs again without it)")
	return &ffcli.Command{
		Name:       "run",
		ShortUsage: "idmtelemetry jobs run JOB [--day D] [--force]",
		ShortHelp:  "Run one job (or \"pipeline\" for all four in order) for one window now.",
		LongHelp: `Run JOB (compact, stats, train, publish, compact-hourly, or pipeline for
the nightly four in order) for one window now, and record it like the
scheduler does. When a scheduler (idmtelemetry run or jobs) holds the
bucket's lease, the request is handed to it (it looks every --lease-ttl/3)
and this command waits for the outcome.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			// Flags may follow the job name (jobs run train --day D).
			if len(args) > 1 {
				if err := fs.Parse(args[1:]); err != nil {
					return usageError{err}
				}
				args = append(args[:1], fs.Args()...)
			}
			if len(args) != 1 {
				return usageError{fmt.Errorf("jobs run needs one job name: compact, stats, train, publish, compact-hourly or pipeline")}
			}
			window := day
			if window == "" {
				window = lake.Day(time.Now().UTC().AddDate(0, 0, -1))
			}
			r, bucket, err := f.open(ctx, stderr)
			if err != nil {
				return err
			}
			defer bucket.Close()
			recs, err := r.RunNow(ctx, args[0], window, force)
			for _, rec := range recs {
				fmt.Fprintf(stdout, "%s %s: %s %s %s\n", rec.Job, rec.Window, rec.Outcome, figures(rec.Figures), rec.Message)
			}
			return err
		},
	}
}

func jobsBackfillCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		f jobsFlags
		w window
	)
	fs := flag.NewFlagSet("idmtelemetry jobs backfill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	fs.StringVar(&w.from, "from", "", "first UTC day (YYYY-MM-DD)")
	fs.StringVar(&w.to, "to", "", "last UTC day (YYYY-MM-DD), inclusive (default yesterday)")
	return &ffcli.Command{
		Name:       "backfill",
		ShortUsage: "idmtelemetry jobs backfill --from D [--to D]",
		ShortHelp:  "Run the nightly pipeline for every day of a range not done yet.",
		LongHelp: `Run compact → stats → train → publish for each UTC day of the range whose
pipeline is not done, oldest first, with a progress bar on a terminal (log
lines otherwise). Needs the bucket's lease: stop a running scheduler first.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			if w.from == "" || len(args) > 0 {
				return usageError{fmt.Errorf("jobs backfill needs --from D (and optionally --to D), no arguments")}
			}
			days, err := w.days(time.Now())
			if err != nil {
				return err
			}
			r, bucket, err := f.open(ctx, stderr)
			if err != nil {
				return err
			}
			defer bucket.Close()
			if err := r.Backfill(ctx, days[0], days[len(days)-1], progress(stderr, "backfilling days")); err != nil {
				return leaseHeld(err)
			}
			fmt.Fprintf(stdout, "backfilled %s to %s; see idmtelemetry jobs status\n", lake.Day(days[0]), lake.Day(days[len(days)-1]))
			return nil
		},
	}
}

func runCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		f  serveFlags
		jf jobFlags
	)
	fs := flag.NewFlagSet("idmtelemetry run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	jf.register(fs)
	return &ffcli.Command{
		Name:       "run",
		ShortUsage: "idmtelemetry run [flags]",
		ShortHelp:  "Run the HTTPS server and the job scheduler in one process (the quick start).",
		LongHelp: `Run the server (submit, model check and download, statistics, health,
metrics) and the scheduler of the nightly pipeline compact → stats → train →
publish in one process.

With no flags it runs on the embedded default: a file bucket under
./var/bucket, a self-signed certificate in ./var/tls, a random bearer token
in ./var/token and model keys in ./var/keys, all generated on the first
start and printed.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("run takes no arguments, got %q", args)}
			}
			a, err := f.setup(ctx, stdout)
			if err != nil {
				return err
			}
			defer a.bucket.Close()
			p, err := newPipeline(a.bucket, a.log, &jf, &f.stats, a.catalog)
			if err != nil {
				return err
			}
			p.refreshView, p.refreshCatalog = a.view.Refresh, a.catalog.Refresh
			runner, err := newRunner(p, a.reg, &jf.sched)
			if err != nil {
				return err
			}
			if err := a.srv.Listen(); err != nil {
				return err
			}
			printBanner(stderr, &f, a, jobsBanner(&jf, f.dataDir))
			a.log.Info("serving", "addr", a.srv.Addr(), "bucket", redactURL(f.bucket()), "version", version, "holder", runner.Holder())
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return a.srv.Serve(gctx) })
			g.Go(func() error { return runner.Run(gctx) })
			g.Go(func() error { a.view.Run(gctx, refreshEvery); return nil })
			g.Go(func() error { a.catalog.Watch(gctx, refreshEvery); return nil })
			err = g.Wait()
			a.log.Info("stopped")
			return err
		},
	}
}

// jobsBanner tells a newcomer when jobs run and how to run them now.
func jobsBanner(jf *jobFlags, dataDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  jobs:        nightly pipeline compact → stats → train → publish at %q UTC, compaction at %q\n", jf.sched.cfg.Nightly, jf.sched.cfg.Hourly)
	fmt.Fprintf(&b, "               run them now: idmtelemetry jobs run pipeline --data-dir %s   (for yesterday, UTC)\n", dataDir)
	fmt.Fprintf(&b, "               see them:     idmtelemetry jobs status --data-dir %s\n", dataDir)
	return b.String()
}
