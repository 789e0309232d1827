package features

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/idmtelemetry/idmtelemetry/trainer/model"
)

// Options tune feature selection. The zero value gives the defaults.
type Options struct {
	// MinPresence is the smallest share of rows a field must appear in
	// (default 0.5).
	MinPresence float64
	// MinChange is the smallest share of consecutive values of a field,
	// within an installation, that must differ (default 0.0001, about one
	// change in three days at 30 s): a field that changes less is constant
	// or installation configuration (a setpoint, a curve), which says nothing
	// about whether a row is normal and would only dilute the forest. (A
	// modulating compressor in winter may switch only a few times a day, so
	// the default is low.)
	MinChange float64
	// MaxCounterDecrease is the largest number of decreases per increase
	// between consecutive values of a field for it to count as a monotone
	// counter (default 0.01, which tolerates rare counter resets; a flag or
	// a level goes down about as often as up).
	MaxCounterDecrease float64
	// MaxGap is the longest time between two rows of an installation for
	// temporal features to relate them (default 15 minutes); after a longer
	// gap they start afresh.
	MaxGap time.Duration
	// SmoothWindow is the window of the rolling physical relations
	// (default 10 minutes): long enough that start-ups and defrosts do not
	// look like faults, short enough for a pump failure.
	SmoothWindow time.Duration
	// RawOnly restricts the features to raw fields and counter rates,
	// without the derived and temporal features: the baseline of
	// docs/MODEL_QUALITY.md.
	RawOnly bool
	// WithRaw adds the raw fields and counter rates to the derived
	// features. More inputs make the forest less sensitive to each (see
	// docs/MODEL_QUALITY.md), so it is off by default.
	WithRaw bool
}

func (o *Options) defaults() error {
	if o.MinPresence == 0 {
		o.MinPresence = 0.5
	}
	if o.MinChange == 0 {
		o.MinChange = 0.0001
	}
	if o.MaxCounterDecrease == 0 {
		o.MaxCounterDecrease = 0.01
	}
	if o.MaxGap == 0 {
		o.MaxGap = profileGap
	}
	if o.SmoothWindow == 0 {
		o.SmoothWindow = 10 * time.Minute
	}
	switch {
	case !(o.MinPresence > 0 && o.MinPresence <= 1):
		return fmt.Errorf("min presence %v outside (0, 1]", o.MinPresence)
	case !(o.MinChange > 0 && o.MinChange <= 1):
		return fmt.Errorf("min change %v outside (0, 1]", o.MinChange)
	case !(o.MaxCounterDecrease >= 0 && o.MaxCounterDecrease < 1):
		return fmt.Errorf("max counter decrease %v outside [0, 1)", o.MaxCounterDecrease)
	case o.MaxGap < time.Second || o.SmoothWindow < time.Second:
		return fmt.Errorf("max gap %s or smooth window %s shorter than a second", o.MaxGap, o.SmoothWindow)
	}
	return nil
}

// Thresholds of the derived features (docs/MODEL_FORMAT.md, "How the
// trainer chooses features").
const (
	// envelopeLo and envelopeHi are the quantiles of the training envelope.
	envelopeLo, envelopeHi = 0.005, 0.995
	// normQ is the quantile of prediction errors, changes, run durations and
	// change counts that counts as 1 in residual, jump, stuck and changes.
	normQ = 0.995
	// livelyChange is the share of consecutive values that must differ for
	// a measurement to count as lively: one whose value normally moves, so
	// that a long run of the same value means a stuck sensor.
	livelyChange = 0.2
	// discreteChange is the largest share of consecutive values that may
	// differ for a whole-numbered field to count as a state (a flag, an
	// operating mode) whose changes the changes feature counts.
	discreteChange = 0.05
	// minDenominatorQ and minDenominatorShare set a ratio's smallest mean
	// denominator: this share of this quantile of the denominator field (the
	// COP is defined while the compressor draws power, not at standby).
	minDenominatorQ, minDenominatorShare = 0.9, 0.1
)

// relation is a physical relation between two telemetry fields, added as a
// derived feature when both fields are measurements the profile chose. Names
// follow the IDM Navigator register map (spec/wire-compat.md); a fleet that
// uses other names simply gets none of these.
type relation struct {
	name, kind, a, b string
}

var relations = []relation{
	// Flow minus return: the heat pump's temperature spread, which a pump
	// failure widens and a COP collapse narrows.
	{"spread_heat_pump", model.KindRollingDiff, "temp_heat_pump_flow", "temp_heat_pump_return"},
	// Thermal over electrical power: the coefficient of performance.
	{"cop", model.KindRollingRatio, "power_thermal", "power_current"},
}

