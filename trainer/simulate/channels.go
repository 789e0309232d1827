package simulate

import (
	"slices"
	"strconv"
)

// Kind tells consumers how a field is typed on the wire.
type Kind uint8

const (
	// Analog is a measured or computed quantity with decimals (°C, kW, bar, %).
	Analog Kind = iota
	// Integer is an enum code, a register integer or a setpoint in whole units.
	Integer
	// Bool is a 0/1 flag.
	Bool
)

func (k Kind) String() string {
	switch k {
	case Integer:
		return "integer"
	case Bool:
		return "bool"
	}
	return "analog"
}

// sensorClass says which sensor faults a channel can suffer.
type sensorClass uint8

const (
	notSensor   sensorClass = iota
	tempSensor              // stuck, spike, out-of-range and drift
	otherSensor             // stuck, spike and out-of-range (humidity, pressure, flow)
)

// channel describes one field of the IDM Navigator register map.
type channel struct {
	name   string
	addr   int // Modbus address: fields are emitted in register order
	id     int // index in the plant's value vector
	kind   Kind
	dec    int8 // decimals reported (analog)
	prio   int8 // lower is emitted first when fewer fields are requested
	binary bool // a binary sensor, sent as true/false by newer collectors
	class  sensorClass
	lo, hi float64 // physical envelope; out-of-range faults leave it
	noise  float64 // amplitude of the sensor noise added before rounding
	static func(*Installation) float64
}

// Priorities: the core channels the physics and the faults need, the common
// register map, rarely meaningful registers (cascade, building management,
// ISC), further heating circuits, then room zones.
const (
	prioCore int8 = iota
	prioCommon
	prioRare
	prioCircuitB
	prioCircuitC
	prioZone
)

// Channels whose value the plant computes at every step. Channels fixed by
// the installation's configuration get indices after numDynamic.
const (
	chTempOutside = iota
	chTempOutsideAvg
	chPowerSolarSurplus
	chPowerResistiveHeater
	chPowerSolarProduction
	chPowerUseHouse
	chPowerDrainBattery
	chChargeStateBattery
	chStatusSmartGrid
	chTempHeatStorage
	chTempColdStorage
	chTempWaterBottom
	chTempWaterTop
	chTempWaterTap
	chPriceEnergy
	chTempFlow
	chTempReturn
	chTempHGL
	chTempSourceIn
	chTempSourceOut
	chTempAirIn
	chTempAirHX
	chTempAirIn2
	chTempChargeSensor
	chStatusHeatPump
	chRequestHeating
	chRequestWater
	chUtilityLock
	chCompressor1
	chChargePump
	chBrinePump
	chValveMainHW
	chValveSolarHW
	chPumpCirculation
	chStatusBivalence
	chCascRunHeat
	chCascRunWater
	chCascReqHeatTemp
	chCascReqWaterTemp
	chCascFlowAvgHeat
	chCascFlowAvgWater
	chHumidity
	chEnergyHeating
	chEnergyTotal
	chEnergyWater
	chEnergyDefrost
	chEnergySolar
	chEnergyElectric
	chEnergyFlowSensor
	chPowerCurrent
	chPowerSolar
	chTempSolarCollector
	chTempSolarCollectorReturn
	chTempSolarCharge
	chTempSolarReference
	chPowerDraw
	chPowerThermal
	chPressureHigh
	chPressureLow
	chPressureWater
	chFlowRate
	chSpeedCompressor
	chSpeedFan
	chFlowCurA
	chRoomA
	chFlowTargetA
	chActiveA
	chFlowCurB
	chRoomB
	chFlowTargetB
	chActiveB
	chFlowCurC
	chRoomC
	chFlowTargetC
	chActiveC
	numDynamic
)

// Zones: up to ten zone modules of eight rooms each, as in the register map.
const (
	maxZones     = 10
	zoneRooms    = 8
	zoneChannels = 2 + zoneRooms*5 + 1
)

// Offsets of a zone's channels relative to its first one.
const (
	zoneMode = iota
	zoneDehumidifier
	zoneRoomBase // then per room: temp, target, humidity, mode, relay
)

const (
	roomTemp = iota
	roomTarget
	roomHumidity
	roomMode
	roomRelay
	roomFields
)

