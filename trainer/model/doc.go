// Package model defines the portable isolation forest model document
// ("idmt-iforest", format version 1) and scores rows with it.
//
// The package is what a collector imports to score its own telemetry, so it
// depends on the standard library only and never on the trainer. The trainer
// (package iforest) produces a Document; the publish step ships its bytes.
//
// Invariants:
//
//   - Marshal is deterministic: the same Document always gives the same bytes
//     (fixed key order, floats written with strconv 'g' -1 so that every float
//     reads back bit for bit in Go, Python and any other IEEE 754 language).
//   - Unmarshal validates everything a scorer relies on (feature and child
//     indices in range, every node reached exactly once from the root, depths
//     within the height limit, finite numbers) and returns an error wrapping
//     ErrInvalid for a bad document; it never panics.
//   - A valid Document scores every input: missing or non-finite feature values
//     are replaced by the feature's imputation value before scaling.
//   - Temporal feature kinds (rates, jumps, stuck and stale values, changes,
//     rolling relations, residuals) are computed by a Stream from the rows of each
//     installation in time order; their state per installation is bounded by
//     the document (fields and windows), never by the number of rows. Feature
//     values are computed with the same operations in the same order as the
//     Python scorer, so both agree bit for bit.
//   - Scores are computed with the same operations in the same order as the
//     reference Python scorer (clients/python/idmt_model.py), so both agree to
//     the last bit or two.
//
// docs/MODEL_FORMAT.md describes the format field by field.
package model
