package simulate

import "math"

// The plant is a lumped-parameter model of one house with one heat pump. It
// is deliberately simple (explicit Euler steps of at most 30 s over a handful
// of thermal masses) but keeps the couplings an anomaly model can learn:
// outdoor temperature drives the heating curve, the curve drives the flow
// temperature, the temperature lift drives the COP, the COP ties electrical to
// thermal power, and cold humid air frosts the evaporator of air units.

const (
	cWater    = 4186.0 // J/(kg K)
	kelvin    = 273.15
	cetOffset = 3600.0 // schedules follow Central European time (no DST)
	year      = 365.2425
	roomTemp0 = 18.0 // °C around tanks and indoor units
)

type hpMode uint8

const (
	modeOff hpMode = iota
	modeHeat
	modeWater
)

// Control parameters shared by all installations.
const (
	minOn       = 600.0  // s, minimum compressor run time
	minOff      = 600.0  // s, minimum standstill (anti short-cycling)
	hystOn      = 2.0    // K below the buffer target that starts heating
	hystOff     = 1.0    // K above it that stops heating
	overrun     = 120.0  // s of charge-pump overrun after a stop
	rampTau     = 90.0   // s, compressor start-up time constant
	maxCharge   = 9000.0 // s, longest hot-water charge
	bufferBoost = 2.0    // K the buffer runs above the highest circuit target
)

type plant struct {
	in  *Installation
	rng *rng
	v   []float64 // value vector indexed by channel id

	// Derived parameters.
	roomCap, loopCap, nodeCap, nodeL float64
	emitN, emitHalf, emitK           float64
	maxFlow, mNom, pMaxNom, pMinNom  float64
	eta, heaterW, winGain            float64
	pressure0                        float64
	zones                            int // zone modules whose channels are emitted
	zoneOff                          []float64

	// Weather.
	wSlow, wSlowS, wFast, wFastS, cloudL, rhL float64
	tOut, tOutAvg, rhOut, cloud, irr          float64
	tGround, tCold, hour, doy                 float64
	weekday                                   int

	// Building, loop and tank.
	tRoom, tSys, tTop, tBot float64
	drawLeft, drawRate      float64
	tBrine                  float64

	// Heat pump.
	on, defrost, charging, pvBoost, heatReq, season bool
	mode                                            hpMode
	onFor, offFor, chargeFor, pumpLeft              float64
	ramp, frost, defrostLeft                        float64
	pth, pel, load, pumpPct                         float64
	targetBuf, targetA, targetB, targetC            float64
	tFlowT, tRetT, tCond, tEvap                     float64
	bivOn, legionella, legDone                      bool
	bivLow, legFor                                  float64
	qEmit                                           float64

	// Sensor states (first-order lags).
	sFlow, sRet, sHGL, sPHigh, sPLow, sHX, sSrcIn, sSrcOut float64
	sCircA, sCircB, sCircC, sTap, sCol, sColRet            float64
	solarOn                                                bool
	qSolar                                                 float64
	relay                                                  []bool

	// Electricity.
	houseOU, soc, surplus, battery, pv, house float64

	// Humidity.
	rhInOU, shower, rhIn float64

	// Counters, kWh.
	eHeat, eWater, eDefrost, eSolar, eElectric float64
}

