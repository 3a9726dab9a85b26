"""The segment-routed health model: one calibrated model per segment, a global fallback.

`HealthModel` holds everything scoring needs — feature spec, per-segment calibrated models,
routing, tier cut-offs and the metric definitions its features come from — and travels inside
one MLflow model (see `churnhealth.tracking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from churnhealth.errors import ChurnhealthError
from churnhealth.features.spec import check_metrics
from churnhealth.models.estimators import design
from churnhealth.models.tiers import Cutoffs, health_score

if TYPE_CHECKING:
    from churnhealth.evaluation.drift import Reference


@dataclass(kw_only=True)
class FittedModel:
    """A fitted candidate and its calibration."""

    kind: str
    """"logistic" or "lightgbm"."""
    estimator: object
    calibrator: object
    calibration: str
    """"sigmoid" or "isotonic"."""
    uses_segment: bool = True
    """The model reads the segment column (every model since segment models also learn from
    the other segments; segment models registered before did not)."""
    background: pd.DataFrame | None = None
    """A sample of training rows: the reference that explanations are relative to."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator.predict_proba(self.raw_input(X))[:, 1]

    def raw_input(self, X: pd.DataFrame) -> pd.DataFrame:
        return X if self.uses_segment else X.drop(columns=["segment"], errors="ignore")


@dataclass(kw_only=True)
class HealthModel:
    """Routes each account to its segment's model; scores health, tier and probability."""

    numeric: list[str]
    categories: dict[str, list[str]]
    dimensions: dict[str, str]
    """Feature → the dimension it rolls up to."""
    models: dict[str, FittedModel]
    """Segment name → its own model, plus "__global__"."""
    routes: dict[str, str]
    """Segment name → key in `models` used to score it."""
    cutoffs: dict[str, Cutoffs] = field(default_factory=dict)
    horizon_days: int = 90
    metadata: dict = field(default_factory=dict)
    """splits, trained_at, data_end, definitions (the metric definitions), test_metrics."""
    context: list[str] = field(default_factory=list)
    """Input features that are context (renewal timing, term, size…), not signals a CSM can
    act on: explanations report them apart from the drivers."""
    reference: Reference | None = None
    """What the model saw at training time, for drift monitoring (None in older models)."""

    GLOBAL = "__global__"

    @property
    def input_columns(self) -> list[str]:
        return [*self.numeric, *self.categories]

    def metrics(self, segments: list[str]) -> list:
        """The metric definitions the model was trained with (they travel inside it)."""
        return check_metrics(self.metadata["definitions"], segments, "model")

    def check_input(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.input_columns if c not in frame.columns]
        if missing:
            raise ChurnhealthError(
                f"model input: missing feature columns {', '.join(missing[:8])}"
                + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
                + " (the model was trained on a different feature spec)"
            )

    def design(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.check_input(frame)
        return design(frame, self.numeric, self.categories)

    def route(self, segments: pd.Series) -> pd.Series:
        return segments.map(self.routes).fillna(self.GLOBAL)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        X = self.design(frame)
        p = np.full(len(X), np.nan)
        routes = self.route(frame["segment"]).to_numpy()
        for key in np.unique(routes):
            rows = routes == key
            p[rows] = self.models[key].predict_proba(X[rows])
        return p

    def tiers(self, frame: pd.DataFrame, health: np.ndarray) -> np.ndarray:
        """Tiers from the model's own cut-offs per segment (the global ones for others)."""
        tier = np.empty(len(frame), dtype=object)
        seg = frame["segment"].to_numpy()
        for s in np.unique(seg):
            rows = seg == s
            cut = self.cutoffs.get(s) or self.cutoffs[self.GLOBAL]
            tier[rows] = cut.tier(health[rows])
        return tier

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """churn_probability, health_score, tier (model cut-offs) and the model that scored."""
        p = self.predict_proba(frame)
        health = health_score(p)
        return pd.DataFrame(
            {
                "churn_probability": p,
                "health_score": health,
                "tier": self.tiers(frame, health),
                "model": self.route(frame["segment"]).to_numpy(),
            },
            index=frame.index,
        )
