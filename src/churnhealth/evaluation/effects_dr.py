"""The doubly robust estimate of a play's effect from the plays a team logged.

The team chose whom to work from what it saw, and the features see much of the same, so the
accounts worked are compared with the accounts not worked as if both had the same features:
augmented inverse-propensity weighting for the effect on the treated (AIPW-ATT). Two models are
fitted with cross-fitting (folds grouped by account, so no account informs its own
prediction): the chance of churning without a play (outcome, on the units not worked; one model
for all plays) and, per play, the chance of being worked given the features (propensity). The
estimate is right if either model is; its interval comes from the influence function, summed per
account because an account appears at several dates.

Subgroups (segment, and the account's main risk dimension: the dimension whose signals raise
the outcome model's churn prediction most) reuse the same fitted models.

It refuses, in one line, when the data cannot support it: too few plays with a known outcome,
worked accounts unlike any account not worked (propensity above `MAX_PROPENSITY`), or weighted
controls amounting to too few accounts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.model_selection import GroupKFold

from churnhealth.evaluation.effects import Z95, Estimate, run_truth
from churnhealth.features import FeatureSet
from churnhealth.models.estimators import threads

FOLDS = 5
MIN_TREATED = 30
MAX_PROPENSITY = 0.95
MAX_UNCOMPARABLE = 0.10
"""Refuse when more than this share of the worked units have a propensity above MAX_PROPENSITY."""
MIN_EFFECTIVE_CONTROLS = 50
MAX_CONTROLS = 15_000
"""Units not worked beyond this are sampled at random: the interval is set by the few hundred
plays, not by tens of thousands of controls, and the fits take half the time."""
SEED = 0
PROPENSITY = dict(
    n_estimators=200, learning_rate=0.02, num_leaves=7, min_child_samples=100,
    subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
)  # fmt: skip
OUTCOME = dict(
    n_estimators=300, learning_rate=0.03, num_leaves=15, min_child_samples=50,
    subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
)  # fmt: skip


def design(units: pd.DataFrame, fs: FeatureSet) -> tuple[np.ndarray, list[str]]:
    """The features as a numeric matrix, and the feature each column comes from: missing values
    imputed by the median with an indicator (a missing survey says something), categories
    one-hot."""
    numeric = [f for f in fs.features if f not in fs.categorical]
    x = units[numeric].astype(float)
    missing = x.isna()
    missing = missing.loc[:, missing.any()].astype(float)
    cats = pd.get_dummies(units[fs.categorical].astype(str), dtype=float)
    origin = [*numeric, *missing.columns]
    origin += [next(c for c in fs.categorical if col.startswith(c + "_")) for col in cats.columns]
    matrix = pd.concat([x.fillna(x.median()).fillna(0.0), missing, cats], axis=1)
    return matrix.to_numpy(float), origin


def _folds(groups: np.ndarray):
    return GroupKFold(n_splits=FOLDS, shuffle=True, random_state=SEED).split(groups, groups=groups)


def _model(params: dict) -> LGBMClassifier:
    return LGBMClassifier(**params, random_state=SEED, n_jobs=threads(), verbose=-1)


def control_outcome(
    x: np.ndarray, y: np.ndarray, t: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold P(churn | features, no play) for every unit, and each column's contribution
    to its log-odds (for the main risk dimension)."""
    m0, contrib = np.zeros(len(t)), np.zeros((len(t), x.shape[1]))
    for train, test in _folds(groups):
        ctrl = train[t[train] == 0]
        model = _model(OUTCOME).fit(x[ctrl], y[ctrl])
        m0[test] = model.predict_proba(x[test])[:, 1]
        contrib[test] = model.predict_proba(x[test], pred_contrib=True)[:, :-1]
    return m0, contrib


