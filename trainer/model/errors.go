package model

import "errors"

var (
	// ErrInvalid is wrapped by every error that reports a malformed or
	// inconsistent document.
	ErrInvalid = errors.New("invalid model document")

	// ErrUnsupportedVersion reports a document whose format or
	// format_version this package does not know. Errors that report it match
	// ErrInvalid too.
	ErrUnsupportedVersion = errors.New("unsupported model format version")

	// ErrShortInput reports a matrix of feature vectors that holds fewer
	// values than its row count and stride require.
	ErrShortInput = errors.New("input shorter than rows and stride require")

	// ErrUnknownKind reports a feature whose kind this package cannot
	// compute. Errors that report it match ErrInvalid too.
	ErrUnknownKind = errors.New("unknown feature kind")
)
