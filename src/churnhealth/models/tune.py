"""Optuna (TPE, seeded) search for LightGBM: a number of trials, optionally within a time budget.

Each finished trial is reported to an optional `on_trial` callback (training logs it as a
nested MLflow run through the tracking adapter).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from lightgbm import Booster, Dataset, early_stopping, record_evaluation
from lightgbm import train as boost

from churnhealth.models.estimators import BoostedTrees, binary_log_loss, booster_params, lightgbm

if TYPE_CHECKING:  # imported where a search runs: scoring never needs it (0.2 s)
    import optuna

OnTrial = Callable[[str, int, dict, float], None]
"""`on_trial(model_name, trial_number, params, validation_log_loss)`."""

MAX_TREES = 1000
MIN_TREES = 10
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


class _Trials:
    """One search's training and validation rows as LightGBM Datasets, binned once: a trial
    changes only the parameters and the training rows' weights. Each trial trains exactly what
    `lightgbm(params, seed, monotone).fit(...)` would (the scikit-learn wrapper's parameters,
    the same bins), and its validation loss is LightGBM's record of every iteration, so the
    validation rows are never scored again. The best trial's booster is the model: it is not
    trained again."""

    def __init__(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        Xv: pd.DataFrame,
        yv: np.ndarray,
        *,
        seed: int,
        weight_val: np.ndarray | None,
        monotone: list[int],
    ) -> None:
        self.seed, self.monotone = seed, monotone
        base = booster_params(lightgbm({}, seed))
        self.train = Dataset(X, y, params=base).construct()
        self.val = Dataset(Xv, yv, weight=weight_val, reference=self.train, params=base).construct()

    def _boost(self, params: dict, weight: np.ndarray, **validation) -> Booster:
        """`params["n_estimators"]` rounds of the wrapper's parameters on the training rows
        weighted by `weight`."""
        # set_field, not set_weight: the latter skips weights that are all one and would leave
        # the previous trial's in place
        self.train.set_field("weight", np.asarray(weight, np.float32))
        return boost(
            booster_params(lightgbm(params, self.seed, self.monotone)),
            self.train,
            num_boost_round=params["n_estimators"],
            **validation,
        )

    def early_stopped(self, params: dict, weight: np.ndarray) -> Trial:
        """Trained with early stopping on the validation window (`Trial`)."""
        history: dict = {}
        booster = self._boost(
            params,
            weight,
            valid_sets=[self.val],
            valid_names=["val"],
            callbacks=[early_stopping(30, verbose=False), record_evaluation(history)],
        )
        losses = history["val"]["binary_logloss"]
        best = max(booster.best_iteration or len(losses), MIN_TREES)
        # the booster keeps the trees up to its best iteration: the model itself when that is
        # at least MIN_TREES
        kept = booster if booster.num_trees() == best else None
        return Trial(float(losses[min(best, len(losses)) - 1]), best, kept)

    def trained(self, params: dict, weight: np.ndarray) -> Booster:
        """`params["n_estimators"]` trees on the training rows, without early stopping."""
        return self._boost(params, weight)


@dataclass(frozen=True)
class Trial:
    """One trial: the validation log loss at the best iteration, that number of trees (at
    least `MIN_TREES`), and the booster of exactly those trees (None when early stopping kept
    fewer: the model is then trained again)."""

    loss: float
    trees: int
    booster: Booster | None


def tune_lightgbm(
    name: str,
    X: pd.DataFrame,
    y: np.ndarray,
    Xv: pd.DataFrame,
    yv: np.ndarray,
    *,
    trials: int,
    timeout_s: float | None,
    seed: int,
    own: np.ndarray | None = None,
    on_trial: OnTrial | None = None,
    weight: np.ndarray | None = None,
    weight_val: np.ndarray | None = None,
    params: dict | None = None,
    max_depth: int = 6,
    monotone: dict[str, int] | None = None,
):
    """Best LightGBM by validation log loss; returns (model, params, best loss, n trials). The
    model (`BoostedTrees`) is the best trial's booster, cut at its best iteration: the trees
    `lightgbm(params).fit` would grow again on the same rows.

    `trials` trials, ended early after `timeout_s` seconds when it is given (a budget makes the
    model depend on the machine's speed and load; None: the trial count alone decides).

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
    runs = _Trials(X, y, Xv, yv, seed=seed, weight_val=weight_val, monotone=mono)

    def rows_weighted(other: float) -> np.ndarray:
        """The training rows' weights, the other segments' rows counting `other`."""
        return base if own is None else base * np.where(own, 1.0, other)

    def weights(trial: optuna.Trial | optuna.trial.FixedTrial) -> tuple[dict, np.ndarray]:
        if own is None:
            return {}, base
        w = trial.suggest_float("other_weight", *OTHER_WEIGHT)
        return {"other_weight": w}, rows_weighted(w)

    if params is not None:
        fixed = {k: v for k, v in params.items() if k != "other_weight"}
        extra = {"other_weight": params["other_weight"]} if "other_weight" in params else {}
        w = rows_weighted(extra.get("other_weight", 1.0))
        chosen = runs.early_stopped({**fixed, "n_estimators": MAX_TREES}, w)
        best, n_trials, booster = {**fixed, "n_estimators": chosen.trees}, 0, chosen.booster
    else:
        kept: dict[int, Trial] = {}  # only the best trial so far: a booster is MBs

        def objective(trial: optuna.Trial) -> float:
            params = _space(trial, max_depth)
            extra, weight = weights(trial)
            done = runs.early_stopped(params, weight)
            trial.set_user_attr("n_estimators", done.trees)
            if all(done.loss < t.loss for t in kept.values()):
                kept.clear()
                kept[trial.number] = done
            if on_trial is not None:
                tried = {**params, **extra, "n_estimators": done.trees}
                on_trial(name, trial.number, tried, done.loss)
            return done.loss

        sampler = optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        study.optimize(objective, n_trials=trials, timeout=timeout_s)
        fixed_trial = optuna.trial.FixedTrial(study.best_params)
        trees = study.best_trial.user_attrs["n_estimators"]
        best = {**_space(fixed_trial, max_depth), "n_estimators": trees}
        n_trials = len(study.trials)
        extra, w = weights(fixed_trial)
        # absent only if Optuna broke a tie the other way: trained again, the same trees
        booster = kept[n].booster if (n := study.best_trial.number) in kept else None
    model = BoostedTrees(booster or runs.trained(best, w))
    # scored once, by the criterion the candidates share
    loss = binary_log_loss(yv, model.predict_proba(Xv)[:, 1], weight_val)
    return model, {**best, **extra}, loss, n_trials
