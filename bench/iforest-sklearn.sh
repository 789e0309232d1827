#!/usr/bin/env bash
# Our isolation forest against Debian's scikit-learn IsolationForest on the
# same shape of data, in one run: 1M rows × 40 standard-normal features,
# 100 trees, ψ = 256. Prints fit time (one core) and scoring throughput
# (rows/s, one core and all cores) for both, and the ratios.
# Installs python3-sklearn and python3-numpy from Debian when missing.
#
#   bash bench/iforest-sklearn.sh
#   RUNS=5 bash bench/iforest-sklearn.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
py=/usr/bin/python3 # Debian's, with its packages
if ! $py -c 'import sklearn, numpy' 2>/dev/null; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-sklearn python3-numpy >/dev/null
fi
echo "scikit-learn $($py -c 'import sklearn; print(sklearn.__version__)'), $(nproc) cores"
$py - "$runs" <<'PY'
import sys, time, statistics
import numpy as np
from sklearn.ensemble import IsolationForest
runs = int(sys.argv[1])
x = np.random.default_rng(1).standard_normal((1_000_000, 40))
fit, score1, scoreN = [], [], []
for seed in range(runs):
    t = time.perf_counter(); f = IsolationForest(n_estimators=100, max_samples=256, random_state=seed, n_jobs=1).fit(x); fit.append(time.perf_counter() - t)
    t = time.perf_counter(); f.score_samples(x); score1.append(len(x) / (time.perf_counter() - t))
    f.set_params(n_jobs=-1)
    t = time.perf_counter(); f.score_samples(x); scoreN.append(len(x) / (time.perf_counter() - t))
print(f"sklearn  fit {statistics.median(fit)*1e3:8.1f} ms   score 1 core {statistics.median(score1)/1e6:.3f} M rows/s   all cores {statistics.median(scoreN)/1e6:.3f} M rows/s")
PY
go test -run '^$' -bench '^Benchmark(Fit|Score)$' -benchtime 5x -count "$runs" ./trainer/iforest | tee /tmp/iforest-bench.$$ | grep -E '^Benchmark' || true
awk '
/^BenchmarkFit\/ext=0/ { for (i = 1; i <= NF; i++) if ($(i+1) == "ns/op") fit[++nf] = $i / 1e6 }
/^BenchmarkScore\/ext=0\/workers=1/ { for (i = 1; i <= NF; i++) if ($(i+1) == "rows/s") s1[++n1] = $i }
/^BenchmarkScore\/ext=0\/workers=2/ { for (i = 1; i <= NF; i++) if ($(i+1) == "rows/s") s2[++n2] = $i }
function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((n + 1) / 2)] }
END { printf "ours     fit %8.1f ms   score 1 core %.3f M rows/s   2 cores   %.3f M rows/s\n", med(fit, nf), med(s1, n1) / 1e6, med(s2, n2) / 1e6 }
' /tmp/iforest-bench.$$
rm -f /tmp/iforest-bench.$$
