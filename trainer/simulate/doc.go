// Package simulate generates realistic, deterministic heat-pump telemetry as
// IDM collectors send it, with labelled injected faults. It feeds the ingest
// benchmarks and the load generator (collector payloads, byte for byte as the
// Python collectors write them) and the anomaly-model quality evaluation
// (records labelled with the fault that affects them).
//
// # Model
//
// NewFleet derives installations (UUID v4, heat-pump model, building, heating
// curve, hot-water tank and schedule, PV, battery, solar collectors, local
// climate) from a seed. A Generator simulates one installation with a
// lumped-parameter plant stepped every 30 s or less: outdoor climate
// (seasonal and diurnal cosines plus smoothed random-walk weather), the
// controller's averaged outdoor temperature, a heating curve, a buffer and
// building with thermal mass, an inverter heat pump with on/off hysteresis and
// minimum run times, a COP that is a fraction of the Carnot COP of the lift,
// reverse-cycle defrost for air units, a stratified hot-water tank with draws
// and a weekly legionella cycle, and the utility lock. Sensors lag, carry a
// little noise and are rounded as the registers report them (0.1 °C, kW with
// two decimals, whole enum codes, 0/1 flags). Fields use the names of the IDM
// Navigator Modbus map (temp_outside, temp_heat_pump_flow, power_thermal, ...);
// a record has DefaultFields of them unless configured, chosen by priority and
// emitted in register order.
//
// # Invariants
//
//   - Determinism: the same Installation and Config give the same records and
//     the same encoded bytes on a given platform, however Generate calls are
//     split. Each concern (physics, sensor noise, timestamp jitter, faults)
//     draws from its own seeded stream, and the package uses its own random
//     number generator so that Go releases cannot change the output.
//   - Faults are an overlay: enabling them never changes the simulated plant,
//     so a record without a label equals the record of a run without faults,
//     and a labelled record differs from it only in the fields its Episode
//     lists. Nothing in the data marks a fault; only Record.Label and
//     Generator.Episodes tell.
//   - Counters (energy_*) never decrease; flags are 0 or 1; integers are whole.
//
// # Wire format
//
// AppendBatchJSON writes a submit payload like json.dumps in the collectors:
// keys installation_id, heatpump_model, version, data in that order, ", " and
// ": " separators, ASCII-only strings, timestamps as float seconds with
// millisecond digits, integral values as integers, other values in Python's
// shortest float repr, and binary sensors as true/false when
// Config.JSONBools asks for it. Batches cuts a day into the 200-record
// batches collectors in the field send.
package simulate
