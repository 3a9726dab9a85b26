"""Exact TreeSHAP by lookup, for LightGBM boosters of small trees.

LightGBM's path-dependent TreeSHAP (`pred_contrib`) gives a row's values from one tree by the
branch the row takes at each of the tree's splits, and by nothing else. A tree with m splits
therefore has at most 2^m patterns of branches, and every row with the same pattern gets the
same values. The demo's health model has 425 trees of depth 2 (three splits, eight patterns):
the values of each pattern are computed once, exactly (the Shapley values of the tree's
path-dependent expectation, enumerating the subsets of its few features), and each row looks its
pattern up. The values are LightGBM's, summed in another order (equal to ~1e-12).

Boosters with a tree of more than `MAX_SPLITS` splits, or of more than one class, keep
`pred_contrib` (`PatternShap.of` returns None). Each call checks that the leaves the patterns
reach add up to LightGBM's own raw score; a row whose sum differs (an input this module would
read differently from LightGBM) gets LightGBM's own values.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd

MAX_SPLITS = 3
"""Largest tree handled by lookup (depth 2): 2^3 = 8 patterns, each enumerating ≤ 2^3 feature
subsets. Building the tables of larger trees in Python costs more than LightGBM's TreeSHAP
saves on a daily batch (measured: 12 s for the demo's expansion models, trees of ≤ 6 splits)."""
ZERO = 1e-35
"""LightGBM's `kZeroThreshold`: |x| ≤ this counts as zero for `missing_type` "Zero"."""


@dataclass(frozen=True)
class _Split:
    feature: int
    numeric: bool
    threshold: float
    categories: frozenset[int]
    default_left: bool
    missing: str
    """LightGBM's missing_type: "None", "Zero" or "NaN"."""


@dataclass(frozen=True)
class _Tree:
    splits: list[_Split]
    features: np.ndarray
    """The distinct features the tree splits on (columns of `table`)."""
    table: np.ndarray
    """(patterns, features): the SHAP values of each pattern of branches."""
    values: np.ndarray
    """The value of the leaf each pattern reaches."""
    expected: float


def _node_value(node: dict, inside: set[int], bits: dict[int, bool]) -> float:
    """E[tree | the features in `inside` fixed], path-dependent: follow the row's branch at a
    split on a fixed feature, else average the branches weighted by their training counts."""
    if "leaf_value" in node:
        return float(node["leaf_value"])
    left, right = node["left_child"], node["right_child"]
    if node["split_feature"] in inside:
        return _node_value(left if bits[node["split_index"]] else right, inside, bits)
    nl = left.get("internal_count", left.get("leaf_count", 0))
    nr = right.get("internal_count", right.get("leaf_count", 0))
    vl, vr = _node_value(left, inside, bits), _node_value(right, inside, bits)
    return (nl * vl + nr * vr) / (nl + nr) if nl + nr else 0.5 * (vl + vr)


def _compile(root: dict) -> _Tree | None:
    """The lookup table of one tree, or None when it has more than MAX_SPLITS splits."""
    nodes, stack = [], [root]
    while stack:
        node = stack.pop()
        if "leaf_value" not in node:
            nodes.append(node)
            stack += [node["left_child"], node["right_child"]]
    if len(nodes) > MAX_SPLITS:
        return None
    nodes.sort(key=lambda n: n["split_index"])
    order = {n["split_index"]: i for i, n in enumerate(nodes)}
    splits = [
        _Split(
            feature=int(n["split_feature"]),
            numeric=n["decision_type"] != "==",
            threshold=float(n["threshold"]) if n["decision_type"] != "==" else 0.0,
            categories=frozenset(int(c) for c in str(n["threshold"]).split("||"))
            if n["decision_type"] == "=="
            else frozenset(),
            default_left=bool(n["default_left"]),
            missing=str(n["missing_type"]),
        )
        for n in nodes
    ]
    features = sorted({s.feature for s in splits})
    k, m = len(features), len(splits)
    weight = {s: factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)}
    subsets = [frozenset(c) for r in range(k + 1) for c in combinations(features, r)]
    table = np.zeros((2**m, k))
    values = np.zeros(2**m)
    expected = _node_value(root, set(), {})
    for p in range(2**m):
        bits = {n["split_index"]: bool(p >> order[n["split_index"]] & 1) for n in nodes}
        v = {s: _node_value(root, set(s), bits) for s in subsets}
        for j, f in enumerate(features):
            table[p, j] = sum(weight[len(s)] * (v[s | {f}] - v[s]) for s in subsets if f not in s)
        node = root
        while "leaf_value" not in node:
            node = node["left_child"] if bits[node["split_index"]] else node["right_child"]
        values[p] = float(node["leaf_value"])
    return _Tree(splits, np.array(features, np.int64), table, values, expected)


