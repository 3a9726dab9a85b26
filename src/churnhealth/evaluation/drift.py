"""Drift statistics in numpy/scipy: the reference frozen at training time, PSI and KS.

`Reference.fit` learns, from the rows a model was trained on, what live data is compared with:
quantile bin edges and bin shares per numeric feature (missing values in a bin of their own),
category shares per categorical feature, a sample of values for the Kolmogorov–Smirnov test,
the same for the model's scores, and each feature's importance. It is stored on the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FLOOR = 1e-4
"""Smallest share a bin counts with in PSI, so an empty bin does not make it infinite."""
OTHER, MISSING = "__other__", "__missing__"


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins:
    Σ (actual − expected) · ln(actual / expected), shares floored at `FLOOR`."""
    e = np.maximum(np.asarray(expected, float), FLOOR)
    a = np.maximum(np.asarray(actual, float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def ks(reference: np.ndarray, live: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two empirical
    distribution functions (missing values left out); NaN when either side is empty."""
    r, x = np.asarray(reference, float), np.asarray(live, float)
    r, x = r[~np.isnan(r)], x[~np.isnan(x)]
    if len(r) == 0 or len(x) == 0:
        return float("nan")
    from scipy.stats import ks_2samp  # here: scipy.stats costs predict's start-up 0.4 s

    return float(ks_2samp(r, x).statistic)


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges at the quantiles 1/bins … (bins−1)/bins of the non-missing values.
    Edges are observed values, and ties (counts, flags) merge them, so a flag gets two bins."""
    v = np.asarray(values, float)
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return np.array([])
    return np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1], method="inverted_cdf"))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values in each bin (x < e0, e0 ≤ x < e1, …, x ≥ e_last), then missing."""
    v = np.asarray(values, float)
    missing = np.isnan(v)
    bins = np.searchsorted(edges, v[~missing], side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return np.append(counts, missing.sum()) / max(len(v), 1)


def category_shares(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Share of each known category, then unseen ones (OTHER), then missing."""
    v = values.astype("object")
    missing = v.isna().to_numpy()
    known = v.isin(categories).to_numpy()
    counts = [int((v == c).sum()) for c in categories]
    counts += [int((~known & ~missing).sum()), int(missing.sum())]
    return np.array(counts, float) / max(len(v), 1)


@dataclass
class Reference:
    """What a model saw at training time, frozen with it; `compare` measures live data
    against it."""

    bins: int = 10
    sample_size: int = 5000
    seed: int = 0

    def fit(
        self,
        frame: pd.DataFrame,
        numeric: list[str],
        categorical: list[str],
        scores: np.ndarray,
        importance: dict[str, float],
    ) -> Reference:
        """Learn bins, shares and samples from `frame` (the training rows) and the model's
        `scores` on them; `importance` is each feature's mean |effect| in health points."""
        rng = np.random.default_rng(self.seed)
        self.edges_: dict[str, np.ndarray] = {}
        self.shares_: dict[str, np.ndarray] = {}
        self.samples_: dict[str, np.ndarray] = {}
        for f in numeric:
            v = frame[f].to_numpy(float)
            self.edges_[f] = quantile_edges(v, self.bins)
            self.shares_[f] = bin_shares(v, self.edges_[f])
            self.samples_[f] = self._sample(v[~np.isnan(v)], rng)
        self.categories_: dict[str, list[str]] = {}
        for f in categorical:
            cats = sorted(frame[f].dropna().astype(str).unique())
            self.categories_[f] = cats
            self.shares_[f] = category_shares(frame[f], cats)
        s = np.asarray(scores, float)
        self.score_edges_ = quantile_edges(s, self.bins)
        self.score_shares_ = bin_shares(s, self.score_edges_)
        self.score_sample_ = self._sample(s, rng)
        self.score_mean_ = float(np.nanmean(s))
        self.importance_ = {f: float(importance.get(f, 0.0)) for f in [*numeric, *categorical]}
        self.rows_ = len(frame)
        self.as_of_ = (str(frame.as_of.min().date()), str(frame.as_of.max().date()))
        return self

    def _sample(self, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(v) > self.sample_size:
            v = rng.choice(v, self.sample_size, replace=False)
        return np.sort(v)

    @property
    def features(self) -> list[str]:
        return list(self.importance_)

    def ranked(self) -> list[str]:
        """Features from most to least important."""
        return sorted(self.importance_, key=lambda f: -self.importance_[f])

    def compare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """PSI and KS per feature of `frame` (live rows) against the reference, with the
        missing shares on both sides; one row per feature, most important first."""
        rows = []
        for rank, f in enumerate(self.ranked(), start=1):
            ref = self.shares_[f]
            if f in self.categories_:
                live = category_shares(frame[f], self.categories_[f])
                row = {"kind": "categorical", "ks": None}
            else:
                v = frame[f].to_numpy(float)
                live = bin_shares(v, self.edges_[f])
                row = {"kind": "numeric", "ks": ks(self.samples_[f], v)}
            rows.append(
                {
                    "feature": f,
                    **row,
                    "psi": psi(ref, live),
                    "importance": self.importance_[f],
                    "importance_rank": rank,
                    "missing_share_reference": float(ref[-1]),
                    "missing_share_live": float(live[-1]),
                }
            )
        return pd.DataFrame(rows)

    def compare_scores(self, scores: np.ndarray) -> dict[str, float]:
        """PSI and KS of the model's live scores against its scores on the reference rows."""
        s = np.asarray(scores, float)
        return {
            "psi": psi(self.score_shares_, bin_shares(s, self.score_edges_)),
            "ks": ks(self.score_sample_, s),
            "mean_reference": self.score_mean_,
            "mean_live": float(np.nanmean(s)) if len(s) else float("nan"),
        }
