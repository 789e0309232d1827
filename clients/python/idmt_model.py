#!/usr/bin/env python3
"""Reference scorer for idmt-iforest model documents (format version 1).

This file is the reference implementation of docs/MODEL_FORMAT.md in Python.
It needs only the standard library; when NumPy is importable, score_many
uses a vectorised path that gives the same numbers. The Go scorer
(trainer/model) is tested against this file to agree to 1e-9 on every row.

Library use (models with temporal features, as the training job writes
them, need the rows of each installation in time order, through a stream)::

    import idmt_model
    model = idmt_model.load("AERO_SLM_3-11.json")
    st = model.stream()
    for installation_id, timestamp, row in rows:      # timestamp: Unix seconds
        s = st.score(installation_id, timestamp, row)
        if model.is_anomaly(s): ...

    s = model.score({"temp_outside": 3.5})  # one row alone: temporal features imputed

Command line::

    python3 idmt_model.py MODEL.json ROWS.jsonl [--no-numpy] [--features]

reads one JSON object of raw fields per line ("-" for standard input) and
prints one score per line with repr precision (with --features: the raw
feature values instead, space-separated). The rows are a stream:
temporal features (rates, jumps, stuck and stale values, changes, rolling
relations, residuals) relate each row to the earlier rows with the same
"installation_id", using "timestamp" (Unix seconds), so the rows of each
installation must be in time order.
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


# Feature kinds this scorer computes and the keys each reads (besides name,
# kind, impute, center and scale); kinds with max_gap are temporal: they need
# the previous rows of the installation and are computed by a Stream.
KINDS = {
    "raw": ("field",),
    "envelope": ("fields", "lo", "hi"),
    "residual": ("fields", "weights", "intercept", "norm", "smooth", "max_gap"),
    "rate": ("field", "max_gap"),
    "jump": ("fields", "norm", "max_gap"),
    "stuck": ("fields", "norm", "max_gap"),
    "stale": ("fields", "norm", "max_gap"),
    "changes": ("fields", "norm", "window", "max_gap"),
    "rolling_diff": ("field", "field2", "window", "max_gap"),
    "rolling_ratio": ("field", "field2", "min_denominator", "window", "max_gap"),
}
MAX_GAP_LIMIT = 366 * 24 * 3600


def _str(d, key, what):
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise ModelError("%s without %s" % (what, key))
    return v


def _floats(d, key, n, what):
    v = d.get(key)
    if not isinstance(v, list) or len(v) != n:
        raise ModelError("%s: %s needs %d numbers" % (what, key, n))
    return [_float(x, "%s %s" % (what, key)) for x in v]


def _max(out, v):
    """max(out, v) where out may be NaN (nothing yet) and v is a number."""
    return v if math.isnan(out) or v > out else out


def _value(row, name):
    """The finite value of a raw field, or None."""
    v = _number(row.get(name))
    return v if math.isfinite(v) else None


class _State:
    """What a temporal feature remembers about one installation."""

    __slots__ = ("has", "ms", "v", "run", "events", "count", "rows", "act")

    def __init__(self, n):
        self.has = [False] * n
        self.ms = [0] * n
        self.v = [0.0] * n
        self.run = [0] * n
        self.events = []
        self.count = [0] * n
        self.rows = []
        self.act = 0


class _Feature:
    __slots__ = ("name", "kind", "field", "field2", "fields", "lo", "hi", "weights",
                 "intercept", "norm", "min_denominator", "smooth", "window", "max_gap",
                 "impute", "center", "scale", "temporal")

    def __init__(self, i, d):
        if not isinstance(d, dict):
            raise ModelError("feature %d is not an object" % i)
        self.name = d.get("name")
        self.kind = d.get("kind")
        if not isinstance(self.name, str) or not self.name:
            raise ModelError("feature %d: empty name" % i)
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise ModelError("feature %r: unknown feature kind %r" % (self.name, self.kind))
        what = "feature %r: %s feature" % (self.name, self.kind)
        keys = KINDS[self.kind]
        self.temporal = "max_gap" in keys
        self.field = _str(d, "field", what) if "field" in keys else None
        self.field2 = _str(d, "field2", what) if "field2" in keys else None
        self.fields = None
        if "fields" in keys:
            f = d.get("fields")
            if not isinstance(f, list) or not f or not all(isinstance(x, str) and x for x in f):
                raise ModelError("%s: fields must be a non-empty list of names" % what)
            self.fields = f
        n = len(self.fields) if self.fields else 1
        self.lo = self.hi = self.weights = self.intercept = self.norm = None
        if "lo" in keys:
            self.lo = _floats(d, "lo", n, what)
            self.hi = _floats(d, "hi", n, what)
            for lo, hi in zip(self.lo, self.hi):
                if not (lo < hi and math.isfinite(hi - lo)):
                    raise ModelError("%s: lo not below hi" % what)
        if "weights" in keys:
            self.weights = _floats(d, "weights", n * n, what)
            self.intercept = _floats(d, "intercept", n, what)
            if any(self.weights[i * n + i] != 0 for i in range(n)):
                raise ModelError("%s: weight on the diagonal" % what)
        if "norm" in keys:
            self.norm = _floats(d, "norm", n, what)
            if any(x <= 0 for x in self.norm):
                raise ModelError("%s: norm not positive" % what)
        self.min_denominator = 0.0
        if "min_denominator" in keys:
            self.min_denominator = _float(d.get("min_denominator"), what + " min_denominator")
            if self.min_denominator <= 0:
                raise ModelError("%s: min_denominator not positive" % what)
        self.smooth = self.window = self.max_gap = 0
        for key in ("smooth", "window", "max_gap"):
            if key in keys:
                v = _int(d.get(key), "%s %s" % (what, key))
                if not 1 <= v <= MAX_GAP_LIMIT:
                    raise ModelError("%s: %s out of range" % (what, key))
                setattr(self, key, v)
        for key in ("impute", "center", "scale"):
            if key not in d:
                raise ModelError("feature %r: missing %s" % (self.name, key))
        self.impute = _float(d["impute"], "impute")
        self.center = _float(d["center"], "center")
        self.scale = _float(d["scale"], "scale")
        if self.scale <= 0:
            raise ModelError("feature %r: scale not positive" % self.name)

    def new_state(self):
        return _State(len(self.fields) if self.fields else 1)

    def value(self, row):
        """A stateless feature of a row, NaN when missing; temporal kinds
        are NaN here (imputed): compute them with a Stream."""
        if self.kind == "raw":
            return _number(row.get(self.field))
        if self.kind == "envelope":
            out = math.nan
            for name, lo, hi in zip(self.fields, self.lo, self.hi):
                v = _value(row, name)
                if v is None:
                    continue
                e = 0.0
                if v < lo:
                    e = (lo - v) / (hi - lo)
                elif v > hi:
                    e = (v - hi) / (hi - lo)
                out = _max(out, e)
            return out
        return math.nan

    def step(self, st, ms, row):
        """A temporal feature of the row at ms (Unix milliseconds); st is
        this feature's state for the installation, updated in place. The
        operations and their order are those of docs/MODEL_FORMAT.md."""
        kind = self.kind
        gap = self.max_gap * 1000
        if kind == "rate":
            v = _value(row, self.field)
            if v is None:
                return math.nan
            out = math.nan
            dt = ms - st.ms[0]
            if st.has[0] and 0 < dt <= gap and v >= st.v[0]:
                out = (v - st.v[0]) * 3600000 / dt
            st.has[0], st.ms[0], st.v[0] = True, ms, v
            return out
        if kind in ("rolling_diff", "rolling_ratio"):
            a = _value(row, self.field)
            b = _value(row, self.field2)
            if a is None or b is None:
                return math.nan
            rows = st.rows
            if rows:
                dt = ms - rows[-1][0]
                if dt <= 0 or dt > gap:
                    del rows[:]
            rows.append((ms, a, b))
            drop = 0
            while rows[drop][0] <= ms - self.window * 1000:
                drop += 1
            del rows[:drop]
            n = float(len(rows))
            if kind == "rolling_diff":
                s = 0.0
                for _, x, y in rows:
                    s += x - y
                return s / n
            sa = sb = 0.0
            for _, x, y in rows:
                sa += x
                sb += y
            return sa / sb if sb >= n * self.min_denominator else math.nan
        if kind == "residual":
            alpha = 2 / (float(self.smooth) + 1)
            complete = True
            for i, name in enumerate(self.fields):
                v = _value(row, name)
                if v is None:
                    complete = False
                    continue
                dt = ms - st.ms[i]
                if st.has[i] and 0 < dt <= gap:
                    st.v[i] += alpha * (v - st.v[i])
                else:
                    st.v[i] = v
                st.has[i], st.ms[i] = True, ms
            if not complete:
                return math.nan
            k = len(self.fields)
            out = math.nan
            m = st.v
            for i in range(k):
                pred = self.intercept[i]
                for j in range(k):
                    pred += self.weights[i * k + j] * m[j]
                out = _max(out, abs(m[i] - pred) / self.norm[i])
            return out
        if kind == "stale":
            # The row's changes join the installation's count first; a
            # field that changed (or has no usable previous value) starts a
            # run at the new count.
            for i, name in enumerate(self.fields):
                v = _value(row, name)
                if v is not None:
                    dt = ms - st.ms[i]
                    if st.has[i] and 0 < dt <= gap and v != st.v[i]:
                        st.act += 1
            out = math.nan
            for i, name in enumerate(self.fields):
                v = _value(row, name)
                if v is None:
                    continue
                dt = ms - st.ms[i]
                if not (st.has[i] and 0 < dt <= gap) or v != st.v[i]:
                    st.run[i] = st.act
                out = _max(out, float(st.act - st.run[i]) / self.norm[i])
                st.has[i], st.ms[i], st.v[i] = True, ms, v
            return out
        out = second = math.nan
        present = False
        for i, name in enumerate(self.fields):
            v = _value(row, name)
            if v is None:
                continue
            present = True
            dt = ms - st.ms[i]
            prev = st.has[i] and 0 < dt <= gap
            p = st.v[i]
            if kind == "jump":
                if prev:
                    z = abs(v - p) / self.norm[i]
                    if math.isnan(out) or z > out:
                        out, second = z, out
                    else:
                        second = _max(second, z)
            elif kind == "stuck":
                if not prev or v != p:
                    st.run[i] = ms
                out = _max(out, (ms - st.run[i]) / 1000 / self.norm[i])
            elif kind == "changes":
                if prev and v != p:
                    st.events.append((ms, i))
                    st.count[i] += 1
            st.has[i], st.ms[i], st.v[i] = True, ms, v
        if kind == "jump":
            if not math.isnan(second):
                out -= second
        elif kind == "changes":
            ev = st.events
            drop = 0
            while drop < len(ev) and ev[drop][0] <= ms - self.window * 1000:
                st.count[ev[drop][1]] -= 1
                drop += 1
            del ev[:drop]
            if present:
                out = 0.0
                for c, nm in zip(st.count, self.norm):
                    out = max(out, c / nm)
        return out

    def prepare(self, v):
        """Impute, then scale: (v - center) / scale."""
        if not math.isfinite(v):
            v = self.impute
        return (v - self.center) / self.scale


def _millis(ts):
    """A timestamp (Unix seconds as a number, or a datetime) in whole
    milliseconds, the time resolution of the format."""
    if hasattr(ts, "timestamp"):
        ts = ts.timestamp()
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not _finite(ts):
        raise ValueError("timestamp %r is not a number of seconds" % (ts,))
    if isinstance(ts, int):
        return ts * 1000
    return int(round(ts * 1000))


class Stream:
    """Feature vectors and scores of rows streamed per installation in time
    order. Temporal features keep a little state per installation, so the
    rows of one installation must come in time order; installations may
    interleave. Memory grows with the installations, not the rows."""

    def __init__(self, model):
        self.model = model
        self._state = {}

    def vector(self, installation, timestamp, row):
        """Raw feature values of a row (NaN for missing)."""
        feats = self.model.features
        st = self._state.get(installation)
        if st is None:
            st = [f.new_state() if f.temporal else None for f in feats]
            self._state[installation] = st
        ms = _millis(timestamp) if self.model.temporal else 0
        return [f.step(st[i], ms, row) if f.temporal else f.value(row) for i, f in enumerate(feats)]

    def score(self, installation, timestamp, row):
        """Anomaly score of the next row of an installation."""
        return self.model.score_vector(self.vector(installation, timestamp, row))

    def forget(self, installation):
        """Drop the state of an installation."""
        self._state.pop(installation, None)


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
        self.temporal = any(f.temporal for f in self.features)
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

    def stream(self):
        """A Stream that scores rows per installation in time order, the
        only way to compute temporal features."""
        return Stream(self)

    def score(self, row):
        """Anomaly score s = 2^(-E[h]/c(psi)) in (0, 1] of a raw row
        (temporal features imputed; see stream)."""
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
        return self.score_vectors([self.feature_vector(r) for r in rows], use_numpy)

    def score_vectors(self, vectors, use_numpy=True):
        """Scores of many raw feature vectors; vectorised when NumPy is
        available."""
        if not (use_numpy and _np is not None):
            return [self.score_vector(v) for v in vectors]
        if not vectors:
            return []
        vals = _np.array(vectors, dtype=_np.float64)
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
    print_features = False
    if "--features" in args:
        args.remove("--features")
        print_features = True
    if len(args) != 2:
        sys.stderr.write("usage: idmt_model.py MODEL.json ROWS.jsonl [--no-numpy] [--features]\n")
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
    # Rows are a stream: temporal features relate each row to the previous
    # row of the same installation_id (all rows are one installation when
    # the key is absent), in file order.
    st = model.stream()
    try:
        vectors = [st.vector(r.get("installation_id", ""), r.get("timestamp", 0), r) for r in rows]
    except ValueError as e:
        sys.stderr.write("idmt_model: %s\n" % e)
        return 1
    out = sys.stdout
    if print_features:
        for v in vectors:
            out.write(" ".join(repr(x) for x in v) + "\n")
        return 0
    for s in model.score_vectors(vectors, use_numpy=use_numpy):
        out.write(repr(s) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
