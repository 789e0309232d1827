package simulate

import "errors"

var (
	// ErrUnknownModel reports a heat-pump model name missing from the catalog.
	ErrUnknownModel = errors.New("unknown heat-pump model")
	// ErrConfig reports an invalid generator or fleet setting.
	ErrConfig = errors.New("invalid simulation config")
)
