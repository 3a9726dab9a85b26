"""Explanations in health points: SHAP values of the hazard model, carried to health.

Method. Each account's curve comes from its model's monthly hazards h_k = cal(m_k), where m_k
is the model's raw score for month k (the log-odds margin of LightGBM, the decision function of
the logistic model) and `cal` the segment's calibration. SHAP values are exact for each raw
score: path-dependent TreeSHAP for LightGBM, computed by LightGBM itself (`pred_contrib`, the
values `shap.TreeExplainer` returns, without importing shap; by lookup for small trees, see
`models.treeshap`); interventional linear SHAP
(against the training sample, as `shap.LinearExplainer`) for the logistic model. So
m_k − m̄ = Σ_i φ_ki, where m̄ is the expected raw score.

Health is 100 × S, the survival to the horizon, with log S = Σ_k a_k log(1 − h_k) (a_k: the
share of month k inside the horizon). Write each month's change against the baseline as a
secant slope times the change in its raw score, log(1 − h_k) − log(1 − h̄) = s_k (m_k − m̄),
and share it among the features by their SHAP values:

    c_i = Σ_k a_k s_k φ_ki,            Σ_i c_i = log S − log S̄   (exactly)

where S̄ is the survival of an account whose every month has the expected raw score: the
baseline health 100 × S̄. The difference in health is then shared in the same proportions:

    effect_i = 100 × (S − S̄) × c_i / (log S − log S̄)

Effects sum to health − baseline_health exactly (before rounding health), keep the sign of
each feature's push on the curve, and roll up to dimensions by summing the features of each.
The month's exposure columns (step, decisions in and before it) are renewal timing: their
effects are added to `days_to_renewal`, which is context (see `scoring.scorer`).

Cost. TreeSHAP runs once per distinct month of an account, not on all twelve: months that every
tree sends down the same branches have equal values (`FittedModel.distinct_steps`), which
leaves about a third of the rows on the demo company's champion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.models import hazard, treeshap
from churnhealth.models.expansion import ExpansionModel
from churnhealth.models.routed import FittedModel, HealthModel


def raw_contributions(fm: FittedModel, X: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """SHAP values per input feature for the raw score, and the expected raw score."""
    Xr = fm.raw_input(X)
    if fm.kind == "lightgbm":
        values = treeshap.contributions(fm.estimator, Xr)
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


def health_effects(hm: HealthModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Effect of every feature on each account's health, in health points, and the baseline
    health of the model that scored it."""
    effects, base, _ = explained_hazards(hm, frame)
    return effects, base


