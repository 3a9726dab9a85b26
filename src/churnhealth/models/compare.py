"""Paired comparison of two models on the same rows, resampling accounts: the fitter's guard
for segment models, and the evaluation's model-vs-model figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.models.estimators import EPS


def grouped_auc(groups: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    """Weighted ROC-AUC from score ranks (`groups`: 0..k-1 in score order, ties share one)."""
    k = groups.max() + 1
    pos = np.bincount(groups, w * y, k)
    neg = np.bincount(groups, w * (1 - y), k)
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def paired_comparison(
    accounts: np.ndarray,
    y: np.ndarray,
    p_a: np.ndarray,
    p_b: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    weight: np.ndarray | None = None,
) -> dict[str, float]:
    """Model a minus model b on the same rows: ROC-AUC and log loss, with 95% intervals
    (`weight`: row weights, e.g. for subsampled rows).

    The paired bootstrap resamples accounts, not rows: an account's monthly rows share most of
    their features and their outcome, so treating them as independent would make the
    intervals too narrow.
    """
    y = np.asarray(y, float)
    out = {
        f"{m}_diff{s}": float("nan") for m in ("roc_auc", "log_loss") for s in ("", "_lo", "_hi")
    }
    if not 0 < y.sum() < len(y):
        return out
    codes, uniq = pd.factorize(np.asarray(accounts))
    ranks = [np.unique(np.asarray(p, float), return_inverse=True)[1] for p in (p_a, p_b)]
    a, b = (np.clip(np.asarray(p, float), EPS, 1 - EPS) for p in (p_a, p_b))
    loss_diff = -(y * np.log(a / b) + (1 - y) * np.log((1 - a) / (1 - b)))

    def stats(w: np.ndarray) -> tuple[float, float]:
        auc = grouped_auc(ranks[0], y, w) - grouped_auc(ranks[1], y, w)
        return auc, float((w * loss_diff).sum() / w.sum())

    rng = np.random.default_rng(seed)
    base = np.ones(len(y)) if weight is None else np.asarray(weight, float)
    draws = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq))[codes]
        if 0 < (w * y).sum() < w.sum():
            draws.append(stats(w * base))
    point = stats(base)
    lo, hi = np.percentile(np.array(draws), [2.5, 97.5], axis=0)
    for i, m in enumerate(("roc_auc", "log_loss")):
        out[f"{m}_diff"] = point[i]
        out[f"{m}_diff_lo"], out[f"{m}_diff_hi"] = float(lo[i]), float(hi[i])
    return out


def fallback_note(segment: str, verdict: dict[str, float], where: str = "") -> str | None:
    """None when a segment's own model beats the global one beyond noise (the upper end of the
    95% interval of the log-loss difference below 0, see `paired_comparison`), else the note
    saying why the global model scores the segment; `where` names the validation rows."""
    if verdict["log_loss_diff_hi"] < 0:
        return None
    return (
        f"{segment}: its own model is not better than the global one beyond noise{where} "
        f"(log loss difference {verdict['log_loss_diff']:+.5f}, 95% interval "
        f"[{verdict['log_loss_diff_lo']:+.5f}, {verdict['log_loss_diff_hi']:+.5f}])"
        ": scored by the global model"
    )
