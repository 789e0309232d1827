// Package publish seals trained models into hashed, encrypted and signed
// envelopes, keeps their releases in the bucket, and serves the model
// check, download and community statistics endpoints.
package publish
