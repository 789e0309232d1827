// Package trainer is the nightly training job: per heat-pump model, a
// uniform reservoir sample of the last days of the lake, features chosen
// from the data (trainer/features), an isolation forest (trainer/iforest),
// and a candidate model document (trainer/model) written to the bucket for
// the publish step.
//
// Invariants:
//   - Memory is independent of the lake's size: the lake is streamed three
//     times (installations per model; feature profiles; feature vectors
//     into a fixed-size reservoir per model), never loaded.
//   - The same lake and Config give the same candidate bytes: partitions
//     and rows are read in a fixed order, every random choice is seeded
//     from Config and the model's name, and document times come from the
//     job's day, not the wall clock. A rerun after a crash rewrites the
//     same bytes.
//   - Nothing depends on a hard-coded feature list or on labels.
package trainer
