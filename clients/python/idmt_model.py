#!/usr/bin/env python3
"""Reference scorer for idmt-iforest model documents (format version 1).

This file is the reference implementation of docs/MODEL_FORMAT.md in Python.
It needs only the standard library; when NumPy is importable, score_many
uses a vectorised path that gives the same numbers. The Go scorer
(trainer/model) is tested against this file to agree to 1e-9 on every row.

Library use::

    import idmt_model
    model = idmt_model.load("AERO_SLM_3-11.json")
    s = model.score({"temp_outside": 3.5, "power_current": 1.2})
    if model.is_anomaly(s): ...

Command line::

    python3 idmt_model.py MODEL.json ROWS.jsonl [--no-numpy]

reads one JSON object of raw fields per line ("-" for standard input) and
prints one score per line with repr precision.
"""

import json
import math
import sys

FORMAT = "idmt-iforest"
FORMAT_VERSION = 1
MAX_HEIGHT = 64

try:  # NumPy is optional: it only speeds up score_many.
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the machine
    _np = None


class ModelError(ValueError):
    """A model document that is malformed or that this scorer cannot use."""


def average_path_length(n):
    """c(n) = 2 H(n-1) - 2 (n-1)/n with H(i) = ln(i) + Euler's gamma."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + 0.5772156649015329) - 2.0 * (n - 1.0) / n


def _finite(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        return False


def _number(v):
    """A raw field as a float: numbers and booleans count, anything else
    (missing, null, strings, NaN, infinities) is NaN, to be imputed."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:
            return math.nan
    return math.nan


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, int):
        raise ModelError("%s is not an integer" % what)
    return v


def _float(v, what):
    if not _finite(v):
        raise ModelError("%s is not a finite number" % what)
    return float(v)


class _Feature:
    __slots__ = ("name", "kind", "field", "impute", "center", "scale")

    def __init__(self, i, d):
        if not isinstance(d, dict):
            raise ModelError("feature %d is not an object" % i)
        self.name = d.get("name")
        self.kind = d.get("kind")
        self.field = d.get("field")
        if not isinstance(self.name, str) or not self.name:
            raise ModelError("feature %d: empty name" % i)
        if self.kind != "raw":
            raise ModelError("feature %r: unknown feature kind %r" % (self.name, self.kind))
        if not isinstance(self.field, str) or not self.field:
            raise ModelError("feature %r: raw feature without field" % self.name)
        for key in ("impute", "center", "scale"):
            if key not in d:
                raise ModelError("feature %r: missing %s" % (self.name, key))
        self.impute = _float(d["impute"], "impute")
        self.center = _float(d["center"], "center")
        self.scale = _float(d["scale"], "scale")
        if self.scale <= 0:
            raise ModelError("feature %r: scale not positive" % self.name)

    def value(self, row):
        """The raw feature value of a row, NaN when missing."""
        return _number(row.get(self.field))

    def prepare(self, v):
        """Impute, then scale: (v - center) / scale."""
        if not math.isfinite(v):
            v = self.impute
        return (v - self.center) / self.scale


class _Tree:
    """One tree in the document's arrays, checked."""

    __slots__ = ("feature", "weight", "threshold", "left", "right", "value", "height")

    def __init__(self, i, d, terms, hyper, n_features, height_limit):
        if not isinstance(d, dict):
            raise ModelError("tree %d is not an object" % i)
        where = "tree %d" % i
        thr = d.get("threshold")
        if not isinstance(thr, list) or not thr:
            raise ModelError("%s: no nodes" % where)
        n = len(thr)
        arrays = {}
        for key, length in (("feature", n * terms), ("left", n), ("right", n), ("value", n)):
            a = d.get(key)
            if not isinstance(a, list) or len(a) != length:
                raise ModelError("%s: %s has the wrong length" % (where, key))
            arrays[key] = a
        weight = d.get("weight", [])
        if hyper and (not isinstance(weight, list) or len(weight) != n * terms):
            raise ModelError("%s: weight has the wrong length" % where)
        if not hyper and weight:
            raise ModelError("%s: weight on an axis forest" % where)
        self.feature = [_int(v, where + " feature") for v in arrays["feature"]]
        self.left = [_int(v, where + " left") for v in arrays["left"]]
        self.right = [_int(v, where + " right") for v in arrays["right"]]
        self.threshold = [_float(v, where + " threshold") for v in thr]
        self.value = [_float(v, where + " value") for v in arrays["value"]]
        self.weight = [_float(v, where + " weight") for v in weight] if hyper else None

        parents = [0] * n
        depth = [0] * n
        height = 0
        for j in range(n):
            l, r = self.left[j], self.right[j]
            feats = self.feature[j * terms:(j + 1) * terms]
            if l == -1 or r == -1:
                if l != r:
                    raise ModelError("%s: node %d has one child" % (where, j))
                if self.threshold[j] != 0 or any(f != -1 for f in feats):
                    raise ModelError("%s: leaf %d has a split" % (where, j))
                if hyper and any(w != 0 for w in self.weight[j * terms:(j + 1) * terms]):
                    raise ModelError("%s: leaf %d has a weight" % (where, j))
                if self.value[j] < 0:
                    raise ModelError("%s: leaf %d value negative" % (where, j))
                height = max(height, depth[j])
                continue
            # Children come after their parent, so there is no cycle.
            if not (j < l < n and j < r < n and l != r):
                raise ModelError("%s: node %d children out of order or range" % (where, j))
            if any(f < 0 or f >= n_features for f in feats):
                raise ModelError("%s: node %d feature out of range" % (where, j))
            if self.value[j] != 0:
                raise ModelError("%s: internal node %d has a value" % (where, j))
            for c in (l, r):
                if parents[c]:
                    raise ModelError("%s: node %d has two parents" % (where, c))
                parents[c] = 1
                depth[c] = depth[j] + 1
                if depth[c] > height_limit:
                    raise ModelError("%s: node %d deeper than height_limit" % (where, c))
        if not all(parents[1:]):
            raise ModelError("%s: unreachable node" % where)
        self.height = height


