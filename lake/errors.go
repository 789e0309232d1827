package lake

import "errors"

var (
	// ErrNotFound reports that an object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrExists reports that a conditional write found the object already
	// present.
	ErrExists = errors.New("object already exists")
	// ErrInvalidModel reports a heat-pump model name that cannot be mapped to
	// a storage name.
	ErrInvalidModel = errors.New("invalid heat-pump model name")
	// ErrCorrupt reports a lake file that is not what the lake writes (not
	// Parquet, or columns out of the lake's order): an invariant is broken,
	// and merging into it or reading it on would spread the damage.
	ErrCorrupt = errors.New("corrupt lake file")
	// ErrTooManyColumns reports a partition whose metric columns would
	// pass CompactConfig.MaxColumns: some collector sends changing field
	// names, and merging on would make compaction, and every reader of
	// the partition, slow or out of memory.
	ErrTooManyColumns = errors.New("too many metric columns")
	// ErrBucketURL reports a bucket URL that names no driver or no folder:
	// a configuration mistake.
	ErrBucketURL = errors.New("invalid bucket url")
)
