"""The segment-routed health model: one calibrated hazard model per segment, a global fallback.

Each fitted model estimates the monthly hazard (the chance of leaving in a month, given the
account was there at its start) from the as-of features and the month's contract exposure (see
`models.hazard`); the churn curve over the next 12 months follows. Health reads the curve at
`horizon_days` (365 by default: "the chance we still have this account a year from now"); the
same curve gives the 90-day probability and the chance of leaving at the next renewal decision.

`HealthModel` holds everything scoring needs — feature spec, per-segment calibrated models,
routing, tier cut-offs and the metric definitions its features come from. What is measured
about it after `fit` (test figures, drift reference, verdicts) and the expansion model trained
beside it are not part of it: `evaluation.bundle.ModelBundle` holds them together, and that
bundle travels inside one MLflow model (see `churnhealth.tracking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnhealth.errors import ChurnhealthError
from churnhealth.features.spec import check_metrics
from churnhealth.models import hazard
from churnhealth.models.estimators import design
from churnhealth.models.tiers import Cutoffs, health_score

GLOBAL = "__global__"
"""The key of the model that scores every segment without a model of its own."""


def route(segments: pd.Series, routes: dict[str, str]) -> pd.Series:
    """The model key scoring each row: its segment's own model, else the global one (the
    health and the expansion model route alike)."""
    keys = segments.astype(object).map(routes).astype(object)
    return keys.where(keys.notna(), GLOBAL)


@dataclass(kw_only=True)
class FittedModel:
    """A fitted candidate and its calibration."""

    kind: str
    """"logistic" or "lightgbm": a classifier of monthly steps (the hazard)."""
    estimator: object
    calibrator: object
    calibration: str
    """"sigmoid" or "isotonic"."""
    uses_segment: bool = True
    """The model reads the segment column (every model since segment models also learn from
    the other segments; segment models registered before did not)."""
    background: pd.DataFrame | None = None
    """A sample of training steps: the reference that explanations are relative to."""
    segment_calibrators: dict[str, object] = field(default_factory=dict)
    """Segment → its own calibration of this model's raw score (the global model, for the
    segments it scores, is calibrated on each one's validation steps)."""

    def calibrator_for(self, segment: str | None) -> object:
        return self.segment_calibrators.get(segment, self.calibrator)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        Xr = self.raw_input(X)
        if not self.segment_calibrators or "segment" not in X:
            return self.calibrator.predict_proba(Xr)[:, 1]
        p = np.empty(len(X))
        seg = X["segment"].astype(object).to_numpy()
        for s in pd.unique(seg):
            rows = seg == s
            p[rows] = self.calibrator_for(s).predict_proba(Xr[rows])[:, 1]
        return p

    def calibrated(self, raw: np.ndarray, segment: str | None = None) -> np.ndarray:
        """The calibrated probability of raw scores (LightGBM's margin, the logistic model's
        decision function), under the segment's calibration."""
        inner = self.calibrator_for(segment).calibrated_classifiers_[0]
        return inner.calibrators[0].predict(np.asarray(raw, float))

    def raw_input(self, X: pd.DataFrame) -> pd.DataFrame:
        return X if self.uses_segment else X.drop(columns=["segment"], errors="ignore")

    def split_points(self, columns: tuple[str, ...]) -> dict[str, np.ndarray] | None:
        """Per column, the sorted thresholds at which the LightGBM trees split on it (empty
        when none does); None for the logistic model, for which every value counts.

        Two inputs whose values of a column fall between the same thresholds take the same
        branch at every split on it."""
        if self.kind != "lightgbm":
            return None
        dump = self.estimator.booster_.dump_model()
        names = dump["feature_names"]
        points: dict[int, set[float]] = {names.index(c): set() for c in columns if c in names}
        nodes = [t["tree_structure"] for t in dump["tree_info"]]
        while nodes:
            node = nodes.pop()
            if "split_feature" in node:
                if node["split_feature"] in points:
                    points[node["split_feature"]].add(float(node["threshold"]))
                nodes += [node["left_child"], node["right_child"]]
        found = {names[i]: np.array(sorted(v)) for i, v in points.items()}
        return {c: found.get(c, np.array([])) for c in columns}

    def distinct_steps(self, Xs: pd.DataFrame, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The step rows the model must see, and for each step row the one that stands for it.

        The months of one account differ only in their exposure columns. Where those fall
        between the same split thresholds of every tree, the rows take the same branch at every
        node: their predictions and their TreeSHAP values are equal, so computing them once per
        distinct row is exact (an annual account has a handful of distinct months, not twelve).
        `Xs` is step-major with `n` accounts (`hazard.step_design`). For the logistic model
        every row is distinct."""
        splits = self.split_points(hazard.STEP_FEATURES)
        if splits is None:
            return np.arange(len(Xs)), np.arange(len(Xs))
        codes = np.arange(len(Xs), dtype=np.int64) % max(n, 1)  # the account
        scale = np.int64(max(n, 1))
        for column, points in splits.items():
            codes = codes + scale * np.searchsorted(points, Xs[column].to_numpy(), side="left")
            scale *= len(points) + 1
        _, first, copies = np.unique(codes, return_index=True, return_inverse=True)
        return first, copies


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
    horizon_days: int = 365
    """Health = 100 × (1 − P(churn within this many days))."""
    label_days: int = 90
    """The label's horizon: `predict_proba` answers it, evaluation judges by it."""
    steps: int = hazard.STEPS
    """Months of the churn curve."""
    metadata: dict = field(default_factory=dict)
    """splits, trained_at, data_end, definitions (the metric definitions): set by `fit`."""
    context: list[str] = field(default_factory=list)
    """Input features that are context (renewal timing, term, size…), not signals a CSM can
    act on: explanations report them apart from the drivers."""

    GLOBAL = GLOBAL

    @property
    def input_columns(self) -> list[str]:
        """The features (numeric and categorical) the fitted models read."""
        return [*self.numeric, *self.categories]

    @property
    def required_columns(self) -> list[str]:
        """Scoring input: the features, plus the dates the contract exposure comes from."""
        extra = [c for c in hazard.EXPOSURE_INPUTS if c not in self.input_columns]
        return [*self.input_columns, *extra]

    def metrics(self, segments: list[str]) -> list:
        """The metric definitions the model was trained with (they travel inside it)."""
        return check_metrics(self.metadata["definitions"], segments, "model")

    def check_input(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.required_columns if c not in frame.columns]
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
        return route(segments, self.routes)

    def hazards(self, frame: pd.DataFrame, only: str | None = None) -> np.ndarray:
        """Calibrated monthly hazards, (n, steps), each row from its route's model (from the
        model `only` names, e.g. the global one, when given)."""
        X = self.design(frame)
        inside, before = hazard.decisions(frame, self.steps)
        h = np.full((len(X), self.steps), np.nan)
        routes = np.full(len(X), only) if only else self.route(frame["segment"]).to_numpy()
        for key in np.unique(routes):
            rows = np.flatnonzero(routes == key)
            Xs = hazard.step_design(X.iloc[rows], self.steps, inside[rows], before[rows])
            first, copies = self.models[key].distinct_steps(Xs, len(rows))
            p = self.models[key].predict_proba(Xs.iloc[first])[copies]
            h[rows] = p.reshape(self.steps, len(rows)).T
        return h

    def curve(self, frame: pd.DataFrame, only: str | None = None) -> np.ndarray:
        """P(churn within k months), k = 1..steps, (n, steps)."""
        return hazard.curve(self.hazards(frame, only))

    def predict_proba(
        self, frame: pd.DataFrame, days: int | None = None, only: str | None = None
    ) -> np.ndarray:
        """P(churn within `days`), by default within the label's horizon (`label_days`)."""
        return hazard.within_days(frame, self.curve(frame, only), days or self.label_days)

    def probabilities(self, frame: pd.DataFrame, curve: np.ndarray | None = None) -> pd.DataFrame:
        """From one curve per account (`curve`, when already computed): `churn_probability`
        (within `horizon_days`, what health shows), `p_churn_90d`, and `p_churn_next_renewal`
        (leaving by the end of the month that holds the next renewal decision; NaN when that is
        more than `steps` months away)."""
        c = self.curve(frame) if curve is None else curve
        k = hazard.next_decision_step(frame, self.steps)
        at = c[np.arange(len(c)), k.clip(0)]
        return pd.DataFrame(
            {
                "churn_probability": hazard.within_days(frame, c, self.horizon_days),
                "p_churn_90d": hazard.within_days(frame, c, 90),
                "p_churn_next_renewal": np.where(k >= 0, at, np.nan),
            },
            index=frame.index,
        )

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
        """churn_probability (within `horizon_days`), health_score, tier (model cut-offs) and
        the model that scored."""
        p = self.predict_proba(frame, self.horizon_days)
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