def explained_hazards(
    hm: HealthModel, frame: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """`health_effects`, and the calibrated monthly hazards (n, steps) the effects explain:
    `HealthModel.hazards` read from the same walk of the trees (the contributions add up to
    the raw score), so that scoring with explanations walks them once."""
    X = hm.design(frame)
    inside, before = hazard.decisions(frame, hm.steps)
    share = hazard.horizon_weights(frame, hm.horizon_days, hm.steps)
    routes = hm.route(frame["segment"]).to_numpy()
    segments = frame["segment"].astype(object).to_numpy()
    features = [c for c in hm.input_columns if c not in hazard.STEP_FEATURES]
    effects = pd.DataFrame(0.0, index=frame.index, columns=features)
    base = pd.Series(np.nan, index=frame.index)
    hazards = np.full((len(frame), hm.steps), np.nan)
    groups = pd.DataFrame({"route": routes, "segment": segments}).groupby(["route", "segment"])
    for (key, segment), idx in groups.indices.items():
        rows = np.asarray(idx)
        n, k = len(rows), hm.steps
        fm = hm.models[key]

        def log_survival(raw: np.ndarray, fm=fm, segment=segment) -> np.ndarray:
            """log(1 − h) for raw scores, under the segment's calibration."""
            return np.log1p(-np.clip(fm.calibrated(raw, segment), 0, 1 - 1e-12))

        Xs = hazard.step_design(X.iloc[rows], k, inside[rows], before[rows])
        first, copies = fm.distinct_steps(Xs, n)
        phi_u, expected = raw_contributions(fm, Xs.iloc[first])
        columns, phi = phi_u.columns, phi_u.to_numpy()[copies]
        raw_u = phi_u.to_numpy().sum(axis=1) + expected
        raw = raw_u[copies]
        hazards[rows] = fm.calibrated(raw_u, segment)[copies].reshape(k, n).T
        log_h = log_survival(raw)
        log_b = float(log_survival(np.array([expected]))[0])
        dm = raw - expected
        eps = 1e-4
        tangent = float(
            (log_survival(np.array([expected + eps])) - log_survival(np.array([expected - eps])))[0]
            / (2 * eps)
        )
        slope = np.where(np.abs(dm) > 1e-9, (log_h - log_b) / np.where(dm == 0, 1, dm), tangent)
        a = share[rows].T.reshape(-1)
        c = (phi * (a * slope)[:, None]).reshape(k, n, -1).sum(axis=0)
        log_s = (a * log_h).reshape(k, n).sum(axis=0)
        log_sb = (a * log_b).reshape(k, n).sum(axis=0)
        s, sb = np.exp(log_s), np.exp(log_sb)
        d = log_s - log_sb
        ratio = np.where(np.abs(d) > 1e-12, (s - sb) / np.where(d == 0, 1, d), sb)
        contrib = pd.DataFrame(100 * ratio[:, None] * c, columns=columns)
        timing = contrib[list(hazard.STEP_FEATURES)].sum(axis=1)
        contrib = contrib.drop(columns=list(hazard.STEP_FEATURES))
        if "days_to_renewal" in contrib:
            contrib["days_to_renewal"] += timing
        effects.iloc[rows, [effects.columns.get_loc(c) for c in contrib.columns]] = (
            contrib.to_numpy()
        )
        base.iloc[rows] = 100 * sb
    return effects, base, hazards


def expansion_effects(em: ExpansionModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Effect of every feature on each account's expansion score (points) and the baseline
    score of the model that scored it.

    One probability, one raw score: the change in probability against the baseline (the
    expected raw score) is shared among the features by their SHAP values through the secant
    slope of the calibration, effect_i = 100 × (p − p̄) × φ_i / (m − m̄), so the effects add up
    to 100 × (p − p̄) exactly."""
    X = em.design(frame)
    routes = em.route(frame["segment"]).to_numpy()
    segments = frame["segment"].astype(object).to_numpy()
    effects = pd.DataFrame(0.0, index=frame.index, columns=X.columns)
    base = pd.Series(np.nan, index=frame.index)
    groups = pd.DataFrame({"route": routes, "segment": segments}).groupby(["route", "segment"])
    for (key, segment), idx in groups.indices.items():
        rows = np.asarray(idx)
        fm = em.models[key]
        phi_df, expected = raw_contributions(fm, X.iloc[rows])
        phi = phi_df.to_numpy()
        raw = phi.sum(axis=1) + expected
        p = fm.calibrated(raw, segment)
        pb = float(fm.calibrated(np.array([expected]), segment)[0])
        eps = 1e-4
        ends = fm.calibrated(np.array([expected - eps, expected + eps]), segment)
        dm = raw - expected
        slope = np.where(
            np.abs(dm) > 1e-9, (p - pb) / np.where(dm == 0, 1, dm), (ends[1] - ends[0]) / (2 * eps)
        )
        cols = [effects.columns.get_loc(c) for c in phi_df.columns]
        effects.iloc[rows, cols] = 100 * slope[:, None] * phi
        base.iloc[rows] = 100 * pb
    return effects, base


def dimension_effects(hm: HealthModel, effects: pd.DataFrame) -> pd.DataFrame:
    dims = sorted(set(hm.dimensions.values()))
    return pd.DataFrame(
        {
            d: effects[[f for f, x in hm.dimensions.items() if x == d and f in effects]].sum(axis=1)
            for d in dims
        }
    )