func newPlant(in *Installation, zones int, t0 float64) *plant {
	p := &plant{in: in, rng: newRNG(in.Seed, streamPhysics), zones: zones}
	p.v = make([]float64, zoneBase+maxZones*zoneChannels)
	for _, c := range registers {
		if c.static != nil {
			p.v[c.id] = c.static(in)
		}
	}
	r := newRNG(in.Seed, streamParams+100) // secondary parameters, not in Installation

	p.roomCap = in.HeatLoss * in.TimeConstant * 3600
	p.loopCap = (in.BufferVolume + 8*in.MaxPower) * cWater
	p.nodeL = in.TankVolume / 2
	p.nodeCap = p.nodeL * cWater
	p.pMaxNom = in.MaxPower * 1000
	p.pMinNom = in.MinPower * 1000
	// The charge pump is sized for a 5 K spread at full power.
	p.mNom = p.pMaxNom / (cWater * 5)
	// Floor heating: small spread and exponent; radiators: larger ones (EN 442).
	if in.Emitter == Floor {
		p.emitN, p.emitHalf = 1.1, 2.5
	} else {
		p.emitN, p.emitHalf = 1.3, 4
	}
	design := in.HeatLoss * (in.RoomSetpoint - in.DesignTemp)
	excess := in.CurveSlope*(in.RoomSetpoint-in.DesignTemp) - p.emitHalf
	p.emitK = design / math.Pow(math.Max(excess, 3), p.emitN)
	p.maxFlow = 60
	p.eta = 0.5
	if in.Source == Ground {
		p.maxFlow, p.eta = 65, 0.53
	}
	p.eta *= in.Efficiency
	p.heaterW = 3000
	if in.MaxPower > 12 {
		p.heaterW = 6000
	}
	p.winGain = in.HeatLoss * r.uniform(2, 5)
	p.pressure0 = r.uniform(1.3, 1.9)
	p.zoneOff = make([]float64, maxZones*zoneRooms*2)
	for i := range p.zoneOff {
		p.zoneOff[i] = math.Round(r.uniform(-1.5, 1.5)*2) / 2
	}
	p.relay = make([]bool, maxZones*zoneRooms)
	for z := 0; z < maxZones; z++ {
		base := zoneBase + z*zoneChannels
		p.v[base+zoneMode] = 1 // heating
		for rm := 0; rm < zoneRooms; rm++ {
			rb := base + zoneRoomBase + rm*roomFields
			p.v[rb+roomTarget] = in.RoomSetpoint + p.zoneOff[2*(z*zoneRooms+rm)+1]
			p.v[rb+roomMode] = 1 // automatic
		}
	}

	// Counters start where a unit of a random age would be.
	age := r.uniform(0.1, 6)
	p.eHeat = age * in.HeatLoss * 70
	p.eWater = age * 900 * float64(in.Occupants)
	if in.Source == Air {
		p.eDefrost = p.eHeat * 0.02
	}
	p.eElectric = age * 150
	p.eSolar = age * in.SolarThermal * 350
	p.soc = 0.5

	// Weather processes start from their stationary distributions.
	p.wSlow = 3.5 * p.rng.norm()
	p.wSlowS = p.wSlow
	p.wFast = 1.2 * p.rng.norm()
	p.wFastS = p.wFast
	p.cloudL = 1.3 * p.rng.norm()
	p.rhL = 7 * p.rng.norm()
	p.clock(t0)
	p.weather(t0, 0)
	p.tOutAvg = p.tOut
	p.tRoom = in.RoomSetpoint
	p.targets()
	p.tSys = p.targetBuf
	p.tTop, p.tBot = in.WaterTarget-1, in.WaterTarget-4
	p.tBrine = p.tGround - 1
	p.sFlow, p.sRet = p.tSys, p.tSys
	p.sHGL, p.sHX, p.sSrcIn, p.sSrcOut = roomTemp0, p.tOut, p.tOut, p.tOut
	p.sPHigh, p.sPLow = psat(roomTemp0), psat(roomTemp0)
	p.sCircA, p.sCircB, p.sCircC = p.targetA, p.targetB, p.targetC
	p.sTap, p.sCol, p.sColRet = 25, p.tOut, roomTemp0
	p.offFor = minOff
	return p
}

// psat approximates the saturation pressure of R410A in bar (absolute),
// fitted through 4.0 bar at -20 °C, 8.0 at 0 °C and 24.2 at 40 °C.
func psat(t float64) float64 { return math.Exp(10.745 - 2367/(t+kelvin)) }

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

// lag moves x toward target with time constant tau.
func lag(x, target, dt, tau float64) float64 { return x + (target-x)*(1-math.Exp(-dt/tau)) }

// clock derives local hour, day of year and weekday from Unix time t.
func (p *plant) clock(t float64) {
	lt := t + cetOffset
	day := math.Floor(lt / 86400)
	p.hour = (lt - day*86400) / 3600
	p.weekday = int(day+3) % 7 // 1970-01-01 was a Thursday; Monday = 0
	d := (lt - 946684800) / 86400
	p.doy = d - math.Floor(d/year)*year
}

// ou advances an Ornstein-Uhlenbeck process exactly over dt.
func (p *plant) ou(x, sigma, tau, dt float64) float64 {
	a := math.Exp(-dt / tau)
	return x*a + sigma*math.Sqrt(1-a*a)*p.rng.norm()
}

