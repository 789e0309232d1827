package features

import "errors"

// ErrNoFeatures reports a profile from which no feature could be chosen: no
// rows, or no field that is present often enough and varies.
var ErrNoFeatures = errors.New("no usable features")
