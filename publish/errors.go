package publish

import "errors"

var (
	// ErrMalformed reports an envelope that is not the JSON document of
	// envelope format 2.0 or 3.0.
	ErrMalformed = errors.New("malformed model envelope")
	// ErrSignature reports an envelope whose signature does not verify with
	// any of the keys given: it was tampered with or sealed with other keys.
	ErrSignature = errors.New("model envelope signature does not verify")
	// ErrDecrypt reports a payload that is not a Fernet token of the key
	// that signed the envelope.
	ErrDecrypt = errors.New("model envelope payload does not decrypt")
	// ErrNoSigningKey reports a request for envelope 3.0 (seal or open)
	// without the Ed25519 key it needs.
	ErrNoSigningKey = errors.New("no ed25519 key")
	// ErrInvalidKey reports a key that cannot be used; the message says
	// which file or variable and what to fix.
	ErrInvalidKey = errors.New("invalid key")
	// ErrNoKeys reports a keys folder without a Fernet key.
	ErrNoKeys = errors.New("no fernet key")
	// ErrKeyExists reports that generating keys would overwrite a file.
	ErrKeyExists = errors.New("key file exists")
	// ErrInvalidName reports a model name that is not a storage name.
	ErrInvalidName = errors.New("invalid model name")
	// ErrInvalidDocument reports a plaintext that is not a valid model
	// document; such a model is never published.
	ErrInvalidDocument = errors.New("invalid model document")
	// ErrNoRelease reports a model name without a current release.
	ErrNoRelease = errors.New("no current release")
	// ErrNoPreviousRelease reports a rollback from the oldest release.
	ErrNoPreviousRelease = errors.New("no earlier release to roll back to")
	// ErrInconsistent reports a release whose stored bytes do not match
	// its record (an artefact missing or with another hash); it is never
	// served.
	ErrInconsistent = errors.New("release artefacts do not match its record")
)