def propensity(x: np.ndarray, t: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Out-of-fold P(worked | features)."""
    e = np.zeros(len(t))
    for train, test in _folds(groups):
        e[test] = _model(PROPENSITY).fit(x[train], t[train]).predict_proba(x[test])[:, 1]
    return np.clip(e, 1e-6, 0.99)


def aipw_att(
    t: np.ndarray, y: np.ndarray, m0: np.ndarray, e: np.ndarray, groups: np.ndarray
) -> tuple[float, float]:
    """AIPW effect on the treated and its standard error, clustered by `groups`."""
    r = y - m0
    a = r[t == 1].mean()
    w = (e / (1 - e)) * (1 - t)
    b = (w * r).sum() / w.sum()
    phi = t * (r - a) / t.mean() - w * (r - b) / w.mean()
    _, inv = np.unique(groups, return_inverse=True)
    se = np.sqrt((np.bincount(inv, weights=phi) ** 2).sum()) / len(t)
    return float(a - b), float(se)


def overlap(e: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """How comparable the worked and unworked units are: the share of worked units no unworked
    unit resembles, and how many controls the weighting effectively leans on."""
    et, ec = e[t == 1], e[t == 0]
    w = ec / (1 - ec)
    return {
        "uncomparable_share": float((et > MAX_PROPENSITY).mean()),
        "effective_controls": float(w.sum() ** 2 / (w**2).sum()) if len(w) else 0.0,
        "median_propensity_treated": float(np.median(et)),
        "median_propensity_controls": float(np.median(ec)) if len(ec) else float("nan"),
    }


def _one(base: dict, t, y, m0, e, groups, truth: float | None) -> Estimate:
    counts = {"treated": int(t.sum()), "control": int((t == 0).sum())}
    if counts["treated"] < MIN_TREATED:
        n = counts["treated"]
        why = f"too few: {n} play{'s' * (n != 1)} run with a known outcome (need {MIN_TREATED})"
        return Estimate(**base, **counts, refused=why, truth=truth)
    diag = overlap(e, t)
    refused = None
    if diag["uncomparable_share"] > MAX_UNCOMPARABLE:
        refused = (
            f"no overlap: {diag['uncomparable_share']:.0%} of the accounts worked look like no "
            f"account left alone (propensity above {MAX_PROPENSITY})"
        )
    elif diag["effective_controls"] < MIN_EFFECTIVE_CONTROLS:
        refused = (
            f"no overlap: the comparison leans on {diag['effective_controls']:.0f} effective "
            f"controls (need {MIN_EFFECTIVE_CONTROLS})"
        )
    if refused:
        return Estimate(**base, **counts, refused=refused, truth=truth, diagnostics=diag)
    effect, se = aipw_att(t, y, m0, e, groups)
    return Estimate(
        **base,
        **counts,
        effect=effect,
        low=effect - Z95 * se,
        high=effect + Z95 * se,
        truth=truth,
        untreated=float(y[t == 1].mean() - effect),
        diagnostics=diag,
    )


def doubly_robust(
    ran: pd.DataFrame, pool: pd.DataFrame, fs: FeatureSet, outcome: str
) -> list[Estimate]:
    """Every play's AIPW estimate on `outcome`, overall, per segment and per main risk
    dimension. `ran`: the units a play ran on (column `playbook`); `pool`: units not worked."""
    y_col, seen = ("y_12m", "seen_12m") if outcome == "12m" else ("y_next", "seen_next")
    treated, control = ran[ran[seen]], pool[pool[seen]]
    if len(control) > MAX_CONTROLS:
        control = control.sample(MAX_CONTROLS, random_state=SEED)
    both = pd.concat([control, treated], ignore_index=True)
    worked = np.r_[np.zeros(len(control)), np.ones(len(treated))]
    plays = sorted(ran.playbook.unique())
    if len(treated) == 0 or len(control) == 0:
        return [
            Estimate(
                p,
                "doubly_robust",
                outcome,
                treated=int((treated.playbook == p).sum()),
                control=len(control),
                refused=f"too few: no plays run with a known outcome (need {MIN_TREATED})"
                if len(treated) == 0
                else "too few: no account left alone with a known outcome",
            )
            for p in plays
        ]
    x, origin = design(both, fs)
    y, groups = both[y_col].to_numpy(float), both.account_id.to_numpy()
    m0, contrib = control_outcome(x, y, worked, groups)
    dims = main_risk_dimension(contrib, origin, fs)
    out: list[Estimate] = []
    for play in plays:
        rows = np.flatnonzero((worked == 0) | (both.playbook == play).to_numpy())
        t = worked[rows]
        e = propensity(x[rows], t, groups[rows])
        sub = both.iloc[rows]
        subgroups = [("all", np.ones(len(rows), bool))]
        subgroups += [(f"segment={s}", (sub.segment == s).to_numpy()) for s in fs_segments(sub)]
        subgroups += [(f"risk={d}", dims[rows] == d) for d in sorted(set(dims[rows][t == 1]))]
        for name, keep in subgroups:
            truth = run_truth(sub[keep & (t == 1)], f"effect_{play}_{outcome}")
            base = {"play": play, "method": "doubly_robust", "outcome": outcome, "group": name}
            out.append(
                _one(
                    base, t[keep], y[rows][keep], m0[rows][keep], e[keep], groups[rows][keep], truth
                )
            )
    return out


def fs_segments(units: pd.DataFrame) -> list[str]:
    return sorted(units.segment.dropna().astype(str).unique())


def main_risk_dimension(contrib: np.ndarray, origin: list[str], fs: FeatureSet) -> np.ndarray:
    """Per unit, the dimension whose signals raise its predicted churn most (context, such as
    term or renewal timing, is not a dimension a play works on)."""
    dims = sorted({fs.features[f] for f in fs.signals})
    by_dim = np.zeros((contrib.shape[0], len(dims)))
    signals = set(fs.signals)
    for j, feature in enumerate(origin):
        if feature in signals:
            by_dim[:, dims.index(fs.features[feature])] += contrib[:, j]
    return np.array(dims, dtype=object)[by_dim.argmax(axis=1)]
