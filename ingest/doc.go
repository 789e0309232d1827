// Package ingest accepts telemetry batches from collectors: it decodes and
// validates a submission, normalizes it, and lands it durably in the bucket
// through lake before answering.
//
// Invariants kept here:
//   - 200 is answered only after the landing write has committed; a failed
//     write answers 503 with Retry-After, never 200.
//   - Bad input gets a 4xx with {"detail": ...} that says what to fix; no
//     input produces a 5xx or a panic.
//   - Nothing is dropped silently: every dropped record or field is counted
//     in the response and in metrics, with a reason.
//   - No client IP address reaches the bucket.
package ingest
