package simulate

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"testing"
	"time"
)

func mustFleet(t testing.TB, seed uint64, n, m int) []Installation {
	t.Helper()
	fleet, err := NewFleet(seed, n, m)
	if err != nil {
		t.Fatal(err)
	}
	return fleet
}

func mustGenerator(t testing.TB, in Installation, cfg Config) *Generator {
	t.Helper()
	g, err := NewGenerator(in, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func day(t testing.TB, in Installation, cfg Config) ([]Record, *Generator) {
	t.Helper()
	g := mustGenerator(t, in, cfg)
	return g.Generate(nil, g.Next().Add(24*time.Hour)), g
}

func encodeDay(recs []Record, in Installation) []byte {
	var out []byte
	for _, b := range Batches(recs, 0) {
		out = AppendBatchJSON(out, in, "v1.0.3-12-gabc1234", b)
		out = append(out, '\n')
	}
	return out
}

func TestFleet(t *testing.T) {
	fleet := mustFleet(t, 7, 12, 3)
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	names := Models()
	for i, in := range fleet {
		if !uuidRE.MatchString(in.ID) {
			t.Errorf("installation %d: %q is not a UUID v4", i, in.ID)
		}
		if seen[in.ID] {
			t.Errorf("installation %d: duplicate ID %s", i, in.ID)
		}
		seen[in.ID] = true
		if in.Model != names[i%3] {
			t.Errorf("installation %d: model %q, want %q", i, in.Model, names[i%3])
		}
	}
	again := mustFleet(t, 7, 12, 3)
	for i := range fleet {
		if fleet[i] != again[i] {
			t.Fatalf("installation %d differs between two fleets from one seed", i)
		}
	}
	if other := mustFleet(t, 8, 12, 3); other[0].ID == fleet[0].ID {
		t.Error("different seeds gave the same installation ID")
	}
	if _, err := NewInstallation(1, "AERO XYZ"); !errors.Is(err, ErrUnknownModel) {
		t.Errorf("unknown model: err = %v", err)
	}
	for _, c := range []struct{ n, m int }{{0, 1}, {3, 0}, {3, len(names) + 1}} {
		if _, err := NewFleet(1, c.n, c.m); !errors.Is(err, ErrConfig) {
			t.Errorf("NewFleet(%d, %d): err = %v", c.n, c.m, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	in := mustFleet(t, 1, 1, 1)[0]
	for name, cfg := range map[string]Config{
		"short interval": {Interval: time.Millisecond},
		"long interval":  {Interval: 2 * time.Hour},
		"few fields":     {Fields: MinFields() - 1},
		"many fields":    {Fields: MaxFields() + 1},
		"negative rate":  {FaultRate: -1},
		"NaN rate":       {FaultRate: math.NaN()},
		"bad kind":       {FaultRate: 1, FaultKinds: []Fault{FaultNone}},
	} {
		if _, err := NewGenerator(in, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := NewGenerator(Installation{ID: "x"}, Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("empty installation: err = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	in := mustFleet(t, 3, 1, 1)[0]
	recs, g := day(t, in, Config{})
	if got := len(g.Fields()); got != DefaultFields {
		t.Errorf("fields = %d, want %d", got, DefaultFields)
	}
	if len(recs) != 2880 {
		t.Fatalf("records per day = %d, want 2880", len(recs))
	}
	seen := map[string]bool{}
	for _, f := range g.Fields() {
		if seen[f] {
			t.Errorf("duplicate field %q", f)
		}
		seen[f] = true
	}
	for _, f := range []string{"temp_outside", "temp_outside_avg", "temp_heat_pump_flow", "temp_heat_pump_return",
		"temp_water_heater_top", "temp_water_heater_bottom", "status_heat_pump", "power_current", "power_thermal",
		"energy_heat_total", "temp_flow_current_circuit_a", "mode_circuit_a", "state_compressor_1", "humidity"} {
		if !seen[f] {
			t.Errorf("missing field %q", f)
		}
	}
	start := float64(DefaultStart.Unix())
	prev := math.Inf(-1)
	for i, r := range recs {
		if r.Timestamp <= prev {
			t.Fatalf("record %d: timestamp %v not after %v", i, r.Timestamp, prev)
		}
		nominal := start + 30*float64(i)
		if r.Timestamp < nominal || r.Timestamp >= nominal+30 {
			t.Fatalf("record %d: timestamp %v outside its 30 s slot at %v", i, r.Timestamp, nominal)
		}
		prev = r.Timestamp
		if len(r.Values) != DefaultFields || r.Schema != g.Schema() || r.Label != FaultNone {
			t.Fatalf("record %d: malformed %+v", i, r)
		}
	}
	if got, want := g.Next(), DefaultStart.Add(24*time.Hour); !got.Equal(want) {
		t.Errorf("Next() = %v, want %v", got, want)
	}
	// Other field counts and intervals.
	for _, c := range []struct {
		fields int
		iv     time.Duration
		n      int
	}{{MinFields(), time.Minute, 1440}, {MaxFields(), 5 * time.Minute, 288}, {100, 10 * time.Second, 8640}} {
		recs, g := day(t, in, Config{Fields: c.fields, Interval: c.iv})
		if len(g.Fields()) != c.fields || len(recs) != c.n {
			t.Errorf("fields %d every %s: got %d fields, %d records; want %d records", c.fields, c.iv, len(g.Fields()), len(recs), c.n)
		}
	}
}

func TestDeterminism(t *testing.T) {
	fleet := mustFleet(t, 11, 3, 3)
	cfg := Config{FaultRate: 4, JSONBools: true}
	for _, in := range fleet {
		a, _ := day(t, in, cfg)
		b, _ := day(t, in, cfg)
		if !bytes.Equal(encodeDay(a, in), encodeDay(b, in)) {
			t.Fatalf("%s: same seed gave different bytes", in.Model)
		}
		// Two half days from one generator equal one whole day.
		g := mustGenerator(t, in, cfg)
		var parts []Record
		parts = g.Generate(parts, g.Next().Add(12*time.Hour+17*time.Second))
		parts = g.Generate(parts, DefaultStart.Add(24*time.Hour))
		if !bytes.Equal(encodeDay(parts, in), encodeDay(a, in)) {
			t.Fatalf("%s: generating in two calls differs from one call", in.Model)
		}
		for i := range a {
			if a[i].Label != parts[i].Label {
				t.Fatalf("%s: record %d label differs", in.Model, i)
			}
		}
	}
	a, _ := day(t, fleet[0], cfg)
	b, _ := day(t, fleet[1], cfg)
	if bytes.Equal(encodeDay(a, fleet[0]), encodeDay(b, fleet[0])) {
		t.Fatal("different installations gave identical data")
	}
	// The field count changes which fields are sent, not the physics.
	small, gs := day(t, fleet[0], Config{Fields: MinFields()})
	big, gb := day(t, fleet[0], Config{Fields: MaxFields()})
	for _, f := range gs.Fields() {
		i, j := gs.Schema().Index(f), gb.Schema().Index(f)
		for k := range small {
			if small[k].Values[i] != big[k].Values[j] {
				t.Fatalf("field %s differs between %d and %d fields at record %d", f, MinFields(), MaxFields(), k)
			}
		}
	}
}

// sanityRun generates days of clean data for a set of installations and
// seasons and hands each run to check.
func sanityRuns(t *testing.T, check func(t *testing.T, in Installation, s *Schema, recs []Record)) {
	fleet := mustFleet(t, 5, 6, 6)
	for _, month := range []time.Month{time.January, time.April, time.July, time.November} {
		for _, in := range fleet {
			t.Run(month.String()+"/"+in.Model, func(t *testing.T) {
				start := time.Date(2026, month, 3, 0, 0, 0, 0, time.UTC)
				g := mustGenerator(t, in, Config{Start: start})
				recs := g.Generate(nil, start.Add(48*time.Hour))
				check(t, in, g.Schema(), recs)
			})
		}
	}
}

func TestPhysicalSanity(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	defrosts, waterRuns := 0, 0
	sanityRuns(t, func(t *testing.T, in Installation, s *Schema, recs []Record) {
		col := func(name string) int {
			i := s.Index(name)
			if i < 0 {
				t.Fatalf("missing %s", name)
			}
			return i
		}
		flow, ret, status := col("temp_heat_pump_flow"), col("temp_heat_pump_return"), col("status_heat_pump")
		comp, pc, pt := col("state_compressor_1"), col("power_current"), col("power_thermal")
		var counters []int
		for i, f := range s.Fields() {
			if len(f) > 7 && f[:7] == "energy_" {
				counters = append(counters, i)
			}
		}
		sinceDefrost := 100
		starts := 0
		for k, r := range recs {
			v := r.Values
			st := int(v[status])
			if st&8 != 0 {
				sinceDefrost = 0
				defrosts++
				if in.Source != Air {
					t.Fatalf("record %d: a ground unit defrosts", k)
				}
			} else {
				sinceDefrost++
			}
			if st&4 != 0 {
				waterRuns++
			}
			on := v[comp] == 1
			if on != (st != 0) {
				t.Fatalf("record %d: compressor %v with status %d", k, v[comp], st)
			}
			if k > 0 && on && recs[k-1].Values[comp] == 0 {
				starts++
			}
			if on && st&8 == 0 {
				// The flow and return sensors lag a defrost by a sample or two.
				if sinceDefrost > 2 && v[flow] < v[ret]-0.2 {
					t.Errorf("record %d: flow %.1f below return %.1f while heating", k, v[flow], v[ret])
				}
				if v[pc] >= 0.3 {
					if cop := v[pt] / v[pc]; cop < 1.5 || cop > 6 {
						t.Errorf("record %d: COP %.2f (%.2f kW / %.2f kW)", k, cop, v[pt], v[pc])
					}
				}
			}
			if !on && (v[pc] != 0 || v[pt] != 0) {
				t.Fatalf("record %d: power %v/%v with the compressor off", k, v[pc], v[pt])
			}
			for i, c := range s.chans {
				if c.class != notSensor && (v[i] < c.lo || v[i] > c.hi) {
					t.Fatalf("record %d: %s = %v outside [%v, %v]", k, c.name, v[i], c.lo, c.hi)
				}
				if c.kind != Analog && v[i] != math.Trunc(v[i]) {
					t.Fatalf("record %d: %s = %v is not whole", k, c.name, v[i])
				}
				if c.kind == Bool && v[i] != 0 && v[i] != 1 {
					t.Fatalf("record %d: flag %s = %v", k, c.name, v[i])
				}
			}
			if k > 0 {
				for _, i := range counters {
					if v[i] < recs[k-1].Values[i] {
						t.Fatalf("record %d: counter %s fell from %v to %v", k, s.names[i], recs[k-1].Values[i], v[i])
					}
				}
			}
		}
		if starts == 0 && recs[0].Values[comp] == 0 {
			t.Error("the compressor never ran in two days")
		}
		if starts > 2*24*3 {
			t.Errorf("%d compressor starts in two days: short cycling", starts)
		}
	})
	if defrosts == 0 {
		t.Error("no air unit defrosted")
	}
	if waterRuns == 0 {
		t.Error("no hot-water charge")
	}
}
