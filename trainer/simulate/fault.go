package simulate

import (
	"math"
	"time"
)

// Fault labels a record with the injected fault that affects it.
type Fault uint8

// Fault kinds. Sensor faults touch one channel; equipment faults touch the
// channels the failing part would move, and only while the compressor runs
// (outside defrost), which is when they show.
const (
	FaultNone Fault = iota
	// FaultStuck freezes one sensor at its last good reading.
	FaultStuck
	// FaultSpike jumps one sensor for a single sample, inside its envelope.
	FaultSpike
	// FaultOutOfRange puts one sensor outside its physical envelope: an open or
	// shorted probe, or a Modbus error value such as 3276.7.
	FaultOutOfRange
	// FaultCOPCollapse raises electrical and lowers thermal power (a failing
	// compressor valve or non-condensables): hot gas and high pressure rise and
	// the flow-return spread shrinks.
	FaultCOPCollapse
	// FaultPumpFailure stops the charge pump while the compressor runs: no
	// flow, the flow temperature climbs, the return falls, the heat meter reads 0.
	FaultPumpFailure
	// FaultDrift adds a slowly growing linear offset to one temperature sensor.
	FaultDrift
	// FaultFrozen repeats the last good record: the collector's Modbus
	// connection hangs and it keeps reporting stale values.
	FaultFrozen
	// FaultShortCycling makes the compressor start and stop every few minutes.
	FaultShortCycling
	numFaults
)

var faultNames = [...]string{"none", "stuck", "spike", "out_of_range", "cop_collapse", "pump_failure", "drift", "frozen", "short_cycling"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "unknown"
}

// Faults returns every fault kind (without FaultNone).
func Faults() []Fault {
	out := make([]Fault, 0, numFaults-1)
	for f := FaultNone + 1; f < numFaults; f++ {
		out = append(out, f)
	}
	return out
}

// Episode is one injected fault: its kind, the nominal times of its first
// record and of the record after its last, and the fields it may change.
// Equipment faults label only the records in which the compressor runs.
type Episode struct {
	Kind   Fault
	Start  time.Time
	End    time.Time
	Fields []string
}

type episode struct {
	kind        Fault
	first, end  int64 // slots [first, end)
	fields      []int // schema indices
	vals        []float64
	a, b        float64
	period, off int64
}

// injector schedules fault episodes as a Poisson process over slots and
// overlays them on the clean record. It draws from its own random stream and
// never feeds back into the plant, so records outside episodes, and fields an
// episode does not list, are exactly those of a run without faults.
type injector struct {
	g        *Generator
	rng      *rng
	kinds    []Fault
	meanGap  float64 // mean slots between episodes
	cur      *episode
	done     []Episode
	nextFree int64
	iv       float64 // seconds per slot

	sensors, temps                     []int
	pc, pt, pd, flow, ret, hgl, ph     int
	pump, rate, comp, status, speedCmp int
}

func newInjector(g *Generator, cfg Config) *injector {
	f := &injector{g: g, rng: newRNG(g.inst.Seed, streamFaults), nextFree: 1, iv: cfg.Interval.Seconds()}
	if cfg.FaultRate > 0 {
		f.meanGap = 86400 / f.iv / cfg.FaultRate
	}
	f.kinds = cfg.FaultKinds
	if len(f.kinds) == 0 {
		f.kinds = Faults()
	}
	s := g.schema
	for i, c := range s.chans {
		switch c.class {
		case tempSensor:
			// Sensors not fitted on this installation read 0 and cannot fail visibly.
			if fitted(&g.inst, c.id) {
				f.sensors = append(f.sensors, i)
				f.temps = append(f.temps, i)
			}
		case otherSensor:
			f.sensors = append(f.sensors, i)
		}
	}
	idx := s.Index
	f.pc, f.pt, f.pd = idx("power_current"), idx("power_thermal"), idx("power_current_draw")
	f.flow, f.ret, f.hgl, f.ph = idx("temp_heat_pump_flow"), idx("temp_heat_pump_return"), idx("temp_hgl_flow"), idx("pressure_high")
	f.pump, f.rate = idx("state_charge_pump"), idx("flow_rate_heat_pump")
	f.comp, f.status, f.speedCmp = idx("state_compressor_1"), idx("status_heat_pump"), idx("speed_compressor")
	return f
}

