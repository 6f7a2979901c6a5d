// Package faults holds smartmaint's fault-injection tests, run against real
// servers: the smartmaint binary as child processes (`smartmaint api`,
// `smartmaint worker`), a throwaway PostgreSQL database on the local server,
// a Redis started and stopped by the test, and a real Temporal server
// (internal/temporaltest). They check what docs/SECURITY.md promises:
//
//   - PostgreSQL refusing connections during ingest: 503 with Retry-After,
//     no acknowledged reading lost, recovery without a restart;
//   - Redis down: rate limits fail open, Idempotency-Key requests fail
//     closed (503), ingest goes on, and both come back with Redis;
//   - a worker killed in the middle of an incident: a new worker finishes
//     it with exactly one work order and one notification per channel;
//   - activity failures injected by CHAOS_ACTIVITY_ERRORS: incidents still
//     finish, again exactly once.
//
// Run them with `go test ./faults/` (about three minutes; -short skips
// them).
package faults