// weather advances the outdoor climate: a seasonal cosine (coldest around 20
// January), a diurnal cosine (warmest at 14:30) whose amplitude grows under
// clear skies and in summer, and weather noise as two smoothed random walks
// (a multi-day front component and a sub-day one).
func (p *plant) weather(t, dt float64) {
	season := math.Cos(2 * math.Pi * (p.doy - 20) / year)
	summer := 0.5 - 0.5*season
	if dt > 0 {
		p.wSlow = p.ou(p.wSlow, 3.5, 3.5*86400, dt)
		p.wSlowS = lag(p.wSlowS, p.wSlow, dt, 6*3600)
		p.wFast = p.ou(p.wFast, 1.2, 6*3600, dt)
		p.wFastS = lag(p.wFastS, p.wFast, dt, 2400)
		p.cloudL = p.ou(p.cloudL, 1.3, 10*3600, dt)
		p.rhL = p.ou(p.rhL, 7, 12*3600, dt)
	}
	p.cloud = 1 / (1 + math.Exp(-(p.cloudL + 0.8*season)))
	diurnal := math.Cos(2 * math.Pi * (p.hour - 14.5) / 24)
	amp := (1.2 + 5*(1-p.cloud)) * (0.6 + 0.5*summer)
	p.tOut = 9 + p.in.ClimateOffset - 9.5*season + amp*diurnal + p.wSlowS + p.wFastS
	if dt > 0 {
		p.tOutAvg = lag(p.tOutAvg, p.tOut, dt, 12*3600)
	}
	p.rhOut = clamp(76+10*p.cloud-12*(1-p.cloud)*diurnal-8*summer+p.rhL, 25, 100)

	// Global irradiance on a horizontal plane at 48° N, 15° E.
	const lat = 48 * math.Pi / 180
	decl := 23.44 * math.Pi / 180 * math.Sin(2*math.Pi*(284+p.doy)/365)
	ha := (p.hour - 12) * 15 * math.Pi / 180
	sinEl := math.Sin(lat)*math.Sin(decl) + math.Cos(lat)*math.Cos(decl)*math.Cos(ha)
	p.irr = 0
	if sinEl > 0 {
		p.irr = 950 * sinEl * math.Sqrt(sinEl) * (1 - 0.75*p.cloud*p.cloud)
	}
	ground := math.Cos(2 * math.Pi * (p.doy - 50) / year)
	p.tGround = 9.5 + 0.5*p.in.ClimateOffset - 4*ground
	p.tCold = 10.5 - 2.5*ground
}

// curve is the heating curve: flow setpoint as a function of the averaged
// outdoor temperature. It is anchored at the design point (slope × (room −
// design) above the room setpoint) and bends with the emitter exponent so that
// the emitters deliver the building's loss at every outdoor temperature, as
// the curves in heat-pump controllers are shaped to.
func (p *plant) curve(slope, half, n, room float64) float64 {
	l := clamp((room-p.tOutAvg)/(room-p.in.DesignTemp), 0, 1.4)
	excess := slope * (room - p.in.DesignTemp)
	f := math.Min(half/excess, 0.9)
	t := room + p.in.CurveShift + excess*(f*l+(1-f)*math.Pow(l, 1/n))
	return clamp(t, 20, p.maxFlow)
}

func (p *plant) roomSetpoint() float64 {
	if p.in.NightSetback && (p.hour >= 22 || p.hour < 5.5) {
		return p.in.RoomSetpoint - 2 // eco
	}
	return p.in.RoomSetpoint
}

// targets updates the circuit flow targets and the buffer target.
func (p *plant) targets() {
	room := p.roomSetpoint()
	p.season = p.tOutAvg < p.in.HeatingLimit
	p.targetA = p.curve(p.in.CurveSlope, p.emitHalf, p.emitN, room)
	p.targetB, p.targetC = 0, 0
	top := p.targetA
	if p.in.Circuits >= 2 {
		half, n := 4.0, 1.3
		if p.in.Emitter == Radiators {
			half, n = 2.5, 1.1
		}
		p.targetB = p.curve(circuitSlope(p.in, 2), half, n, room)
		top = math.Max(top, p.targetB)
	}
	if p.in.Circuits >= 3 {
		p.targetC = p.curve(circuitSlope(p.in, 3), 3, 1.2, room)
		top = math.Max(top, p.targetC)
	}
	p.targetBuf = top + bufferBoost
}

func (p *plant) utilityLocked() bool {
	return p.in.UtilityLock && ((p.hour >= 11 && p.hour < 12) || (p.hour >= 17.5 && p.hour < 19))
}

// drawRate is the expected number of hot-water draws per hour and occupant.
func drawRate(h float64) float64 {
	switch {
	case h < 5.5:
		return 0.02
	case h < 8:
		return 0.6
	case h < 12:
		return 0.15
	case h < 14:
		return 0.25
	case h < 18:
		return 0.15
	case h < 22:
		return 0.45
	}
	return 0.1
}

// houseBase is the household's electrical base load in kW by local hour.
func (p *plant) houseBase() float64 {
	b := 0.2 + 0.1*float64(p.in.Occupants)
	switch h := p.hour; {
	case h >= 6.5 && h < 8:
		b += 0.4
	case h >= 11.5 && h < 13:
		b += 0.8
	case h >= 18 && h < 20.5:
		b += 0.7
	}
	return b
}

