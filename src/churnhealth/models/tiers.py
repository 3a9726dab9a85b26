"""Health tiers: healthy, moderate, at risk, critical.

A calibrated churn probability is usually small, so a health of 80 is already a 20% risk: fixed
cut-offs like 75/50/25 would flag almost nobody. By default the cut-offs are learned per
segment: the at-risk cut-off flags the target share of churners (recall, default 75%) at the
best precision it can.

Health looks a year ahead, and the outcomes of the latest year are not known yet. Because the
probabilities are calibrated, the expected number of churners among the accounts below a
cut-off is the sum of their probabilities: `expected_cutoffs` sets the cut-offs so that the
*expected* recall reaches each target, on the latest as-of dates the model was validated on
(`learn_cutoffs` does the same with known outcomes). Training then checks the realised recall
on the twelve-month test window (metrics.json: `horizons`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

TIERS = ("healthy", "moderate", "at_risk", "critical")
FLAGGED = ("at_risk", "critical")
"""The tiers that make up the at-risk flag."""


@dataclass(frozen=True)
class Cutoffs:
    """Health at or above `healthy` is healthy; below `at_risk` at risk; below `critical`
    critical; in between moderate."""

    healthy: int
    at_risk: int
    critical: int
    source: str = "learned"

    def tier(self, health: np.ndarray) -> np.ndarray:
        h = np.asarray(health)
        return np.select(
            [h < self.critical, h < self.at_risk, h < self.healthy],
            ["critical", "at_risk", "moderate"],
            "healthy",
        )

    def as_dict(self) -> dict:
        return asdict(self)


def health_score(p: np.ndarray) -> np.ndarray:
    """health = round(100 × (1 − P(churn within the horizon)))."""
    return np.rint(100 * (1 - np.asarray(p, float))).astype(int)


def _cutoff(y: np.ndarray, health: np.ndarray, recall: float) -> int:
    """Cut-off h (flag health < h) reaching `recall` of churners at the best precision; `y` is
    0/1 or, for expected counts, a probability."""
    best, best_precision = 101, -1.0
    y = np.asarray(y, float)
    churners = y.sum()
    for h in range(1, 102):
        flagged = health < h
        tp = y[flagged].sum()
        if churners and tp / churners >= recall:
            precision = tp / flagged.sum()
            if precision > best_precision + 1e-12:
                best, best_precision = h, precision
    return best


def learn_cutoffs(
    y: np.ndarray,
    p: np.ndarray,
    recall_at_risk: float,
    recall_critical: float,
    recall_healthy: float,
) -> Cutoffs:
    y, health = np.asarray(y, bool), health_score(p)
    if not y.any():
        return Cutoffs(100, 50, 25, source="fallback: no churners in validation")
    critical = _cutoff(y, health, recall_critical)
    at_risk = max(_cutoff(y, health, recall_at_risk), critical)
    healthy = max(_cutoff(y, health, recall_healthy), at_risk)
    return Cutoffs(int(min(healthy, 100)), int(min(at_risk, 100)), int(min(critical, 100)))


def expected_cutoffs(
    p: np.ndarray, recall_at_risk: float, recall_critical: float, recall_healthy: float
) -> Cutoffs:
    """Cut-offs reaching each recall in expectation: calibrated probabilities `p` stand in for
    outcomes not known yet."""
    p = np.asarray(p, float)
    if len(p) == 0 or p.sum() <= 0:
        return Cutoffs(100, 50, 25, source="fallback: no rows to learn cut-offs on")
    health = health_score(p)
    critical = _cutoff(p, health, recall_critical)
    at_risk = max(_cutoff(p, health, recall_at_risk), critical)
    healthy = max(_cutoff(p, health, recall_healthy), at_risk)
    return Cutoffs(
        int(min(healthy, 100)), int(min(at_risk, 100)), int(min(critical, 100)), "expected"
    )


def meanings(cut: Cutoffs, horizon_days: int) -> dict[str, str]:
    """What each tier of `cut` says about the chance of leaving within the horizon, e.g.
    "at risk: health 25–49, a 50–75% chance of leaving within a year" (health is
    100 × (1 − P), so the band's edges are chances of 100 − edge percent)."""
    months = round(horizon_days / 30.4375)
    within = (
        "within a year"
        if months == 12
        else f"within {months // 12} years"
        if months % 12 == 0
        else f"within {months} months"
    )
    edges = {
        "healthy": (cut.healthy, 101),
        "moderate": (cut.at_risk, cut.healthy),
        "at_risk": (cut.critical, cut.at_risk),
        "critical": (0, cut.critical),
    }
    out = {}
    for tier, (lo, hi) in edges.items():  # health lo ≤ h < hi
        name = tier.replace("_", " ")
        if hi <= lo:
            out[tier] = f"{name}: no health falls in this tier"
            continue
        top = min(hi - 1, 100)
        if lo == 0:
            chance = f"more than a {100 - hi}% chance" if hi < 100 else "any chance"
        elif hi > 100:
            chance = f"at most a {100 - lo}% chance"
        else:
            chance = f"a {100 - hi}–{100 - lo}% chance"
        health = f"health {lo}" if lo == top else f"health {lo}–{top}"
        out[tier] = f"{name}: {health}, {chance} of leaving {within}"
    return out
