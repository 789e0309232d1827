// Package server is the HTTPS front door shared by every endpoint: TLS
// (files or a generated self-signed certificate), bearer-token checks,
// request IDs, access logs with masked addresses, Prometheus metrics,
// health, the trusted reverse-proxy mode and bounded graceful shutdown.
// cmd/idmtelemetry mounts the ingest and publish handlers on it.
//
// Invariants kept here:
//   - Plain HTTP is refused, except from a configured trusted proxy that
//     says the client spoke HTTPS (X-Forwarded-Proto: https).
//   - Tokens are checked in constant time before a request body is read.
//   - No unmasked client address is logged.
package server
