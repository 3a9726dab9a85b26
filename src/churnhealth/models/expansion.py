"""The expansion model: the calibrated chance that an account's ARR grows by at least
`labels.expansion_threshold` within `labels.expansion_horizon_days` (a year by default), shown
as an expansion score on its own 0–100 scale, never mixed into health.

A binary classifier of as-of rows whose expansion outcome is known, fitted like the health
model's candidates: L2 logistic regression and LightGBM (Optuna), the lower validation log loss
wins, calibrated on the validation rows. Windows are cut by the date each row's outcome became
known (as-of + horizon + re-signup gap): train, then validation, then the test window the
figures are measured on, so no window learns from an outcome known after the next began. A
segment keeps a model of its own only when it beats the global one on its validation rows
beyond noise (the health model's guard). Tiers: `ready` when the probability is at least
`expansion.ready_lift` × the segment's base rate, `watch` from `expansion.watch_lift` ×.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.models.candidates import Rows, Search, calibrate_on, fit_candidate, guard
from churnhealth.models.compare import fallback_note
from churnhealth.models.estimators import design
from churnhealth.models.fitter import MIN_ROWS, TrainingData
from churnhealth.models.routed import GLOBAL, FittedModel, route
from churnhealth.models.tune import OnTrial

LABEL = "expanded_within_h"
EXPANSION_TIERS = ("ready", "watch", "not_yet")


def expansion_score(p: np.ndarray) -> np.ndarray:
    """round(100 × P(expansion)): the 0–100 expansion scale."""
    return np.rint(100 * np.asarray(p, float)).astype(int)


@dataclass(kw_only=True)
class ExpansionModel:
    """Everything scoring needs: design, per-segment calibrated models, routing, tier
    cut-offs (segment → (ready, watch) in score points), the base rates they come from."""

    numeric: list[str]
    categories: dict[str, list[str]]
    models: dict[str, FittedModel]
    routes: dict[str, str]
    cutoffs: dict[str, tuple[int, int]]
    base_rates: dict[str, float]
    horizon_days: int
    threshold: float
    info: dict = field(default_factory=dict)

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        return design(frame, self.numeric, self.categories)

    def route(self, segment: pd.Series) -> pd.Series:
        return route(segment, self.routes)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        X = self.design(frame)
        routes = self.route(frame["segment"]).to_numpy()
        p = np.empty(len(frame))
        for key in pd.unique(routes):
            rows = routes == key
            p[rows] = self.models[key].predict_proba(X[rows])
        return p

    def tiers(self, frame: pd.DataFrame, score: np.ndarray) -> np.ndarray:
        seg = frame["segment"].astype(object).to_numpy()
        out = np.full(len(frame), "not_yet", dtype=object)
        for s in pd.unique(seg):
            rows = seg == s
            ready, watch = self.cutoffs.get(s, self.cutoffs[GLOBAL])
            out[rows & (score >= watch)] = "watch"
            out[rows & (score >= ready)] = "ready"
        return out


@dataclass
class ExpansionData:
    """Rows with a known expansion outcome, their design, label and window."""

    frame: pd.DataFrame
    X: pd.DataFrame
    y: np.ndarray
    window: np.ndarray
    """"train", "val" or "test" per row, by the date its outcome became known."""
    bounds: dict[str, str]


def expansion_data(cfg: Config, data: TrainingData) -> ExpansionData:
    """The health model's rows whose expansion outcome is known, split by when it was."""
    lab = cfg.labels
    rows = data.frame[LABEL].notna().to_numpy()
    frame = data.frame[rows]
    known = frame.as_of + pd.Timedelta(days=lab.expansion_horizon_days + lab.resignup_gap_days)
    if len(frame) < 3 * MIN_ROWS:
        raise ChurnhealthError(
            f"expansion model: only {len(frame)} as-of rows have a known "
            f"{lab.expansion_horizon_days}-day expansion outcome (need {3 * MIN_ROWS}); it needs "
            f"about {(lab.expansion_horizon_days + 180) // 30} months of history"
        )
    first, last = known.min(), known.max()
    span = (last - first).days
    t2 = last - pd.Timedelta(days=min(cfg.train.test_days, span // 4))
    t1 = t2 - pd.Timedelta(days=min(cfg.train.val_days, span // 3))
    window = np.select([known <= t1, known <= t2], ["train", "val"], "test")
    y = frame[LABEL].to_numpy(int)
    for w in ("train", "val", "test"):
        n, pos = int((window == w).sum()), int(y[window == w].sum())
        if n < MIN_ROWS or pos == 0 or pos == n:
            raise ChurnhealthError(
                f"expansion model: the {w} window has {n} rows and {pos} expansions; more "
                "history is needed"
            )
    bounds = {"train_known_by": str(t1.date()), "val_known_by": str(t2.date())}
    return ExpansionData(frame, data.X[rows], y, window, bounds)


class ExpansionModelFitter:
    """Fits the expansion model (scikit-learn style): `model_`, `info_`, `notes_` after `fit`."""

    def __init__(self, *, config: Config, on_trial: OnTrial | None = None) -> None:
        self.config = config
        self.on_trial = on_trial

    def fit(self, data: ExpansionData) -> ExpansionModelFitter:
        cfg = self.config
        tr, va = data.window == "train", data.window == "val"
        seg = data.frame.segment.astype(object).to_numpy()
        self.info_: dict[str, dict] = {}
        self.notes_: list[str] = []
        examples = self._rows(data)
        glob, params = self._fit_one("global", examples, va)
        models, routes = {GLOBAL: glob}, {}
        for s in cfg.data.segments:
            rows = seg == s
            if not (va & rows).any():
                continue
            pos_tr, pos_va = int(data.y[tr & rows].sum()), int(data.y[va & rows].sum())
            if pos_va >= 20:
                glob.segment_calibrators[s] = calibrate_on(
                    glob.estimator, examples, va & rows, cfg.train.calibration
                )[0]
            if pos_tr < cfg.train.min_churners or pos_va == 0:
                self.notes_.append(
                    f"expansion, {s}: {pos_tr} expansions in training (< "
                    f"{cfg.train.min_churners}): scored by the global model"
                )
                continue
            own, _ = self._fit_one(s, examples, va & rows, own=rows, params=params)
            verdict = guard(examples, va & rows, own, glob, cfg.train.seed)
            self.info_[s]["vs_global"] = verdict
            note = fallback_note(f"expansion, {s}", verdict)
            if note is None:
                models[s], routes[s] = own, s
            else:
                self.notes_.append(note)
        base = {
            s: float(data.y[tr & (seg == s)].mean()) for s in cfg.data.segments if (seg == s).any()
        }
        base[GLOBAL] = float(data.y[tr].mean())
        e = cfg.expansion
        cut = {
            k: (math.ceil(min(99.0, 100 * e.ready_lift * r)), math.ceil(100 * e.watch_lift * r))
            for k, r in base.items()
        }
        lab = cfg.labels
        self.model_ = ExpansionModel(
            numeric=[
                c for c in data.X.columns if not isinstance(data.X[c].dtype, pd.CategoricalDtype)
            ],
            categories={
                c: list(data.X[c].cat.categories)
                for c in data.X.columns
                if isinstance(data.X[c].dtype, pd.CategoricalDtype)
            },
            models=models,
            routes=routes,
            cutoffs=cut,
            base_rates=base,
            horizon_days=lab.expansion_horizon_days,
            threshold=lab.expansion_threshold,
            info={"windows": data.bounds, "models": self.info_},
        )
        return self

    @staticmethod
    def _rows(data: ExpansionData) -> Rows:
        """The as-of rows as the candidate fitter reads them (unweighted; built once per fit)."""
        return Rows(
            X=data.X,
            y=data.y,
            train=data.window == "train",
            time=data.frame.as_of,
            accounts=data.frame.account_id.to_numpy(),
        )

    def _fit_one(
        self,
        name: str,
        rows: Rows,
        rows_va: np.ndarray,
        own: np.ndarray | None = None,
        params: dict | None = None,
    ) -> tuple[FittedModel, dict]:
        """Both candidates on the training rows; the lower log loss on `rows_va` wins and is
        calibrated there (`candidates.fit_candidate`). Segment models reuse the global
        search's parameters (`params`)."""
        cfg = self.config
        search = Search(
            trials=cfg.expansion.trials,
            timeout_s=cfg.train.tuning.timeout_s,
            seed=cfg.train.seed,
            calibration=cfg.train.calibration,
            max_depth=cfg.expansion.max_depth,
            on_trial=self.on_trial,
        )
        model, best, info = fit_candidate(
            f"expansion_{name}",
            rows,
            rows_va,
            search,
            own=own,
            params=None if params is None else {**params, "other_weight": 0.5},
        )
        fit_rows = rows.train if own is None else rows.train & own
        self.info_[name] = {
            **info,
            "train_rows": int(fit_rows.sum()),
            "train_expansions": int(rows.y[fit_rows].sum()),
        }
        return model, best
