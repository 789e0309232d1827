// Package publish seals trained models into hashed, encrypted and signed
// envelopes, keeps their releases in the bucket, and serves the model
// check, download and public-key endpoints.
//
// # Envelope 2.0 (what collectors in the field read)
//
// Seal encrypts the plaintext model document (trainer/model, format
// idmt-iforest) into a Fernet token with the shared Fernet key and writes
//
//	{"version": "2.0",
//	 "metadata": {"filename": "<name>.model", "size_original": <int>, "timestamp": <int>},
//	 "payload": "<standard base64 of the ASCII Fernet token>",
//	 "signature": "<lower-case hex HMAC-SHA256>"}
//
// The HMAC is keyed with the 44 ASCII bytes of the Fernet key string and
// covers payload + "." + json.dumps(metadata, sort_keys=True), the metadata
// printed exactly as Python prints it (pythonJSON; tested against
// python3). model_hash is the lower-case hex SHA-256 of the envelope bytes,
// which are stored once per release and served unchanged.
//
// # Envelope 3.0 (opt-in: ?format=3 or Accept: application/vnd.idmt.model-envelope.v3+json)
//
// The same metadata, payload and HMAC signature as 2.0, with "version":
// "3.0" and two more keys:
//
//	"key_id": "<first 8 bytes of SHA-256 of the raw 32-byte Ed25519 public key, hex>",
//	"signature_ed25519": "<standard base64 of the 64-byte Ed25519 signature>"
//
// The Ed25519 signature covers the bytes
//
//	"idmt-model-envelope-3.0\n" + payload + "." + json.dumps(metadata, sort_keys=True)
//
// and verifies with the public key served at GET /api/v1/model/pubkey
// (PKIX PEM). Unlike the HMAC, whose key every collector ships, only the
// server can produce it. Envelope 3.0 has its own model_hash (the SHA-256
// of its own bytes). clients/python/verify_envelope.py verifies both.
//
// # Releases
//
// Catalog.Publish writes, for a model name (storage name: heat-pump model,
// family or "community"):
//
//  1. the envelopes, lake.ReleaseArtefactKey(name, id, "2") and "3";
//  2. the release record, lake.ReleaseRecordKey (Release);
//  3. the current pointer, lake.CurrentKey, last.
//
// Release IDs are <UTC time, 20060102T150405Z>-<12 hex digits of the
// document's SHA-256> and sort in publishing order. Earlier releases are
// kept; Rollback points the current pointer at the previous complete one.
//
// # Invariants
//
//   - A client sees a release only when its envelopes and record are
//     written: readers follow the current pointer, which is written last,
//     and Refresh refuses a release whose envelope does not hash to its
//     record (the previous release keeps being served).
//   - model_hash is the SHA-256 of exactly the bytes a download returns:
//     check and download answer from the same in-memory bytes, loaded and
//     hashed together.
//   - Publish run again after a crash converges: the latest release folder
//     of the same document is finished or reused, not duplicated.
//   - Keys come from files or the environment, never from the bucket, and
//     are never logged (Keys redacts itself in fmt and slog).
package publish
