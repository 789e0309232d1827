package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/idmtelemetry/idmtelemetry/jobs"
	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/publish"
	"github.com/idmtelemetry/idmtelemetry/stats"
	"github.com/idmtelemetry/idmtelemetry/trainer"
)

// Names of the scheduled jobs, in pipeline order, and of the hourly
// compaction. Scripts and docs rely on them.
const (
	jobCompact       = "compact"
	jobStats         = "stats"
	jobTrain         = "train"
	jobPublish       = "publish"
	jobCompactHourly = "compact-hourly"
)

// keysFlag is --keys-dir: the model encryption and signing keys.
type keysFlag struct {
	keysDir string
}

func (k *keysFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&k.keysDir, "keys-dir", "", "folder of fernet.key, ed25519.key and ed25519.pub (default: generated in <data-dir>/keys; IDMT_FERNET_KEY overrides the Fernet key) (IDMT_KEYS_DIR)")
}

// load reads the keys. With no --keys-dir it uses the data folder's keys;
// generate (the server, for the embedded default) creates them on first
// use and returns the files it created. Other commands never generate
// keys: a publish with a wrong data folder must fail, not seal with a new
// random key.
func (k *keysFlag) load(dataDir string, generate bool) (*publish.Keys, string, []string, error) {
	dir := k.keysDir
	if dir == "" {
		dir = filepath.Join(dataDir, "keys")
		if generate {
			keys, created, err := publish.EnsureKeys(dir, os.Getenv)
			return keys, dir, created, err
		}
	}
	keys, err := publish.LoadKeys(dir, os.Getenv)
	switch {
	case err != nil && k.keysDir != "":
		return nil, dir, nil, fmt.Errorf("--keys-dir %s: %w", dir, err)
	case err != nil:
		return nil, dir, nil, fmt.Errorf("%w (start idmtelemetry run or serve once to generate keys in the data folder, or pass --keys-dir)", err)
	}
	return keys, dir, nil, nil
}

// statsFlags are the settings of the statistics job and view.
type statsFlags struct {
	job  stats.JobConfig
	view stats.ViewConfig
}

func (f *statsFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.job.K, "stats-k", stats.DefaultK, "privacy floor: no figure is published for fewer installations (IDMT_STATS_K)")
	fs.IntVar(&f.view.Days, "pool-days", 30, "window of the data pool and the longest statistics window, in days (IDMT_POOL_DAYS)")
	fs.IntVar(&f.view.MinInstallations, "pool-min-installations", 5, "eligibility pool gate: installations needed in the pool window (IDMT_POOL_MIN_INSTALLATIONS)")
	fs.Int64Var(&f.view.MinDataPoints, "pool-min-samples", 10000, "eligibility pool gate: field samples needed in the pool window (IDMT_POOL_MIN_SAMPLES)")
}

func (f *statsFlags) viewConfig() stats.ViewConfig {
	c := f.view
	c.K = f.job.K
	return c
}

// compactFlags are the settings of compaction.
type compactFlags struct {
	retention  time.Duration
	chunk      string
	maxColumns int
}

func (f *compactFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.retention, "retention", 7*24*time.Hour, "how long consumed landing objects are kept for reprocessing; unconsumed ones are never deleted (IDMT_RETENTION)")
	fs.StringVar(&f.chunk, "chunk", "256MiB", "landing JSON merged at once; bounds memory (IDMT_CHUNK)")
	fs.IntVar(&f.maxColumns, "max-columns", 2000, "most metric columns a lake partition file may have; a merge past it halts compaction and names the landing objects to move aside (IDMT_MAX_COLUMNS)")
}

func (f *compactFlags) config() (lake.CompactConfig, error) {
	n, err := parseBytes(f.chunk)
	if err != nil {
		return lake.CompactConfig{}, usageError{fmt.Errorf("--chunk %q: %w", f.chunk, err)}
	}
	if f.maxColumns < 1 {
		return lake.CompactConfig{}, usageError{fmt.Errorf("--max-columns %d: want at least 1", f.maxColumns)}
	}
	return lake.CompactConfig{Retention: f.retention, ChunkBytes: n, MaxColumns: f.maxColumns}, nil
}

