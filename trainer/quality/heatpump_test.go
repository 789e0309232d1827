package quality

import (
	"math"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer"
	"github.com/idmtelemetry/idmtelemetry/trainer/features"
	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// smallHeatpump is a configuration small enough for every test run: the
// figures of docs/MODEL_QUALITY.md come from cmd/heatpump or from
// TestHeatpumpFigures.
func smallHeatpump(opts features.Options) HeatpumpConfig {
	return HeatpumpConfig{Installations: 4, TrainDays: 2, TestDays: 1, Interval: 2 * time.Minute,
		TestFaultRate: 6, SampleRows: 4096, Features: opts, Forest: iforest.Config{Trees: 50, Seed: 1}}
}

func TestHeatpumpSmall(t *testing.T) {
	base, err := Heatpump(smallHeatpump(features.Options{RawOnly: true}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Heatpump(smallHeatpump(features.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faults) < 5 || res.TestRows != 4*720 || res.NormalRows == 0 {
		t.Fatalf("faults %+v, %d test rows, %d normal", res.Faults, res.TestRows, res.NormalRows)
	}
	for _, f := range res.Document.Features {
		if f.Kind == "raw" {
			t.Errorf("raw feature %s in the default model", f.Name)
		}
	}
	t.Logf("AUC of all faults: baseline %.3f, derived features %.3f", base.All.AUC, res.All.AUC)
	if !(res.All.AUC > base.All.AUC) {
		t.Errorf("derived features (%.3f) no better than raw ones (%.3f)", res.All.AUC, base.All.AUC)
	}
	again, err := Heatpump(smallHeatpump(features.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Faults, res.Faults) {
		t.Errorf("not deterministic: %+v then %+v", res.Faults, again.Faults)
	}

	// Grace leaves normal rows out, never faulty ones.
	cfg := smallHeatpump(features.Options{})
	cfg.Grace = time.Hour
	graced, err := Heatpump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if graced.TestRows != res.TestRows || !(graced.NormalRows < res.NormalRows) || graced.All.Rows != res.All.Rows {
		t.Errorf("grace: %d test rows (%d), %d normal (%d), %d faulty (%d)", graced.TestRows, res.TestRows,
			graced.NormalRows, res.NormalRows, graced.All.Rows, res.All.Rows)
	}
	if len(graced.Faults) != len(res.Faults) {
		t.Fatalf("grace: %d fault kinds, %d without", len(graced.Faults), len(res.Faults))
	}
	for i, f := range graced.Faults {
		if f.Rows != res.Faults[i].Rows || f.Episodes != res.Faults[i].Episodes {
			t.Errorf("grace changed %s: %+v, was %+v", f.Kind, f, res.Faults[i])
		}
	}

	// Detection: at most every episode, more with more false alarms, and
	// every episode when (almost) every normal row is an alarm.
	cfg = smallHeatpump(features.Options{})
	cfg.FalseAlarms = 0.999999
	loose, err := Heatpump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(loose.Faults) != len(res.Faults) {
		t.Fatalf("%d fault kinds, %d with every row an alarm", len(res.Faults), len(loose.Faults))
	}
	for i, f := range res.Faults {
		l := loose.Faults[i]
		if f.Detected > f.Episodes || f.Detected > l.Detected || l.Detected != l.Episodes {
			t.Errorf("%s: %d of %d episodes detected after %s, with every row an alarm %d after %s",
				f.Kind, f.Detected, f.Episodes, f.Delay, l.Detected, l.Delay)
		}
	}
	if res.All.Detected == 0 {
		t.Errorf("no episode detected: %+v", res.All)
	}
	cfg.FalseAlarms = 5 // meant 5 %
	if _, err := Heatpump(cfg); err == nil {
		t.Error("false alarms 5 accepted")
	}

	// Deviation bands and faulty fields split each kind's rows without
	// changing its result.
	cfg = smallHeatpump(features.Options{})
	cfg.ByDeviation, cfg.ByField, cfg.PerEpisode = true, true, true
	banded, err := Heatpump(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(banded.Faults, res.Faults) {
		t.Errorf("by deviation: %+v, was %+v", banded.Faults, res.Faults)
	}
	// The sensor faults have bands and fields, whose rows are the kind's
	// and whose AUCs, weighted by rows, are the kind's AUC (one forest);
	// faults of several fields (mixed units) have none.
	type part struct {
		kind      string
		rows, eps int
		auc       float64
	}
	var bands, fields []part
	for _, b := range banded.Bands {
		if !(b.Lo < b.Hi || b.Lo == 0 && b.Hi == 0) {
			t.Errorf("band %+v", b)
		}
		bands = append(bands, part{kind: b.Kind, rows: b.Rows, auc: b.AUC})
	}
	predicted := map[string]bool{}
	for _, f := range banded.Document.Features {
		if f.Kind == "residual" {
			for _, name := range f.Fields {
				predicted[name] = true
			}
		}
	}
	if len(predicted) == 0 {
		t.Fatal("no residual feature")
	}
	yes := 0
	for _, f := range banded.Fields {
		if f.Field == "" || f.Predicted != predicted[f.Field] {
			t.Errorf("field %+v: residual lists it: %v", f, predicted[f.Field])
		}
		if f.Predicted {
			yes++
		}
		fields = append(fields, part{f.Kind, f.Rows, f.Episodes, f.AUC})
	}
	if yes == 0 {
		t.Errorf("none of %d faulty fields predicted", len(banded.Fields))
	}
	sensor := map[string]bool{"stuck": true, "spike": true, "out_of_range": true, "drift": true}
	for name, parts := range map[string][]part{"bands": bands, "fields": fields} {
		rows, eps, weighted := map[string]int{}, map[string]int{}, map[string]float64{}
		for _, p := range parts {
			if !(p.auc >= 0 && p.auc <= 1) || p.rows <= 0 {
				t.Errorf("%s: %+v", name, p)
			}
			rows[p.kind] += p.rows
			eps[p.kind] += p.eps
			weighted[p.kind] += float64(p.rows) * p.auc
		}
		for _, f := range res.Faults {
			switch {
			case !sensor[f.Kind]:
				if rows[f.Kind] != 0 {
					t.Errorf("%s: %s: %d rows", name, f.Kind, rows[f.Kind])
				}
			case rows[f.Kind] != f.Rows:
				t.Errorf("%s: %s: %d rows, %d labelled", name, f.Kind, rows[f.Kind], f.Rows)
			case name == "fields" && eps[f.Kind] != f.Episodes:
				t.Errorf("fields: %s: %d episodes, %d in all", f.Kind, eps[f.Kind], f.Episodes)
			case math.Abs(weighted[f.Kind]/float64(f.Rows)-f.AUC) > 1e-9:
				t.Errorf("%s: %s: average AUC %v, the kind's is %v", name, f.Kind, weighted[f.Kind]/float64(f.Rows), f.AUC)
			}
		}
	}
	for _, e := range banded.Episodes {
		if !(e.Deviation > 0) {
			t.Errorf("%s episode from %s with %d rows: deviation %v", e.Kind, e.Start, e.Rows, e.Deviation)
		}
	}
}

// TestEachRowTwin checks what the deviation bands rest on: the fault-free
// twin run gives exactly the unlabelled records, and differs from almost
// every labelled one.
func TestEachRowTwin(t *testing.T) {
	var fleet []simulate.Installation
	for i := range 3 {
		inst, err := simulate.NewInstallation(uint64(i+1), "AERO SLM 3-11")
		if err != nil {
			t.Fatal(err)
		}
		fleet = append(fleet, inst)
	}
	cfg := simulate.Config{Start: DefaultTestStart, Interval: time.Minute, FaultRate: 8}
	var normal, labelled, deviating int
	err := eachRow(fleet, cfg, 2, true, func(_ string, ts time.Time, _ map[string]float64, label simulate.Fault, dev float64) {
		switch {
		case label == simulate.FaultNone:
			normal++
			if dev != 0 {
				t.Fatalf("unlabelled row at %s deviates by %v from the healthy record", ts, dev)
			}
		default:
			labelled++
			if dev > 0 {
				deviating++
			}
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d unlabelled rows, %d labelled, %d of them deviating", normal, labelled, deviating)
	if normal == 0 || labelled == 0 || deviating < labelled*9/10 {
		t.Errorf("%d unlabelled rows, %d labelled, %d of them deviating", normal, labelled, deviating)
	}
	err = eachRow(fleet[:1], cfg, 1, false, func(_ string, _ time.Time, _ map[string]float64, _ simulate.Fault, dev float64) {
		if dev == dev {
			t.Fatalf("deviation %v without a twin", dev)
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestDetect(t *testing.T) {
	t0 := time.Date(2026, 2, 8, 0, 0, 0, 0, time.UTC)
	times := make([]time.Time, 10)
	for i := range times {
		times[i] = t0.Add(time.Duration(i) * time.Minute)
	}
	score := []float64{0, 5, 0, 0, 3, 9, 0, 2, 8, 1}
	eps := []foundEpisode{
		{simulate.FaultStuck, t0, "a", []int{0, 1, 2}},                      // row 1: after 1 min
		{simulate.FaultStuck, t0.Add(3 * time.Minute), "a", []int{3, 4, 5}}, // row 5: 2 min
		{simulate.FaultStuck, t0.Add(6 * time.Minute), "b", []int{6, 7}},    // never above 4
		{simulate.FaultDrift, t0.Add(7 * time.Minute), "a", []int{8, 9}},    // row 8: 1 min
	}
	stuck := func(k simulate.Fault) bool { return k == simulate.FaultStuck }
	if n, d := detect(eps, stuck, score, times, 4); n != 2 || d != 90*time.Second {
		t.Errorf("stuck: %d detected after %s, want 2 after 1m30s", n, d)
	}
	all := func(simulate.Fault) bool { return true }
	if n, d := detect(eps, all, score, times, 4); n != 3 || d != time.Minute {
		t.Errorf("all: %d detected after %s, want 3 after 1m", n, d)
	}
	if n, d := detect(eps, all, score, times, 10); n != 0 || d != 0 {
		t.Errorf("none: %d detected after %s", n, d)
	}
}

// TestHeatpumpFigures runs the evaluation of the reference fleet that
// docs/MODEL_QUALITY.md reports (about 90 s on two cores), trained as the
// training job trains by default, when IDMT_HEATPUMP_EVAL is set, and
// checks that no kind falls below what is documented: AUC ≥ 0.90 for the
// kinds that reach the target (all but drift), with a margin for drift.
func TestHeatpumpFigures(t *testing.T) {
	if os.Getenv("IDMT_HEATPUMP_EVAL") == "" {
		t.Skip("set IDMT_HEATPUMP_EVAL=1 to run the heat-pump fault evaluation")
	}
	res, err := Heatpump(HeatpumpConfig{Seed: 1, Seeds: 5,
		Forest: iforest.Config{Seed: 1, ExtensionLevel: trainer.DefaultExtensionLevel}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Faults {
		t.Logf("%-14s %5d episodes %7d rows  AUC %.3f ± %.3f", f.Kind, f.Episodes, f.Rows, f.AUC, f.SD)
		target := 0.90
		if f.Kind == "drift" {
			target = 0.80 // 0.825 documented; see docs/MODEL_QUALITY.md
		}
		if f.AUC < target {
			t.Errorf("%s: AUC %.3f below %.2f", f.Kind, f.AUC, target)
		}
	}
}