@dataclass(frozen=True)
class PatternShap:
    """TreeSHAP values of a booster of small trees by lookup (see the module docstring)."""

    estimator: object
    """The fitted LightGBM estimator (`BoostedTrees`, or the LGBMClassifier of a model
    registered before it): its `predict` is what the values must equal."""
    trees: list[_Tree]
    n_features: int
    categorical: list[list]
    """The booster's categories of each pandas categorical column, in order."""

    @classmethod
    def of(cls, estimator) -> PatternShap | None:
        """The lookup tables of a fitted LightGBM estimator, or None when one of its trees is
        too large (or it has more than one class): then `pred_contrib` it is."""
        dump = estimator.booster_.dump_model()
        if dump.get("num_tree_per_iteration", 1) != 1:
            return None
        trees = []
        for info in dump["tree_info"]:
            tree = _compile(info["tree_structure"])
            if tree is None:
                return None
            trees.append(tree)
        cats = dump.get("pandas_categorical") or []
        return cls(estimator, trees, len(dump["feature_names"]), cats)

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The numbers LightGBM reads: categorical columns as codes of the training
        categories (NaN for other values), the rest as floats."""
        cols, cats = [], iter(self.categorical)
        for c in X.columns:
            col = X[c]
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = col.cat.set_categories(next(cats)).cat.codes.to_numpy(float)  # as LightGBM
                cols.append(np.where(codes < 0, np.nan, codes))
            else:
                cols.append(col.to_numpy(dtype=float, na_value=np.nan))
        return np.column_stack(cols) if cols else np.empty((len(X), 0))

    def lookup(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The tables' SHAP values (as `pred_contrib` lays them out) and the raw score the
        patterns' leaves add up to, without checking them against LightGBM."""
        A = self._matrix(X).T.copy()  # one contiguous row per feature
        n = A.shape[1]
        out = np.zeros((self.n_features + 1, n))
        nan = np.isnan(A)
        zeroed = np.where(nan, 0.0, A)
        raw = np.zeros(n)
        for tree in self.trees:
            pattern = np.zeros(n, np.uint8)
            for i, s in enumerate(tree.splits):
                pattern |= _goes_left(s, A, nan, zeroed).view(np.uint8) << np.uint8(i)
            for j, f in enumerate(tree.features):
                out[f] += tree.table[:, j].take(pattern)
            raw += tree.values.take(pattern)
        out[-1] = sum(tree.expected for tree in self.trees)
        return out.T, raw

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """What `estimator.predict(X, pred_contrib=True)` returns: per row the SHAP value of
        each feature and, last, the expected raw score."""
        if len(X) == 0:
            return np.zeros((0, self.n_features + 1))
        out, raw = self.lookup(X)
        # a row read differently from LightGBM reaches another leaf: its own values for it
        bad = np.flatnonzero(np.abs(raw - self.estimator.predict(X, raw_score=True)) > 1e-9)
        if len(bad):
            out[bad] = self.estimator.predict(X.iloc[bad], pred_contrib=True)
        return out


def _goes_left(s: _Split, A: np.ndarray, nan: np.ndarray, zeroed: np.ndarray) -> np.ndarray:
    """Which rows go left at split `s` (LightGBM's NumericalDecision / CategoricalDecision);
    `A` holds one row per feature, `nan` its NaNs and `zeroed` it with NaN read as 0."""
    f = s.feature
    if not s.numeric:
        codes = zeroed[f].astype(np.int64)  # truncation, as static_cast<int>
        return ~nan[f] & (codes >= 0) & np.isin(codes, list(s.categories))
    if s.missing == "NaN":
        below = A[f] <= s.threshold  # False for NaN
        return below | nan[f] if s.default_left else below
    below = zeroed[f] <= s.threshold
    if s.missing == "Zero":
        miss = np.abs(zeroed[f]) <= ZERO
        return np.where(miss, s.default_left, below)
    return below


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def contributions(estimator, X: pd.DataFrame) -> np.ndarray:
    """`estimator.predict(X, pred_contrib=True)` of a fitted LightGBM classifier, by lookup
    when its trees are small (tables built once per estimator and kept while it lives)."""
    if estimator not in _TABLES:
        _TABLES[estimator] = PatternShap.of(estimator) or False
    tables = _TABLES[estimator]
    return tables.contributions(X) if tables else estimator.predict(X, pred_contrib=True)