// Choose picks the features from the data. Fields qualify when they are
// present in most rows and change within installations (not constant, not
// configuration); monotone counters (like energy_heat_total) become rates.
// By default the forest does not see the qualifying fields one by one but
// through a few derived features that summarise them (a plain forest on
// dozens of raw channels barely notices one faulty channel; see
// docs/MODEL_QUALITY.md): the training envelope, linear relations between
// measurements, spikes, stuck sensors, busy states, and the physical
// relations of the heat pump where their fields exist. Options.RawOnly gives
// the raw fields and rates only, Options.WithRaw both.
//
// It returns model features in raw units with Impute and Center 0 and Scale
// 1; the caller fits imputation and scaling on a sample of feature vectors
// (Fit). The order is deterministic: raw fields and rates by field name,
// then the derived features.
func (p *Profile) Choose(opts Options) ([]model.Feature, error) {
	if err := opts.defaults(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoFeatures, err)
	}
	if p.rows == 0 {
		return nil, fmt.Errorf("%w: no rows", ErrNoFeatures)
	}
	stats := slices.Clone(p.fields)
	slices.SortFunc(stats, func(a, b *fieldStats) int { return strings.Compare(a.name, b.name) })
	maxGap := int64(math.Ceil(opts.MaxGap.Seconds()))

	var rawFeats, derived []model.Feature
	var raw []*fieldStats // qualifying fields that are not counters
	for _, fs := range stats {
		if float64(fs.present) < opts.MinPresence*float64(p.rows) || fs.pairs == 0 {
			continue
		}
		changes := fs.up + fs.down
		if float64(changes) < opts.MinChange*float64(fs.pairs) {
			continue // constant or configuration
		}
		if float64(fs.down) <= opts.MaxCounterDecrease*float64(fs.up) {
			// A monotone counter: its value only says how old the
			// installation is; its rate is the signal.
			rawFeats = append(rawFeats, model.Feature{Name: fs.name + "_rate", Kind: model.KindRate, Field: fs.name, MaxGap: maxGap, Scale: 1})
			continue
		}
		rawFeats = append(rawFeats, model.Feature{Name: fs.name, Kind: model.KindRaw, Field: fs.name, Scale: 1})
		raw = append(raw, fs)
	}
	if len(rawFeats) == 0 {
		return nil, fmt.Errorf("%w: none of %d fields is present in %.0f%% of %d rows and varies",
			ErrNoFeatures, len(stats), 100*opts.MinPresence, p.rows)
	}
	if !opts.RawOnly {
		derived = p.derived(raw, opts, maxGap)
	}
	var out []model.Feature
	if opts.RawOnly || opts.WithRaw || len(derived) == 0 {
		out = rawFeats
	}
	seen := map[string]bool{}
	for _, f := range out {
		seen[f.Name] = true
	}
	for _, f := range derived {
		if !seen[f.Name] {
			seen[f.Name] = true
			out = append(out, f)
		}
	}
	return out, nil
}

// derived returns the derived features of the qualifying non-counter fields
// raw, in a fixed order; those without fields are left out.
func (p *Profile) derived(raw []*fieldStats, opts Options, maxGap int64) []model.Feature {
	var out []model.Feature
	env := model.Feature{Name: "envelope", Kind: model.KindEnvelope, Scale: 1}
	jump := model.Feature{Name: "jump", Kind: model.KindJump, MaxGap: maxGap, Scale: 1}
	stuck := model.Feature{Name: "stuck", Kind: model.KindStuck, MaxGap: maxGap, Scale: 1}
	stale := model.Feature{Name: "stale", Kind: model.KindStale, MaxGap: maxGap, Scale: 1}
	changes := model.Feature{Name: "changes", Kind: model.KindChanges, MaxGap: maxGap,
		Window: int64(changeWindow / time.Second), Scale: 1}
	// A lively measurement normally changes at almost every row, so its
	// usual run can be 0: count runs from one interval between rows.
	interval := Quantile(p.intervals.v, 0.5)
	var measured []*fieldStats
	for _, fs := range raw {
		col := p.column(fs.idx)
		// A range that overflows (a collector sending ±1e308) would make
		// every distance 0: such a field has no usable envelope.
		if lo, hi := Quantile(col, envelopeLo), Quantile(col, envelopeHi); lo < hi && finite(hi-lo) {
			env.Fields = append(env.Fields, fs.name)
			env.Lo, env.Hi = append(env.Lo, lo), append(env.Hi, hi)
		}
		share := float64(fs.up+fs.down) / float64(fs.pairs)
		if !fs.fractional {
			// A state (a flag, a mode, a speed step): its changes count,
			// relative to how many the field makes in a busy half hour.
			if share <= discreteChange {
				changes.Fields = append(changes.Fields, fs.name)
				changes.Norm = append(changes.Norm, max(1, Quantile(fs.counts.v, normQ)))
			}
			continue
		}
		// A measurement: it may spike, stick or drift.
		measured = append(measured, fs)
		if n := Quantile(fs.deltas.v, normQ); n > 0 && finite(n) {
			jump.Fields = append(jump.Fields, fs.name)
			jump.Norm = append(jump.Norm, n)
		}
		if n := max(Quantile(fs.runs.v, normQ), interval); share >= livelyChange && n > 0 {
			stuck.Fields = append(stuck.Fields, fs.name)
			stuck.Norm = append(stuck.Norm, n)
			stale.Fields = append(stale.Fields, fs.name)
			stale.Norm = append(stale.Norm, max(1, Quantile(fs.stale.v, normQ)))
		}
	}
	byName := map[string]*fieldStats{}
	for _, fs := range measured {
		byName[fs.name] = fs
	}
	for _, r := range relations {
		a, b := byName[r.a], byName[r.b]
		if a == nil || b == nil {
			continue
		}
		f := model.Feature{Name: r.name, Kind: r.kind, Field: r.a, Field2: r.b, MaxGap: maxGap,
			Window: int64(math.Ceil(opts.SmoothWindow.Seconds())), Scale: 1}
		if r.kind == model.KindRollingRatio {
			f.MinDenominator = minDenominatorShare * Quantile(p.column(b.idx), minDenominatorQ)
			if !(f.MinDenominator > 0) || !finite(f.MinDenominator) {
				continue
			}
		}
		out = append(out, f)
	}
	if len(stale.Fields) < 2 {
		stale.Fields = nil // no other field to have moved
	}
	for _, f := range []model.Feature{env, p.residual(measured, maxGap), jump, stuck, stale, changes} {
		if len(f.Fields) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// Quantile returns the q-quantile of values with linear interpolation
// (NumPy's default), or NaN when there are none. It sorts a copy.
func Quantile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := slices.Clone(values)
	slices.Sort(s)
	vi := q * float64(len(s)-1)
	lo := int(vi)
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(vi-float64(lo))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