// schedFlags are the scheduler's settings.
type schedFlags struct {
	cfg jobs.Config
}

func (f *schedFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cfg.Nightly, "nightly", jobs.DefaultNightly, "cron schedule (UTC; 5 fields or @every 10m) of the nightly pipeline compact → stats → train → publish for the day that ended (IDMT_NIGHTLY)")
	fs.StringVar(&f.cfg.Hourly, "hourly", jobs.DefaultHourly, "cron schedule (UTC) of the hourly compaction; \"off\" disables it (IDMT_HOURLY)")
	fs.IntVar(&f.cfg.CatchUp, "catch-up", jobs.DefaultCatchUp, "days back a starting scheduler completes unfinished pipelines (IDMT_CATCH_UP)")
	fs.DurationVar(&f.cfg.LeaseTTL, "lease-ttl", jobs.DefaultLeaseTTL, "scheduler lease term; a dead holder is replaced after it (IDMT_LEASE_TTL)")
	fs.IntVar(&f.cfg.MaxAttempts, "max-attempts", jobs.DefaultMaxAttempts, "attempts of a failing job per window before it waits for the next trigger (IDMT_MAX_ATTEMPTS)")
	fs.DurationVar(&f.cfg.Backoff, "backoff", jobs.DefaultBackoff, "wait before the first retry, doubled each time (IDMT_BACKOFF)")
}

// jobFlags are the settings of compaction, training and the scheduler,
// shared by run and jobs. (Keys and statistics settings are the server's
// too; see serveFlags and jobsFlags.)
type jobFlags struct {
	compact compactFlags
	train   trainFlags
	sched   schedFlags
}

func (f *jobFlags) register(fs *flag.FlagSet) {
	f.compact.register(fs)
	f.train.register(fs)
	f.sched.register(fs)
}

// pipeline holds the jobs' components over one bucket.
type pipeline struct {
	bucket  *lake.Bucket
	log     *slog.Logger
	compact *lake.Compactor
	stats   *stats.Job
	train   *trainer.Trainer
	catalog *publish.Catalog // nil without keys: the publish job then fails
	days    int              // statistics window: days whose changes the stats job looks for

	// refresh, when set, refreshes the serving process's view and
	// catalog after the stats and publish jobs.
	refreshView    func(context.Context) error
	refreshCatalog func(context.Context) error

	// quarantined counts landing objects compaction moved aside (set by
	// newRunner; nil outside a scheduler).
	quarantined prometheus.Counter
}

// newPipeline builds the jobs' components; cat publishes (nil without
// keys: the publish job then fails, saying so).
func newPipeline(bucket *lake.Bucket, log *slog.Logger, f *jobFlags, sf *statsFlags, cat *publish.Catalog) (*pipeline, error) {
	cc, err := f.compact.config()
	if err != nil {
		return nil, err
	}
	comp, err := lake.NewCompactor(bucket, log, cc)
	if err != nil {
		return nil, err
	}
	sj, err := stats.NewJob(bucket, log, sf.job)
	if err != nil {
		return nil, usageError{err}
	}
	tr, err := trainer.New(bucket, log, f.train.cfg)
	if err != nil {
		return nil, usageError{err}
	}
	days := sf.view.Days
	if days <= 0 {
		days = 30
	}
	return &pipeline{bucket: bucket, log: log, compact: comp, stats: sj, train: tr, catalog: cat, days: days}, nil
}

// jobs adapts the components to the scheduler, in pipeline order.
func (p *pipeline) jobs() []jobs.Job {
	return []jobs.Job{
		{Name: jobCompact, Run: halts(func(ctx context.Context, _ string) (jobs.Result, error) { return p.runCompact(ctx) })},
		{Name: jobStats, Run: halts(p.runStats)},
		{Name: jobTrain, Run: halts(p.runTrain)},
		{Name: jobPublish, Run: halts(p.runPublish)},
	}
}