class Model:
    """A loaded, validated model document."""

    def __init__(self, doc):
        if not isinstance(doc, dict):
            raise ModelError("document is not a JSON object")
        if doc.get("format") != FORMAT:
            raise ModelError("format is not %r" % FORMAT)
        version = doc.get("format_version")
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise ModelError("unsupported format_version %r" % (version,))
        feats = doc.get("features")
        if not isinstance(feats, list) or not feats:
            raise ModelError("no features")
        self.features = [_Feature(i, f) for i, f in enumerate(feats)]
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise ModelError("duplicate feature names")
        if not isinstance(doc.get("scaling"), str):
            raise ModelError("missing scaling")
        self.scaling = doc["scaling"]
        self.metadata = doc.get("metadata")
        if not isinstance(self.metadata, dict):
            raise ModelError("missing metadata")

        f = doc.get("forest")
        if not isinstance(f, dict):
            raise ModelError("missing forest")
        self.sample_size = _int(f.get("sample_size"), "sample_size")
        if self.sample_size < 1:
            raise ModelError("sample_size out of range")
        self.c = _float(f.get("c_sample_size"), "c_sample_size")
        want = average_path_length(self.sample_size)
        if abs(self.c - want) > 1e-9 * max(1.0, want):
            raise ModelError("c_sample_size does not match sample_size")
        self.height_limit = _int(f.get("height_limit"), "height_limit")
        if not 0 <= self.height_limit <= MAX_HEIGHT:
            raise ModelError("height_limit out of range")
        self.split = f.get("split")
        self.terms = _int(f.get("terms"), "terms")
        if self.split == "axis":
            if self.terms != 1:
                raise ModelError("axis split with terms != 1")
        elif self.split == "hyperplane":
            if not 1 <= self.terms <= len(self.features):
                raise ModelError("hyperplane terms out of range")
        else:
            raise ModelError("unknown split %r" % (self.split,))
        cont = f.get("contamination")
        if cont == "auto":
            self.contamination = "auto"
        elif _finite(cont) and 0 < cont <= 0.5:
            self.contamination = float(cont)
        else:
            raise ModelError("contamination is neither 'auto' nor in (0, 0.5]")
        self.threshold = _float(f.get("threshold"), "threshold")
        if not 0 <= self.threshold <= 1:
            raise ModelError("threshold outside [0, 1]")
        trees = f.get("trees")
        if not isinstance(trees, list) or not trees:
            raise ModelError("no trees")
        if _int(f.get("n_trees"), "n_trees") != len(trees):
            raise ModelError("n_trees does not match the trees")
        hyper = self.split == "hyperplane"
        self.trees = [
            _Tree(i, t, self.terms, hyper, len(self.features), self.height_limit)
            for i, t in enumerate(trees)
        ]
        self._compiled = None

    # -- the reference path ------------------------------------------------

    def feature_vector(self, row):
        """Raw feature values of a row (dict of raw fields), NaN for missing."""
        return [f.value(row) for f in self.features]

    def prepare(self, values):
        """Imputed and scaled inputs of the trees."""
        return [f.prepare(v) for f, v in zip(self.features, values)]

    def path_length_sum(self, x):
        """Sum over the trees, in order, of the path length of prepared x."""
        total = 0.0
        terms = self.terms
        for t in self.trees:
            i = 0
            left, right, thr, feat = t.left, t.right, t.threshold, t.feature
            while left[i] != -1:
                if t.weight is None:
                    v = x[feat[i]]
                else:
                    v = 0.0
                    base = i * terms
                    for k in range(base, base + terms):
                        v += t.weight[k] * x[feat[k]]
                i = right[i] if v > thr[i] else left[i]
            total += t.value[i]
        return total

    def _normalise(self, total):
        if self.c == 0:
            return 0.5
        mean = total / len(self.trees)
        return 2.0 ** (-mean / self.c)

    def score_vector(self, values):
        """Score raw feature values (in feature order, NaN for missing)."""
        if len(values) != len(self.features):
            raise ValueError("expected %d feature values" % len(self.features))
        return self._normalise(self.path_length_sum(self.prepare(values)))

    def score(self, row):
        """Anomaly score s = 2^(-E[h]/c(psi)) in (0, 1] of a raw row."""
        return self.score_vector(self.feature_vector(row))

    def is_anomaly(self, score):
        """True when score is above the threshold (scikit-learn predicts -1)."""
        return score > self.threshold

    @property
    def offset(self):
        """scikit-learn's offset_: decision_function = -score - offset."""
        return -self.threshold

    # -- the NumPy path ------------------------------------------------------

    def score_many(self, rows, use_numpy=True):
        """Scores of many raw rows; vectorised when NumPy is available."""
        if not (use_numpy and _np is not None):
            return [self.score(r) for r in rows]
        if not rows:
            return []
        vals = _np.array([self.feature_vector(r) for r in rows], dtype=_np.float64)
        return self._score_matrix(vals).tolist()

    def _compile(self):
        """Every tree renumbered breadth-first with adjacent children and
        leaves that point to themselves (threshold +inf), so that all rows
        take the same number of steps and can advance together."""
        out = []
        for t in self.trees:
            order = [0]
            feat, thr, left, val, weight = [], [], [], [], []
            j = 0
            while j < len(order):
                old = order[j]
                base = old * self.terms
                if t.left[old] == -1:
                    feat.append([0] * self.terms)
                    weight.append([0.0] * self.terms)
                    thr.append(math.inf)
                    left.append(j)
                    val.append(t.value[old])
                else:
                    feat.append(t.feature[base:base + self.terms])
                    weight.append(t.weight[base:base + self.terms] if t.weight else [1.0])
                    thr.append(t.threshold[old])
                    left.append(len(order))
                    val.append(0.0)
                    order.extend((t.left[old], t.right[old]))
                j += 1
            out.append((
                _np.array(feat, dtype=_np.int64), _np.array(weight, dtype=_np.float64),
                _np.array(thr, dtype=_np.float64), _np.array(left, dtype=_np.int64),
                _np.array(val, dtype=_np.float64), t.height,
            ))
        return out

    def _score_matrix(self, vals):
        np = _np
        if self._compiled is None:
            self._compiled = self._compile()
        impute = np.array([f.impute for f in self.features])
        center = np.array([f.center for f in self.features])
        scale = np.array([f.scale for f in self.features])
        x = np.where(np.isfinite(vals), vals, impute)
        x = (x - center) / scale
        n = x.shape[0]
        rows = np.arange(n)
        total = np.zeros(n)
        hyper = self.split == "hyperplane"
        with np.errstate(invalid="ignore"):
            for feat, weight, thr, left, val, height in self._compiled:
                idx = np.zeros(n, dtype=np.int64)
                for _ in range(height):
                    if hyper:
                        # Same operations and order as the reference path.
                        v = np.zeros(n)
                        for k in range(self.terms):
                            v = v + weight[idx, k] * x[rows, feat[idx, k]]
                    else:
                        v = x[rows, feat[idx, 0]]
                    idx = left[idx] + (v > thr[idx])
                total += val[idx]
        if self.c == 0:
            return np.full(n, 0.5)
        mean = total / len(self.trees)
        return np.power(2.0, -mean / self.c)


def loads(text):
    """Parse and validate a model document from JSON text."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ModelError("not JSON: %s" % e) from None
    return Model(doc)


def load(path):
    """Read, parse and validate a model document file."""
    with open(path, "r", encoding="utf-8") as f:
        return loads(f.read())


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    use_numpy = True
    if "--no-numpy" in args:
        args.remove("--no-numpy")
        use_numpy = False
    if len(args) != 2:
        sys.stderr.write("usage: idmt_model.py MODEL.json ROWS.jsonl [--no-numpy]\n")
        return 2
    try:
        model = load(args[0])
    except (OSError, ModelError) as e:
        sys.stderr.write("idmt_model: %s\n" % e)
        return 1
    src = sys.stdin if args[1] == "-" else open(args[1], "r", encoding="utf-8")
    with src:
        rows = []
        for n, line in enumerate(src, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                sys.stderr.write("idmt_model: line %d is not a JSON object\n" % n)
                return 1
            rows.append(row)
    out = sys.stdout
    for s in model.score_many(rows, use_numpy=use_numpy):
        out.write(repr(s) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