// fitted reports whether a dynamic temperature channel has a sensor on this
// installation (air sensors on ground units, solar sensors without
// collectors and unused circuits read 0).
func fitted(in *Installation, id int) bool {
	switch id {
	case chTempAirIn, chTempAirHX, chTempAirIn2:
		return in.Source == Air
	case chTempSolarCollector, chTempSolarCollectorReturn, chTempSolarCharge:
		return in.SolarThermal > 0
	case chFlowCurB, chRoomB:
		return in.Circuits >= 2
	case chFlowCurC, chRoomC:
		return in.Circuits >= 3
	}
	return true
}

func present(idx ...int) []int {
	var out []int
	for _, i := range idx {
		if i >= 0 {
			out = append(out, i)
		}
	}
	return out
}

// schedule draws the next episode, starting at or after nextFree.
func (f *injector) schedule() {
	r := f.rng
	gap := int64(math.Ceil(r.exp() * f.meanGap))
	e := &episode{kind: f.kinds[r.intn(len(f.kinds))], first: f.nextFree + gap}
	slots := func(lo, hi time.Duration) int64 {
		d := r.uniform(lo.Seconds(), hi.Seconds())
		return max(1, int64(math.Round(d/f.iv)))
	}
	pick := func(from []int) []int { return []int{from[r.intn(len(from))]} }
	var n int64
	switch e.kind {
	case FaultStuck:
		n = slots(time.Hour, 24*time.Hour)
		e.fields = pick(f.sensors)
	case FaultSpike:
		n = 1
		e.fields = pick(f.sensors)
		e.a = r.uniform(0.15, 0.4)
		if r.chance(0.5) {
			e.a = -e.a
		}
	case FaultOutOfRange:
		n = 1
		if r.chance(0.5) {
			n = slots(10*time.Minute, 3*time.Hour)
		}
		e.fields = pick(f.sensors)
		c := f.g.schema.chans[e.fields[0]]
		span := c.hi - c.lo
		var v float64
		switch x := r.float64(); {
		case x < 0.4: // open circuit reads high
			v = c.hi + r.uniform(0.05, 0.5)*span
		case x < 0.7: // short circuit reads low
			v = c.lo - r.uniform(0.05, 0.5)*span
		default: // Modbus error values
			v = []float64{3276.7, -3276.8, 6553.5}[r.intn(3)]
		}
		e.vals = []float64{math.Round(v*10) / 10}
	case FaultCOPCollapse:
		n = slots(time.Hour, 12*time.Hour)
		e.fields = present(f.pc, f.pt, f.pd, f.flow, f.hgl, f.ph)
		e.a, e.b = r.uniform(1.3, 1.8), r.uniform(0.35, 0.6)
	case FaultPumpFailure:
		n = slots(20*time.Minute, 4*time.Hour)
		e.fields = present(f.pump, f.rate, f.flow, f.ret, f.pt, f.ph)
	case FaultDrift:
		n = slots(4*time.Hour, 36*time.Hour)
		e.fields = pick(f.temps)
		total := r.uniform(3, 15)
		if r.chance(0.5) {
			total = -total
		}
		e.a = total / (float64(n) * f.iv) // K per second
	case FaultFrozen:
		n = slots(15*time.Minute, 6*time.Hour)
		e.fields = make([]int, f.g.schema.Len())
		for i := range e.fields {
			e.fields[i] = i
		}
	case FaultShortCycling:
		n = slots(time.Hour, 8*time.Hour)
		e.fields = present(f.comp, f.status, f.pc, f.pt, f.pd, f.speedCmp)
		e.period = max(2, int64(math.Round(r.uniform(180, 480)/f.iv)))
		e.off = e.period / 2
	}
	e.end = e.first + n
	f.nextFree = e.end + 1
	f.cur = e
}

