package trainer

import "errors"

// ErrConfig reports a training setting that cannot work; the message says
// which and why.
var ErrConfig = errors.New("invalid training config")
