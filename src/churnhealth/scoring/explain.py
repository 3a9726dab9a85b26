"""Explanations in health points: SHAP values of the model that scored each account.

Method. SHAP values are exact for the model's raw score: path-dependent TreeSHAP for LightGBM,
whose raw score is the log-odds margin, computed by LightGBM itself (`pred_contrib`, the values
`shap.TreeExplainer` returns, without importing shap); interventional linear SHAP (against the
training sample, as `shap.LinearExplainer`) for the logistic model, whose raw score is its
decision function. The raw
score is then mapped to a probability by the segment's calibration, which is monotone but not
additive. So the account's health difference from its model's baseline health (the health at
the expected raw score) is shared among the features in proportion to their SHAP values:

    effect_i = (health − baseline_health) × shap_i / Σ_j shap_j

Effects then sum to health − baseline_health exactly (before rounding health), keep the sign and
ranking of the SHAP values, and roll up to dimensions by summing the features of each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.models.routed import FittedModel, HealthModel


def _calibrate_raw(fm: FittedModel, raw: np.ndarray) -> np.ndarray:
    """The calibrated probability for raw scores, as the calibrator sees them."""
    inner = fm.calibrator.calibrated_classifiers_[0]
    return inner.calibrators[0].predict(np.asarray(raw, float))


def raw_contributions(fm: FittedModel, X: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """SHAP values per input feature for the raw score, and the expected raw score."""
    Xr = fm.raw_input(X)
    if fm.kind == "lightgbm":
        values = fm.estimator.predict(Xr, pred_contrib=True)
        base = float(values[0, -1]) if len(values) else float("nan")
        return pd.DataFrame(values[:, :-1], columns=Xr.columns, index=X.index), base
    pre, lr = fm.estimator[:-1], fm.estimator[-1]
    z = pre.transform(Xr)
    mean = pre.transform(fm.raw_input(fm.background)).mean(axis=0)
    contrib = (np.asarray(z) - mean) * lr.coef_[0]
    names = pre.get_feature_names_out()
    origin = [_source_feature(n, list(Xr.columns)) for n in names]
    out = pd.DataFrame(contrib, columns=names, index=X.index).T.groupby(origin).sum().T
    return out.reindex(columns=Xr.columns, fill_value=0.0), float(
        lr.intercept_[0] + mean @ lr.coef_[0]
    )


def _source_feature(name: str, columns: list[str]) -> str:
    """Input column a transformed column comes from (missing indicators, one-hot levels)."""
    name = name.removeprefix("missingindicator_")
    if name in columns:
        return name
    return max((c for c in columns if name.startswith(f"{c}_")), key=len)


def baseline_health(fm: FittedModel, expected_raw: float) -> float:
    """Health at the expected raw score (both candidates calibrate their decision function)."""
    return float(100 * (1 - _calibrate_raw(fm, np.array([expected_raw]))[0]))


def health_effects(hm: HealthModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Effect of every feature on each account's health, in health points, and the baseline
    health of the model that scored it."""
    X = hm.design(frame)
    routes = hm.route(frame["segment"]).to_numpy()
    effects = pd.DataFrame(0.0, index=frame.index, columns=hm.input_columns)
    base = pd.Series(np.nan, index=frame.index)
    for key in np.unique(routes):
        rows = routes == key
        fm = hm.models[key]
        shap_raw, expected = raw_contributions(fm, X[rows])
        p = fm.predict_proba(X[rows])
        b = baseline_health(fm, expected)
        gap = 100 * (1 - p) - b
        total = shap_raw.sum(axis=1).to_numpy()
        share = np.divide(
            shap_raw.to_numpy(),
            total[:, None],
            out=np.zeros_like(shap_raw.to_numpy()),
            where=np.abs(total[:, None]) > 1e-12,
        )
        effects.loc[rows, shap_raw.columns] = share * gap[:, None]
        base[rows] = b
    return effects, base


def dimension_effects(hm: HealthModel, effects: pd.DataFrame) -> pd.DataFrame:
    dims = sorted(set(hm.dimensions.values()))
    return pd.DataFrame(
        {
            d: effects[[f for f, x in hm.dimensions.items() if x == d and f in effects]].sum(axis=1)
            for d in dims
        }
    )
