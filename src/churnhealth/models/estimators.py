"""Candidate estimators: L2 logistic regression and LightGBM, on one design matrix."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from lightgbm import Booster, LGBMClassifier
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

EPS = 1e-6
"""Probabilities are clipped to [EPS, 1 − EPS] before a log loss, so one confident miss cannot
make it infinite."""


def binary_log_loss(y: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Log loss of churn probabilities, clipped: the criterion every candidate, tuning trial,
    calibration method and champion is chosen by (`weight`: row weights)."""
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return float(log_loss(y, p, sample_weight=weight, labels=[0, 1]))


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """Tame heavy tails (counts, events per user) while keeping the sign."""
    return np.sign(x) * np.log1p(np.abs(x))


def design(
    frame: pd.DataFrame, numeric: list[str], categories: dict[str, list[str]]
) -> pd.DataFrame:
    """Model input: numeric columns as float, categorical ones with fixed categories."""
    out = frame[numeric].astype("float64")
    for col, cats in categories.items():
        out[col] = pd.Categorical(frame[col].astype("object"), categories=cats)
    return out


def logistic(numeric: list[str], categorical: list[str], seed: int = 0) -> Pipeline:
    """Imputation (median, with missing indicators), scaling, L2 logistic regression."""
    num = Pipeline(
        [
            ("log", FunctionTransformer(signed_log1p, feature_names_out="one-to-one")),
            (
                "impute",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            ),
            ("scale", StandardScaler()),
        ]
    )
    pre = ColumnTransformer(
        [("num", num, numeric)]
        + ([("cat", OneHotEncoder(handle_unknown="ignore"), categorical)] if categorical else []),
        verbose_feature_names_out=False,
    )
    return Pipeline(
        [("pre", pre), ("lr", LogisticRegression(C=0.5, max_iter=3000, random_state=seed))]
    )


def threads() -> int:
    """LightGBM's threads: `OMP_NUM_THREADS` when set, else 2. The tables are small, so more
    threads mostly wait on one another; and threads beyond the cores a process may use (two
    test workers on two cores, a scheduler's CPU quota) cost several times their work. The
    fitted trees do not depend on the number. OpenMP's nested form ("4,2") gives its first
    number; a value that is not a number is ignored, as OpenMP ignores it."""
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return max(1, int(first)) if first.isdigit() else 2


def lightgbm(params: dict, seed: int = 0, monotone: list[int] | None = None) -> LGBMClassifier:
    """A LightGBM classifier of `params`; `monotone`: one constraint per input column (-1: the
    churn score may only fall as the column grows, +1: only rise, 0: free)."""
    extra = (
        {"monotone_constraints": monotone, "monotone_constraints_method": "intermediate"}
        if monotone and any(monotone)
        else {}
    )
    return LGBMClassifier(
        objective="binary",
        random_state=seed,
        n_jobs=threads(),
        verbose=-1,
        # every feature stays binned whatever min_child_samples is, so one binning serves a
        # whole search (`models.tune`)
        feature_pre_filter=False,
        **params,
        **extra,
    )


def booster_params(model: LGBMClassifier) -> dict:
    """The parameters LightGBM's scikit-learn wrapper trains `model` with, for `lightgbm.train`
    (which `models.tune` calls on Datasets binned once per search)."""
    out = model.get_params()
    for key in ("n_estimators", "importance_type", "class_weight", "n_jobs"):
        out.pop(key)
    return {**out, "metric": "binary_logloss", "num_threads": model.n_jobs}


class BoostedTrees(ClassifierMixin, BaseEstimator):
    """A trained LightGBM booster as a fitted binary classifier: what `LGBMClassifier.fit`
    returns for the same parameters, rows and number of trees (the same trees), without
    training it again. `models.tune` keeps its best trial's booster this way instead of
    refitting it. Its `predict` takes LightGBM's `raw_score` and `pred_contrib`, as the
    wrapper's does; `booster_` is the booster (SHAP explains that)."""

    def __init__(self, booster: Booster) -> None:
        self.booster = booster

    @property
    def booster_(self) -> Booster:
        return self.booster

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    @property
    def n_features_in_(self) -> int:
        return self.booster.num_feature()

    @property
    def feature_names_in_(self) -> np.ndarray:
        return np.array(self.booster.feature_name(), dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X, y, sample_weight=None) -> BoostedTrees:
        """Refused: its booster is trained already (`models.tune`). (scikit-learn counts only an
        object with `fit` as an estimator, e.g. to calibrate it frozen.)"""
        raise TypeError("BoostedTrees is trained already; fit an LGBMClassifier instead")

    def _scored(self, X: pd.DataFrame, **kind) -> np.ndarray:
        """LightGBM's prediction with the threads `threads()` allows (as the wrapper passes
        its `n_jobs`; otherwise OpenMP would start one per core) and its messages off."""
        return self.booster.predict(X, num_threads=threads(), verbose=-1, **kind)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The log-odds (what calibration maps, as for the wrapper from LightGBM 4.7 on)."""
        return self._scored(X, raw_score=True)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = self._scored(X)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame, raw_score: bool = False, pred_contrib: bool = False):
        """Classes (0/1), or with `raw_score` the log-odds, with `pred_contrib` each column's
        contribution to them and the bias last (LightGBM's `predict`)."""
        if raw_score or pred_contrib:
            return self._scored(X, raw_score=raw_score, pred_contrib=pred_contrib)
        return (self._scored(X) > 0.5).astype(int)
