// Command heatpump runs the heat-pump fault evaluation of trainer/quality:
// it simulates a fleet, trains a model on a training window as the training
// job does (no labels), and prints the AUC per injected fault kind on the
// following test window.
//
//	go run ./trainer/quality/cmd/heatpump [--baseline] [--ext 0] [--installations 10] ...
//
// It trains as the training job does by default: 30 days, the Extended
// Isolation Forest with extension level trainer.DefaultExtensionLevel.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer"
	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
	"github.com/idmtelemetry/idmtelemetry/trainer/quality"
)

func main() {
	var cfg quality.HeatpumpConfig
	flag.StringVar(&cfg.Model, "model", "AERO SLM 3-11", "catalog heat-pump model")
	flag.IntVar(&cfg.Installations, "installations", 20, "installations in the fleet")
	flag.IntVar(&cfg.TrainDays, "train-days", 30, "days in the training window, which ends where the test window starts (the training job's default is 30)")
	flag.IntVar(&cfg.TestDays, "test-days", 4, "days in the test window")
	testStart := flag.String("test-start", "", "first day of the test window, YYYY-MM-DD (default 2026-02-08)")
	flag.DurationVar(&cfg.Interval, "interval", 30*time.Second, "record interval")
	flag.Float64Var(&cfg.TrainFaultRate, "train-faults", 0.2, "fault episodes per installation and day in the training window (-1: none)")
	flag.Float64Var(&cfg.TestFaultRate, "test-faults", 4, "fault episodes per installation and day in the test window")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "fleet seed")
	forestSeed := flag.Uint64("forest-seed", 1, "forest seed")
	flag.IntVar(&cfg.Forest.ExtensionLevel, "ext", trainer.DefaultExtensionLevel, "extension level: 0 for the original, axis-parallel isolation forest (default: the training job's)")
	flag.BoolVar(&cfg.Features.RawOnly, "baseline", false, "raw fields and counter rates only (the baseline)")
	flag.BoolVar(&cfg.Features.WithRaw, "with-raw", false, "raw fields and counter rates as well as the derived features")
	showFeatures := flag.Bool("features", false, "print the chosen features")
	flag.IntVar(&cfg.Seeds, "seeds", 5, "forests (seeds forest-seed, forest-seed+1, …) to average over")
	flag.BoolVar(&cfg.PerFeature, "per-feature", false, "print the AUC of each feature alone per fault kind")
	flag.BoolVar(&cfg.PerEpisode, "per-episode", false, "print the AUC of each fault episode (with --per-feature: of each feature too)")
	flag.Float64Var(&cfg.FalseAlarms, "false-alarms", 0.001, "share of unlabelled test rows above the alarm threshold of the detected column, in (0, 1)")
	flag.DurationVar(&cfg.Grace, "grace", 0, "leave the unlabelled rows this long after an episode out of the normal rows")
	psi := flag.Int("psi", 256, "rows per tree (ψ)")
	trees := flag.Int("trees", 100, "trees (t)")
	flag.BoolVar(&cfg.ByDeviation, "by-deviation", false, "print the AUC per sensor-fault kind and band of the faulty sensor's deviation from the healthy record (a second, fault-free run)")
	flag.BoolVar(&cfg.ByField, "by-field", false, "print the AUC per sensor-fault kind and faulty field, and for the fields the residual feature predicts and those it does not")
	kindsFlag := flag.String("kinds", "", "with --per-episode: comma-separated fault kinds to print (default all)")
	flag.Parse()
	cfg.Forest = iforest.Config{Seed: *forestSeed, ExtensionLevel: cfg.Forest.ExtensionLevel, SampleSize: *psi, Trees: *trees}

	if *testStart != "" {
		t, err := time.Parse(time.DateOnly, *testStart)
		if err != nil {
			fmt.Fprintln(os.Stderr, "heatpump: --test-start:", err)
			os.Exit(2)
		}
		cfg.TestStart = t
	}
	start := time.Now()
	res, err := quality.Heatpump(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "heatpump:", err)
		os.Exit(1)
	}
	if *showFeatures {
		for _, f := range res.Document.Features {
			fmt.Println(describe(f))
		}
	}
	fmt.Printf("model %s, %d installations, %d training rows (%d sampled), %d test rows (%d normal), %d features, %s\n",
		cfg.Model, cfg.Installations, res.TrainRows, res.Document.Metadata.Rows, res.TestRows, res.NormalRows,
		len(res.Document.Features), time.Since(start).Round(time.Second))
	fmt.Printf("%-14s %8s %8s  %-15s  %8s  %s\n", "fault", "episodes", "rows", "AUC (mean ± sd)", "detected", "median delay")
	for _, f := range append(res.Faults, res.All) {
		delay := "–"
		if f.Detected > 0 {
			delay = f.Delay.Round(time.Minute).String()
		}
		fmt.Printf("%-14s %8d %8d  %.3f ± %.3f  %8d  %s\n", f.Kind, f.Episodes, f.Rows, f.AUC, f.SD, f.Detected, delay)
	}
	fmt.Printf("(detected: episodes with a row above the score that %.2g%% of the unlabelled rows exceed, first forest;\n"+
		" delay: median from the episode's start)\n", 100*cfg.FalseAlarms)
	if cfg.PerEpisode {
		show := map[string]bool{}
		for _, k := range strings.Split(*kindsFlag, ",") {
			if k != "" {
				show[k] = true
			}
		}
		fmt.Printf("\n%-14s %-14s %-5s %6s %6s  %-32s", "episode", "installation", "start", "hours", "AUC", "fields")
		if cfg.ByDeviation {
			fmt.Printf(" %9s", "deviation")
		}
		if cfg.PerFeature {
			for _, f := range res.Document.Features {
				fmt.Printf(" %7.7s", f.Name)
			}
		}
		fmt.Println()
		for _, e := range res.Episodes {
			if len(show) > 0 && !show[e.Kind.String()] {
				continue
			}
			fields := strings.Join(e.Fields, ",")
			if len(e.Fields) > 3 {
				fields = fmt.Sprintf("%d fields", len(e.Fields))
			}
			fmt.Printf("%-14s %-14.14s %-5s %6.1f %6.3f  %-32.32s", e.Kind, e.Installation, e.Start.Format("02T15"),
				e.End.Sub(e.Start).Hours(), e.AUC, fields)
			if cfg.ByDeviation {
				fmt.Printf(" %9.4g", e.Deviation)
			}
			for _, a := range e.PerFeature {
				fmt.Printf(" %7.3f", a)
			}
			fmt.Println()
		}
	}
	if cfg.ByDeviation {
		fmt.Printf("\n%-14s %-13s %8s  %s\n", "fault", "deviation", "rows", "AUC (first forest)")
		for _, b := range res.Bands {
			band := fmt.Sprintf("(%g, %g]", b.Lo, b.Hi)
			if b.Hi == 0 {
				band = "none"
			}
			fmt.Printf("%-14s %-13s %8d  %.3f\n", b.Kind, band, b.Rows, b.AUC)
		}
		fmt.Println("(deviation: the difference between the faulty sensor's value and the healthy record's, in its unit;\n" +
			" kinds that change several fields at once have no bands)")
	}
	if cfg.ByField {
		printFields(res.Fields)
	}
	if cfg.PerFeature {
		fmt.Printf("\n%-36s", "feature AUC alone")
		for _, f := range res.Faults {
			fmt.Printf(" %7.7s", f.Kind)
		}
		fmt.Println()
		for i, f := range res.Document.Features {
			fmt.Printf("%-36.36s", f.Name)
			for _, a := range res.PerFeature[i] {
				fmt.Printf(" %7.3f", a)
			}
			fmt.Println()
		}
	}
}

