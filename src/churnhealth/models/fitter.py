"""The fitter: from a feature table to a calibrated, segment-routed `HealthModel`.

One fitter serves `train`, the backtest (one fit per origin) and the monitor's challenger:

1. `prepare` turns a `FeatureSet` into the design matrix, labels and time splits.
2. `HealthModelFitter.fit` fits a global model and one model per segment with enough churners
   (L2 logistic regression and Optuna-tuned LightGBM, the better on validation log loss; a
   segment's LightGBM also learns from the other segments' rows at a tuned lower weight),
   calibrates each on the validation window and learns tier cut-offs there.

Nothing here talks to MLflow: tuning trials go to an `on_trial` callback.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.source import Source
from churnhealth.errors import ChurnhealthError
from churnhealth.features import CATEGORICAL, LABEL, FeatureSet
from churnhealth.features.grid import LIFECYCLE_STAGES
from churnhealth.models.calibrate import calibrate
from churnhealth.models.estimators import binary_log_loss, design, logistic
from churnhealth.models.routed import FittedModel, HealthModel
from churnhealth.models.split import Splits, time_splits
from churnhealth.models.tiers import Cutoffs, learn_cutoffs
from churnhealth.models.tune import OnTrial, tune_lightgbm
from churnhealth.progress import Stage, no_stage

MIN_ROWS = 50
"""Labelled rows each window needs before anything is fitted or judged on it."""


@dataclass
class TrainingData:
    """Everything fitting and evaluation read: features, labels, splits."""

    source: Source
    fs: FeatureSet
    frame: pd.DataFrame
    splits: Splits
    X: pd.DataFrame
    y: np.ndarray
    categories: dict[str, list[str]]
    numeric: list[str]

    def mask(self, window: str) -> np.ndarray:
        return self.splits.masks(self.frame)[window].to_numpy()

    def fingerprint(self, rows: np.ndarray | None = None) -> str:
        """A hash of the features and labels of `rows` (all rows by default): equal
        fingerprints mean a model saw the same data."""
        frame = self.frame if rows is None else self.frame.loc[rows]
        cols = [*self.fs.features, LABEL]
        return str(pd.util.hash_pandas_object(frame[cols], index=False).sum())


def check_trainable(y: np.ndarray, what: str) -> None:
    """Raise one line unless `y` holds enough labelled rows and at least one churner."""
    if len(y) < MIN_ROWS:
        raise ChurnhealthError(
            f"{what}: only {len(y)} labelled rows; need at least {MIN_ROWS} "
            "(more history, or a shorter test/validation window)"
        )
    if y.sum() == 0:
        raise ChurnhealthError(
            f"{what}: no churners among {len(y)} labelled rows, nothing to learn from"
        )


def prepare(
    cfg: Config,
    source: Source,
    fs: FeatureSet,
    splits: Splits | None = None,
    windows: tuple[str, ...] = ("train", "val", "test"),
) -> TrainingData:
    """Design matrix, labels and time splits (the configured ones unless `splits` is given);
    each of `windows` must hold labelled rows and churners."""
    frame = fs.frame.reset_index(drop=True)
    lab = cfg.labels
    splits = splits or time_splits(
        frame, lab.horizon_days, lab.resignup_gap_days, cfg.train.val_days, cfg.train.test_days
    )
    masks = splits.masks(frame)
    y_all = frame[LABEL].fillna(0).to_numpy(int)
    categories = {"segment": list(cfg.data.segments), "lifecycle_stage": list(LIFECYCLE_STAGES)}
    numeric = [f for f in fs.features if f not in CATEGORICAL]
    for part in windows:
        check_trainable(y_all[masks[part].to_numpy()], f"{part} window")
    X_all = design(frame, numeric, categories)
    return TrainingData(source, fs, frame, splits, X_all, y_all, categories, numeric)


class HealthModelFitter:
    """Fits the segment-routed health model on `TrainingData` (scikit-learn style).

    After `fit`: `model_` (the calibrated `HealthModel` with tier cut-offs), `info_` (per
    fitted model: validation losses, tuning, choice, calibration, training rows) and `notes_`
    (segments left to the global model, and why).
    """

    def __init__(
        self, *, config: Config, on_trial: OnTrial | None = None, stage: Stage = no_stage
    ) -> None:
        self.config = config
        self.on_trial = on_trial
        self.stage = stage

    def fit(self, data: TrainingData) -> HealthModelFitter:
        cfg = self.config
        tr = data.mask("train")
        seg = data.frame.segment.to_numpy()
        y = data.y
        self.info_: dict[str, dict] = {}
        self.notes_: list[str] = []
        models: dict[str, FittedModel] = {}
        routes: dict[str, str] = {}
        advance = self.stage("fitting models", len(cfg.data.segments) + 1)
        models[HealthModel.GLOBAL] = self._fit_one("global", data, data.mask("val"))
        advance()
        for s in cfg.data.segments:
            rows = seg == s
            churners = int(y[tr & rows].sum())
            if churners >= cfg.train.min_churners and y[data.mask("val") & rows].sum() > 0:
                models[s] = self._fit_one(s, data, data.mask("val") & rows, own=rows)
                routes[s] = s
            else:
                routes[s] = HealthModel.GLOBAL
                self.notes_.append(
                    f"{s}: {churners} churners in training (< {cfg.train.min_churners}): "
                    "scored by the global model"
                )
            advance()
        self.model_ = HealthModel(
            numeric=data.numeric,
            categories=data.categories,
            dimensions=data.fs.features,
            models=models,
            routes=routes,
            context=[f for f in data.fs.context if f in data.fs.features],
            horizon_days=cfg.labels.horizon_days,
            metadata={
                "splits": data.splits.describe(),
                "trained_at": dt.datetime.now().isoformat(),
                "data_end": str(data.fs.data_end.date()),
                "definitions": data.fs.definitions,
            },
        )
        done = self.stage("calibration and tiers", 1)
        self.model_.cutoffs = self._cutoffs(data)
        done()
        return self

    def _fit_one(
        self, name: str, data: TrainingData, rows_va: np.ndarray, own: np.ndarray | None = None
    ) -> FittedModel:
        """Fit both candidates on the training window, keep the better on `rows_va` (the
        model's own validation rows) and calibrate it there."""
        cfg = self.config
        tr = data.mask("train")
        X, y = data.X, data.y
        Xt, yt, Xv, yv = X[tr], y[tr], X[rows_va], y[rows_va]
        mine = tr if own is None else tr & own
        numeric = [c for c in X.columns if not isinstance(X[c].dtype, pd.CategoricalDtype)]
        categorical = [c for c in X.columns if c not in numeric]
        own_tr = None if own is None else own[tr]
        fit_rows = slice(None) if own_tr is None else own_tr
        lr = logistic(numeric, categorical, cfg.train.seed).fit(Xt[fit_rows], yt[fit_rows])
        losses = {"logistic": binary_log_loss(yv, lr.predict_proba(Xv)[:, 1])}
        tune = cfg.train.tuning
        gbm, params, losses["lightgbm"], trials = tune_lightgbm(
            name,
            Xt,
            yt,
            Xv,
            yv,
            trials=tune.trials,
            timeout_s=tune.timeout_s,
            seed=cfg.train.seed,
            own=own_tr,
            on_trial=self.on_trial,
        )
        kind = min(losses, key=losses.get)
        estimator = lr if kind == "logistic" else gbm
        cal, method = calibrate(estimator, Xv, yv, data.frame.as_of[rows_va], cfg.train.calibration)
        self.info_[name] = {
            "val_log_loss_logistic": losses["logistic"],
            "val_log_loss_lightgbm": losses["lightgbm"],
            "trials": trials,
            "lightgbm_params": params,
            "chosen": kind,
            "calibration": method,
            "train_rows": int(mine.sum()),
            "train_churners": int(y[mine].sum()),
        }
        idx = np.flatnonzero(mine)
        sample = np.random.default_rng(cfg.train.seed).choice(idx, min(len(idx), 500), False)
        return FittedModel(
            kind=kind,
            estimator=estimator,
            calibrator=cal,
            calibration=method,
            background=X.iloc[np.sort(sample)],
        )

    def _cutoffs(self, data: TrainingData) -> dict[str, Cutoffs]:
        """Tier cut-offs per segment and for the global model, on the validation window."""
        va = data.mask("val")
        p, y = self.model_.predict_proba(data.frame[va]), data.y[va]
        seg = data.frame.segment.to_numpy()[va]
        tiers = self.config.tiers
        out = {}
        for s in [*self.config.data.segments, HealthModel.GLOBAL]:
            rows = seg == s if s != HealthModel.GLOBAL else np.ones(len(y), bool)
            if tiers.fixed is not None:
                out[s] = Cutoffs(*[int(v) for v in tiers.fixed], source="fixed")
            else:
                out[s] = learn_cutoffs(
                    y[rows],
                    p[rows],
                    tiers.recall_at_risk,
                    tiers.recall_critical,
                    tiers.recall_healthy,
                )
        return out
