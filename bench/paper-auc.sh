#!/usr/bin/env bash
# Reproduces Table 2 of Liu, Ting & Zhou (ICDM 2008) on the five of its
# datasets that Debian's r-cran-mlbench ships: exports them with Rscript to
# CSV (features, then a 0/1 anomaly label), then fits our isolation forest
# (trainer/iforest, t=100, ψ=min(256,n), on all rows, unsupervised) and
# Debian's scikit-learn IsolationForest (n_estimators=100, max_samples=256)
# over the same SEEDS seeds (default 10) on the same CSVs, and prints the AUCs
# of both against the paper's. Results: docs/MODEL_QUALITY.md.
#
# Needs: apt-get install r-base-core r-cran-mlbench python3-sklearn python3-numpy
#
#   bash bench/paper-auc.sh
#   SEEDS=3 KEEP=/tmp/paper bash bench/paper-auc.sh   # keep the CSVs in /tmp/paper
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-10}
if [ -n "${KEEP:-}" ]; then
	work=$KEEP
	mkdir -p "$work"
else
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
fi

Rscript --vanilla - "$work" <<'R'
suppressMessages(library(mlbench))
out <- commandArgs(trailingOnly = TRUE)[1]
num <- function(f) as.numeric(as.character(f)) # factor levels are the values
write <- function(df, label, name) {
  stopifnot(!anyNA(df), length(label) == nrow(df))
  df$label <- as.integer(label)
  write.csv(df, file.path(out, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
}
# Breastw: malignant is the anomaly; drop Id and the 16 rows with NA.
data(BreastCancer)
b <- na.omit(BreastCancer[, -1])
write(as.data.frame(lapply(b[, 1:9], num)), b$Class == "malignant", "breastw")
# Ionosphere: "bad" is the anomaly; V2 is constant (0); V1 is a 0/1 factor.
data(Ionosphere)
io <- Ionosphere[, setdiff(names(Ionosphere), c("V2", "Class"))]
io$V1 <- num(io$V1)
write(io, Ionosphere$Class == "bad", "ionosphere")
# Pima: 768 rows as in the paper (PimaIndiansDiabetes, zeros kept); "pos".
data(PimaIndiansDiabetes)
p <- PimaIndiansDiabetes
write(p[, 1:8], p$diabetes == "pos", "pima")
# Satellite: the three smallest classes are the anomalies.
data(Satellite)
cnt <- sort(table(Satellite$classes))
small <- names(cnt)[1:3]
message("satellite anomalies: ", paste(sprintf("%s (%d)", small, cnt[small]), collapse = ", "))
write(Satellite[, 1:36], Satellite$classes %in% small, "satellite")
# Shuttle: drop class "High"; every class but "Rad.Flow" is an anomaly.
data(Shuttle)
s <- Shuttle[Shuttle$Class != "High", ]
write(s[, 1:9], s$Class != "Rad.Flow", "shuttle")
R

/usr/bin/python3 - "$work" "$seeds" >"$work/sklearn.tsv" <<'PY'
import sys, numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
work, seeds = sys.argv[1], int(sys.argv[2])
for name in ["breastw", "ionosphere", "pima", "satellite", "shuttle"]:
    d = np.loadtxt(f"{work}/{name}.csv", delimiter=",", skiprows=1)
    x, y = d[:, :-1], d[:, -1]
    aucs = []
    for seed in range(1, seeds + 1):
        f = IsolationForest(n_estimators=100, max_samples=min(256, len(x)), random_state=seed).fit(x)
        aucs.append(roc_auc_score(y, -f.score_samples(x)))
    sd = np.std(aucs, ddof=1) if seeds > 1 else 0.0
    print(f"{name}\t{np.mean(aucs):.6f}\t{sd:.6f}")
PY

go run ./trainer/quality/cmd/paper --dir "$work" --sklearn "$work/sklearn.tsv" --seeds "$seeds"
