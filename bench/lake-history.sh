#!/usr/bin/env bash
# Does a nightly compaction cost grow with the lake? Builds a lake with
# 1 day and with HISTORY days (default 30) of INSTALLATIONS (default 10)
# installations, then times the compaction of one new day on each and
# prints wall time, peak RSS and what the run did. Both lakes keep the
# default 7-day landing retention, as a deployment does.
#
#   bash bench/lake-history.sh
#   INSTALLATIONS=20 HISTORY=30 bash bench/lake-history.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=${INSTALLATIONS:-10}
history=${HISTORY:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/idmtelemetry" ./cmd/idmtelemetry
go build -o "$work/lakegen" ./bench/lakegen
new=$(date -u -d "-2 days" +%F)
for h in 1 "$history"; do
	b="file://$work/b$h"
	first=$(date -u -d "$new -$h days" +%F)
	"$work/lakegen" --bucket "$b" --installations "$n" --days "$h" --start "$first" >/dev/null
	"$work/idmtelemetry" compact --bucket "$b" --data-dir "$work" --log-level warn >/dev/null 2>&1
	"$work/lakegen" --bucket "$b" --installations "$n" --days 1 --start "$new" >/dev/null
	/usr/bin/time -f "%e %M" -o "$work/t" "$work/idmtelemetry" compact --bucket "$b" --data-dir "$work" \
		--log-level warn >"$work/out" 2>/dev/null
	read -r secs kb <"$work/t"
	printf 'history %3d days: nightly run %.2f s, peak RSS %d MiB: %s\n' "$h" "$secs" $((kb / 1024)) "$(cat "$work/out")"
done
