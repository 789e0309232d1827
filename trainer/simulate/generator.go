package simulate

import (
	"fmt"
	"math"
	"time"
)

// Defaults of a zero Config and of the batch helpers.
const (
	DefaultInterval  = 30 * time.Second
	DefaultFields    = 130
	DefaultBatchSize = 200
	// DefaultFaultRate is a suggested fault rate for quality evaluations, in
	// episodes per installation and day. A zero Config injects no faults.
	DefaultFaultRate = 1.0
)

// DefaultStart is the first record time of a zero Config, 2026-02-01T00:00:00Z:
// a winter day, when heating, defrost and hot water all show.
var DefaultStart = time.Unix(1769904000, 0).UTC()

// warmup is simulated before Start and discarded, so that the first records
// come from a settled plant rather than from the initial guesses.
const warmup = 24 * time.Hour

// Config sets up a Generator. The zero value is valid.
type Config struct {
	Start      time.Time     // first record slot (DefaultStart when zero)
	Interval   time.Duration // record interval, 1 s to 1 h (DefaultInterval when zero)
	Fields     int           // fields per record, MinFields to MaxFields (DefaultFields when zero)
	FaultRate  float64       // mean fault episodes per day; 0 injects none
	FaultKinds []Fault       // kinds to inject; nil means all
	JSONBools  bool          // encode binary sensors as true/false, as newer collectors do
}

// Record is one sample of one installation. Values are parallel to
// Schema.Fields(), already rounded as the sensors report them; integers and
// flags are whole numbers. Label is FaultNone unless an injected fault
// affects the record. Record k of a generator has the nominal time
// Start + k×Interval; its Timestamp lies within the following interval.
type Record struct {
	Timestamp float64 // Unix seconds with millisecond digits, as collectors send it
	Values    []float64
	Label     Fault
	Schema    *Schema
}

// Generator produces the records of one installation, in time order. It is
// deterministic: the same Installation and Config give the same records. It is
// not safe for concurrent use; run one generator per goroutine.
type Generator struct {
	inst   Installation
	cfg    Config
	schema *Schema
	plant  *plant
	faults *injector

	startMs, ivMs, phaseMs int64
	slot                   int64 // index of the next record
	subSteps               int
	subDt                  float64
	noiseSeed, jitterSeed  uint64
	clean, prev            []float64
}

// NewGenerator returns a generator whose first record is at cfg.Start.
func NewGenerator(inst Installation, cfg Config) (*Generator, error) {
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Fields == 0 {
		cfg.Fields = DefaultFields
	}
	switch {
	case cfg.Interval < time.Second || cfg.Interval > time.Hour || cfg.Interval%time.Millisecond != 0:
		return nil, fmt.Errorf("%w: interval %s (1s to 1h, whole milliseconds)", ErrConfig, cfg.Interval)
	case cfg.Fields < MinFields() || cfg.Fields > MaxFields():
		return nil, fmt.Errorf("%w: %d fields (%d to %d)", ErrConfig, cfg.Fields, MinFields(), MaxFields())
	case !(cfg.FaultRate >= 0 && cfg.FaultRate <= 1000):
		return nil, fmt.Errorf("%w: fault rate %v per day", ErrConfig, cfg.FaultRate)
	}
	if err := inst.validate(); err != nil {
		return nil, err
	}
	for _, k := range cfg.FaultKinds {
		if k == FaultNone || k >= numFaults {
			return nil, fmt.Errorf("%w: fault kind %d", ErrConfig, k)
		}
	}
	g := &Generator{
		inst:       inst,
		cfg:        cfg,
		schema:     newSchema(cfg.Fields, cfg.JSONBools),
		startMs:    cfg.Start.UnixMilli(),
		ivMs:       cfg.Interval.Milliseconds(),
		noiseSeed:  mix(inst.Seed, streamNoise, 0),
		jitterSeed: mix(inst.Seed, streamJitter, 0),
	}
	// Collectors poll at a fixed phase of their own within the interval.
	g.phaseMs = int64(mix(inst.Seed, streamJitter, 1) % uint64(min(g.ivMs, 30000)))
	iv := cfg.Interval.Seconds()
	g.subSteps = int(math.Ceil(iv / 30))
	g.subDt = iv / float64(g.subSteps)
	g.clean = make([]float64, g.schema.Len())
	g.prev = make([]float64, g.schema.Len())

	zones := 0
	for _, c := range g.schema.chans {
		if c.id >= zoneBase {
			zones = max(zones, (c.id-zoneBase)/zoneChannels+1)
		}
	}
	t0 := float64(g.startMs) / 1000
	w := warmup.Seconds()
	g.plant = newPlant(&g.inst, zones, t0-w)
	n := int(math.Round(w / g.subDt))
	for i := 1; i <= n; i++ {
		g.plant.step(t0-w+float64(i)*g.subDt, g.subDt)
	}
	g.faults = newInjector(g, cfg)
	return g, nil
}

