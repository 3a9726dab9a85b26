"""Candidate estimators: L2 logistic regression and LightGBM, on one design matrix."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
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
