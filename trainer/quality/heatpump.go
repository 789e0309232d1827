package quality

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/features"
	"github.com/idmtelemetry/idmtelemetry/trainer/iforest"
	"github.com/idmtelemetry/idmtelemetry/trainer/model"
	"github.com/idmtelemetry/idmtelemetry/trainer/simulate"
)

// HeatpumpConfig sets up the heat-pump fault evaluation: a fleet of one
// heat-pump model simulated by trainer/simulate for a training window and
// the test window that follows it. The zero value gives the defaults that
// docs/MODEL_QUALITY.md reports.
type HeatpumpConfig struct {
	// Model is the catalog heat-pump model (default "AERO SLM 3-11", an air
	// unit, so defrost cycles are part of normal operation).
	Model string
	// Installations is the fleet size (default 20).
	Installations int
	// TrainDays and TestDays are the lengths of the windows (default 30,
	// the training job's window, and 4).
	TrainDays, TestDays int
	// TestStart is the first day of the test window (default
	// DefaultTestStart); the training window ends there.
	TestStart time.Time
	// Interval is the record interval (default 30 s, as collectors send).
	Interval time.Duration
	// TrainFaultRate is the mean number of fault episodes per installation
	// and day in the training window (default 0.2: the training data is
	// healthy-ish, as a real lake would be, and nobody labels it); -1 means
	// none. TestFaultRate is the same in the test window (default 4, so
	// that every kind has a few dozen episodes).
	TrainFaultRate, TestFaultRate float64
	// Seed derives the fleet; the forest's seed is Forest.Seed.
	Seed uint64
	// SampleRows is the reservoir size of feature vectors the forest is
	// fitted on (default 32768).
	SampleRows int
	// Features and Forest configure the model exactly as the training job
	// would.
	Features features.Options
	Forest   iforest.Config
	// Seeds is the number of forests fitted on the same sample, with seeds
	// Forest.Seed, Forest.Seed+1, …; AUCs are their mean (default 1).
	Seeds int
	// PerFeature asks for the AUC of each single feature per fault kind
	// (HeatpumpResult.PerFeature), a diagnostic of which inputs carry the
	// signal.
	PerFeature bool
	// PerEpisode asks for the AUC of each fault episode's rows against the
	// normal rows (HeatpumpResult.Episodes), a diagnostic of which episodes
	// (which fields, how long) a model misses.
	PerEpisode bool
	// Grace leaves the unlabelled rows within Grace after the end of an
	// episode of the same installation out of the normal rows: the
	// aftermath of a fault, which the temporal features still remember.
	Grace time.Duration
	// ByDeviation asks for the AUC per sensor-fault kind and deviation
	// band (HeatpumpResult.Bands): how far the faulty sensor lies from the
	// healthy record, which a second, fault-free run of the same fleet
	// gives (faults never feed back into the simulated plant).
	ByDeviation bool
	// ByField asks for the AUC per sensor-fault kind and faulty field
	// (HeatpumpResult.Fields), and whether the model's residual feature
	// predicts that field from the others.
	ByField bool
	// FalseAlarms is the share of unlabelled test rows that the alarm
	// threshold of FaultAUC.Detected lets through, in (0, 1) (0 means the
	// default, 0.001).
	FalseAlarms float64
}

func (c *HeatpumpConfig) defaults() {
	if c.Model == "" {
		c.Model = "AERO SLM 3-11"
	}
	if c.Installations == 0 {
		c.Installations = 20
	}
	if c.TrainDays == 0 {
		c.TrainDays = 30
	}
	if c.TestStart.IsZero() {
		c.TestStart = DefaultTestStart
	}
	if c.TestDays == 0 {
		c.TestDays = 4
	}
	if c.Interval == 0 {
		c.Interval = simulate.DefaultInterval
	}
	switch c.TrainFaultRate {
	case 0:
		c.TrainFaultRate = 0.2
	case -1:
		c.TrainFaultRate = 0
	}
	if c.TestFaultRate == 0 {
		c.TestFaultRate = 4
	}
	if c.Seeds < 1 {
		c.Seeds = 1
	}
	if c.SampleRows == 0 {
		c.SampleRows = 32768
	}
	if c.FalseAlarms == 0 {
		c.FalseAlarms = 0.001
	}
}

