"""The segment-routed health model: one calibrated model per segment, a global fallback.

`HealthModel` holds everything scoring needs — feature spec, per-segment calibrated models,
routing and tier cut-offs — and travels as one MLflow pyfunc model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mlflow.pyfunc
import numpy as np
import pandas as pd

from churnhealth.drift import Reference
from churnhealth.models.estimators import design
from churnhealth.models.tiers import Cutoffs, health_score


@dataclass
class FittedModel:
    """A fitted candidate and its calibration.

    `uses_segment`: the model reads the segment column (every model since segment models also
    learn from the other segments; segment models registered before did not).
    """

    kind: str
    estimator: object
    calibrator: object
    calibration: str
    uses_segment: bool
    background: pd.DataFrame | None = None
    """A sample of training rows: the reference that explanations are relative to."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        cols = X if self.uses_segment else X.drop(columns=["segment"], errors="ignore")
        return self.calibrator.predict_proba(cols)[:, 1]

    def raw_input(self, X: pd.DataFrame) -> pd.DataFrame:
        return X if self.uses_segment else X.drop(columns=["segment"], errors="ignore")


@dataclass
class HealthModel:
    """Routes each account to its segment's model; scores health, tier and probability."""

    numeric: list[str]
    categories: dict[str, list[str]]
    dimensions: dict[str, str]
    models: dict[str, FittedModel]
    """Segment name → its own model, plus "__global__"."""
    routes: dict[str, str]
    """Segment name → key in `models` used to score it."""
    cutoffs: dict[str, Cutoffs]
    horizon_days: int = 90
    metadata: dict = field(default_factory=dict)
    reference: Reference | None = None
    """What the model saw at training time, for drift monitoring (None in older models)."""

    GLOBAL = "__global__"

    @property
    def input_columns(self) -> list[str]:
        return [*self.numeric, *self.categories]

    def check_input(self, frame: pd.DataFrame) -> None:
        from churnhealth.errors import ChurnhealthError

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

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        p = self.predict_proba(frame)
        health = health_score(p)
        tier = np.empty(len(frame), dtype=object)
        seg = frame["segment"].to_numpy()
        for s in np.unique(seg):
            rows = seg == s
            cut = self.cutoffs.get(s) or self.cutoffs[self.GLOBAL]
            tier[rows] = cut.tier(health[rows])
        return pd.DataFrame(
            {
                "churn_probability": p,
                "health_score": health,
                "tier": tier,
                "model": self.route(frame["segment"]).to_numpy(),
            },
            index=frame.index,
        )


class HealthPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: predict(features) → churn_probability, health_score, tier, model."""

    def load_context(self, context) -> None:
        import joblib

        self.model: HealthModel = joblib.load(context.artifacts["health_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.score(model_input)


def load_health_model(pyfunc_model) -> HealthModel:
    """The HealthModel inside a loaded MLflow pyfunc model."""
    return pyfunc_model.unwrap_python_model().model
