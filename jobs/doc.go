// Package jobs schedules the nightly pipeline (compact, stats, train,
// publish) per UTC-day window, records each run in the bucket, and makes
// sure only one scheduler per bucket runs jobs at a time.
package jobs
