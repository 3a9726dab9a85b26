"""Optuna (TPE, seeded) search for LightGBM within a trial and time budget.

Each finished trial is reported to an optional `on_trial` callback (training logs it as a
nested MLflow run through the tracking adapter).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lightgbm import early_stopping

from churnhealth.models.estimators import binary_log_loss, lightgbm

if TYPE_CHECKING:  # imported where a search runs: scoring never needs it (0.2 s)
    import optuna

OnTrial = Callable[[str, int, dict, float], None]
"""`on_trial(model_name, trial_number, params, validation_log_loss)`."""

MAX_TREES = 1000
OTHER_WEIGHT = (0.05, 1.0)
"""Range of the weight of other segments' rows in a segment's model."""


def _space(trial: optuna.Trial, max_depth: int = 6) -> dict:
    return {
        "n_estimators": MAX_TREES,
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, min(31, 2**max_depth), log=True),
        "max_depth": trial.suggest_int("max_depth", 2, max_depth),
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 300, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "subsample_freq": 1,
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 30.0, log=True),
    }


def _early_stopped(
    params: dict,
    X: pd.DataFrame,
    y: np.ndarray,
    Xv: pd.DataFrame,
    yv: np.ndarray,
    seed: int,
    weight: np.ndarray | None,
    weight_val: np.ndarray | None = None,
    monotone: list[int] | None = None,
) -> tuple[float, int]:
    """Validation log loss at the best iteration (early stopping on the validation window)."""
    model = lightgbm(params, seed, monotone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            X,
            y,
            sample_weight=weight,
            eval_set=[(Xv, yv)],
            eval_sample_weight=None if weight_val is None else [weight_val],
            eval_metric="binary_logloss",
            callbacks=[early_stopping(30, verbose=False)],
        )
    best = max(model.best_iteration_ or params["n_estimators"], 10)
    p = model.predict_proba(Xv, num_iteration=best)[:, 1]
    return binary_log_loss(yv, p, weight_val), best


def tune_lightgbm(
    name: str,
    X: pd.DataFrame,
    y: np.ndarray,
    Xv: pd.DataFrame,
    yv: np.ndarray,
    *,
    trials: int,
    timeout_s: float,
    seed: int,
    own: np.ndarray | None = None,
    on_trial: OnTrial | None = None,
    weight: np.ndarray | None = None,
    weight_val: np.ndarray | None = None,
    params: dict | None = None,
    max_depth: int = 6,
    monotone: dict[str, int] | None = None,
):
    """Best LightGBM by validation log loss; returns (model, params, best loss, n trials).

    With `own` (the training rows of the segment being modelled), the other rows count with a
    weight that is tuned too (`other_weight`): the segment's rows drive the fit, and a small
    segment still borrows strength from the rest. `weight`, `weight_val`: row weights of the
    training and validation rows. With `params` (from an earlier search) there is no search:
    only the number of trees is chosen again, by early stopping. `max_depth` bounds the trees
    searched (and their leaves, 2^max_depth at most). `monotone`: column → direction the churn
    score must follow as it grows (-1 falls, +1 rises; from the features' declared direction).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mono = [int((monotone or {}).get(c, 0)) for c in X.columns]
    base = np.ones(len(y)) if weight is None else np.asarray(weight, float)
    if params is not None:
        fixed = {k: v for k, v in params.items() if k != "other_weight"}
        w = base if own is None else base * np.where(own, 1.0, params.get("other_weight", 1.0))
        loss, trees = _early_stopped(
            {**fixed, "n_estimators": MAX_TREES}, X, y, Xv, yv, seed, w, weight_val, mono
        )
        best = {**fixed, "n_estimators": trees}
        model = lightgbm(best, seed, mono)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(X, y, sample_weight=w)
        extra = {"other_weight": params["other_weight"]} if "other_weight" in params else {}
        return model, {**best, **extra}, loss, 0

    def weights(trial: optuna.Trial) -> tuple[dict, np.ndarray | None]:
        if own is None:
            return {}, base
        w = trial.suggest_float("other_weight", *OTHER_WEIGHT)
        return {"other_weight": w}, base * np.where(own, 1.0, w)

    def objective(trial: optuna.Trial) -> float:
        params = _space(trial, max_depth)
        extra, weight = weights(trial)
        loss, trees = _early_stopped(params, X, y, Xv, yv, seed, weight, weight_val, mono)
        trial.set_user_attr("n_estimators", trees)
        if on_trial is not None:
            on_trial(name, trial.number, {**params, **extra, "n_estimators": trees}, loss)
        return loss

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials, timeout=timeout_s)
    fixed = optuna.trial.FixedTrial(study.best_params)
    best = {**_space(fixed, max_depth), "n_estimators": study.best_trial.user_attrs["n_estimators"]}
    extra, weight = weights(fixed)
    model = lightgbm(best, seed, mono)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, sample_weight=weight)
    return model, {**best, **extra}, study.best_value, len(study.trials)
