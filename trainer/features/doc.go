// Package features chooses a model's inputs from the data and fits their
// imputation and scaling, without labels and without a hard-coded field list.
//
// The training job uses it in three steps:
//
//  1. Profile: every training row goes through Profile.Add, in (installation,
//     time) order per installation. The profile keeps per-field counts,
//     fixed-size samples and per-installation last values, so its memory
//     depends on the numbers of fields and installations, never on the number
//     of rows.
//  2. Choose: the profile picks the fields present in most rows that change
//     within installations (not constant, not configuration), turns monotone
//     counters into rates, and derives the features the forest sees: the
//     training envelope, linear relations between measurements, spikes,
//     stuck sensors (by time and by the plant's activity), busy states and the heat pump's spread and COP
//     (docs/MODEL_FORMAT.md, "How the trainer chooses features").
//  3. Fit: after a model.Stream has turned the rows into feature vectors and
//     a reservoir has sampled them, Fit sets each feature's imputation value
//     (the median) and robust scaling (median and interquartile range).
//
// Invariants:
//
//   - Determinism: the same rows in the same order and the same Options give
//     the same features, in the same order, with the same numbers (the
//     samples draw from generators seeded per field, so the order of a row's
//     map does not matter).
//   - Nothing depends on labels or on a list of expected field names; the
//     rules and their reasons are in docs/MODEL_FORMAT.md ("How the trainer
//     chooses features").
package features