// printFields prints the AUC per sensor-fault kind and field, then per kind
// for the fields the residual feature predicts and for the others: against
// the same unlabelled rows, a group's AUC is the row-weighted mean of its
// fields'.
func printFields(fields []quality.FieldAUC) {
	fmt.Printf("\n%-14s %-36s %-9s %8s %8s  %s\n", "fault", "field", "predicted", "episodes", "rows", "AUC (first forest)")
	type group struct {
		episodes, rows int
		sum            float64
	}
	groups := map[string]*[2]group{}
	var kinds []string
	for _, f := range fields {
		fmt.Printf("%-14s %-36s %-9s %8d %8d  %.3f\n", f.Kind, f.Field, yesNo(f.Predicted), f.Episodes, f.Rows, f.AUC)
		if groups[f.Kind] == nil {
			groups[f.Kind] = new([2]group)
			kinds = append(kinds, f.Kind)
		}
		g := &groups[f.Kind][0]
		if f.Predicted {
			g = &groups[f.Kind][1]
		}
		g.episodes += f.Episodes
		g.rows += f.Rows
		g.sum += f.AUC * float64(f.Rows)
	}
	for _, k := range kinds {
		for i, g := range groups[k] {
			if g.rows > 0 {
				fmt.Printf("%-14s %-36s %-9s %8d %8d  %.3f\n", k, "(all fields)", yesNo(i == 1), g.episodes, g.rows, g.sum/float64(g.rows))
			}
		}
	}
	fmt.Println("(predicted: the residual feature lists the field, as the other measurements predict it)")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func describe(f model.Feature) string {
	s := fmt.Sprintf("%-20s %-13s %s %s", f.Name, f.Kind, f.Field, f.Field2)
	for i, name := range f.Fields {
		s += fmt.Sprintf("\n    %-36s", name)
		if f.Norm != nil {
			s += fmt.Sprintf(" norm %.4g", f.Norm[i])
		}
		if f.Lo != nil {
			s += fmt.Sprintf(" [%.4g, %.4g]", f.Lo[i], f.Hi[i])
		}
	}
	return s
}