// step advances the plant by dt seconds ending at time t.
func (p *plant) step(t, dt float64) {
	in := p.in
	p.clock(t)
	p.weather(t, dt)
	p.targets()
	locked := p.utilityLocked()

	// Hot-water draws: a Poisson process with a daily profile; showers are
	// longer and come in the morning and evening peaks.
	if p.drawLeft <= 0 && p.rng.chance(drawRate(p.hour)*float64(in.Occupants)*dt/3600) {
		showerP := 0.1
		if (p.hour >= 5.5 && p.hour < 8) || (p.hour >= 18 && p.hour < 22) {
			showerP = 0.35
		}
		if p.rng.chance(showerP) {
			p.drawLeft, p.drawRate = p.rng.uniform(30, 60), 8.0/60
			p.shower += 6
		} else {
			p.drawLeft, p.drawRate = p.rng.uniform(2, 10), 5.0/60
		}
	}

	// Hot-water control: charge when the tank falls below the switch-on
	// temperature inside the allowed hours; PV surplus raises the target.
	ctrl := 0.6*p.tTop + 0.4*p.tBot
	allowed := in.WaterSchedule[int(p.hour)]
	if !p.charging && allowed {
		switch {
		case ctrl < in.WaterTarget-in.WaterHysteresis:
			p.charging, p.pvBoost, p.chargeFor = true, false, 0
		case p.surplus > 2 && ctrl < in.WaterTarget+1:
			p.charging, p.pvBoost, p.chargeFor = true, true, 0
		}
	}
	if p.charging {
		p.chargeFor += dt
		stop := in.WaterTarget + 1
		if p.pvBoost {
			stop = in.WaterTarget + 5
		}
		if (p.tTop >= stop && p.tBot >= stop-5) || p.chargeFor > maxCharge {
			p.charging = false
		}
	}

	// Weekly legionella cycle with the heating rod.
	if p.weekday == in.LegionellaDay && int(p.hour) == 14 && !p.legDone {
		p.legionella, p.legDone, p.legFor = true, true, 0
	}
	if p.weekday != in.LegionellaDay {
		p.legDone = false
	}
	if p.legionella {
		p.legFor += dt
		if p.tTop >= 60.5 || p.legFor > 3*3600 {
			p.legionella = false
		}
	}

	// Heating request with hysteresis around the buffer target.
	switch {
	case !p.season:
		p.heatReq = false
	case p.tSys < p.targetBuf-hystOn:
		p.heatReq = true
	case p.tSys > p.targetBuf+hystOff:
		p.heatReq = false
	}
	want := modeOff
	if p.charging {
		want = modeWater
	} else if p.heatReq {
		want = modeHeat
	}

	// Compressor on/off with minimum run and standstill times; the utility
	// lock stops it at once.
	if p.on {
		p.onFor += dt
		switch {
		case locked:
			p.stop()
		case want == modeOff:
			if p.onFor >= minOn || !p.season {
				p.stop()
			} else {
				p.mode = modeHeat // finish the minimum run into the buffer
			}
		default:
			p.mode = want
		}
	} else {
		p.offFor += dt
		if want != modeOff && !locked && p.offFor >= minOff {
			p.on, p.mode, p.onFor, p.ramp = true, want, 0, 0
		}
	}

	// Heat-pump operating point.
	tSrc := p.tOut
	capf := clamp(0.8+0.012*(tSrc+7), 0.55, 1.05)
	if in.Source == Ground {
		tSrc = p.tBrine
		capf = clamp(0.95+0.012*tSrc, 0.8, 1.1)
	}
	pmax, pmin := p.pMaxNom*capf, p.pMinNom*capf
	p.qEmit = 0
	if p.season {
		// Circuit A takes water through a mixing valve: never hotter than its target.
		room := p.roomSetpoint()
		lf := clamp((room-p.tOutAvg)/(room-in.DesignTemp), 0, 1.4)
		tc := math.Min(p.tSys, p.targetA)
		if d := tc - p.emitHalf*lf - p.tRoom; d > 0 {
			p.qEmit = p.emitK * math.Pow(d, p.emitN)
		}
	}
	lossBuf := 3 * (p.tSys - roomTemp0)
	heatToLoop, heatToTank := 0.0, 0.0
	p.pth, p.pel, p.load = 0, 0, 0
	if p.on {
		p.ramp = lag(p.ramp, 1, dt, rampTau)
		var pth float64
		if p.mode == modeWater {
			pth = 0.9 * pmax
			p.tRetT = 0.5*(p.tTop+p.tBot) + 3
			p.pumpPct = 100
		} else {
			pth = clamp(p.qEmit+lossBuf+p.loopCap*(p.targetBuf-p.tSys)/900, pmin, pmax)
			p.tRetT = p.tSys - 1
			p.pumpPct = clamp(100*pth/p.pMaxNom, 40, 100)
		}
		p.load = pth / p.pMaxNom
		m := p.mNom * p.pumpPct / 100

		// Air units frost up fastest around 0 °C in humid air.
		if p.defrost && p.defrostLeft <= 0 {
			p.defrost, p.frost = false, 0
		}
		if in.Source == Air && !p.defrost {
			if p.tOut < 6 && p.tOut > -20 {
				x := (p.tOut - 1) / 5
				h := clamp((p.rhOut-55)/40, 0.1, 1)
				p.frost += dt / 2400 * math.Exp(-x*x) * h * (0.5 + 0.5*p.load)
			}
			if p.frost >= 1 {
				p.defrost = true
				p.defrostLeft = 150 + 15*math.Max(0, -p.tOut)
			}
		}
		if p.defrost {
			// Reverse cycle: heat is taken from the water to melt the ice.
			p.pumpPct = 100
			m = p.mNom
			p.pth = -0.25 * p.pMaxNom
			p.pel = 0.35 * p.pMaxNom / 3
			p.tFlowT = p.tRetT + p.pth/(m*cWater)
			p.tCond, p.tEvap = 15, p.tRetT-10
			p.defrostLeft -= dt
		} else {
			p.pth = pth * p.ramp
			p.tFlowT = p.tRetT + p.pth/(m*cWater)
			p.tCond = p.tFlowT + 3
			if in.Source == Air {
				p.tEvap = p.tOut - 4 - 6*p.load
			} else {
				p.tEvap = p.tBrine - 3 - 3*p.load
			}
			// COP: a fixed fraction of the Carnot COP of the lift, best at
			// part load as inverter compressors are.
			lift := math.Max(p.tCond-p.tEvap, 12)
			pl := 1 - 0.5*(p.load-0.5)*(p.load-0.5)
			cop := clamp(p.eta*pl*(p.tCond+kelvin)/lift, 1.6, 5.8)
			p.pel = p.pth / cop
		}
		if p.mode == modeWater {
			heatToTank = p.pth
		} else {
			heatToLoop = p.pth
		}
		if p.pth > 0 {
			e := p.pth * dt / 3.6e6
			if p.mode == modeWater {
				p.eWater += e
			} else {
				p.eHeat += e
			}
		} else {
			p.eDefrost += -p.pth * dt / 3.6e6
		}
	} else {
		p.pumpLeft -= dt
		if p.pumpLeft > 0 {
			p.pumpPct = 40
		} else {
			p.pumpPct = 0
		}
	}

	// Bivalent heating rod when the unit cannot hold the buffer in deep cold.
	if p.on && p.mode == modeHeat && p.tOut < in.DesignTemp+4 && p.tSys < p.targetBuf-3 {
		p.bivLow += dt
	} else {
		p.bivLow = 0
	}
	if p.bivLow > 1200 {
		p.bivOn = true
	}
	if p.bivOn && (p.tSys > p.targetBuf || !p.season) {
		p.bivOn = false
	}
	heaterW := 0.0
	if p.bivOn {
		heaterW = p.heaterW
	}
	rodW := 0.0
	if p.legionella {
		rodW = 3000
	}
	p.eElectric += (heaterW + rodW) * dt / 3.6e6

	// Heating loop and buffer.
	p.tSys += (heatToLoop + heaterW - p.qEmit - lossBuf) * dt / p.loopCap
	// Building: emitters, internal and solar gains against the heat loss.
	gains := 100 + 80*float64(in.Occupants) + p.irr/1000*p.winGain
	p.tRoom += (p.qEmit + gains - in.HeatLoss*(p.tRoom-p.tOut)) * dt / p.roomCap

	// Solar thermal collectors charge the bottom of the tank.
	p.qSolar = 0
	if in.SolarThermal > 0 {
		if p.solarOn {
			p.qSolar = math.Max(0, in.SolarThermal*(0.75*p.irr-3.5*(p.sCol-p.tOut)))
			m := in.SolarThermal * 0.012
			p.sCol = lag(p.sCol, p.tBot+4+p.qSolar/(m*3800), dt, 120)
			p.sColRet = lag(p.sColRet, p.tBot+1, dt, 60)
			if p.sCol < p.tBot+3 || p.qSolar <= 0 || p.tTop > 80 {
				p.solarOn = false
			}
		} else {
			p.sCol = lag(p.sCol, p.tOut+0.09*p.irr, dt, 600)
			p.sColRet = lag(p.sColRet, roomTemp0+2, dt, 1200)
			if p.sCol > p.tBot+7 && p.tTop < 80 {
				p.solarOn = true
			}
		}
		p.eSolar += p.qSolar * dt / 3.6e6
	}

	// Tank: two stratified nodes; draws pull cold mains water into the bottom.
	if p.drawLeft > 0 {
		vol := math.Min(p.drawLeft, p.drawRate*dt)
		f := vol / p.nodeL
		p.tTop += f * (p.tBot - p.tTop)
		p.tBot += f * (p.tCold - p.tBot)
		p.drawLeft -= vol
		p.sTap = lag(p.sTap, p.tTop-1.5, dt, 30)
	} else {
		p.sTap = lag(p.sTap, 24, dt, 900)
	}
	const ua = 1.2 // W/K per node
	cond := 3 * (p.tTop - p.tBot)
	p.tBot += (0.7*heatToTank + p.qSolar + cond - ua*(p.tBot-roomTemp0)) * dt / p.nodeCap
	p.tTop += (0.3*heatToTank + rodW - cond - ua*(p.tTop-roomTemp0)) * dt / p.nodeCap
	if p.tBot > p.tTop { // buoyancy mixes an inverted tank
		m := 0.5 * (p.tBot + p.tTop)
		p.tTop, p.tBot = m, m
	}

	// Ground: the brine sags while the unit draws heat, recovers at rest.
	if in.Source == Ground {
		if p.on {
			p.tBrine = lag(p.tBrine, p.tGround-3-2*p.load, dt, 3*3600)
		} else {
			p.tBrine = lag(p.tBrine, p.tGround, dt, 6*3600)
		}
	}

	p.sensors(dt)
	p.electricity(dt)

	p.shower = lag(p.shower, 0, dt, 2400)
	p.rhInOU = p.ou(p.rhInOU, 3, 8*3600, dt)
	p.rhIn = clamp(42+0.5*(p.tOutAvg-5)+p.rhInOU+p.shower, 18, 85)
}

