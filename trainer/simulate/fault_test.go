package simulate

import (
	"slices"
	"testing"
	"time"
)

// TestFaults runs each fault kind against a run without faults of the same
// installation: records without a label must be identical, labelled records
// may differ only in the fields of their episode, and the fault must show.
func TestFaults(t *testing.T) {
	fleet := mustFleet(t, 21, 3, 3) // air, ground, air
	const days = 3
	for _, kind := range Faults() {
		t.Run(kind.String(), func(t *testing.T) {
			labelled, changed := 0, 0
			for _, in := range fleet {
				cleanCfg := Config{Start: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)}
				faultCfg := cleanCfg
				faultCfg.FaultRate, faultCfg.FaultKinds = 6, []Fault{kind}
				cg, fg := mustGenerator(t, in, cleanCfg), mustGenerator(t, in, faultCfg)
				end := cleanCfg.Start.Add(days * 24 * time.Hour)
				clean, faulty := cg.Generate(nil, end), fg.Generate(nil, end)
				eps := fg.Episodes()
				if len(eps) == 0 {
					t.Fatalf("%s: no episode in %d days at 6 per day", in.Model, days)
				}
				for i, e := range eps {
					if e.Kind != kind || !e.End.After(e.Start) || len(e.Fields) == 0 {
						t.Fatalf("episode %d: %+v", i, e)
					}
					if i > 0 && e.Start.Before(eps[i-1].End) {
						t.Fatalf("episodes %d and %d overlap", i-1, i)
					}
				}
				s := fg.Schema()
				for k := range clean {
					c, f := clean[k], faulty[k]
					if c.Timestamp != f.Timestamp {
						t.Fatalf("record %d: timestamps differ", k)
					}
					if f.Label == FaultNone {
						for i := range c.Values {
							if c.Values[i] != f.Values[i] {
								t.Fatalf("%s record %d: unlabelled but %s = %v, clean %v", in.Model, k, s.names[i], f.Values[i], c.Values[i])
							}
						}
						continue
					}
					if f.Label != kind {
						t.Fatalf("record %d: label %v, want %v", k, f.Label, kind)
					}
					labelled++
					at := cleanCfg.Start.Add(time.Duration(k) * DefaultInterval)
					var ep *Episode
					for i := range eps {
						if !at.Before(eps[i].Start) && at.Before(eps[i].End) {
							ep = &eps[i]
						}
					}
					if ep == nil {
						t.Fatalf("record %d at %v: labelled outside every episode", k, at)
					}
					allowed := map[string]bool{}
					for _, name := range ep.Fields {
						allowed[name] = true
					}
					diff := false
					for i := range c.Values {
						if c.Values[i] != f.Values[i] {
							diff = true
							if !allowed[s.names[i]] {
								t.Fatalf("record %d: %v changed %s, not among %v", k, kind, s.names[i], ep.Fields)
							}
						}
					}
					if diff {
						changed++
					}
					// Faults that always show must change every labelled record.
					switch kind {
					case FaultSpike, FaultOutOfRange, FaultCOPCollapse, FaultPumpFailure, FaultShortCycling:
						if !diff {
							t.Fatalf("record %d: labelled %v but unchanged", k, kind)
						}
					}
					if kind == FaultOutOfRange {
						i := s.Index(ep.Fields[0])
						if ch := s.chans[i]; f.Values[i] >= ch.lo && f.Values[i] <= ch.hi {
							t.Fatalf("record %d: out-of-range %s = %v inside [%v, %v]", k, ch.name, f.Values[i], ch.lo, ch.hi)
						}
					}
				}
			}
			if labelled == 0 || changed == 0 {
				t.Fatalf("%v: %d labelled records, %d changed", kind, labelled, changed)
			}
			// Stuck, drifting and frozen sensors can coincide with the truth
			// for a while (a steady value, the start of a drift), not mostly.
			if frac := float64(changed) / float64(labelled); frac < 0.5 {
				t.Errorf("%v: only %.0f%% of %d labelled records differ", kind, 100*frac, labelled)
			}
			t.Logf("%v: %d labelled records, %.0f%% changed", kind, labelled, 100*float64(changed)/float64(labelled))
		})
	}
}

