package iforest

import "errors"

var (
	// ErrConfig reports a Config value out of range.
	ErrConfig = errors.New("invalid forest config")

	// ErrShape reports a matrix whose dimensions or length do not fit: no
	// rows, no columns, a short backing slice, or a column count other than
	// the forest's.
	ErrShape = errors.New("invalid matrix shape")

	// ErrNotFinite reports a NaN or infinite value in a row sampled for a
	// tree. Impute missing values before fitting.
	ErrNotFinite = errors.New("value not finite")
)