// registers holds the fixed channel catalog followed by the zone channels;
// zoneBase is the id of the first zone channel.
var registers, zoneBase = buildRegisters()

func fixed(v float64) func(*Installation) float64 {
	return func(*Installation) float64 { return v }
}

func buildRegisters() ([]channel, int) {
	var cs []channel
	next := numDynamic
	add := func(c channel) {
		if c.static != nil {
			c.id = next
			next++
		}
		cs = append(cs, c)
	}
	temp := func(id int, name string, addr int, prio int8, lo, hi float64) {
		add(channel{name: name, addr: addr, id: id, kind: Analog, dec: 1, prio: prio, class: tempSensor, lo: lo, hi: hi, noise: 0.06})
	}
	analog := func(id int, name string, addr int, prio int8, dec int8, noise float64) {
		add(channel{name: name, addr: addr, id: id, kind: Analog, dec: dec, prio: prio, noise: noise})
	}
	sensor := func(id int, name string, addr int, prio int8, dec int8, noise, lo, hi float64) {
		add(channel{name: name, addr: addr, id: id, kind: Analog, dec: dec, prio: prio, class: otherSensor, lo: lo, hi: hi, noise: noise})
	}
	integer := func(id int, name string, addr int, prio int8) {
		add(channel{name: name, addr: addr, id: id, kind: Integer, prio: prio})
	}
	flag := func(id int, name string, addr int, prio int8, binary bool) {
		add(channel{name: name, addr: addr, id: id, kind: Bool, prio: prio, binary: binary})
	}
	static := func(name string, addr int, prio int8, kind Kind, dec int8, f func(*Installation) float64) {
		add(channel{name: name, addr: addr, kind: kind, dec: dec, prio: prio, static: f})
	}
	staticFlag := func(name string, addr int, prio int8, binary bool) {
		add(channel{name: name, addr: addr, kind: Bool, prio: prio, binary: binary, static: fixed(0)})
	}

	// Energy management (PV, house, battery).
	analog(chPowerSolarSurplus, "power_solar_surplus", 74, prioCommon, 2, 0)
	analog(chPowerResistiveHeater, "power_resistive_heater", 76, prioCommon, 2, 0)
	analog(chPowerSolarProduction, "power_solar_production", 78, prioCommon, 2, 0)
	analog(chPowerUseHouse, "power_use_house", 82, prioCommon, 2, 0)
	analog(chPowerDrainBattery, "power_drain_battery", 84, prioCommon, 2, 0)
	integer(chChargeStateBattery, "charge_state_battery", 86, prioCommon)

	// System.
	temp(chTempOutside, "temp_outside", 1000, prioCore, -40, 50)
	// The controller's average of the outside temperature, not a probe of
	// its own: no sensor noise and no sensor faults. The plant averages the
	// true outside temperature, so a faulty outside probe leaves it healthy,
	// where a real controller's average would follow the probe (slowly).
	analog(chTempOutsideAvg, "temp_outside_avg", 1002, prioCore, 1, 0)
	static("failure_id", 1004, prioCore, Integer, 0, fixed(0))
	static("status_system", 1005, prioCommon, Integer, 0, fixed(1))
	integer(chStatusSmartGrid, "status_smart_grid", 1006, prioCommon)
	temp(chTempHeatStorage, "temp_heat_storage", 1008, prioCore, 0, 90)
	temp(chTempColdStorage, "temp_cold_storage", 1010, prioCommon, 0, 90)
	temp(chTempWaterBottom, "temp_water_heater_bottom", 1012, prioCore, 0, 95)
	temp(chTempWaterTop, "temp_water_heater_top", 1014, prioCore, 0, 95)
	temp(chTempWaterTap, "temp_water_heater_tap", 1030, prioCommon, 0, 95)
	static("temp_water_target", 1032, prioCommon, Integer, 0, func(in *Installation) float64 { return in.WaterTarget })
	static("temp_water_switch_on", 1033, prioCommon, Integer, 0, func(in *Installation) float64 { return in.WaterTarget - in.WaterHysteresis })
	static("temp_water_switch_off", 1034, prioCommon, Integer, 0, func(in *Installation) float64 { return in.WaterTarget })
	analog(chPriceEnergy, "price_energy", 1048, prioCommon, 3, 0)

	// Heat pump.
	temp(chTempFlow, "temp_heat_pump_flow", 1050, prioCore, 0, 90)
	temp(chTempReturn, "temp_heat_pump_return", 1052, prioCore, 0, 90)
	temp(chTempHGL, "temp_hgl_flow", 1054, prioCore, -30, 130)
	temp(chTempSourceIn, "temp_heat_source_input", 1056, prioCore, -40, 50)
	temp(chTempSourceOut, "temp_heat_source_output", 1058, prioCore, -45, 50)
	temp(chTempAirIn, "temp_air_input", 1060, prioCommon, -40, 50)
	temp(chTempAirHX, "temp_air_heat_exchanger", 1062, prioCore, -45, 50)
	temp(chTempAirIn2, "temp_air_input_2", 1064, prioCommon, -40, 50)
	temp(chTempChargeSensor, "temp_charge_sensor", 1066, prioCommon, 0, 90)
	integer(chStatusHeatPump, "status_heat_pump", 1090, prioCore)
	flag(chRequestHeating, "request_heating", 1091, prioCore, false)
	staticFlag("request_cooling", 1092, prioCommon, false)
	flag(chRequestWater, "request_water_status", 1093, prioCore, false)
	flag(chUtilityLock, "evu_lock_status", 1098, prioCommon, false)
	staticFlag("failure_heat_pump", 1099, prioCommon, true)
	flag(chCompressor1, "state_compressor_1", 1100, prioCore, true)
	staticFlag("state_compressor_2", 1101, prioCommon, true)
	staticFlag("state_compressor_3", 1102, prioRare, true)
	staticFlag("state_compressor_4", 1103, prioRare, true)
	integer(chChargePump, "state_charge_pump", 1104, prioCore)
	integer(chBrinePump, "state_brine_pump", 1105, prioCommon)
	static("state_ground_water_pump", 1106, prioCommon, Integer, 0, fixed(0))
	static("load_isc_cold_storage_pump", 1108, prioRare, Integer, 0, fixed(0))
	static("load_isc_recooling_pump", 1109, prioRare, Integer, 0, fixed(0))
	static("valve_state_circuit_heating_cooling", 1110, prioCommon, Integer, 0, fixed(0))
	static("valve_state_storage_heating_cooling", 1111, prioCommon, Integer, 0, fixed(0))
	integer(chValveMainHW, "valve_state_main_heating_water", 1112, prioCore)
	static("valve_state_source_heating_cooling", 1113, prioCommon, Integer, 0, fixed(0))
	integer(chValveSolarHW, "valve_state_solar_heating_water", 1114, prioCommon)
	static("valve_state_solar_storage_source", 1115, prioCommon, Integer, 0, fixed(0))
	static("valve_state_isc_heating_cooling", 1116, prioRare, Integer, 0, fixed(0))
	static("valve_state_isc_bypass", 1117, prioRare, Integer, 0, fixed(0))
	flag(chPumpCirculation, "pump_circulation", 1118, prioCommon, false)
	static("temp_second_source_bivalence_1", 1120, prioCommon, Integer, 0, func(in *Installation) float64 { return in.DesignTemp + 4 })
	static("temp_second_source_bivalence_2", 1121, prioCommon, Integer, 0, func(in *Installation) float64 { return in.DesignTemp })
	static("temp_third_source_bivalence_1", 1122, prioRare, Integer, 0, fixed(-20))
	static("temp_third_source_bivalence_2", 1123, prioRare, Integer, 0, fixed(-20))
	flag(chStatusBivalence, "status_bivalence", 1124, prioCommon, false)

	// Cascade registers: a single unit reports itself as a one-stage cascade.
	static("cascade_available_stages_heating", 1147, prioRare, Integer, 0, fixed(1))
	static("cascade_available_stages_cooling", 1148, prioRare, Integer, 0, fixed(0))
	static("cascade_available_stages_water", 1149, prioRare, Integer, 0, fixed(1))
	integer(chCascRunHeat, "cascade_running_stages_heating", 1150, prioRare)
	static("cascade_running_stages_cooling", 1151, prioRare, Integer, 0, fixed(0))
	integer(chCascRunWater, "cascade_running_stages_water", 1152, prioRare)
	analog(chCascReqHeatTemp, "cascade_request_heating_temp", 1200, prioRare, 1, 0)
	static("cascade_request_cooling_temp", 1202, prioRare, Analog, 1, fixed(0))
	analog(chCascReqWaterTemp, "cascade_temp_request_water", 1204, prioRare, 1, 0)
	analog(chCascFlowAvgHeat, "cascade_temp_flow_avg_heating", 1206, prioRare, 1, 0.06)
	static("cascade_temp_flow_avg_cooling", 1208, prioRare, Analog, 1, fixed(0))
	analog(chCascFlowAvgWater, "cascade_avg_flow_temp_c_water", 1210, prioRare, 1, 0.06)
	for i, n := range []string{"heating", "cooling", "water"} {
		static("cascade_min_power_"+n, 1220+2*i, prioRare, Integer, 0, fixed(0))
		static("cascade_max_power_"+n, 1221+2*i, prioRare, Integer, 0, fixed(100))
	}
	for i, n := range []string{"heating_parallel", "heating_alternative", "cooling_parallel", "cooling_alternative", "water_parallel", "water_alternative"} {
		v := []float64{-5, -15, 35, 40, -5, -15}[i]
		static("cascade_bivalence_"+n, 1226+i, prioRare, Integer, 0, fixed(v))
	}

	// Heating circuits A to C.
	circuits := []struct {
		suffix            string
		prio              int8
		flow, room, tgt   int
		active, used, off int
	}{
		{"a", prioCore, chFlowCurA, chRoomA, chFlowTargetA, chActiveA, 1, 0},
		{"b", prioCircuitB, chFlowCurB, chRoomB, chFlowTargetB, chActiveB, 2, 1},
		{"c", prioCircuitC, chFlowCurC, chRoomC, chFlowTargetC, chActiveC, 3, 2},
	}
	for _, c := range circuits {
		s, p, o, used := c.suffix, c.prio, c.off, c.used
		common := p
		if p == prioCore {
			common = prioCommon
		}
		temp(c.flow, "temp_flow_current_circuit_"+s, 1350+o*2, p, 0, 90)
		temp(c.room, "temp_room_circuit_"+s, 1364+o*2, p, 0, 40)
		analog(c.tgt, "temp_flow_target_circuit_"+s, 1378+o*2, p, 1, 0)
		static("mode_circuit_"+s, 1393+o, p, Integer, 0, func(in *Installation) float64 {
			switch {
			case in.Circuits < used:
				return 0 // off
			case in.NightSetback:
				return 1 // timed
			}
			return 2 // normal
		})
		static("temp_room_target_heating_normal_circuit_"+s, 1401+o*2, common, Analog, 1, func(in *Installation) float64 { return in.RoomSetpoint })
		static("temp_room_target_heating_eco_circuit_"+s, 1415+o*2, common, Analog, 1, func(in *Installation) float64 { return in.RoomSetpoint - 2 })
		static("curve_circuit_"+s, 1429+o*2, common, Analog, 2, func(in *Installation) float64 { return circuitSlope(in, used) })
		static("temp_threshold_heating_circuit_"+s, 1442+o, common, Integer, 0, func(in *Installation) float64 { return in.HeatingLimit })
		static("temp_flow_target_constant_circuit_"+s, 1449+o, common, Integer, 0, fixed(35))
		static("temp_room_target_cooling_normal_circuit_"+s, 1457+o*2, common, Analog, 1, fixed(25))
		static("temp_room_target_cooling_eco_circuit_"+s, 1471+o*2, common, Analog, 1, fixed(27))
		static("temp_threshold_cooling_circuit_"+s, 1484+o, common, Integer, 0, fixed(26))
		static("temp_flow_target_cooling_circuit_"+s, 1491+o, common, Integer, 0, fixed(18))
		integer(c.active, "mode_active_circuit_"+s, 1498+o, p)
		static("curve_offset_"+s, 1505+o, common, Integer, 0, func(in *Installation) float64 { return in.CurveShift })
		external := p
		if p == prioCore {
			external = prioRare
		}
		static("temp_external_room_"+s, 1650+o*2, external, Analog, 1, fixed(0))
	}
	sensor(chHumidity, "humidity", 1392, prioCore, 1, 0.25, 0, 100)

	// Building management inputs (GLT): written by a building controller, idle here.
	static("temp_external_outdoor", 1690, prioRare, Analog, 1, fixed(0))
	static("temp_external_humidity", 1692, prioRare, Analog, 1, fixed(0))
	static("temp_external_request_heating", 1694, prioRare, Integer, 0, fixed(0))
	static("temp_external_request_cooling", 1695, prioRare, Integer, 0, fixed(0))
	static("temp_request_glt_heizen", 1696, prioRare, Analog, 1, fixed(0))
	static("temp_request_glt_kuehlen_100", 1698, prioRare, Analog, 1, fixed(0))
	static("request_pump_ground_water_external", 1714, prioRare, Integer, 0, fixed(0))
	static("request_pump_ground_water_max_external", 1715, prioRare, Integer, 0, fixed(0))
	static("temp_heat_storage_glt", 1716, prioRare, Analog, 1, fixed(0))
	static("temp_cold_storage_glt", 1718, prioRare, Analog, 1, fixed(0))
	static("temp_water_heater_bottom_target_glt", 1720, prioRare, Analog, 1, fixed(0))
	static("temp_water_heater_top_target_glt", 1722, prioRare, Analog, 1, fixed(0))

	// Energy counters (kWh, monotone).
	analog(chEnergyHeating, "energy_heat_heating", 1748, prioCommon, 2, 0)
	analog(chEnergyTotal, "energy_heat_total", 1750, prioCore, 2, 0)
	static("energy_heat_total_cooling", 1752, prioCommon, Analog, 2, fixed(0))
	analog(chEnergyWater, "energy_heat_total_water", 1754, prioCommon, 2, 0)
	analog(chEnergyDefrost, "energy_heat_total_defrost", 1756, prioCommon, 2, 0)
	static("energy_heat_total_passive_cooling", 1758, prioCommon, Analog, 2, func(in *Installation) float64 {
		if in.Source == Ground {
			return float64(mix(in.Seed, 7, 1)%90000) / 100
		}
		return 0
	})
	analog(chEnergySolar, "energy_heat_total_solar", 1760, prioCommon, 2, 0)
	analog(chEnergyElectric, "energy_heat_total_electric", 1762, prioCommon, 2, 0)
	analog(chPowerCurrent, "power_current", 1790, prioCore, 2, 0.01)
	analog(chPowerSolar, "power_current_solar", 1792, prioCommon, 2, 0)

	// Solar thermal and ISC.
	temp(chTempSolarCollector, "temp_solar_collector", 1850, prioCommon, -40, 200)
	temp(chTempSolarCollectorReturn, "temp_solar_collector_return", 1852, prioCommon, -40, 150)
	temp(chTempSolarCharge, "temp_solar_charge", 1854, prioCommon, 0, 95)
	static("mode_solar", 1856, prioCommon, Integer, 0, fixed(0))
	analog(chTempSolarReference, "temp_solar_reference", 1857, prioCommon, 1, 0.06)
	static("temp_isc_charge_cooling", 1870, prioRare, Analog, 1, fixed(0))
	static("temp_isc_recooling", 1872, prioRare, Analog, 1, fixed(0))
	static("mode_isc", 1874, prioRare, Integer, 0, fixed(0))

	// Powers and counters of the newer register block.
	analog(chPowerDraw, "power_current_draw", 4122, prioCore, 2, 0.01)
	analog(chPowerThermal, "power_thermal", 4126, prioCore, 2, 0.02)
	analog(chEnergyFlowSensor, "energy_heat_total_flow_sensor", 4128, prioCommon, 2, 0)

	// Refrigerant and hydraulics diagnostics that service tools read next to
	// the register map (not in every collector's list).
	sensor(chPressureHigh, "pressure_high", 4130, prioCore, 1, 0.06, 0, 45)
	sensor(chPressureLow, "pressure_low", 4132, prioCore, 1, 0.04, 0, 45)
	sensor(chPressureWater, "pressure_water", 4134, prioCommon, 2, 0.008, 0, 4)
	sensor(chFlowRate, "flow_rate_heat_pump", 4136, prioCommon, 1, 0.1, 0, 120)
	integer(chSpeedCompressor, "speed_compressor", 4138, prioCommon)
	integer(chSpeedFan, "speed_fan", 4139, prioCommon)

	base := next
	for z := 0; z < maxZones; z++ {
		zp := prioZone + int8(z)
		addr := 2000 + 65*z
		zn := strconv.Itoa(z + 1)
		id := base + z*zoneChannels
		cs = append(cs,
			channel{name: "mode_zone_" + zn, addr: addr, id: id + zoneMode, kind: Integer, prio: zp},
			channel{name: "dehumidifier_zone_" + zn, addr: addr + 1, id: id + zoneDehumidifier, kind: Integer, prio: zp})
		for r := 0; r < zoneRooms; r++ {
			rn := strconv.Itoa(r + 1)
			ra := addr + 2 + 7*r
			rid := id + zoneRoomBase + r*roomFields
			pre := "zone_" + zn + "_room_" + rn
			cs = append(cs,
				channel{name: "temp_room_" + pre, addr: ra, id: rid + roomTemp, kind: Analog, dec: 1, prio: zp, class: tempSensor, lo: 0, hi: 40, noise: 0.06},
				channel{name: "temp_target_" + pre, addr: ra + 2, id: rid + roomTarget, kind: Analog, dec: 1, prio: zp},
				channel{name: "humidity_" + pre, addr: ra + 4, id: rid + roomHumidity, kind: Integer, prio: zp},
				channel{name: "mode_" + pre, addr: ra + 5, id: rid + roomMode, kind: Integer, prio: zp},
				channel{name: "relay_" + pre, addr: ra + 6, id: rid + roomRelay, kind: Integer, prio: zp})
		}
		cs = append(cs, channel{name: "relay_zone_" + zn + "_room_9", addr: addr + 64, id: id + zoneChannels - 1, kind: Integer, prio: zp})
	}
	slices.SortStableFunc(cs, func(a, b channel) int { return a.addr - b.addr })
	return cs, base
}

