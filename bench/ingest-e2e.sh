#!/usr/bin/env bash
# End-to-end ingest benchmark: a real `idmtelemetry serve` on loopback with a
# file bucket, driven by `idmtelemetry loadgen` over HTTPS. Prints, per
# scenario, the load generator's summary and the server's CPU-seconds per GB
# of JSON and its peak RSS (VmHWM; the server is restarted per scenario).
#
#   bash bench/ingest-e2e.sh            # all scenarios
#   SCENARIOS="b200" bash bench/ingest-e2e.sh
#   LOADGEN_FLAGS=--pregenerate bash bench/ingest-e2e.sh   # simulate before the clock starts
#   SERVE_FLAGS="--bucket mem://" bash bench/ingest-e2e.sh   # without the file bucket
#   BIN=/path/to/other/idmtelemetry bash bench/ingest-e2e.sh   # serve another build
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/idmtelemetry ./cmd/idmtelemetry
server=${BIN:-bin/idmtelemetry}
tick=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=18543

# name: loadgen flags
declare -A scen=(
	[b200]="--installations 64 --days 2 --batch-size 200 --concurrency 16"
	[b1000]="--installations 64 --days 2 --batch-size 1000 --concurrency 16"
	[herd10mb]="--installations 200 --days 1 --batch-size 2400 --concurrency 200"
)
for name in ${SCENARIOS:-b200 b1000 herd10mb}; do
	rm -rf "$work/var"
	"$server" serve --data-dir "$work/var" --listen 127.0.0.1:$port --log-level warn \
		--rate-per-address 0 --rate-per-installation -1 ${SERVE_FLAGS:-} >"$work/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do [ -f "$work/var/token" ] && curl -sk "https://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done
	read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
	out=$(./bin/idmtelemetry loadgen --url https://localhost:$port --token-file "$work/var/token" \
		--cacert "$work/var/tls/cert.pem" ${scen[$name]} ${LOADGEN_FLAGS:-})
	read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
	hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
	group=$(curl -sk "https://127.0.0.1:$port/metrics" | awk '/^idmt_ingest_landing_group_batches_sum/ {s=$2} /^idmt_ingest_landing_group_batches_count/ {n=$2} END {if (n > 0) printf "landing objects held %.1f batches on average, as a batch sees it", s/n; else print "no group metric"}')
	kill -INT $pid; wait $pid 2>/dev/null || true
	json_mb=$(echo "$out" | awk '/JSON MB\/s/ {print $8}')
	wall=$(echo "$out" | awk '/^batches/ {sub("s","",$NF); print $NF}')
	cpu=$(echo "($u1 - $u0 + $s1 - $s0) / $tick" | bc -l)
	gb=$(echo "$json_mb * $wall / 1000" | bc -l)
	echo "== $name: ${scen[$name]}"
	echo "$out"
	printf 'server CPU %.1f s for %.2f GB of JSON = %.1f CPU-s/GB; peak RSS %d MiB; %s\n\n' "$cpu" "$gb" "$(echo "$cpu / $gb" | bc -l)" $((hwm / 1024)) "$group"
done
