"""One candidate fitter and one segment router, for the health and the expansion model alike.

`fit_candidate` fits the two candidates on the training rows — an L2 logistic regression and
an Optuna-tuned LightGBM (a segment's LightGBM also learns from the other segments' rows, at a
tuned lower weight) — keeps the one with the lower validation log loss and calibrates it on the
validation rows. `guard` asks whether a segment's own model beats the global one there beyond
noise. (`models.routed.route` sends each segment to the model that scores it.)

The health model fits monthly steps with weights (`models.fitter`); the expansion model fits
as-of rows without (`models.expansion`). Both go through here, so a change to how a candidate
is chosen, calibrated or guarded is made once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnhealth.models.calibrate import calibrate
from churnhealth.models.compare import paired_comparison
from churnhealth.models.estimators import binary_log_loss, logistic
from churnhealth.models.routed import FittedModel
from churnhealth.models.tune import OnTrial, tune_lightgbm

BACKGROUND_ROWS = 500
"""Training rows kept with a fitted model: the reference its explanations are relative to."""
GUARD_RESAMPLES = 300
"""Paired bootstrap resamples (of accounts) behind a segment model's verdict."""


@dataclass
class Rows:
    """What fitting reads: one row per fitted example (a monthly step or an as-of row).

    `time`: the date calibration orders the rows by; `accounts`: each row's account, the unit
    the guard resamples; `weight`: row weights (None: every row counts once)."""

    X: pd.DataFrame
    y: np.ndarray
    train: np.ndarray
    time: pd.Series
    accounts: np.ndarray
    weight: np.ndarray | None = None
    monotone: dict[str, int] = field(default_factory=dict)
    """Column → the direction the churn score must follow as it grows (LightGBM's monotone
    constraints: -1 for a signal whose higher values are healthier, +1 for one whose lower
    values are)."""

    def w(self, rows: np.ndarray) -> np.ndarray | None:
        return None if self.weight is None else self.weight[rows]


@dataclass(kw_only=True)
class Search:
    """How the candidates are searched: Optuna trials and time budget, seed, calibration, the
    depth LightGBM may grow to (None: the tuner's default), and where trials are reported."""

    trials: int
    timeout_s: float | None
    seed: int
    calibration: str
    """"auto", "sigmoid" or "isotonic" (`train.calibration`)."""
    max_depth: int | None = None
    on_trial: OnTrial | None = None


def fit_candidate(
    name: str,
    rows: Rows,
    val: np.ndarray,
    search: Search,
    *,
    own: np.ndarray | None = None,
    params: dict | None = None,
) -> tuple[FittedModel, dict, dict]:
    """The better candidate on the validation rows `val`, calibrated there.

    `own`: the segment's rows (its LightGBM learns from the others at a tuned weight; its
    logistic regression from its own rows only); `params`: LightGBM parameters from an earlier
    search (only the number of trees is chosen again). Returns the fitted model, the LightGBM
    parameters found, and what to report: both validation losses, trials, the choice and the
    calibration method."""
    X, y, tr = rows.X, rows.y, rows.train
    fit_rows = tr if own is None else tr & own
    numeric = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
    categorical = [c for c in X.columns if c not in numeric]
    lr = logistic(numeric, categorical, search.seed).fit(
        X[fit_rows], y[fit_rows], lr__sample_weight=rows.w(fit_rows)
    )
    wv = rows.w(val)
    losses = {"logistic": binary_log_loss(y[val], lr.predict_proba(X[val])[:, 1], wv)}
    depth = {} if search.max_depth is None else {"max_depth": search.max_depth}
    gbm, found, losses["lightgbm"], trials = tune_lightgbm(
        name,
        X[tr],
        y[tr],
        X[val],
        y[val],
        trials=search.trials,
        timeout_s=search.timeout_s,
        seed=search.seed,
        own=None if own is None else own[tr],
        on_trial=search.on_trial,
        weight=rows.w(tr),
        weight_val=wv,
        params=params,
        monotone=rows.monotone,
        **depth,
    )
    kind = min(losses, key=losses.get)
    estimator = lr if kind == "logistic" else gbm
    calibrator, method = calibrate_on(estimator, rows, val, search.calibration)
    idx = np.flatnonzero(fit_rows)
    rng = np.random.default_rng(search.seed)
    sample = rng.choice(idx, min(len(idx), BACKGROUND_ROWS), False)
    model = FittedModel(
        kind=kind,
        estimator=estimator,
        calibrator=calibrator,
        calibration=method,
        background=X.iloc[np.sort(sample)],
    )
    info = {
        "val_log_loss_logistic": losses["logistic"],
        "val_log_loss_lightgbm": losses["lightgbm"],
        "trials": trials,
        "chosen": kind,
        "calibration": method,
    }
    return model, found, info


def calibrate_on(estimator, rows: Rows, where: np.ndarray, method: str):
    """Calibration of `estimator` on the rows `where`: (calibrator, method)."""
    return calibrate(
        estimator,
        rows.X[where],
        rows.y[where],
        rows.time[where],
        method,
        weight=rows.w(where),
    )


def guard(
    rows: Rows, where: np.ndarray, own: FittedModel, glob: FittedModel, seed: int
) -> dict[str, float]:
    """The segment's model minus the global one on the rows `where` (its validation rows):
    the log-loss difference with its 95% interval, resampling accounts."""
    X = rows.X[where]
    out = paired_comparison(
        rows.accounts[where],
        rows.y[where],
        own.predict_proba(X),
        glob.predict_proba(X),
        n_boot=GUARD_RESAMPLES,
        seed=seed,
        weight=rows.w(where),
    )
    return {k: v for k, v in out.items() if k.startswith("log_loss")}
