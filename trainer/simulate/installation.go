package simulate

import (
	"fmt"
	"math"
)

// Source is where a heat pump takes its heat from.
type Source uint8

const (
	// Air is an air-source unit: capacity falls and the evaporator frosts in
	// cold, humid weather, so it defrosts from time to time.
	Air Source = iota
	// Ground is a brine (ground-source) unit: the source temperature follows the
	// ground with a seasonal lag and sags while the compressor runs.
	Ground
)

func (s Source) String() string {
	if s == Ground {
		return "ground"
	}
	return "air"
}

// Emitter is the kind of heat emitter the main heating circuit feeds.
type Emitter uint8

const (
	// Floor heating: low flow temperatures, flat heating curve.
	Floor Emitter = iota
	// Radiators: higher flow temperatures, steeper curve, larger exponent.
	Radiators
)

// model is one entry of the heat-pump catalog. The "3-11" in IDM names is the
// modulation range of the unit in kW of heat.
type model struct {
	name     string
	source   Source
	min, max float64 // kW thermal
}

// catalog lists the models NewFleet draws from, most common first, so that a
// fleet of M models always starts with the same, familiar ones.
var catalog = []model{
	{"AERO SLM 3-11", Air, 3, 11},
	{"TERRA SW 6-17", Ground, 6, 17},
	{"iPUMP A3-11", Air, 3, 11},
	{"AERO ALM 6-15", Air, 6, 15},
	{"TERRA SW 3-13", Ground, 3, 13},
	{"iPUMP A5-17", Air, 5, 17},
	{"AERO SLM 6-17", Air, 6, 17},
	{"AERO ALM 4-12", Air, 4, 12},
	{"iPUMP T2-7", Ground, 2, 7},
	{"AERO ALM 10-24", Air, 10, 24},
}

// Models returns the catalog's heat-pump model names in the order NewFleet
// uses them.
func Models() []string {
	out := make([]string, len(catalog))
	for i, m := range catalog {
		out[i] = m.name
	}
	return out
}

// Installation is one simulated heat pump in one house. All fields are
// derived from Seed by NewInstallation; callers may adjust them before
// building a Generator.
type Installation struct {
	ID    string // UUID v4 text, derived from Seed
	Model string // heat-pump model name, e.g. "AERO SLM 3-11"
	Seed  uint64 // drives everything random about this installation

	Source   Source
	MinPower float64 // kW thermal, lower end of the modulation range
	MaxPower float64 // kW thermal at A-7 (air) or B0 (ground)

	// Building.
	DesignTemp   float64 // °C, outdoor design temperature
	HeatLoss     float64 // W/K, transmission and ventilation losses
	TimeConstant float64 // hours, building thermal time constant
	Occupants    int     // drives hot-water draws and internal gains

	// Heating circuit A (the one the heat pump is sized for).
	Emitter       Emitter
	CurveSlope    float64 // heating-curve slope (K flow per K outdoor)
	CurveShift    float64 // K, parallel shift of the heating curve
	RoomSetpoint  float64 // °C, normal room setpoint
	NightSetback  bool    // circuit in timed mode with an eco night setback
	HeatingLimit  float64 // °C, averaged outdoor temperature above which heating stops
	Circuits      int     // heating circuits in use (1 to 3)
	BufferVolume  float64 // litres of water in buffer and pipes
	ClimateOffset float64 // K added to the regional climate (altitude, exposure)

	// Domestic hot water.
	TankVolume      float64  // litres
	WaterTarget     float64  // °C
	WaterHysteresis float64  // K below target at which a charge starts
	WaterSchedule   [24]bool // hours (CET) in which a hot-water charge may start
	LegionellaDay   int      // weekday (0 = Monday) of the weekly 60 °C cycle

	// Extras.
	PV           float64 // kWp of photovoltaics, 0 = none
	Battery      float64 // kWh of home battery, 0 = none
	SolarThermal float64 // m² of solar collectors on the tank, 0 = none
	UtilityLock  bool    // the utility blocks the compressor twice a day (EVU-Sperre)
	DynamicPrice bool    // hourly electricity tariff
	Efficiency   float64 // installation quality factor on the Carnot efficiency
}

// NewInstallation derives an installation of the given catalog model from a
// seed.
func NewInstallation(seed uint64, modelName string) (Installation, error) {
	for _, m := range catalog {
		if m.name == modelName {
			return newInstallation(seed, m), nil
		}
	}
	return Installation{}, fmt.Errorf("%w: %q", ErrUnknownModel, modelName)
}

