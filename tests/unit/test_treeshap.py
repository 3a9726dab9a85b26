"""TreeSHAP by lookup (`models.treeshap`) gives LightGBM's own `pred_contrib` values: with
missing values, zeros read as missing, categorical splits, and rows it would read differently."""

from __future__ import annotations

import dataclasses

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from churnhealth.models import treeshap
from churnhealth.models.treeshap import PatternShap


def _data(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 5, n).astype(float),
            "c": rng.normal(size=n),
            "seg": pd.Categorical(rng.choice(["x", "y", "z"], n), categories=["x", "y", "z"]),
        }
    )
    X.loc[rng.random(n) < 0.15, "a"] = np.nan  # missing values
    X.loc[rng.random(n) < 0.2, "c"] = 0.0  # zeros (missing under zero_as_missing)
    logit = X.a.fillna(1) + 0.5 * X.b - X.c + (X.seg == "y") * 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_lookup_equals_lightgbm(zero_as_missing):
    X, y = _data()
    model = lgb.LGBMClassifier(
        n_estimators=60, max_depth=2, num_leaves=4, verbose=-1, zero_as_missing=zero_as_missing
    ).fit(X, y)
    tables = PatternShap.of(model)
    assert tables is not None and len(tables.trees) == 60
    new, _ = _data(seed=1)  # rows it never saw, with a category unseen in training
    new["seg"] = pd.Categorical(
        np.where(np.arange(len(new)) % 50 == 0, "w", new.seg.astype(str)),
        categories=["x", "y", "z", "w"],
    )
    want = model.predict(new, pred_contrib=True)
    got = tables.contributions(new)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(treeshap.contributions(model, new), want, rtol=0, atol=1e-12)


def test_deeper_trees_keep_lightgbm():
    X, y = _data()
    model = lgb.LGBMClassifier(n_estimators=20, max_depth=4, num_leaves=15, verbose=-1).fit(X, y)
    assert PatternShap.of(model) is None
    np.testing.assert_array_equal(
        treeshap.contributions(model, X), model.predict(X, pred_contrib=True)
    )


def test_rows_read_differently_get_lightgbm_values():
    """A table whose split disagrees with the booster (as a misread input would): the rows
    that reach another leaf are caught by the raw-score check and take LightGBM's values."""
    X, y = _data()
    model = lgb.LGBMClassifier(n_estimators=30, max_depth=2, num_leaves=4, verbose=-1).fit(X, y)
    tables = PatternShap.of(model)
    first = tables.trees[0]
    s = first.splits[0]
    assert s.numeric  # the root split of the first tree is on a, b or c
    moved = dataclasses.replace(s, threshold=s.threshold + 0.5)
    broken = dataclasses.replace(
        tables,
        trees=[dataclasses.replace(first, splits=[moved, *first.splits[1:]]), *tables.trees[1:]],
    )
    want = model.predict(X, pred_contrib=True)
    unchecked, _ = broken.lookup(X)
    assert not np.allclose(unchecked, want, rtol=0, atol=1e-12)  # something to catch
    np.testing.assert_allclose(broken.contributions(X), want, rtol=0, atol=1e-12)