// DefaultTestStart is the first day of the default test window, 2026-02-08:
// winter, a week after simulate.DefaultStart (the evaluation trained on 7
// days from simulate.DefaultStart until 2026-11-28 and has tested on these
// days since).
var DefaultTestStart = simulate.DefaultStart.AddDate(0, 0, 7)

// FaultAUC is the result for one fault kind: the AUC of the scores of the
// test rows labelled with it against those of the unlabelled test rows.
type FaultAUC struct {
	Kind     string
	Episodes int // episodes with at least one labelled row
	Rows     int // labelled rows
	// AUC is the mean over the forests (HeatpumpConfig.Seeds), SD the
	// sample standard deviation (0 for one forest).
	AUC, SD float64
	// Detected counts the episodes in which the first forest scores a
	// labelled row above the alarm threshold: the score that a share
	// HeatpumpConfig.FalseAlarms of the unlabelled rows exceeds. Delay is
	// the median time from an episode's start to its first such row, over
	// the detected episodes (0 when none is); for the equipment faults it
	// includes the time before the compressor first runs.
	Detected int
	Delay    time.Duration
}

// HeatpumpResult is the outcome of Heatpump.
type HeatpumpResult struct {
	// Document is the model of the first forest.
	Document   *model.Document
	TrainRows  int64
	TestRows   int
	NormalRows int
	// Faults has one entry per fault kind that labelled at least one row,
	// in simulate.Faults order; All pools every faulty row.
	Faults []FaultAUC
	All    FaultAUC
	// PerFeature[i][k] is the AUC of |prepared value| of feature i alone
	// for Faults[k] (when HeatpumpConfig.PerFeature is set).
	PerFeature [][]float64
	// Episodes has one entry per fault episode with labelled rows, in
	// installation and time order (when HeatpumpConfig.PerEpisode is set).
	Episodes []EpisodeAUC
	// Bands has, per fault kind in Faults order whose every episode hits
	// one field (the sensor faults), the AUC of its labelled rows in each
	// of DeviationBands against the unlabelled rows, first forest (when
	// HeatpumpConfig.ByDeviation is set). Faults of several fields mix
	// their units (kW, bar, K, states), so they have no bands.
	Bands []BandAUC
	// Fields has, per fault kind in Faults order whose every episode hits
	// one field, the AUC of the labelled rows of each field against the
	// unlabelled rows, first forest, in field-name order (when
	// HeatpumpConfig.ByField is set).
	Fields []FieldAUC
}

// FieldAUC is the result for the labelled rows of one kind on one field.
// Against the same unlabelled rows, the AUC of a group of fields is the
// row-weighted mean of theirs.
type FieldAUC struct {
	Kind, Field string
	// Predicted reports that the first forest's residual feature lists the
	// field: the other measurements predict it (docs/MODEL_FORMAT.md).
	Predicted      bool
	Episodes, Rows int
	AUC            float64
}

// DeviationBands are the upper bounds of the deviation bands of
// HeatpumpResult.Bands, in the faulty field's unit (K for temperatures):
// a labelled row falls in the first band whose bound is at least its
// largest deviation from the healthy record.
var DeviationBands = []float64{0, 0.5, 1, 2, 5, math.Inf(1)}

// BandAUC is the result for the labelled rows of one kind whose largest
// deviation from the healthy record lies in (Lo, Hi] ([0, 0] for rows
// equal to it).
type BandAUC struct {
	Kind   string
	Lo, Hi float64
	Rows   int
	AUC    float64
}

// EpisodeAUC is the result for one fault episode: the AUC of its labelled
// rows against all normal test rows, with the first forest and (when
// HeatpumpConfig.PerFeature is set) with each feature alone.
type EpisodeAUC struct {
	Installation string
	simulate.Episode
	Rows       int
	AUC        float64
	PerFeature []float64
	// Deviation is the largest deviation of a labelled row's fields from
	// the healthy record, each in its unit (when HeatpumpConfig.ByDeviation
	// is set).
	Deviation float64
}

