"""The fitter: from a feature table to a calibrated, segment-routed `HealthModel`.

One fitter serves `train`, the backtest (one fit per origin) and the monitor's challenger:

1. `prepare` turns a `FeatureSet` into monthly steps (`models.hazard`: one row per account,
   as-of date and month after it whose outcome was known) with their time windows (`models.split`).
2. `HealthModelFitter.fit` fits hazard models — a global one and one per segment with enough
   churners — each the better on validation log loss of an L2 logistic regression and an
   Optuna-tuned LightGBM (a segment's LightGBM also learns from the other segments' rows at a
   tuned lower weight), calibrated on the validation steps. A segment keeps its own model only
   when it beats the global one on the segment's validation steps beyond noise (the upper end
   of the paired bootstrap interval of the log-loss difference below zero); on a small window
   the global model is the safer choice.
3. Tier cut-offs come from the calibrated probabilities themselves (see `models.tiers`): health
   is a year-ahead probability, whose outcomes are not known for the latest months.

Quiet steps (no renewal decision, no churn: most months of an annual contract) are subsampled
to a quarter and weighted by four, which keeps the estimates unbiased at a third of the rows.

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
from churnhealth.features.spec import directions
from churnhealth.models import hazard
from churnhealth.models.candidates import Rows, Search, calibrate_on, fit_candidate, guard
from churnhealth.models.compare import fallback_note
from churnhealth.models.estimators import design
from churnhealth.models.routed import FittedModel, HealthModel
from churnhealth.models.split import Splits, time_splits
from churnhealth.models.tiers import Cutoffs, expected_cutoffs
from churnhealth.models.tune import OnTrial
from churnhealth.progress import Stage, no_stage

MIN_ROWS = 50
"""Labelled rows (or steps) each window needs before anything is fitted or judged on it."""
MIN_CALIBRATION_CHURNS = 50
"""Churned validation steps a segment needs for its own calibration of the global model."""
QUIET_SHARE = 0.25
"""Share of quiet steps (no renewal decision, no churn) kept; each counts 1 / QUIET_SHARE."""
NOT_INPUTS = ("renewals_in_horizon",)
"""Grid columns the hazard model does not read: the steps carry the renewal exposure."""


@dataclass
class TrainingData:
    """Everything fitting and evaluation read: as-of rows with their labels, the monthly steps
    fitted on, and the splits.

    `frame`, `X`, `y`: one row per account and as-of date (features, design, label within
    `labels.horizon_days`). `steps`: the known steps (`row` in `frame`, step index, exposure,
    `end`, `churned_in_step`, `window` "train" or "val", `weight`); `Xs` their design.
    """

    source: Source
    fs: FeatureSet
    frame: pd.DataFrame
    splits: Splits
    X: pd.DataFrame
    y: np.ndarray
    categories: dict[str, list[str]]
    numeric: list[str]
    steps: pd.DataFrame
    Xs: pd.DataFrame

    def mask(self, window: str) -> np.ndarray:
        """As-of rows of a window: "test" (matured label, after the validation window), or
        "train"/"val" (rows with a step in that window)."""
        if window == "test":
            return self.splits.test_rows(self.frame).to_numpy()
        out = np.zeros(len(self.frame), bool)
        out[self.steps.row.to_numpy()[self.step_mask(window)]] = True
        return out

    def step_mask(self, window: str) -> np.ndarray:
        return self.steps.window.to_numpy() == window

    def windows(self) -> dict[str, dict]:
        """First and last as-of date, rows (and steps, churned steps) used in each window."""
        out = {}
        for name in ("train", "val", "test"):
            dates = self.frame.as_of[self.mask(name)]
            out[name] = {
                "first": str(dates.min().date()) if len(dates) else None,
                "last": str(dates.max().date()) if len(dates) else None,
                "rows": len(dates),
            }
            if name != "test":
                m = self.step_mask(name)
                out[name]["steps"] = int(m.sum())
                out[name]["churned_steps"] = int(self.steps.churned_in_step.to_numpy()[m].sum())
        return out

    def fingerprint(self, rows: np.ndarray | None = None) -> str:
        """A hash of the features and labels of `rows` (all rows by default): equal
        fingerprints mean a model saw the same data."""
        frame = self.frame if rows is None else self.frame.loc[rows]
        cols = [*self.fs.features, LABEL, "churn_after"]
        return str(pd.util.hash_pandas_object(frame[cols], index=False).sum())


def check_trainable(y: np.ndarray, what: str, unit: str = "labelled rows") -> None:
    """Raise one line unless `y` holds enough rows and at least one churner."""
    if len(y) < MIN_ROWS:
        raise ChurnhealthError(
            f"{what}: only {len(y)} {unit}; need at least {MIN_ROWS} "
            "(more history, or a shorter test/validation window)"
        )
    if y.sum() == 0:
        raise ChurnhealthError(f"{what}: no churners among {len(y)} {unit}, nothing to learn from")


def too_few_for_own_model(train_churned: int, val_churned: int, cfg: Config) -> str | None:
    """Why a segment with these churned training and validation steps cannot have a model of
    its own (None when it can; it must then still beat the global model beyond noise)."""
    if train_churned < cfg.train.min_churners:
        return f"{train_churned} churners in training (< {cfg.train.min_churners})"
    if val_churned == 0:
        return "no churners in validation"
    return None


def prepare(
    cfg: Config,
    source: Source,
    fs: FeatureSet,
    splits: Splits | None = None,
    windows: tuple[str, ...] = ("train", "val", "test"),
) -> TrainingData:
    """As-of rows, monthly steps and time splits (sized from the data unless `splits` is
    given); each of `windows` must hold rows and churners."""
    frame = fs.frame.reset_index(drop=True)
    lab = cfg.labels
    splits = splits or time_splits(
        frame, lab.horizon_days, lab.resignup_gap_days, cfg.train.val_days, cfg.train.test_days
    )
    y_all = frame[LABEL].fillna(0).to_numpy(int)
    categories = {"segment": list(cfg.data.segments), "lifecycle_stage": list(LIFECYCLE_STAGES)}
    numeric = [f for f in fs.features if f not in CATEGORICAL and f not in NOT_INPUTS]
    X_all = design(frame, numeric, categories)
    pp = hazard.person_period(frame, frame.churn_after, splits.t2, lab.resignup_gap_days)
    pp["window"] = splits.step_window(pp.end.to_numpy())
    pp = pp[pp.window != ""]
    quiet = ((pp.decisions_in_step == 0) & (pp.churned_in_step == 0)).to_numpy()
    keep = ~quiet | (np.random.default_rng(cfg.train.seed).random(len(pp)) < QUIET_SHARE)
    pp = pp[keep].reset_index(drop=True)
    pp["weight"] = np.where(quiet[keep], 1 / QUIET_SHARE, 1.0)
    Xs = X_all.iloc[pp.row.to_numpy()].reset_index(drop=True)
    for c in hazard.STEP_FEATURES:
        Xs[c] = pp[c].to_numpy()
    data = TrainingData(source, fs, frame, splits, X_all, y_all, categories, numeric, pp, Xs)
    for part in windows:
        if part == "test":
            check_trainable(y_all[data.mask("test")], "test window")
        else:
            ys = pp.churned_in_step.to_numpy()[data.step_mask(part)]
            check_trainable(ys, f"{part} window", "monthly steps")
    return data


class HealthModelFitter:
    """Fits the segment-routed hazard model on `TrainingData` (scikit-learn style).

    `params`: LightGBM parameters per model name from an earlier search (`info_[name]
    ["lightgbm_params"]`); those models skip the search and only choose their number of trees.
    After `fit`: `model_` (the calibrated `HealthModel` with tier cut-offs), `info_` (per
    fitted model: validation losses, tuning, choice, calibration, training steps, the segment
    guard) and `notes_` (segments left to the global model, and why).
    """

    def __init__(
        self,
        *,
        config: Config,
        on_trial: OnTrial | None = None,
        stage: Stage = no_stage,
        params: dict[str, dict] | None = None,
    ) -> None:
        self.config = config
        self.on_trial = on_trial
        self.stage = stage
        self.params = params

    def fit(self, data: TrainingData) -> HealthModelFitter:
        cfg = self.config
        tr, va = data.step_mask("train"), data.step_mask("val")
        steps = data.steps
        seg = data.frame.segment.to_numpy()[steps.row.to_numpy()]
        y = steps.churned_in_step.to_numpy()
        self.info_: dict[str, dict] = {}
        self.notes_: list[str] = []
        models: dict[str, FittedModel] = {}
        routes: dict[str, str] = {}
        advance = self.stage("fitting models", len(cfg.data.segments) + 1)
        examples = self._rows(data)
        glob = self._fit_one("global", examples, va)
        models[HealthModel.GLOBAL] = glob
        advance()
        for s in cfg.data.segments:
            rows = seg == s
            churners = int(y[tr & rows].sum())
            routes[s] = HealthModel.GLOBAL
            if y[va & rows].sum() >= MIN_CALIBRATION_CHURNS:
                glob.segment_calibrators[s] = calibrate_on(
                    glob.estimator, examples, va & rows, cfg.train.calibration
                )[0]
            too_few = too_few_for_own_model(churners, int(y[va & rows].sum()), cfg)
            if too_few:
                self.notes_.append(f"{s}: {too_few}: scored by the global model")
            else:
                own = self._fit_one(s, examples, va & rows, own=rows)
                verdict = guard(examples, va & rows, own, glob, cfg.train.seed)
                self.info_[s]["vs_global"] = verdict
                note = fallback_note(s, verdict, f" on {int((va & rows).sum()):,} validation steps")
                if note is None:
                    models[s], routes[s] = own, s
                else:
                    self.notes_.append(note)
                self.info_[s]["routed"] = routes[s] == s
            advance()
        lab = cfg.labels
        self.model_ = HealthModel(
            numeric=data.numeric,
            categories=data.categories,
            dimensions=data.fs.features,
            models=models,
            routes=routes,
            context=[f for f in data.fs.context if f in data.fs.features],
            horizon_days=lab.health_horizon_days,
            label_days=lab.horizon_days,
            metadata={
                "splits": data.splits.describe(),
                "trained_at": dt.datetime.now().isoformat(),
                "data_end": str(data.fs.data_end.date()),
                "definitions": data.fs.definitions,
            },
        )
        done = self.stage("tiers", 1)
        self.model_.cutoffs = self._cutoffs(data)
        done()
        return self

    def _rows(self, data: TrainingData) -> Rows:
        """The monthly steps as the candidate fitter reads them (built once per fit), with the
        signals' declared directions as constraints on the churn score (`train.monotone`)."""
        steps = data.steps
        healthier = directions(data.fs.definitions) if self.config.train.monotone else {}
        return Rows(
            monotone={c: -sign for c, sign in healthier.items() if c in data.Xs.columns},
            X=data.Xs,
            y=steps.churned_in_step.to_numpy(),
            train=data.step_mask("train"),
            time=steps.end,
            accounts=data.frame.account_id.to_numpy()[steps.row.to_numpy()],
            weight=steps.weight.to_numpy(),
        )

    def _fit_one(
        self,
        name: str,
        rows: Rows,
        rows_va: np.ndarray,
        own: np.ndarray | None = None,
    ) -> FittedModel:
        """Fit both candidates on the training steps, keep the better on `rows_va` (the
        model's own validation steps) and calibrate it there (`candidates.fit_candidate`)."""
        cfg = self.config
        search = Search(
            trials=cfg.train.tuning.trials,
            timeout_s=cfg.train.tuning.timeout_s,
            seed=cfg.train.seed,
            calibration=cfg.train.calibration,
            on_trial=self.on_trial,
        )
        params = (self.params or {}).get(name)
        model, found, info = fit_candidate(name, rows, rows_va, search, own=own, params=params)
        mine = rows.train if own is None else rows.train & own
        self.info_[name] = {
            **info,
            "lightgbm_params": found,
            "train_steps": int(mine.sum()),
            "train_churned_steps": int(rows.y[mine].sum()),
            "train_accounts": len(pd.unique(rows.accounts[mine])),
        }
        return model

    def _cutoffs(self, data: TrainingData) -> dict[str, Cutoffs]:
        """Tier cut-offs per segment and for the global model, from the calibrated
        probabilities of the as-of rows of the validation window (`expected_cutoffs`)."""
        va = data.mask("val") & (data.frame.as_of > data.splits.t1).to_numpy()
        if not va.any():
            va = data.mask("val")
        frame = data.frame[va]
        p = self.model_.predict_proba(frame, self.model_.horizon_days)
        seg = frame.segment.to_numpy()
        tiers = self.config.tiers
        out = {}
        for s in [*self.config.data.segments, HealthModel.GLOBAL]:
            rows = seg == s if s != HealthModel.GLOBAL else np.ones(len(p), bool)
            if tiers.fixed is not None:
                out[s] = Cutoffs(*[int(v) for v in tiers.fixed], source="fixed")
            else:
                out[s] = expected_cutoffs(
                    p[rows], tiers.recall_at_risk, tiers.recall_critical, tiers.recall_healthy
                )
        return out
