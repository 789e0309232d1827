#!/usr/bin/env bash
# Compares builds end to end against the decoder, in one run: each round
# runs the decoder benchmark (1 MB, ours and encoding/json), then
# bench/ingest-e2e.sh for every build given and the current one, on the same
# load. Ratios within a round are what to compare on a noisy machine.
#
#   bash bench/ingest-ab.sh /tmp/old/idmtelemetry          # old against current
#   ROUNDS=5 SCENARIOS=b1000 bash bench/ingest-ab.sh A B   # more rounds, another scenario
#
# Build an older version with e.g.
#   git worktree add /tmp/old <commit> && (cd /tmp/old && go build -o idmtelemetry ./cmd/idmtelemetry)
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/idmtelemetry ./cmd/idmtelemetry
for round in $(seq "${ROUNDS:-3}"); do
	echo "### round $round"
	go test -run '^$' -bench '^BenchmarkDecode(StdlibMap)?$/1MB' -benchmem -count 1 ./ingest | grep ^Benchmark
	for bin in "$@" bin/idmtelemetry; do
		echo "--- $bin"
		SCENARIOS=${SCENARIOS:-b200} BIN=$bin bash bench/ingest-e2e.sh 2>&1 | grep -E "JSON MB/s|p50|server CPU"
	done
done