func (p *plant) stop() {
	p.on, p.mode, p.offFor, p.defrost = false, modeOff, 0, false
	p.pumpLeft = overrun
}

// sensors moves the lagged sensor states toward what the plant implies.
func (p *plant) sensors(dt float64) {
	in := p.in
	pump := p.on || p.pumpLeft > 0
	switch {
	case p.on:
		p.sFlow = lag(p.sFlow, p.tFlowT, dt, 45)
		p.sRet = lag(p.sRet, p.tRetT, dt, 45)
	case pump: // overrun: water circulates without heat
		p.sFlow = lag(p.sFlow, p.tSys-0.5, dt, 45)
		p.sRet = lag(p.sRet, p.tSys-0.5, dt, 45)
	default: // standing water drifts toward the unit's surroundings
		idle := 0.7*p.tSys + 0.3*roomTemp0
		if in.Source == Air {
			idle = math.Max(0.5*p.tSys+0.5*p.tOut, 8)
		}
		p.sFlow = lag(p.sFlow, idle, dt, 1200)
		p.sRet = lag(p.sRet, idle, dt, 1200)
	}
	ambient := roomTemp0
	if in.Source == Air {
		ambient = p.tOut
	}
	switch {
	case p.on && p.defrost:
		p.sHGL = lag(p.sHGL, p.tRetT+5, dt, 120)
		p.sPHigh = lag(p.sPHigh, psat(p.tCond), dt, 40)
		p.sPLow = lag(p.sPLow, psat(p.tEvap), dt, 40)
		p.sHX = lag(p.sHX, 12, dt, 60)
	case p.on:
		lift := p.tCond - p.tEvap
		p.sHGL = lag(p.sHGL, p.tCond+18+0.4*(lift-35), dt, 120)
		p.sPHigh = lag(p.sPHigh, psat(p.tCond), dt, 40)
		p.sPLow = lag(p.sPLow, psat(p.tEvap), dt, 40)
		p.sHX = lag(p.sHX, p.tEvap+1, dt, 60)
	default:
		p.sHGL = lag(p.sHGL, ambient+5, dt, 900)
		p.sPHigh = lag(p.sPHigh, psat(ambient), dt, 180)
		p.sPLow = lag(p.sPLow, psat(ambient), dt, 180)
		p.sHX = lag(p.sHX, p.tOut, dt, 600)
	}
	if in.Source == Air {
		p.sSrcIn = lag(p.sSrcIn, p.tOut+0.2, dt, 300)
		switch {
		case p.on && p.defrost:
			p.sSrcOut = lag(p.sSrcOut, p.tOut+1, dt, 120)
		case p.on:
			p.sSrcOut = lag(p.sSrcOut, p.tOut-2-4*p.load, dt, 120)
		default:
			p.sSrcOut = lag(p.sSrcOut, p.tOut, dt, 120)
		}
	} else {
		p.sSrcIn = p.tBrine
		if p.on {
			p.sSrcOut = lag(p.sSrcOut, p.tBrine-2-2*p.load, dt, 120)
		} else {
			p.sSrcOut = lag(p.sSrcOut, p.tBrine, dt, 900)
		}
	}
	circ := func(s, target float64) float64 {
		if p.season {
			return lag(s, math.Min(p.tSys-0.5, target), dt, 120)
		}
		return lag(s, 22, dt, 1800)
	}
	p.sCircA = circ(p.sCircA, p.targetA)
	if in.Circuits >= 2 {
		p.sCircB = circ(p.sCircB, p.targetB)
	}
	if in.Circuits >= 3 {
		p.sCircC = circ(p.sCircC, p.targetC)
	}
}

