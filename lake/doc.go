// Package lake owns everything durable: the bucket seam every component
// writes through, the object layout (every key is built in layout.go), the
// landing zone that ingest writes accepted batches to, the Parquet lake
// that compaction builds from it (compact.go, merge.go, parquet.go), the
// garbage collection of consumed landing objects (gc.go), and the readers
// the statistics and training jobs scan the lake with (read.go).
//
// Invariants kept here:
//   - A write returns nil only once the object is committed and, for local
//     file buckets, flushed to stable storage (file and directory fsync).
//   - Listings never show a writer's temporary files.
//   - A landing object is written once under a content-addressed key, so an
//     identical batch sent again does not create a second object.
//   - Nothing written here carries a client IP address.
package lake