// apply overlays the active episode on out (a copy of clean) for slot k and
// returns the record's label. prev holds the clean values of slot k-1;
// running reports that the compressor runs outside defrost.
func (f *injector) apply(k int64, clean, prev, out []float64, running bool) Fault {
	if f.meanGap == 0 {
		return FaultNone
	}
	if f.cur == nil || k >= f.cur.end {
		if f.cur != nil {
			f.done = append(f.done, f.public(f.cur))
		}
		f.schedule()
	}
	e := f.cur
	if k < e.first {
		return FaultNone
	}
	s := f.g.schema
	if k == e.first {
		switch e.kind {
		case FaultStuck:
			e.vals = []float64{prev[e.fields[0]]}
		case FaultFrozen:
			e.vals = append([]float64(nil), prev...)
		}
	}
	round := func(i int, v float64) float64 { return math.Round(v*s.scale[i]) / s.scale[i] }
	set := func(i int, v float64) {
		if i >= 0 {
			out[i] = round(i, v)
		}
	}
	switch e.kind {
	case FaultStuck:
		out[e.fields[0]] = e.vals[0]
	case FaultFrozen:
		copy(out, e.vals)
	case FaultOutOfRange:
		out[e.fields[0]] = e.vals[0]
	case FaultSpike:
		i := e.fields[0]
		c := s.chans[i]
		mag := e.a * (c.hi - c.lo)
		if c.class == tempSensor {
			mag = math.Copysign(8+60*(math.Abs(e.a)-0.15), e.a) // 8 to 23 K
		}
		v := clamp(clean[i]+mag, c.lo, c.hi)
		if math.Abs(v-clean[i]) < 0.5*math.Abs(mag) {
			v = clamp(clean[i]-mag, c.lo, c.hi)
		}
		set(i, v)
	case FaultDrift:
		i := e.fields[0]
		c := s.chans[i]
		set(i, clamp(clean[i]+e.a*float64(k-e.first+1)*f.iv, c.lo, c.hi))
	case FaultCOPCollapse:
		if !running {
			return FaultNone
		}
		if f.pc >= 0 {
			set(f.pc, clean[f.pc]*e.a)
			if f.pd >= 0 {
				set(f.pd, clean[f.pd]+out[f.pc]-clean[f.pc])
			}
		}
		if f.pt >= 0 {
			set(f.pt, clean[f.pt]*e.b)
		}
		if f.flow >= 0 && f.ret >= 0 {
			set(f.flow, clean[f.ret]+(clean[f.flow]-clean[f.ret])*e.b)
		}
		if f.hgl >= 0 {
			set(f.hgl, clean[f.hgl]+15)
		}
		if f.ph >= 0 {
			set(f.ph, clean[f.ph]+3)
		}
	case FaultPumpFailure:
		if !running {
			return FaultNone
		}
		minutes := float64(k-e.first) * f.iv / 60
		flow := 0.0
		if f.flow >= 0 {
			flow = clean[f.flow] + math.Min(18, 2+0.6*minutes)
			set(f.flow, flow)
		}
		if f.ret >= 0 {
			set(f.ret, clean[f.ret]-math.Min(6, 0.5+0.2*minutes))
		}
		set(f.pump, 0)
		set(f.rate, 0)
		set(f.pt, 0)
		if f.ph >= 0 && f.flow >= 0 {
			set(f.ph, psat(flow+3))
		}
	case FaultShortCycling:
		if !running {
			return FaultNone
		}
		const standby = 0.02
		ph := (k - e.first) % e.period
		if ph < e.off {
			set(f.comp, 0)
			set(f.status, 0)
			set(f.pc, 0)
			set(f.pt, 0)
			set(f.pd, standby)
			set(f.speedCmp, 0)
			break
		}
		r := 1 - math.Exp(-float64(ph-e.off+1)*f.iv/rampTau)
		if f.pc >= 0 {
			set(f.pc, clean[f.pc]*r)
		}
		if f.pt >= 0 {
			set(f.pt, clean[f.pt]*r)
		}
		if f.pd >= 0 {
			set(f.pd, standby+(clean[f.pd]-standby)*r)
		}
		if f.speedCmp >= 0 {
			set(f.speedCmp, clean[f.speedCmp]*r)
		}
	}
	return e.kind
}

func (f *injector) public(e *episode) Episode {
	s := f.g.schema
	names := make([]string, len(e.fields))
	for i, j := range e.fields {
		names[i] = s.names[j]
	}
	at := func(k int64) time.Time { return time.UnixMilli(f.g.startMs + k*f.g.ivMs).UTC() }
	return Episode{Kind: e.kind, Start: at(e.first), End: at(e.end), Fields: names}
}

// episodes lists the episodes that started before slot next.
func (f *injector) episodes(next int64) []Episode {
	out := append([]Episode(nil), f.done...)
	if f.cur != nil && f.cur.first < next {
		out = append(out, f.public(f.cur))
	}
	return out
}
