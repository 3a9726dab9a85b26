"""Calibration on the validation window: sigmoid or isotonic, whichever fits it better.

Rows may carry weights (the hazard model's subsampled quiet steps count for the ones left out).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from churnhealth.models.estimators import binary_log_loss


def _fit(model, method: str, X: pd.DataFrame, y: np.ndarray, w: np.ndarray | None):
    with warnings.catch_warnings():
        # the frozen model is not refitted: the weights are meant for the calibrator alone
        warnings.filterwarnings("ignore", "Since FrozenEstimator does not appear", UserWarning)
        cal = CalibratedClassifierCV(FrozenEstimator(model), method=method)
        return cal.fit(X, y, sample_weight=w)


class _Scores(ClassifierMixin, BaseEstimator):
    """A model whose decision function is its single input column: the scores of the model
    being calibrated, computed once, so choosing a method does not score the rows four times.
    A calibrator fitted on it is the one fitted on the model itself."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def decision_function(self, X):
        return np.asarray(X, float)[:, 0]

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def _response(model, X: pd.DataFrame) -> np.ndarray:
    """What CalibratedClassifierCV calibrates: the decision function, else P(class 1)."""
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X), float)
    return model.predict_proba(X)[:, 1]


def choose_method(
    model, X: pd.DataFrame, y: np.ndarray, as_of: pd.Series, w: np.ndarray | None = None
) -> str:
    """Two folds split by time inside the validation window; lower held-out log loss wins."""
    scores = _response(model, X)[:, None]
    scorer = _Scores().fit(scores, y)
    as_of = pd.Series(np.asarray(as_of))
    cut = as_of.sort_values().iloc[len(as_of) // 2]
    folds = [(as_of < cut).to_numpy(), (as_of >= cut).to_numpy()]
    w = np.ones(len(y)) if w is None else np.asarray(w, float)
    losses = {}
    for method in ("sigmoid", "isotonic"):
        total = 0.0
        for a, b in (folds, folds[::-1]):
            if y[a].sum() == 0 or y[b].sum() == 0:
                return "sigmoid"
            cal = _fit(scorer, method, scores[a], y[a], w[a])
            p = cal.predict_proba(scores[b])[:, 1]
            total += binary_log_loss(y[b], p, w[b]) * w[b].sum()
        losses[method] = total
    return min(losses, key=losses.get)


def calibrate(
    model,
    X: pd.DataFrame,
    y: np.ndarray,
    as_of: pd.Series,
    method: str = "auto",
    weight: np.ndarray | None = None,
) -> tuple[CalibratedClassifierCV, str]:
    chosen = choose_method(model, X, y, as_of, weight) if method == "auto" else method
    return _fit(model, chosen, X, y, weight), chosen
