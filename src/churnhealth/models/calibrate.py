"""Calibration on the validation window: sigmoid or isotonic, whichever fits it better."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from churnhealth.models.estimators import binary_log_loss


def _fit(model, method: str, X: pd.DataFrame, y: np.ndarray) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(FrozenEstimator(model), method=method).fit(X, y)


def choose_method(model, X: pd.DataFrame, y: np.ndarray, as_of: pd.Series) -> str:
    """Two folds split by time inside the validation window; lower held-out log loss wins."""
    cut = as_of.sort_values().iloc[len(as_of) // 2]
    folds = [(as_of < cut).to_numpy(), (as_of >= cut).to_numpy()]
    losses = {}
    for method in ("sigmoid", "isotonic"):
        total = 0.0
        for a, b in (folds, folds[::-1]):
            if y[a].sum() == 0 or y[b].sum() == 0:
                return "sigmoid"
            cal = _fit(model, method, X[a], y[a])
            total += binary_log_loss(y[b], cal.predict_proba(X[b])[:, 1]) * b.sum()
        losses[method] = total
    return min(losses, key=losses.get)


def calibrate(
    model, X: pd.DataFrame, y: np.ndarray, as_of: pd.Series, method: str = "auto"
) -> tuple[CalibratedClassifierCV, str]:
    chosen = choose_method(model, X, y, as_of) if method == "auto" else method
    return _fit(model, chosen, X, y), chosen