// electricity balances PV production, household load, the heat pump and an
// optional battery; the remainder is the PV surplus the controller sees.
func (p *plant) electricity(dt float64) {
	in := p.in
	p.houseOU = p.ou(p.houseOU, 0.25, 900, dt)
	p.house = math.Max(0.08, p.houseBase()+p.houseOU)
	p.pv = in.PV * p.irr / 1000 * 0.85
	use := p.house + p.draw()/1000
	net := p.pv - use
	p.battery = 0
	if in.Battery > 0 {
		h := dt / 3600
		if net > 0 {
			c := math.Min(math.Min(net, 3), (1-p.soc)*in.Battery/h)
			p.soc += c * h * 0.95 / in.Battery
			p.battery = -c
		} else {
			d := math.Min(math.Min(-net, 3), p.soc*in.Battery/h)
			p.soc -= d * h / in.Battery
			p.battery = d
		}
	}
	p.surplus = math.Max(0, net+math.Min(p.battery, 0))
}

// draw is the heat pump's total electrical draw in W: compressor, pumps, fan
// and controller.
func (p *plant) draw() float64 {
	w := 15 + 0.6*p.pumpPct
	if p.on {
		w += p.pel
		if p.in.Source == Air && !p.defrost {
			w += 30 + 80*p.load
		}
		if p.in.Source == Ground {
			w += 40 + 80*p.load
		}
	}
	return w
}

