// Package stats computes per-model community statistics from the lake,
// keeps the recent ones in memory, decides eligibility for community
// models, and serves the statistics endpoints.
//
// # The job
//
// Job.Compute(ctx, day) reads the lake partitions of one UTC day
// (lake.ListPartitions, lake.Scan: streamed, memory bounded by one sketch of
// at most 2×2,048 bins per metric plus a sum and a count per installation
// and metric, never by the number of rows) and writes, per heat-pump model,
// a Daily document at lake.StatsDayKey(day, model), then one Installations
// document for the day at lake.StatsInstallationsKey(day). Every metric
// column a partition has gets statistics; no metric list is built in. The
// only names the package knows are those of the efficiency curve
// (COPConfig), and a model lacking them simply has no curve.
//
// The Installations document is written last and names the partitions
// (key, size, modification time) it was computed from: it commits the day.
// Readers use only the Daily documents it names whose own computed_from
// matches, so a rerun in progress is never half visible. Both documents
// carry the digest of their sources and of the job configuration in the
// object metadata "source-digest", so a stat tells whether a day is current:
//
//   - a day whose partitions did not change is NothingToDo (a normal
//     Result, not an error), and nothing is written;
//   - a partition that changed (a late record compacted into an old day)
//     changes the digest: Changed reports the day and Compute recomputes
//     it, reading only the partitions that changed and reusing the others'
//     figures from the previous Installations document;
//   - a crash leaves either the old Installations document (the day stays
//     "changed" and the rerun converges) or the new one (done). Writes are
//     whole-object puts.
//
// Documents are deterministic: the same partitions and configuration give
// the same bytes (maps are written with sorted keys, floats in their
// shortest round-trip form, and no wall-clock time but the partitions'
// modification times appears).
//
// # Daily document (format 1)
//
//	{"format":1, "model":"AERO_SLM_3-11", "day":"2026-11-26",
//	 "computed_from":{"key":"lake/telemetry/heatpump_model=AERO_SLM_3-11/date=2026-11-26/part-00000.parquet",
//	                  "size":123456, "mod_time":"2026-11-27T03:00:01.5Z"},
//	 "installations":7, "records":20160, "field_samples":2419200,
//	 "published":true,              // installations ≥ the job's K; else false and a "message"
//	 "metrics":{"temp_outside":{"count":20160, "installations":7, "sum":…, "mean":…, "min":…, "max":…,
//	                            "p5":…, "p25":…, "p50":…, "p75":…, "p95":…,
//	                            "excluded":0,  // values left out: non-finite or |v| > MaxAbsValue (omitted when 0)
//	                            "sketch":"<base64 DDSketch>"}, …},
//	 "cop":{"thermal":"power_thermal", "electric":"power_current", "outside":"temp_outside",
//	        "compressor":"state_compressor_1", "min_electric":0.05, "max_cop":15,
//	        "bands":[{"band":"[-5,0)", "from":-5, "to":0, "count":…, "installations":…, "sum":…, "mean":…,
//	                  "thermal_sum":…, "electric_sum":…, "energy_weighted":…, "p5":…, …, "sketch":"…"}, …]}}
//
// count, sum, mean, min and max are exact over the non-null values; the
// quantiles come from the sketch (DDSketch, relative accuracy 1 %, binary
// encoding with its index mapping, standard base64), which merges exactly
// with other days' sketches: 7- and 30-day windows never reread raw data.
// field_samples is the number of non-null metric values. The COP is
// power_thermal / power_current on rows where the three columns are
// present, power_current > min_electric, the compressor state (when that
// column is present and not null) is > 0 and 0 < COP ≤ max_cop; bands are
// [from, to) of the outdoor temperature, 5 K wide from −20 to +20 °C, plus
// "<-20" and ">=20". The curve is omitted when a column is missing or no
// row qualifies.
//
// # Installations document (format 1)
//
//	{"format":1, "day":"2026-11-26", "computed_from":[{"key":…, "size":…, "mod_time":…}, …],
//	 "models":{"AERO_SLM_3-11":{"<installation id>":{"records":2880,
//	           "first_seen":"2026-11-26T00:00:12.125Z", "last_seen":"2026-11-26T23:59:42.125Z",
//	           "metrics":{"temp_outside":{"count":2880, "mean":4.2}, …},
//	           "cop_bands":["[0,5)", …]}}}}
//
// It drives eligibility (last_seen), pool counts (installations, field
// samples as the sum of counts), per-window installation counts (for the
// privacy floor) and rank (an installation's window mean is the
// count-weighted mean of its daily means).
//
// # Privacy
//
// The bucket is internal: it already holds every installation's raw data,
// and the documents keep figures of models below the floor so that windows
// can merge days. The floor is enforced where figures leave the server: the
// View serves no figure (model, metric or COP band) that covers fewer than
// K distinct installations (default 5) in its window, and the privacy
// answer is a 404 whose detail explains the floor. Rank returns only the
// caller's own mean and percentile. Minimum and maximum of averages are
// those of the wire contract.
//
// # The view
//
// View.Refresh lists lake's _stats/installations/, rereads only the
// documents whose size or modification time changed, and rebuilds 1d, 7d
// and 30d windows per model from merged sketches, ending at the last
// complete day (the latest day before today, UTC, that has statistics).
// Requests read an immutable snapshot and never touch the bucket. The pool
// (eligibility's pool gate and pool status) counts the whole pool, all
// models, over the last 30 UTC days including today.
//
// # Endpoints (View.Routes)
//
//	GET /api/v1/pool/status (public)
//	  200 {"total_installations","total_data_points","models_available","data_sufficient","message","message_de"}
//	  total_data_points are field samples (non-null metric values) of the last 30 days;
//	  models_available are display names of the models with ≥ K installations in them
//	  (WithModelsAvailable replaces that list, e.g. by the published models).
//	GET /api/v1/community/averages?model=&metrics=a,b (bearer)
//	  200 {"model","window":"24h","sample_size","metrics":{"<m>":{"avg","min","max"}}}
//	  from the last complete day; avg is the mean of the installations' own means;
//	  metrics unknown or below the floor are left out; no metrics= means all.
//	GET /api/v1/stats/{model}?window=1d|7d|30d (bearer; default 7d)
//	  200 per metric count, installations, mean, min, max, p5…p95; suppressed_metrics;
//	  cop (bands below the floor listed in suppressed_bands) when the model has a curve.
//	GET /api/v1/stats/{model}/rank?installation_id=&metric=&window= (bearer; default 30d)
//	  200 the installation's own mean and its percentile among the installations' means.
//
// Bad input is a 400 {"detail": …} that says what to fix (model name
// rules, metric names ^[a-zA-Z0-9_]+$, window, canonical UUID, a parameter
// given twice, a malformed query string). An unknown model, a window
// without data and a figure below the privacy floor are 404s with a detail.
// Before the first refresh every endpoint answers 503 with Retry-After.
package stats