// Heatpump trains a model on the training window exactly as the training
// job does (Profile → Choose → Stream → reservoir sample → Fit → iforest),
// without any access to the labels, then scores every row of the test
// window through a Stream and reports the AUC per fault kind.
func Heatpump(cfg HeatpumpConfig) (HeatpumpResult, error) {
	cfg.defaults()
	if !(cfg.FalseAlarms > 0 && cfg.FalseAlarms < 1) {
		return HeatpumpResult{}, fmt.Errorf("false alarms %v: want a share between 0 and 1, such as 0.001", cfg.FalseAlarms)
	}
	var res HeatpumpResult
	fleet := make([]simulate.Installation, cfg.Installations)
	for i := range fleet {
		inst, err := simulate.NewInstallation(cfg.Seed<<20|uint64(i+1), cfg.Model)
		if err != nil {
			return res, err
		}
		fleet[i] = inst
	}
	docs, trainRows, err := trainForests(cfg, fleet)
	if err != nil {
		return res, err
	}
	res.Document, res.TrainRows = docs[0], trainRows
	t, err := scoreTest(cfg, fleet, docs)
	if err != nil {
		return res, err
	}
	res.TestRows, res.NormalRows = len(t.labels), len(t.normal)

	// The alarm threshold counts every unlabelled row, Grace's too: in
	// operation they would raise the alarms.
	var unlabelled []float64
	for i, l := range t.labels {
		if l == simulate.FaultNone || l == faultAftermath {
			unlabelled = append(unlabelled, t.scores[0][i])
		}
	}
	threshold := features.Quantile(unlabelled, 1-cfg.FalseAlarms)
	summary := func(name string, keep func(simulate.Fault) bool) (FaultAUC, error) {
		fa := FaultAUC{Kind: name}
		for _, e := range t.found {
			if keep(e.kind) {
				fa.Episodes++
			}
		}
		fa.Detected, fa.Delay = detect(t.found, keep, t.scores[0], t.times, threshold)
		aucs := make([]float64, len(docs))
		for k := range docs {
			a, n, err := t.auc(t.scores[k], func(i int) bool { return keep(t.labels[i]) })
			if err != nil {
				return fa, err
			}
			aucs[k], fa.Rows = a, n
		}
		fa.AUC, fa.SD = MeanSD(aucs)
		return fa, nil
	}
	var kinds []simulate.Fault
	for _, k := range simulate.Faults() {
		fa, err := summary(k.String(), func(l simulate.Fault) bool { return l == k })
		if err != nil {
			continue // the kind labelled no row
		}
		res.Faults = append(res.Faults, fa)
		kinds = append(kinds, k)
	}
	if res.All, err = summary("all", func(simulate.Fault) bool { return true }); err != nil {
		return res, fmt.Errorf("test window: %w", err)
	}
	if cfg.ByDeviation {
		if res.Bands, err = t.bands(kinds); err != nil {
			return res, err
		}
	}
	if cfg.ByField {
		if res.Fields, err = t.fields(kinds, docs[0]); err != nil {
			return res, err
		}
	}
	if cfg.PerEpisode {
		res.Episodes = t.perEpisode(cfg.PerFeature, cfg.ByDeviation)
	}
	if cfg.PerFeature {
		for i := range t.nf {
			col := t.column(i)
			aucs := make([]float64, len(kinds))
			for j, k := range kinds {
				aucs[j], _, _ = t.auc(col, func(r int) bool { return t.labels[r] == k })
			}
			res.PerFeature = append(res.PerFeature, aucs)
		}
	}
	return res, nil
}

