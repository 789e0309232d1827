#!/usr/bin/env bash
# The training job end to end: builds a lake of INSTALLATIONS (default 100)
# installations over DAYS (default 30) days of 30-second records, then
# times "idmtelemetry train" for its last day (wall time, peak RSS), and
# does the same on a lake twice as large (twice the installations, same
# days), to show how both grow when the lake doubles. The reservoir keeps
# memory flat; time grows with the rows streamed.
#
#   bash bench/train-e2e.sh
#   INSTALLATIONS=20 DAYS=7 bash bench/train-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${INSTALLATIONS:-100}
days=${DAYS:-30}
work=${WORK:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT
go build -o "$work/idmtelemetry" ./cmd/idmtelemetry
go build -o "$work/lakegen" ./bench/lakegen
first=$(date -u -d "-$((days + 1)) days" +%F)
last=$(date -u -d "$first +$((days - 1)) days" +%F)
for inst in "$n" $((2 * n)); do
	b="file://$work/b$inst"
	"$work/lakegen" --bucket "$b" --installations "$inst" --days "$days" --start "$first" >/dev/null
	"$work/idmtelemetry" compact --bucket "$b" --data-dir "$work" --retention 2400h --log-level warn >/dev/null 2>&1
	rows=$(find "$work/b$inst/lake/telemetry" -name '*.parquet' | wc -l)
	/usr/bin/time -f "%e %M" -o "$work/t" "$work/idmtelemetry" train --bucket "$b" --data-dir "$work" \
		--day "$last" --train-window "$days" --log-level warn >"$work/out" 2>/dev/null
	read -r secs kb <"$work/t"
	printf '%4d installations × %d days (%d partition files): train %.1f s, peak RSS %d MiB\n' "$inst" "$days" "$rows" "$secs" $((kb / 1024))
	sed 's/^/    /' "$work/out"
done
