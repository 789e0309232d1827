package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/idmtelemetry/idmtelemetry/lake"
)

// window is the --day / --from / --to selection of the job commands.
type window struct {
	day, from, to string
}

func (w *window) register(fs *flag.FlagSet, what string) {
	fs.StringVar(&w.day, "day", "", what+" this UTC day only (YYYY-MM-DD)")
	fs.StringVar(&w.from, "from", "", "first UTC day (YYYY-MM-DD) of a range; with --to")
	fs.StringVar(&w.to, "to", "", "last UTC day (YYYY-MM-DD) of a range, inclusive")
}

// parse returns the selected days; zero times mean no bound.
func (w *window) parse() (from, to time.Time, err error) {
	day := func(flag, v string) (time.Time, error) {
		if v == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return time.Time{}, usageError{fmt.Errorf("--%s %q: want a day as YYYY-MM-DD", flag, v)}
		}
		return t, nil
	}
	if w.day != "" && (w.from != "" || w.to != "") {
		return from, to, usageError{fmt.Errorf("use --day or --from/--to, not both")}
	}
	if w.day != "" {
		d, err := day("day", w.day)
		return d, d, err
	}
	if from, err = day("from", w.from); err != nil {
		return
	}
	if to, err = day("to", w.to); err != nil {
		return
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		err = usageError{fmt.Errorf("--to %s is before --from %s", w.to, w.from)}
	}
	return
}

// days returns the selected days in order; with no selection, the day
// before now (UTC): the nightly jobs' window.
func (w *window) days(now time.Time) ([]time.Time, error) {
	from, to, err := w.parse()
	if err != nil {
		return nil, err
	}
	yesterday := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	switch {
	case from.IsZero() && to.IsZero():
		return []time.Time{yesterday}, nil
	case from.IsZero():
		return nil, usageError{fmt.Errorf("--to needs --from")}
	case to.IsZero():
		to = yesterday
	}
	var out []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, usageError{fmt.Errorf("--from %s is after yesterday (%s)", w.from, lake.Day(yesterday))}
	}
	return out, nil
}

func compactCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		c       common
		w       window
		cf      compactFlags
		cpuprof string
	)
	fs := flag.NewFlagSet("idmtelemetry compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	w.register(fs, "compact the batches received on")
	cf.register(fs)
	fs.StringVar(&cpuprof, "cpuprofile", "", "write a Go CPU profile of the run to this file (diagnostics)")
	return &ffcli.Command{
		Name:       "compact",
		ShortUsage: "idmtelemetry compact [--day D | --from D --to D] [flags]",
		ShortHelp:  "Merge the landing zone into the Parquet lake now.",
		LongHelp: `Merge every unconsumed landing object (or only the batches received on the
chosen days) into lake/telemetry/heatpump_model=*/date=*/, deduplicating on
(installation_id, timestamp), the last received winning. Safe to interrupt
and rerun: it converges to what one uninterrupted run writes. Undecodable
landing objects are moved aside to _quarantine/ with a reason. Afterwards,
consumed landing objects older than --retention are deleted (unconsumed ones
never are). It takes the scheduler's lease for its run; while a scheduler
holds it, use "idmtelemetry jobs run compact" instead.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			cc, err := cf.config()
			if err != nil {
				return err
			}
			if cc.From, cc.To, err = w.parse(); err != nil {
				return err
			}
			log, bucket, err := c.start(ctx, "compact", args, stderr)
			if err != nil {
				return err
			}
			defer bucket.Close()
			comp, err := lake.NewCompactor(bucket, log, cc, lake.WithProgress(progress(stderr, "compacting landing objects")))
			if err != nil {
				return err
			}
			stop, err := cpuProfile(cpuprof)
			if err != nil {
				return err
			}
			defer stop()
			return exclusive(ctx, bucket, log, func(ctx context.Context) error {
				start := time.Now()
				res, err := comp.Compact(ctx)
				if err != nil {
					return err
				}
				if res.Landing == 0 {
					fmt.Fprintln(stdout, "nothing to do: no unconsumed landing objects")
				} else {
					secs := time.Since(start).Seconds()
					fmt.Fprintf(stdout, "compacted %d landing objects (%d quarantined): %d records, %.1f MB of JSON into %d partition files (%d rows) in %.1fs, %.0f records/s\n",
						res.Landing, res.Quarantined, res.Records, float64(res.LandingJSON)/1e6, res.Partitions, res.Rows, secs, float64(res.Records)/secs)
				}
				exp, err := comp.Expire(ctx)
				if err != nil {
					return err
				}
				if exp != (lake.ExpireResult{}) {
					fmt.Fprintf(stdout, "expired %d consumed landing objects and %d hour lists older than %s; kept %d unconsumed; removed %d abandoned temporary files\n",
						exp.Landing, exp.Hours, cf.retention, exp.Kept, exp.TempFiles)
				}
				return nil
			})
		},
	}
}

// cpuProfile starts a Go CPU profile into path ("" for none) and returns
// what stops it.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// progress returns a progress callback: a bar on a terminal, a log line
// every 10% otherwise.
func progress(w io.Writer, what string) func(done, total int) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		return func(done, total int) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(what),
					progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			}
			_ = bar.Set(done)
		}
	}
	last := -1
	return func(done, total int) {
		if pct := done * 10 / max(total, 1); pct != last {
			last = pct
			fmt.Fprintf(w, "%s: %d of %d\n", what, done, total)
		}
	}
}
