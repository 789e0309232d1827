#!/usr/bin/env bash
# Compaction benchmark (issue 3). Lands INSTALLATIONS × DAYS of simulated
# 30-second records (130 IDM metrics) as ingest would, then converts the
# same landing objects twice: with `idmtelemetry compact` and with DuckDB
# (`bench/duckconvert`, one COPY … PARTITION_BY). Prints records/s, MB/s of
# JSON in, peak RSS and output bytes per record of both, from one run.
#
#   bash bench/lake-compact.sh                     # 100 installations × 7 days
#   INSTALLATIONS=20 DAYS=2 bash bench/lake-compact.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${INSTALLATIONS:-100}
days=${DAYS:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/idmtelemetry" ./cmd/idmtelemetry
go build -o "$work/lakegen" ./bench/lakegen
go build -o "$work/duckconvert" ./bench/duckconvert
start=$(date -u -d "-$((days + 1)) days" +%F)
"$work/lakegen" --bucket "file://$work/bucket" --installations "$n" --days "$days" --start "$start"
json_mb=$(zstd -dc "$work"/bucket/landing/*/*/*.json.zst 2>/dev/null | wc -c | awk '{print $1/1e6}') || json_mb=0

measure() { # name, command...: prints wall seconds and peak RSS MiB
	local name=$1; shift
	/usr/bin/time -f "%e %M" -o "$work/time.$name" "$@" >"$work/out.$name" 2>&1
	read -r secs kb <"$work/time.$name"
	echo "$secs $((kb / 1024))"
}
read -r dsecs drss < <(measure duckdb "$work/duckconvert" --landing "$work/bucket/landing" --out "$work/duckout")
read -r csecs crss < <(measure compact "$work/idmtelemetry" compact --bucket "file://$work/bucket" --data-dir "$work" --log-level warn --retention 10000h)
records=$(grep -o 'converted [0-9]*' "$work/out.duckdb" | awk '{print $2}')
cbytes=$(find "$work/bucket/lake" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
dbytes=$(find "$work/duckout" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
cat "$work/out.compact"
printf '\n%-8s %10s %12s %10s %10s %12s\n' tool seconds records/s "JSON MB/s" "peak MiB" "bytes/rec"
for t in compact duckdb; do
	if [ $t = compact ]; then s=$csecs r=$crss b=$cbytes; else s=$dsecs r=$drss b=$dbytes; fi
	printf '%-8s %10.1f %12.0f %10.1f %10d %12.1f\n' $t "$s" "$(echo "$records / $s" | bc -l)" "$(echo "$json_mb / $s" | bc -l)" "$r" "$(echo "$b / $records" | bc -l)"
done
printf 'ratios: throughput %.2f×, peak RSS %.2f×, size %.2f× (compact / duckdb)\n' \
	"$(echo "$dsecs / $csecs" | bc -l)" "$(echo "$crss / $drss" | bc -l)" "$(echo "$cbytes / $dbytes" | bc -l)"