// trainForests trains cfg.Seeds forests on the training window as the
// training job does, on one sample: a Profile pass, Choose, a Stream pass
// into a uniform reservoir, Fit, then iforest.Fit with seeds cfg.Forest.Seed,
// cfg.Forest.Seed+1, …. It returns their documents and the training rows.
func trainForests(cfg HeatpumpConfig, fleet []simulate.Installation) ([]*model.Document, int64, error) {
	testStart := cfg.TestStart
	trainStart := testStart.AddDate(0, 0, -cfg.TrainDays)
	train := simulate.Config{Start: trainStart, Interval: cfg.Interval, FaultRate: cfg.TrainFaultRate}

	// Pass 1: profile the training window.
	prof := features.NewProfile()
	err := eachRow(fleet, train, cfg.TrainDays, false, func(id string, ts time.Time, row map[string]float64, _ simulate.Fault, _ float64) {
		prof.Add(id, ts, row)
	}, nil)
	if err != nil {
		return nil, 0, err
	}
	feats, err := prof.Choose(cfg.Features)
	if err != nil {
		return nil, 0, err
	}

	// Pass 2: stream the feature vectors into a uniform reservoir.
	stream := model.NewStream(feats)
	nf := len(feats)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	sample := make([]float64, 0, cfg.SampleRows*nf)
	var vec []float64
	var n int64
	err = eachRow(fleet, train, cfg.TrainDays, false, func(id string, ts time.Time, row map[string]float64, _ simulate.Fault, _ float64) {
		vec = stream.Vector(vec[:0], id, ts, row)
		n++
		if len(sample) < cap(sample) {
			sample = append(sample, vec...)
		} else if j := rng.Int64N(n); j < int64(cfg.SampleRows) {
			copy(sample[int(j)*nf:], vec)
		}
	}, nil)
	if err != nil {
		return nil, 0, err
	}
	rows := make([][]float64, len(sample)/nf)
	for i := range rows {
		rows[i] = sample[i*nf : (i+1)*nf]
	}
	feats = features.Fit(feats, rows)
	features.PrepareSample(feats, rows)
	docs := make([]*model.Document, cfg.Seeds)
	for k := range docs {
		fc := cfg.Forest
		fc.Seed += uint64(k)
		forest, err := iforest.Fit(iforest.Matrix{Data: sample, Rows: len(rows), Cols: nf}, fc)
		if err != nil {
			return nil, 0, err
		}
		docs[k], err = forest.Document(feats, "robust", model.Metadata{
			HeatpumpModel: cfg.Model, WindowFrom: trainStart, WindowTo: testStart,
			Rows: int64(len(rows)), Installations: int64(len(fleet)), Seed: fc.Seed,
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return docs, n, nil
}

// testRun is the test window scored by every forest: one entry per row,
// installation after installation, each in time order.
type testRun struct {
	// scores[k] holds forest k's scores.
	scores [][]float64
	labels []simulate.Fault
	times  []time.Time
	// devs holds each row's deviation from the healthy record (ByDeviation).
	devs []float64
	// vecs holds the prepared feature vectors, nf per row (PerFeature).
	vecs []float64
	nf   int
	// normal holds the indices of the unlabelled rows outside Grace.
	normal []int
	// found holds each episode with labelled rows, in installation and
	// time order; episodes their public descriptions (PerEpisode).
	found    []foundEpisode
	episodes []EpisodeAUC
	// several holds the kinds with an episode of several fields.
	several map[simulate.Fault]bool
	// ss and ys are auc's scratch.
	ss []float64
	ys []bool
}

// scoreTest scores every row of the test window through a fresh stream
// with every forest.
func scoreTest(cfg HeatpumpConfig, fleet []simulate.Installation, docs []*model.Document) (*testRun, error) {
	t := &testRun{scores: make([][]float64, len(docs)), several: map[simulate.Fault]bool{}}
	var (
		vec    []float64
		stream = docs[0].Stream()
		prep   = docs[0]
		// rowsOf holds the indices of an installation's labelled rows.
		rowsOf  = map[simulate.Fault][]int{}
		curInst string
		// The rows from instStart on are the current installation's.
		instStart int
	)
	if cfg.PerFeature {
		t.nf = len(prep.Features)
	}
	test := simulate.Config{Start: cfg.TestStart, Interval: cfg.Interval, FaultRate: cfg.TestFaultRate}
	err := eachRow(fleet, test, cfg.TestDays, cfg.ByDeviation, func(id string, ts time.Time, row map[string]float64, label simulate.Fault, dev float64) {
		vec = stream.Vector(vec[:0], id, ts, row)
		for k, d := range docs {
			t.scores[k] = append(t.scores[k], d.ScoreVector(vec))
		}
		if cfg.PerFeature {
			n := len(t.vecs)
			t.vecs = append(t.vecs, vec...)
			prep.Prepare(t.vecs[n:])
		}
		t.labels = append(t.labels, label)
		if cfg.ByDeviation {
			t.devs = append(t.devs, dev)
		}
		t.times = append(t.times, ts)
		curInst = id
		if label != simulate.FaultNone {
			rowsOf[label] = append(rowsOf[label], len(t.labels)-1)
		}
	}, func(eps []simulate.Episode) {
		if cfg.Grace > 0 {
			for _, e := range eps {
				for i := instStart; i < len(t.labels); i++ {
					if t.labels[i] == simulate.FaultNone && !t.times[i].Before(e.End) && t.times[i].Before(e.End.Add(cfg.Grace)) {
						t.labels[i] = faultAftermath
					}
				}
			}
		}
		instStart = len(t.labels)
		for _, e := range eps {
			t.several[e.Kind] = t.several[e.Kind] || len(e.Fields) != 1
			var idx []int
			for _, i := range rowsOf[e.Kind] {
				if !t.times[i].Before(e.Start) && t.times[i].Before(e.End) {
					idx = append(idx, i)
				}
			}
			if len(idx) > 0 {
				field := ""
				if len(e.Fields) == 1 {
					field = e.Fields[0]
				}
				t.found = append(t.found, foundEpisode{e.Kind, e.Start, field, idx})
				if cfg.PerEpisode {
					t.episodes = append(t.episodes, EpisodeAUC{Installation: curInst, Episode: e, Rows: len(idx)})
				}
			}
		}
		clear(rowsOf)
	})
	if err != nil {
		return nil, err
	}
	for i, l := range t.labels {
		if l == simulate.FaultNone {
			t.normal = append(t.normal, i)
		}
	}
	return t, nil
}

// auc returns the AUC of score on the labelled rows that keep accepts (by
// index; never Grace's) against the normal rows, and their count.
func (t *testRun) auc(score []float64, keep func(int) bool) (float64, int, error) {
	t.ss, t.ys = t.ss[:0], t.ys[:0]
	for i, l := range t.labels {
		if l == simulate.FaultNone || l != faultAftermath && keep(i) {
			t.ss = append(t.ss, score[i])
			t.ys = append(t.ys, l != simulate.FaultNone)
		}
	}
	a, err := AUC(t.ss, t.ys)
	return a, len(t.ss) - len(t.normal), err
}

// column returns |prepared value| of feature i in every row.
func (t *testRun) column(i int) []float64 {
	col := make([]float64, len(t.labels))
	for r := range col {
		col[r] = math.Abs(t.vecs[r*t.nf+i])
	}
	return col
}

// bands returns HeatpumpResult.Bands for kinds.
func (t *testRun) bands(kinds []simulate.Fault) ([]BandAUC, error) {
	var out []BandAUC
	for _, k := range kinds {
		if t.several[k] {
			continue
		}
		lo := -1.0 // the first band holds the rows equal to the healthy record
		for _, hi := range DeviationBands {
			a, n, err := t.auc(t.scores[0], func(i int) bool { return t.labels[i] == k && t.devs[i] > lo && t.devs[i] <= hi })
			if n > 0 {
				if err != nil {
					return nil, err
				}
				out = append(out, BandAUC{Kind: k.String(), Lo: max(lo, 0), Hi: hi, Rows: n, AUC: a})
			}
			lo = hi
		}
	}
	return out, nil
}

// fields returns HeatpumpResult.Fields for kinds; doc is the first forest's.
func (t *testRun) fields(kinds []simulate.Fault, doc *model.Document) ([]FieldAUC, error) {
	predicted := map[string]bool{}
	for _, f := range doc.Features {
		if f.Kind == model.KindResidual {
			for _, name := range f.Fields {
				predicted[name] = true
			}
		}
	}
	var out []FieldAUC
	for _, k := range kinds {
		if t.several[k] {
			continue
		}
		on := map[string][]int{} // field → indices into found
		for i, e := range t.found {
			if e.kind == k {
				on[e.field] = append(on[e.field], i)
			}
		}
		for _, field := range slices.Sorted(maps.Keys(on)) {
			fa := FieldAUC{Kind: k.String(), Field: field, Predicted: predicted[field], Episodes: len(on[field])}
			in := make([]bool, len(t.labels))
			for _, e := range on[field] {
				for _, i := range t.found[e].rows {
					in[i] = true
				}
			}
			var err error
			if fa.AUC, fa.Rows, err = t.auc(t.scores[0], func(i int) bool { return in[i] }); err != nil {
				return nil, err
			}
			out = append(out, fa)
		}
	}
	return out, nil
}

// perEpisode returns HeatpumpResult.Episodes: each episode's rows against
// the normal rows, with the first forest and, with perFeature, each
// feature alone; with byDeviation, each episode's largest deviation.
func (t *testRun) perEpisode(perFeature, byDeviation bool) []EpisodeAUC {
	epAUC := func(score []float64, idx []int) float64 {
		t.ss, t.ys = t.ss[:0], t.ys[:0]
		for _, i := range t.normal {
			t.ss, t.ys = append(t.ss, score[i]), append(t.ys, false)
		}
		for _, i := range idx {
			t.ss, t.ys = append(t.ss, score[i]), append(t.ys, true)
		}
		a, _ := AUC(t.ss, t.ys)
		return a
	}
	var cols [][]float64
	if perFeature {
		for i := range t.nf {
			cols = append(cols, t.column(i))
		}
	}
	out := t.episodes
	for e := range out {
		rows := t.found[e].rows
		out[e].AUC = epAUC(t.scores[0], rows)
		if byDeviation {
			for _, i := range rows {
				out[e].Deviation = max(out[e].Deviation, t.devs[i])
			}
		}
		for _, col := range cols {
			out[e].PerFeature = append(out[e].PerFeature, epAUC(col, rows))
		}
	}
	return out
}

// foundEpisode is an episode with labelled test rows (their indices).
type foundEpisode struct {
	kind  simulate.Fault
	start time.Time
	field string // the field of a one-field episode, else ""
	rows  []int
}

// detect returns how many episodes of the kinds keep score a labelled row
// above threshold, and the median time from their start to the first such
// row.
func detect(eps []foundEpisode, keep func(simulate.Fault) bool, score []float64, times []time.Time, threshold float64) (int, time.Duration) {
	var delays []float64
	for _, e := range eps {
		if !keep(e.kind) {
			continue
		}
		for _, i := range e.rows {
			if score[i] > threshold {
				delays = append(delays, float64(times[i].Sub(e.start)))
				break
			}
		}
	}
	if len(delays) == 0 {
		return 0, 0
	}
	return len(delays), time.Duration(features.Quantile(delays, 0.5))
}

// faultAftermath labels the rows that HeatpumpConfig.Grace leaves out.
const faultAftermath simulate.Fault = 255

// eachRow generates days of records of each installation, one
// installation after the other and each in time order, and calls fn with
// each record as a raw row (reused between calls), its label and dev, and
// done (if not nil) with the installation's fault episodes once its rows
// are done. With twin, a fault-free generator of the same installation
// runs alongside, and dev is the largest absolute difference between a
// record's values and the healthy record's; without, dev is NaN.
func eachRow(fleet []simulate.Installation, cfg simulate.Config, days int, twin bool,
	fn func(id string, ts time.Time, row map[string]float64, label simulate.Fault, dev float64), done func([]simulate.Episode)) error {
	row := map[string]float64{}
	var recs, healthy []simulate.Record
	healthyCfg := cfg
	healthyCfg.FaultRate = 0
	for _, inst := range fleet {
		g, err := simulate.NewGenerator(inst, cfg)
		if err != nil {
			return err
		}
		var h *simulate.Generator
		if twin {
			if h, err = simulate.NewGenerator(inst, healthyCfg); err != nil {
				return err
			}
		}
		names := g.Fields()
		for d := 1; d <= days; d++ {
			until := cfg.Start.AddDate(0, 0, d)
			recs = g.Generate(recs[:0], until)
			if h != nil {
				healthy = h.Generate(healthy[:0], until)
			}
			for i := range recs {
				r := &recs[i]
				clear(row)
				for j, v := range r.Values {
					row[names[j]] = v
				}
				dev := math.NaN()
				if h != nil {
					dev = 0
					for j, v := range r.Values {
						dev = max(dev, math.Abs(v-healthy[i].Values[j]))
					}
				}
				ts := time.UnixMilli(int64(math.Round(r.Timestamp * 1000))).UTC()
				fn(inst.ID, ts, row, r.Label, dev)
			}
		}
		if done != nil {
			done(g.Episodes())
		}
	}
	return nil
}
