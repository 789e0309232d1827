#!/usr/bin/env bash
# The training job end to end: builds a lake of INSTALLATIONS (default 100)
# installations over DAYS (default 30) days of 30-second records, times
# "idmtelemetry train" for its last day with a DAYS-day window (wall time,
# peak RSS), then doubles the lake and times it again. DOUBLE=installations
# (default) doubles the installations over the same days: the rows in the
# window double. DOUBLE=history adds DAYS older days to the same lake: the
# window, and so the work, stay the same while the lake doubles. DOUBLE=none
# trains the same lake a second time instead.
#
#   bash bench/train-e2e.sh
#   INSTALLATIONS=20 DAYS=7 bash bench/train-e2e.sh
#   DOUBLE=history bash bench/train-e2e.sh
#   PREV=/path/to/old/idmtelemetry DOUBLE=none bash bench/train-e2e.sh
#       # also times another build on each lake, right after the current one
set -euo pipefail
cd "$(dirname "$0")/.."
n=${INSTALLATIONS:-100}
days=${DAYS:-30}
double=${DOUBLE:-installations}
work=${WORK:-$(mktemp -d)}
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
go build -o "$work/idmtelemetry" ./cmd/idmtelemetry
go build -o "$work/lakegen" ./bench/lakegen
first=$(date -u -d "-$((days + 1)) days" +%F)
last=$(date -u -d "$first +$((days - 1)) days" +%F)
build() { # bucket, installations, days, first day
	"$work/lakegen" --bucket "file://$work/$1" --installations "$2" --days "$3" --start "$4" >/dev/null
	"$work/idmtelemetry" compact --bucket "file://$work/$1" --data-dir "$work" --retention 100000h --log-level warn >/dev/null 2>&1
}
train() { # bucket, label
	local files bin
	files=$(find "$work/$1/lake/telemetry" -name '*.parquet' | wc -l)
	for bin in "$work/idmtelemetry" ${PREV:-}; do
		/usr/bin/time -f "%e %M" -o "$work/t" "$bin" train --bucket "file://$work/$1" --data-dir "$work" \
			--day "$last" --train-window "$days" --log-level warn >"$work/out" 2>/dev/null
		read -r secs kb <"$work/t"
		printf '%s (%d partition files), %s: train %.1f s, peak RSS %d MiB\n' "$2" "$files" "$bin" "$secs" $((kb / 1024))
		sed 's/^/    /' "$work/out"
	done
}
build a "$n" "$days" "$first"
train a "$n installations × $days days"
case $double in
installations)
	build b $((2 * n)) "$days" "$first"
	train b "$((2 * n)) installations × $days days"
	;;
history)
	build a "$n" "$days" "$(date -u -d "$first -$days days" +%F)"
	train a "$n installations × $((2 * days)) days (window $days days)"
	;;
none)
	train a "$n installations × $days days, again"
	;;
*)
	echo "DOUBLE must be installations, history or none" >&2
	exit 2
	;;
esac