// TestComputedNotFaulted checks that temp_outside_avg has no sensor noise
// and that sensor faults (stuck, spike, out of range, drift) never hit it:
// the controller computes it from the outside probe; it is not a probe that
// can fail on its own.
func TestComputedNotFaulted(t *testing.T) {
	for _, in := range mustFleet(t, 5, 2, 2) {
		g := mustGenerator(t, in, Config{FaultRate: 1})
		i := g.Schema().Index("temp_outside_avg")
		if i < 0 {
			t.Fatalf("%s: no temp_outside_avg", in.Model)
		}
		if c := g.Schema().chans[i]; c.class != notSensor || c.noise != 0 {
			t.Errorf("%s: temp_outside_avg is a sensor (class %d, noise %v)", in.Model, c.class, c.noise)
		}
		if slices.Contains(g.faults.sensors, i) || slices.Contains(g.faults.temps, i) {
			t.Errorf("%s: temp_outside_avg can suffer sensor faults", in.Model)
		}
		if !slices.Contains(g.faults.temps, g.Schema().Index("temp_outside")) {
			t.Errorf("%s: the outside probe cannot", in.Model)
		}
	}
}

func TestFaultShapes(t *testing.T) {
	in := mustFleet(t, 21, 1, 1)[0]
	start := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	run := func(kind Fault) ([]Record, []Record, *Schema) {
		cfg := Config{Start: start}
		clean := mustGenerator(t, in, cfg).Generate(nil, start.Add(72*time.Hour))
		cfg.FaultRate, cfg.FaultKinds = 6, []Fault{kind}
		g := mustGenerator(t, in, cfg)
		return clean, g.Generate(nil, start.Add(72*time.Hour)), g.Schema()
	}
	t.Run("pump failure", func(t *testing.T) {
		clean, faulty, s := run(FaultPumpFailure)
		flow, ret, pump, comp := s.Index("temp_heat_pump_flow"), s.Index("temp_heat_pump_return"), s.Index("state_charge_pump"), s.Index("state_compressor_1")
		for k, r := range faulty {
			if r.Label != FaultPumpFailure {
				continue
			}
			v, c := r.Values, clean[k].Values
			if v[pump] != 0 || v[comp] != 1 || v[flow] <= c[flow] || v[ret] >= c[ret] {
				t.Fatalf("record %d: pump %v compressor %v flow %v (clean %v) return %v (clean %v)", k, v[pump], v[comp], v[flow], c[flow], v[ret], c[ret])
			}
		}
	})
	t.Run("COP collapse", func(t *testing.T) {
		clean, faulty, s := run(FaultCOPCollapse)
		pc, pt := s.Index("power_current"), s.Index("power_thermal")
		for k, r := range faulty {
			if r.Label != FaultCOPCollapse {
				continue
			}
			v, c := r.Values, clean[k].Values
			if v[pc] <= c[pc] || v[pt] >= c[pt] {
				t.Fatalf("record %d: power %v/%v, clean %v/%v", k, v[pc], v[pt], c[pc], c[pt])
			}
		}
	})
	t.Run("stuck", func(t *testing.T) {
		_, faulty, _ := run(FaultStuck)
		var prev *Record
		for k := range faulty {
			r := &faulty[k]
			if r.Label == FaultStuck && prev != nil && prev.Label == FaultStuck {
				same := 0
				for i := range r.Values {
					if r.Values[i] == prev.Values[i] {
						same++
					}
				}
				if same == 0 {
					t.Fatalf("record %d: no field held its value", k)
				}
			}
			prev = r
		}
	})
	t.Run("frozen", func(t *testing.T) {
		_, faulty, _ := run(FaultFrozen)
		for k := 1; k < len(faulty); k++ {
			if faulty[k].Label == FaultFrozen && faulty[k-1].Label == FaultFrozen {
				for i := range faulty[k].Values {
					if faulty[k].Values[i] != faulty[k-1].Values[i] {
						t.Fatalf("record %d: frozen record changed field %d", k, i)
					}
				}
			}
		}
	})
}