func (p *pipeline) hourly() *jobs.Job {
	return &jobs.Job{Name: jobCompactHourly, Run: halts(func(ctx context.Context, _ string) (jobs.Result, error) { return p.runCompact(ctx) })}
}

// halts marks the errors that mean an invariant is broken, so that the
// scheduler halts the job (and alerts) instead of retrying: a lake file
// that is not what the lake writes, a partition that would pass the
// column limit, or a trained candidate that is not a valid model
// document. Anything else (storage unreachable, a full disk)
// is worth retrying.
func halts(run func(ctx context.Context, window string) (jobs.Result, error)) func(ctx context.Context, window string) (jobs.Result, error) {
	return func(ctx context.Context, window string) (jobs.Result, error) {
		res, err := run(ctx, window)
		if errors.Is(err, lake.ErrCorrupt) || errors.Is(err, lake.ErrTooManyColumns) || errors.Is(err, publish.ErrInvalidDocument) {
			err = fmt.Errorf("%w: %w", jobs.ErrHalt, err)
		}
		return res, err
	}
}

// runCompact merges every unconsumed landing object, whatever the window:
// compaction is incremental by construction, and a window's batches may
// have been received at any hour.
func (p *pipeline) runCompact(ctx context.Context) (jobs.Result, error) {
	res, err := p.compact.Compact(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	exp, err := p.compact.Expire(ctx)
	if err != nil {
		return jobs.Result{}, err
	}
	out := jobs.Result{Outcome: jobs.Done, Figures: map[string]int64{
		"landing": int64(res.Landing), "quarantined": int64(res.Quarantined), "records": res.Records,
		"partitions": int64(res.Partitions), "rows": res.Rows, "expired": int64(exp.Landing),
	}}
	if p.quarantined != nil {
		p.quarantined.Add(float64(res.Quarantined))
	}
	if res.Landing == 0 {
		out.Outcome, out.Message = jobs.Nothing, "no unconsumed landing objects"
	}
	return out, nil
}

// runStats recomputes the statistics of the days in the pool window that
// ends with the window's day whose partitions changed since their last
// run: new days, and old days that late records reached.
func (p *pipeline) runStats(ctx context.Context, window string) (jobs.Result, error) {
	day, err := lake.ParseDay(window)
	if err != nil {
		return jobs.Result{}, err
	}
	changed, err := p.stats.Changed(ctx, day.AddDate(0, 0, -(p.days-1)), day)
	if err != nil {
		return jobs.Result{}, err
	}
	var rows int64
	for _, d := range changed {
		res, err := p.stats.Compute(ctx, d)
		if err != nil {
			return jobs.Result{}, err
		}
		rows += res.Rows
	}
	if p.refreshView != nil {
		if err := p.refreshView(ctx); err != nil {
			return jobs.Result{}, err
		}
	}
	out := jobs.Result{Outcome: jobs.Done, Figures: map[string]int64{"days": int64(len(changed)), "rows": rows}}
	if len(changed) == 0 {
		out.Outcome, out.Message = jobs.Nothing, "statistics match the lake"
	}
	return out, nil
}

func (p *pipeline) runTrain(ctx context.Context, window string) (jobs.Result, error) {
	day, err := lake.ParseDay(window)
	if err != nil {
		return jobs.Result{}, err
	}
	res, err := p.train.Train(ctx, day)
	if err != nil {
		return jobs.Result{}, err
	}
	out := jobs.Result{Outcome: jobs.Done, Figures: map[string]int64{
		"partitions": int64(res.Partitions), "rows": res.Rows, "models": int64(len(res.Models)),
	}}
	switch {
	case res.Partitions == 0:
		out.Outcome, out.Message = jobs.Nothing, "no lake data in the training window"
	case len(res.Models) == 0:
		out.Outcome, out.Message = jobs.Nothing, "no model has enough installations yet"
	}
	return out, nil
}

// runPublish publishes the candidates trained for the window's day.
func (p *pipeline) runPublish(ctx context.Context, window string) (jobs.Result, error) {
	day, err := lake.ParseDay(window)
	if err != nil {
		return jobs.Result{}, err
	}
	if p.catalog == nil {
		return jobs.Result{}, errors.New("publishing needs the model keys: pass --keys-dir, or start idmtelemetry run once to generate them in the data folder")
	}
	results, err := p.publishDay(ctx, day)
	if err != nil {
		return jobs.Result{}, err
	}
	out := jobs.Result{Outcome: jobs.Done, Figures: map[string]int64{"candidates": int64(len(results))}}
	for _, r := range results {
		out.Figures[string(r.Outcome)]++
	}
	if len(results) == 0 {
		out.Outcome, out.Message = jobs.Nothing, "no candidates for this day"
	}
	return out, nil
}

// publishDay publishes every candidate of day, in name order.
func (p *pipeline) publishDay(ctx context.Context, day time.Time) ([]publish.PublishResult, error) {
	var keys []string
	err := p.bucket.List(ctx, lake.CandidatePrefix(day), func(a lake.Attributes) error {
		if strings.HasSuffix(a.Key, ".json") {
			keys = append(keys, a.Key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []publish.PublishResult
	for _, key := range keys {
		doc, err := p.bucket.Get(ctx, key)
		if err != nil {
			return out, err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(key, lake.CandidatePrefix(day)), ".json")
		res, err := p.catalog.Publish(ctx, name, doc, publish.Provenance{Candidate: key})
		if err != nil {
			return out, fmt.Errorf("publish %s: %w", name, err)
		}
		p.log.Info("model published", "model", name, "outcome", res.Outcome, "release", res.Release.ID)
		out = append(out, res)
	}
	if p.refreshCatalog != nil && len(out) > 0 {
		if err := p.refreshCatalog(ctx); err != nil {
			return out, err
		}
	}
	return out, nil
}

// leaseHeld turns the scheduler's ErrLeaseHeld into what to do about it.
func leaseHeld(err error) error {
	if errors.Is(err, jobs.ErrLeaseHeld) {
		return fmt.Errorf("%w; a running scheduler (idmtelemetry run or jobs) holds the bucket's lease: hand it the job with \"idmtelemetry jobs run JOB\", or stop it first", err)
	}
	return err
}

// exclusive runs a one-shot job command under the bucket's scheduler
// lease, so that it never overlaps a scheduler's jobs (jobs.Exclusive).
func exclusive(ctx context.Context, bucket *lake.Bucket, log *slog.Logger, fn func(ctx context.Context) error) error {
	return leaseHeld(jobs.Exclusive(ctx, bucket, log, jobs.Config{}, fn))
}

// newRunner builds the scheduler over the pipeline.
func newRunner(p *pipeline, reg *prometheus.Registry, f *schedFlags) (*jobs.Runner, error) {
	p.quarantined = promauto.With(reg).NewCounter(prometheus.CounterOpts{
		Name: "idmt_lake_quarantined_objects_total",
		Help: "Landing objects compaction could not decode and moved to _quarantine/ with a reason (an operator looks at them).",
	})
	cfg := f.cfg
	// The runner reads 0 as "the default"; from the command line it is a
	// mistake.
	if cfg.CatchUp < 1 || cfg.MaxAttempts < 1 {
		return nil, usageError{fmt.Errorf("--catch-up %d, --max-attempts %d: want at least 1", cfg.CatchUp, cfg.MaxAttempts)}
	}
	// Compaction merges everything unconsumed whatever the hour: catching
	// up the last hour catches up all of them.
	cfg.HourlyCatchUp = 1
	hourly := p.hourly()
	if cfg.Hourly == "off" {
		cfg.Hourly, hourly = "", nil
	}
	r, err := jobs.NewRunner(p.bucket, p.log, reg, cfg, p.jobs(), hourly)
	if err != nil {
		return nil, usageError{err}
	}
	return r, nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