// NewFleet builds n installations spread round-robin over the first m catalog
// models, deterministically from seed: installation i has model i mod m.
func NewFleet(seed uint64, n, m int) ([]Installation, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d installations", ErrConfig, n)
	}
	if m < 1 || m > len(catalog) {
		return nil, fmt.Errorf("%w: %d models (1 to %d)", ErrConfig, m, len(catalog))
	}
	out := make([]Installation, n)
	for i := range out {
		out[i] = newInstallation(mix(seed, streamParams, uint64(i)), catalog[i%m])
	}
	return out, nil
}

func newInstallation(seed uint64, m model) Installation {
	r := newRNG(seed, streamParams)
	in := Installation{
		ID:       uuid4(seed),
		Model:    m.name,
		Seed:     seed,
		Source:   m.source,
		MinPower: m.min,
		MaxPower: m.max,
	}
	in.DesignTemp = math.Round(r.uniform(-14, -10))
	// The design load is a fraction of the nominal maximum: installers size the
	// unit with a margin, and air units lose capacity in the cold.
	load := m.max * r.uniform(0.45, 0.7) * 1000
	in.HeatLoss = math.Round(load / (20 - in.DesignTemp))
	in.TimeConstant = math.Round(r.uniform(30, 90))
	in.Occupants = 1 + r.intn(5)

	if r.chance(0.6) {
		in.Emitter = Floor
		in.CurveSlope = math.Round(r.uniform(0.3, 0.6)*20) / 20
	} else {
		in.Emitter = Radiators
		in.CurveSlope = math.Round(r.uniform(0.8, 1.3)*20) / 20
	}
	in.CurveShift = float64(r.intn(3))
	in.RoomSetpoint = math.Round(r.uniform(20, 22.5)*2) / 2
	in.NightSetback = r.chance(0.7)
	in.HeatingLimit = float64(14 + r.intn(4))
	switch x := r.float64(); {
	case x < 0.6:
		in.Circuits = 1
	case x < 0.9:
		in.Circuits = 2
	default:
		in.Circuits = 3
	}
	in.BufferVolume = math.Round(r.uniform(80, 350))
	in.ClimateOffset = math.Round(r.uniform(-3, 2)*10) / 10

	in.TankVolume = []float64{200, 300, 300, 400, 400}[in.Occupants-1]
	in.WaterTarget = []float64{46, 48, 50, 52}[r.intn(4)]
	in.WaterHysteresis = []float64{4, 5, 6, 8}[r.intn(4)]
	switch r.intn(3) {
	case 0: // any time
		for h := range in.WaterSchedule {
			in.WaterSchedule[h] = true
		}
	case 1: // midday for PV and the afternoon warmth, plus an evening top-up
		for h := 10; h < 16; h++ {
			in.WaterSchedule[h] = true
		}
		in.WaterSchedule[20], in.WaterSchedule[21] = true, true
	default: // night tariff plus an early-afternoon slot
		for h := 0; h < 6; h++ {
			in.WaterSchedule[h] = true
		}
		in.WaterSchedule[13], in.WaterSchedule[14] = true, true
	}
	in.LegionellaDay = r.intn(7)

	if r.chance(0.6) {
		in.PV = math.Round(r.uniform(4, 12)*10) / 10
		if r.chance(0.5) {
			in.Battery = math.Round(r.uniform(5, 12)*10) / 10
		}
	}
	if r.chance(0.25) {
		in.SolarThermal = math.Round(r.uniform(4, 10)*10) / 10
	}
	in.UtilityLock = r.chance(0.3)
	in.DynamicPrice = r.chance(0.3)
	in.Efficiency = r.uniform(0.92, 1.05)
	return in
}

// validate rejects parameter sets the plant cannot simulate (they would
// divide by zero or produce NaN).
func (in *Installation) validate() error {
	bad := func(what string) error {
		return fmt.Errorf("%w: installation %q: %s (derive installations with NewInstallation or NewFleet)", ErrConfig, in.ID, what)
	}
	switch {
	case !(in.MaxPower > 0 && in.MinPower >= 0 && in.MinPower <= in.MaxPower):
		return bad("power range")
	case !(in.HeatLoss > 0 && in.TimeConstant > 0 && in.BufferVolume > 0 && in.TankVolume > 0):
		return bad("building, buffer or tank size")
	case !(in.RoomSetpoint >= in.DesignTemp+5 && in.CurveSlope > 0):
		return bad("heating curve")
	case in.Circuits < 1 || in.Circuits > 3 || in.Occupants < 0:
		return bad("circuits or occupants")
	case !(in.Efficiency > 0 && in.PV >= 0 && in.Battery >= 0 && in.SolarThermal >= 0):
		return bad("efficiency or extras")
	}
	return nil
}

// uuid4 formats 16 seeded random bytes as a version-4, RFC 4122 variant UUID.
func uuid4(seed uint64) string {
	r := newRNG(seed, streamID)
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		x := r.uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0x0f])
	}
	return string(out)
}