// circuitSlope is the heating-curve slope of circuit n (1 = A). Secondary
// circuits feed the other emitter type than the main one.
func circuitSlope(in *Installation, n int) float64 {
	switch n {
	case 1:
		return in.CurveSlope
	case 2:
		if in.Emitter == Floor {
			return 1.0
		}
		return 0.45
	}
	return 0.6
}

// MaxFields is the largest field count a Generator can emit.
func MaxFields() int { return len(registers) }

// MinFields is the smallest field count: the core channels the physics and
// the fault models rely on.
func MinFields() int {
	n := 0
	for _, c := range registers {
		if c.prio == prioCore {
			n++
		}
	}
	return n
}

// Schema names and types the values of every Record a Generator emits. It is
// shared by all records of a generator and read-only.
type Schema struct {
	names     []string
	kinds     []Kind
	binary    []bool    // written as true/false when jsonBools is set
	keys      [][]byte  // `, "name": ` as the encoder writes it
	chans     []channel // the channel behind each field
	scale     []float64 // 10^decimals, 1 for integers and flags
	index     map[string]int
	jsonBools bool
}

func newSchema(n int, jsonBools bool) *Schema {
	order := make([]int, len(registers))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(registers[a].prio) - int(registers[b].prio) })
	order = order[:n]
	slices.Sort(order) // back to register order
	s := &Schema{
		names:     make([]string, n),
		kinds:     make([]Kind, n),
		binary:    make([]bool, n),
		keys:      make([][]byte, n),
		chans:     make([]channel, n),
		scale:     make([]float64, n),
		index:     make(map[string]int, n),
		jsonBools: jsonBools,
	}
	for i, ci := range order {
		c := registers[ci]
		s.names[i] = c.name
		s.kinds[i] = c.kind
		s.binary[i] = jsonBools && c.binary
		s.keys[i] = appendJSONString([]byte(", "), c.name)
		s.keys[i] = append(s.keys[i], ": "...)
		s.chans[i] = c
		s.scale[i] = 1
		if c.kind == Analog {
			s.scale[i] = pow10[c.dec]
		}
		s.index[c.name] = i
	}
	return s
}

var pow10 = [...]float64{1, 10, 100, 1000, 10000}

// Fields returns the field names in emission order. Do not modify it.
func (s *Schema) Fields() []string { return s.names }

// Kinds returns the kind of each field, parallel to Fields. Do not modify it.
func (s *Schema) Kinds() []Kind { return s.kinds }

// Index returns the position of a field in Values, or -1.
func (s *Schema) Index(name string) int {
	if i, ok := s.index[name]; ok {
		return i
	}
	return -1
}

// Len returns the number of fields.
func (s *Schema) Len() int { return len(s.names) }
