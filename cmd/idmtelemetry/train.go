package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/idmtelemetry/idmtelemetry/lake"
	"github.com/idmtelemetry/idmtelemetry/trainer"
)

// trainFlags are the settings of the training job.
type trainFlags struct {
	cfg trainer.Config
}

func (f *trainFlags) register(fs *flag.FlagSet) {
	f.cfg = trainer.DefaultConfig()
	fs.IntVar(&f.cfg.Window, "train-window", f.cfg.Window, "days of lake data a model is trained on, ending with the job's day (IDMT_TRAIN_WINDOW)")
	fs.IntVar(&f.cfg.MinInstallations, "train-min-installations", f.cfg.MinInstallations, "installations a heat-pump model needs for its own model; fewer fall back to the family, then the community model (IDMT_TRAIN_MIN_INSTALLATIONS)")
	fs.IntVar(&f.cfg.SampleRows, "train-sample-rows", f.cfg.SampleRows, "rows in each model's uniform sample; bounds memory (IDMT_TRAIN_SAMPLE_ROWS)")
	fs.IntVar(&f.cfg.Forest.Trees, "train-trees", 100, "isolation trees per model (IDMT_TRAIN_TREES)")
	fs.IntVar(&f.cfg.Forest.SampleSize, "train-psi", 256, "rows each tree is grown on, ψ (IDMT_TRAIN_PSI)")
	fs.Uint64Var(&f.cfg.Forest.Seed, "train-seed", f.cfg.Forest.Seed, "random seed; the same lake and seed give the same model bytes (IDMT_TRAIN_SEED)")
	fs.Float64Var(&f.cfg.Forest.Contamination, "train-contamination", f.cfg.Forest.Contamination, "share of training rows the model's threshold calls anomalous; 0 for scikit-learn's \"auto\" (score > 0.5) (IDMT_TRAIN_CONTAMINATION)")
	fs.IntVar(&f.cfg.Forest.ExtensionLevel, "train-extension-level", f.cfg.Forest.ExtensionLevel, "0 for the original isolation forest, >0 for the Extended Isolation Forest's hyperplane splits through that many features plus one (IDMT_TRAIN_EXTENSION_LEVEL)")
}

func trainCommand(stdout, stderr io.Writer) *ffcli.Command {
	var (
		c       common
		w       window
		f       trainFlags
		cpuprof string
	)
	fs := flag.NewFlagSet("idmtelemetry train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs)
	w.register(fs, "train for")
	f.register(fs)
	fs.StringVar(&cpuprof, "cpuprofile", "", "write a Go CPU profile of the run to this file (diagnostics)")
	return &ffcli.Command{
		Name:       "train",
		ShortUsage: "idmtelemetry train [--day D | --from D --to D] [flags]",
		ShortHelp:  "Train the candidate anomaly models now (default: for yesterday).",
		LongHelp: `Train one isolation forest per heat-pump model on a uniform sample of the
last --train-window days of the lake (ending with the chosen day, yesterday
by default), with features chosen from the data. A model with fewer than
--train-min-installations installations falls back to its family's model
(AERO_SLM_3-11 → AERO_SLM), then to the community model trained on every
row. Candidates are written to _models/candidates/<day>/<name>.json for
"idmtelemetry publish". The same lake and seed give the same bytes.`,
		FlagSet: fs,
		Options: ffOptions(),
		Exec: func(ctx context.Context, args []string) error {
			days, err := w.days(time.Now())
			if err != nil {
				return err
			}
			log, bucket, err := c.start(ctx, "train", args, stderr)
			if err != nil {
				return err
			}
			defer bucket.Close()
			tr, err := trainer.New(bucket, log, f.cfg)
			if err != nil {
				return usageError{err}
			}
			stop, err := cpuProfile(cpuprof)
			if err != nil {
				return err
			}
			defer stop()
			return exclusive(ctx, bucket, log, func(ctx context.Context) error {
				step := progress(stderr, "training")
				for i, day := range days {
					res, err := trainDay(ctx, tr, log, day)
					if err != nil {
						return err
					}
					fmt.Fprint(stdout, describeTraining(res))
					step(i+1, len(days))
				}
				return nil
			})
		},
	}
}

// trainDay runs the training job for one day.
func trainDay(ctx context.Context, tr *trainer.Trainer, log *slog.Logger, day time.Time) (trainer.Result, error) {
	start := time.Now()
	res, err := tr.Train(ctx, day)
	if err != nil {
		return res, fmt.Errorf("train %s: %w", lake.Day(day), err)
	}
	log.Info("training done", "day", lake.Day(day), "models", len(res.Models), "rows", res.Rows, "seconds", time.Since(start).Seconds())
	return res, nil
}

func describeTraining(res trainer.Result) string {
	var b strings.Builder
	day := lake.Day(res.Day)
	if res.Partitions == 0 {
		fmt.Fprintf(&b, "%s: nothing to do: no lake data in the window\n", day)
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d models trained from %d rows in %d partitions\n", day, len(res.Models), res.Rows, res.Partitions)
	for _, m := range res.Models {
		fmt.Fprintf(&b, "  %-24s %-9s %2d installations, %8d rows, %6d sampled, %3d features → %s\n",
			m.Name, m.Level, m.Installations, m.Rows, m.Sampled, m.Features, m.Key)
	}
	for _, name := range slices.Sorted(maps.Keys(res.Skipped)) {
		fmt.Fprintf(&b, "  %-24s no model: %s\n", name, res.Skipped[name])
	}
	return b.String()
}
