package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Defaults fit collectors that submit around 02:00 local time in Europe:
// by 04:30 UTC the previous day's batches have landed.
const (
	DefaultNightly     = "30 4 * * *"
	DefaultHourly      = "5 * * * *"
	DefaultCatchUp     = 3
	DefaultLeaseTTL    = 30 * time.Second
	DefaultClockSkew   = 2 * time.Second
	DefaultMaxAttempts = 5
	DefaultBackoff     = 30 * time.Second
)

// Config tunes a Runner. The zero value runs with the defaults above.
type Config struct {
	// Holder identifies this scheduler in the lease and in run records. It
	// must be unique per process; the default is host-pid-random.
	Holder string
	// Nightly is when the pipeline runs for the day that ended; Hourly is
	// when the hourly job runs for the hour that ended. Cron syntax with
	// five fields or a descriptor (@daily, @every 1h), in UTC unless the
	// spec starts with CRON_TZ=<zone>.
	Nightly, Hourly string
	// CatchUp is how many windows back each trigger looks for incomplete
	// work: days for the pipeline, CatchUp×24 hours for the hourly job
	// unless HourlyCatchUp is set.
	CatchUp int
	// HourlyCatchUp, when positive, is how many hours back the hourly job
	// catches up instead. A cumulative hourly job (compaction merges
	// everything not yet consumed, whatever the hour) needs only 1.
	HourlyCatchUp int
	// LeaseTTL is how long a lease term lasts; the holder renews every
	// LeaseTTL/3.
	LeaseTTL time.Duration
	// ClockSkew bounds the difference between the clocks of any two
	// schedulers sharing a bucket. A contender waits this long after a
	// term expires before it takes over. Zero means the default; a
	// negative value means none (one host).
	ClockSkew time.Duration
	// MaxAttempts bounds the attempts of one job for one window within one
	// trigger; Backoff is the wait before the second attempt, doubled
	// before each next one.
	MaxAttempts int
	Backoff     time.Duration
}

func (c Config) withDefaults() Config {
	if c.Holder == "" {
		c.Holder = defaultHolder()
	}
	if c.Nightly == "" {
		c.Nightly = DefaultNightly
	}
	if c.Hourly == "" {
		c.Hourly = DefaultHourly
	}
	if c.CatchUp <= 0 {
		c.CatchUp = DefaultCatchUp
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	if c.ClockSkew < 0 {
		c.ClockSkew = 0
	} else if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	return c
}

// defaultHolder names this process: readable in status output and unique
// even when two schedulers run on one host.
func defaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// parseSchedule reads a cron spec. Specs without a zone are evaluated in
// UTC because the runner always asks for the next time after a UTC time.
func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(strings.TrimSpace(spec))
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}

// Option configures a Runner beyond its Config.
type Option func(*Runner)

// WithClock replaces time.Now; tests use it to place the runner on a given
// day. Timers still run in real time.
func WithClock(now func() time.Time) Option {
	return func(r *Runner) { r.now = now }
}

var jobName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func validJobName(name string) error {
	if !jobName.MatchString(name) {
		return fmt.Errorf("job name %q: want lowercase letters, digits, - and _", name)
	}
	return nil
}
