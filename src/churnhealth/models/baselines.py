"""The baselines every model must beat, scored on the same rows.

- The practitioner's scorecard: each dimension scored 0–100 from the percentile ranks of its
  features (oriented so that higher means healthier), combined with weights proportional to each
  dimension's correlation with retention on the training window.
- The login-recency traffic light: green if anyone logged in within the last month, yellow if
  not, red after two months without a login.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnhealth.features import CATEGORICAL
from churnhealth.models.fitter import TrainingData

LOGIN_FEATURE = "usage_days_since_active"


def login_light(frame: pd.DataFrame) -> pd.Series:
    """0 green, 1 yellow, 2 red (higher = riskier)."""
    days = frame[LOGIN_FEATURE].fillna(np.inf)
    return pd.Series(np.select([days <= 31, days <= 62], [0, 1], 2), index=frame.index)


@dataclass
class Scorecard:
    """Fit on training rows; `health` gives 0–100 (higher = healthier)."""

    dimensions: dict[str, str]
    sorted_values_: dict[str, np.ndarray] = field(default_factory=dict)
    sign_: dict[str, float] = field(default_factory=dict)
    weights_: dict[str, float] = field(default_factory=dict)
    correlations_: dict[str, float] = field(default_factory=dict)

    def _feature_score(self, name: str, x: pd.Series) -> np.ndarray:
        ref = self.sorted_values_[name]
        pct = np.searchsorted(ref, x.to_numpy(float), side="right") / len(ref) * 100
        pct = pct if self.sign_[name] > 0 else 100 - pct
        return np.where(x.isna(), 50.0, pct)

    def _dimension_scores(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for dim in sorted(set(self.dimensions.values())):
            names = [n for n, d in self.dimensions.items() if d == dim and n in self.sign_]
            if names:
                out[dim] = np.mean([self._feature_score(n, frame[n]) for n in names], axis=0)
        return pd.DataFrame(out, index=frame.index)

    def fit(self, frame: pd.DataFrame, churned: np.ndarray) -> Scorecard:
        retained = 1 - np.asarray(churned, float)
        for name in self.dimensions:
            x = frame[name]
            if not pd.api.types.is_numeric_dtype(x) or x.notna().sum() < 10:
                continue
            corr = pd.Series(retained, index=frame.index)[x.notna()].corr(x.dropna())
            if not np.isfinite(corr) or corr == 0:
                continue
            self.sign_[name] = float(np.sign(corr))
            self.sorted_values_[name] = np.sort(x.dropna().to_numpy(float))
        dims = self._dimension_scores(frame)
        for dim in dims:
            c = np.corrcoef(dims[dim], retained)[0, 1]
            self.correlations_[dim] = float(c) if np.isfinite(c) else 0.0
        positive = {d: max(c, 0.0) for d, c in self.correlations_.items()}
        total = sum(positive.values()) or 1.0
        self.weights_ = {d: c / total for d, c in positive.items()}
        return self

    def health(self, frame: pd.DataFrame) -> pd.Series:
        dims = self._dimension_scores(frame)
        return sum(dims[d] * w for d, w in self.weights_.items() if d in dims)


def baseline_risks(data: TrainingData, rows: np.ndarray) -> tuple[dict[str, np.ndarray], Scorecard]:
    """The baselines' risks (higher = riskier) on `rows` of `data.frame`: the practitioners'
    scorecard, fitted on the rows whose 90-day label matured by the validation window's end,
    and the login-recency rule where the data has logins; and the fitted scorecard."""
    frame, lab = data.frame, data.splits
    reach = pd.Timedelta(days=lab.horizon_days + lab.gap_days)
    tr = (frame.labelled.astype(bool) & (frame.as_of + reach <= lab.t2)).to_numpy()
    card = Scorecard({f: d for f, d in data.fs.features.items() if f not in CATEGORICAL})
    card.fit(frame[tr], data.y[tr])
    risks = {"scorecard": 100 - card.health(frame[rows]).to_numpy()}
    if LOGIN_FEATURE in frame.columns:
        risks["login rule"] = login_light(frame[rows]).to_numpy().astype(float)
    return risks, card
