"""How good the scores are: discrimination, calibration and the at-risk flag, plus plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-count bins: mean |observed − predicted| weighted by bin size.

    Equal-count bins suit churn, where most probabilities are small.
    """
    y, p = np.asarray(y, float), np.asarray(p, float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    err = 0.0
    for chunk in np.array_split(order, min(bins, len(y))):
        if len(chunk):
            err += len(chunk) * abs(y[chunk].mean() - p[chunk].mean())
    return err / len(y)


def flag_metrics(y: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Recall, specificity, precision, F1 and accuracy of a yes/no at-risk flag."""
    y, f = np.asarray(y, bool), np.asarray(flagged, bool)
    tp, fp = int((y & f).sum()), int((~y & f).sum())
    fn, tn = int((y & ~f).sum()), int((~y & ~f).sum())
    recall = tp / (tp + fn) if tp + fn else float("nan")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return {
        "recall": recall,
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "precision": precision,
        "f1": f1,
        "accuracy": (tp + tn) / len(y) if len(y) else float("nan"),
        "flagged_share": float(f.mean()) if len(f) else float("nan"),
    }


def score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss and ECE of churn probabilities."""
    y, p = np.asarray(y, float), np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": roc_auc_score(y, p) if both else float("nan"),
        "roc_auc_se": roc_auc_se(y, p),
        "pr_auc": average_precision_score(y, p) if both else float("nan"),
        "brier": brier_score_loss(y, p),
        "log_loss": log_loss(y, p, labels=[0, 1]),
        "ece": expected_calibration_error(y, p),
        "rows": float(len(y)),
        "churn_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
    }


def ranking_auc(y: np.ndarray, risk: np.ndarray) -> float:
    """ROC-AUC of any risk score (higher = riskier), e.g. a baseline's."""
    y = np.asarray(y, float)
    return roc_auc_score(y, risk) if 0 < y.sum() < len(y) else float("nan")


def roc_auc_se(y: np.ndarray, risk: np.ndarray) -> float:
    """Standard error of the ROC-AUC of `risk` (DeLong et al., 1988): from the variance of
    each churner's and each non-churner's share of the pairs it wins, by midranks."""
    from scipy.stats import rankdata

    y, risk = np.asarray(y, bool), np.asarray(risk, float)
    pos, neg = risk[y], risk[~y]
    m, n = len(pos), len(neg)
    if m < 2 or n < 2:
        return float("nan")
    ranks = rankdata(np.concatenate([pos, neg]))
    v10 = (ranks[:m] - rankdata(pos)) / n
    v01 = 1 - (ranks[m:] - rankdata(neg)) / m
    return float(np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n))


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    order = np.argsort(p, kind="mergesort")
    rows = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            rows.append(
                {
                    "predicted": float(np.mean(p[chunk])),
                    "observed": float(np.mean(y[chunk])),
                    "rows": len(chunk),
                }
            )
    return pd.DataFrame(rows)


def plot_reliability(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Predicted vs observed churn per decile of predicted probability, one line per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for name, (y, p) in curves.items():
        t = reliability_table(np.asarray(y, float), np.asarray(p, float))
        ece = expected_calibration_error(y, p)
        ax.plot(t.predicted, t.observed, marker="o", label=f"{name} (ECE {ece:.3f})")
        top = max(top, t.predicted.max(), t.observed.max())
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.set_xlabel("predicted 90-day churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Reliability on the test window")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """ROC and precision-recall curves side by side, one line per model or baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, (y, risk) in curves.items():
        fpr, tpr, _ = roc_curve(y, risk)
        prec, rec, _ = precision_recall_curve(y, risk)
        a.plot(fpr, tpr, label=f"{name} ({ranking_auc(y, risk):.3f})")
        b.plot(rec, prec, label=f"{name} ({average_precision_score(y, risk):.3f})")
    a.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    a.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC (AUC)")
    b.set(xlabel="recall", ylabel="precision", title="Precision-recall (AP)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
