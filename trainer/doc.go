// Package trainer implements the isolation forest (fit, score, serialize),
// the feature selection it needs, and the training job that reads the lake.
package trainer