// Schema describes the fields of every record this generator emits.
func (g *Generator) Schema() *Schema { return g.schema }

// Fields returns the field names in emission order. Do not modify it.
func (g *Generator) Fields() []string { return g.schema.names }

// Installation returns the installation being simulated.
func (g *Generator) Installation() Installation { return g.inst }

// Next returns the nominal time of the next record (its timestamp adds the
// collector's polling phase and a few milliseconds of jitter).
func (g *Generator) Next() time.Time {
	return time.UnixMilli(g.startMs + g.slot*g.ivMs).UTC()
}

// Generate appends the records whose nominal times fall before until and
// returns the extended slice. Successive calls continue where the previous
// one stopped, so a day at a time gives the same records as all at once.
// The values of one call share one new allocation (about 3 MB per day at the
// defaults): stream long ranges a day at a time.
func (g *Generator) Generate(dst []Record, until time.Time) []Record {
	end := until.UnixMilli()
	if end <= g.startMs+g.slot*g.ivMs {
		return dst
	}
	n := (end - g.startMs - g.slot*g.ivMs + g.ivMs - 1) / g.ivMs
	w := g.schema.Len()
	buf := make([]float64, int(n)*w)
	dst = slicesGrow(dst, int(n))
	for i := 0; i < int(n); i++ {
		out := buf[i*w : (i+1)*w : (i+1)*w]
		dst = append(dst, g.record(out))
	}
	return dst
}

func slicesGrow(s []Record, n int) []Record {
	if cap(s)-len(s) < n {
		t := make([]Record, len(s), len(s)+n)
		copy(t, s)
		return t
	}
	return s
}

// record emits the current slot into out and advances the plant to the next.
func (g *Generator) record(out []float64) Record {
	k := g.slot
	p := g.plant
	t := float64(g.startMs+k*g.ivMs) / 1000
	p.sample(t)
	s := g.schema
	for i := range s.chans {
		c := &s.chans[i]
		v := p.v[c.id]
		if c.noise > 0 && v != 0 { // absent sensors and idle meters read exactly 0
			v += c.noise * triangular(mix(g.noiseSeed, uint64(k), uint64(c.id)))
		}
		v = math.Round(v*s.scale[i]) / s.scale[i]
		if v == 0 {
			v = 0 // no negative zero on the wire
		}
		g.clean[i] = v
	}
	copy(out, g.clean)
	label := g.faults.apply(k, g.clean, g.prev, out, p.on && !p.defrost)
	g.clean, g.prev = g.prev, g.clean

	ms := g.startMs + k*g.ivMs + g.phaseMs + int64(mix(g.jitterSeed, uint64(k), 0)%250)
	g.slot++
	for j := 1; j <= g.subSteps; j++ {
		p.step(t+float64(j)*g.subDt, g.subDt)
	}
	return Record{Timestamp: float64(ms) / 1000, Values: out, Label: label, Schema: s}
}

// Episodes returns the fault episodes that have started so far, in order.
func (g *Generator) Episodes() []Episode { return g.faults.episodes(g.slot) }