// sample writes the dynamic channels (before noise and rounding).
func (p *plant) sample(t float64) {
	in, v := p.in, p.v
	b := func(x bool) float64 {
		if x {
			return 1
		}
		return 0
	}
	locked := p.utilityLocked()
	v[chTempOutside] = p.tOut + 0.2
	v[chTempOutsideAvg] = p.tOutAvg + 0.2
	v[chPowerSolarSurplus] = p.surplus
	heater := 0.0
	if p.bivOn {
		heater += p.heaterW
	}
	if p.legionella {
		heater += 3000
	}
	v[chPowerResistiveHeater] = heater / 1000
	v[chPowerSolarProduction] = p.pv
	v[chPowerUseHouse] = p.house + p.draw()/1000
	v[chPowerDrainBattery] = p.battery
	v[chChargeStateBattery] = 0
	if in.Battery > 0 {
		v[chChargeStateBattery] = math.Round(100 * p.soc)
	}
	switch {
	case locked && p.surplus > 0.5:
		v[chStatusSmartGrid] = 4
	case locked:
		v[chStatusSmartGrid] = 0
	case p.surplus > 1:
		v[chStatusSmartGrid] = 2
	default:
		v[chStatusSmartGrid] = 1
	}
	v[chTempHeatStorage] = p.tSys + 1
	v[chTempColdStorage] = p.tSys - 1.5
	v[chTempWaterBottom] = p.tBot
	v[chTempWaterTop] = p.tTop
	v[chTempWaterTap] = p.sTap
	if in.DynamicPrice {
		h := math.Floor((t + cetOffset) / 3600)
		noise := triangular(mix(in.Seed, 99, uint64(int64(h))))
		v[chPriceEnergy] = 0.24 + 0.06*math.Cos(2*math.Pi*(p.hour-19)/24) + 0.04*noise - 0.08*p.irr/1000
	} else {
		v[chPriceEnergy] = 0.25 + float64(in.Seed%80)/1000
	}
	v[chTempFlow] = p.sFlow
	v[chTempReturn] = p.sRet
	v[chTempHGL] = p.sHGL
	v[chTempSourceIn] = p.sSrcIn
	v[chTempSourceOut] = p.sSrcOut
	if in.Source == Air {
		v[chTempAirIn] = p.tOut + 0.3
		v[chTempAirHX] = p.sHX
		v[chTempAirIn2] = p.tOut + 0.6
	} else {
		v[chTempAirIn], v[chTempAirHX], v[chTempAirIn2] = 0, 0, 0
	}
	v[chTempChargeSensor] = p.tSys + 0.5

	status := 0.0
	if p.on {
		if p.mode == modeWater {
			status = 4
		} else {
			status = 1
		}
		if p.defrost {
			status += 8
		}
	}
	v[chStatusHeatPump] = status
	v[chRequestHeating] = b(p.heatReq)
	v[chRequestWater] = b(p.charging)
	v[chUtilityLock] = b(locked)
	v[chCompressor1] = b(p.on)
	v[chChargePump] = math.Round(p.pumpPct)
	v[chBrinePump] = 0
	if in.Source == Ground && p.on {
		v[chBrinePump] = math.Round(60 + 35*p.load)
	}
	v[chValveMainHW] = b(p.on && p.mode == modeWater)
	v[chValveSolarHW] = b(p.solarOn)
	v[chPumpCirculation] = b(((p.hour >= 6 && p.hour < 8) || (p.hour >= 18 && p.hour < 21)) && p.hour-math.Floor(p.hour) < 1.0/6)
	v[chStatusBivalence] = b(p.bivOn)
	v[chCascRunHeat] = b(p.on && p.mode == modeHeat)
	v[chCascRunWater] = b(p.on && p.mode == modeWater)
	v[chCascReqHeatTemp] = 0
	if p.season {
		v[chCascReqHeatTemp] = p.targetBuf
	}
	v[chCascReqWaterTemp] = 0
	if p.charging {
		v[chCascReqWaterTemp] = in.WaterTarget + 5
	}
	v[chCascFlowAvgHeat] = p.tSys
	v[chCascFlowAvgWater] = p.tTop
	if p.on && p.mode == modeHeat {
		v[chCascFlowAvgHeat] = p.sFlow
	}
	if p.on && p.mode == modeWater {
		v[chCascFlowAvgWater] = p.sFlow
	}
	v[chHumidity] = p.rhIn

	v[chEnergyHeating] = p.eHeat
	v[chEnergyWater] = p.eWater
	v[chEnergyTotal] = p.eHeat + p.eWater
	v[chEnergyDefrost] = p.eDefrost
	v[chEnergySolar] = p.eSolar
	v[chEnergyElectric] = p.eElectric
	v[chEnergyFlowSensor] = 0.97 * (p.eHeat + p.eWater)
	v[chPowerCurrent] = p.pel / 1000
	v[chPowerSolar] = p.qSolar / 1000
	if in.SolarThermal > 0 {
		v[chTempSolarCollector] = p.sCol
		v[chTempSolarCollectorReturn] = p.sColRet
		v[chTempSolarCharge] = p.tBot + 0.5
		v[chTempSolarReference] = p.tBot
	}
	v[chPowerDraw] = p.draw() / 1000
	v[chPowerThermal] = p.pth / 1000
	v[chPressureHigh] = p.sPHigh
	v[chPressureLow] = p.sPLow
	v[chPressureWater] = p.pressure0 + 0.008*(p.tSys-30)
	v[chFlowRate] = p.mNom * p.pumpPct / 100 * 60
	v[chSpeedCompressor], v[chSpeedFan] = 0, 0
	if p.on {
		v[chSpeedCompressor] = 70
		if !p.defrost {
			v[chSpeedCompressor] = math.Round(clamp(100*p.pth/(p.pMaxNom*1.05), 10, 100))
			if in.Source == Air {
				v[chSpeedFan] = math.Round(30 + 60*p.load)
			}
		}
	}

	v[chFlowCurA] = p.sCircA
	v[chRoomA] = p.tRoom
	v[chFlowTargetA] = p.targetA
	v[chActiveA] = b(p.season)
	if in.Circuits >= 2 {
		v[chFlowCurB], v[chRoomB], v[chFlowTargetB], v[chActiveB] = p.sCircB, p.tRoom+0.5, p.targetB, b(p.season)
	}
	if in.Circuits >= 3 {
		v[chFlowCurC], v[chRoomC], v[chFlowTargetC], v[chActiveC] = p.sCircC, p.tRoom-0.7, p.targetC, b(p.season)
	}

	for z := 0; z < p.zones; z++ {
		base := zoneBase + z*zoneChannels
		for rm := 0; rm < zoneRooms; rm++ {
			k := z*zoneRooms + rm
			rb := base + zoneRoomBase + rm*roomFields
			tr := p.tRoom + p.zoneOff[2*k] + 0.4*math.Sin(2*math.Pi*(p.hour-float64(rm))/24)
			v[rb+roomTemp] = tr
			v[rb+roomHumidity] = math.Round(p.rhIn + 2*p.zoneOff[2*k+1])
			tgt := v[rb+roomTarget]
			switch {
			case !p.season:
				p.relay[k] = false
			case tr < tgt-0.3:
				p.relay[k] = true
			case tr > tgt+0.2:
				p.relay[k] = false
			}
			v[rb+roomRelay] = b(p.relay[k])
		}
	}
}
