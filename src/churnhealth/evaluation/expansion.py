"""How good the expansion score is: out of time, on the rows whose outcome became known last
(the expansion model's test window, see `models.expansion`).

The figure a CS leader asks for is the precision of the top of the list: at each as-of date
the accounts are ranked by expansion score, the top `share` (10%) taken, and the share of those
that did expand within the horizon compared with the base rate of all accounts (the lift).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.evaluation.metrics import expected_calibration_error, score_metrics
from churnhealth.models.expansion import ExpansionData, ExpansionModel, expansion_score

TOP_SHARE = 0.10


def top_precision(as_of: pd.Series, y: np.ndarray, p: np.ndarray, share: float = TOP_SHARE):
    """Precision of the top `share` by `p` at each as-of date, pooled over the dates."""
    picked = np.zeros(len(y), bool)
    for rows in pd.Series(np.arange(len(y))).groupby(np.asarray(as_of)).indices.values():
        k = max(int(np.ceil(share * len(rows))), 1)
        picked[rows[np.argsort(-p[rows], kind="mergesort")[:k]]] = True
    return float(y[picked].mean()), int(picked.sum())


def evaluate(data: ExpansionData, model: ExpansionModel) -> dict:
    """Test-window figures, overall and per segment."""
    test = data.window == "test"
    frame, y = data.frame[test], data.y[test]
    p = model.predict_proba(frame)
    tiers = model.tiers(frame, expansion_score(p))
    seg = frame.segment.astype(object).to_numpy()

    def block(rows: np.ndarray) -> dict:
        yr, pr = y[rows], p[rows]
        base = float(yr.mean())
        precision, picked = top_precision(frame.as_of[rows], yr, pr)
        ready = tiers[rows] == "ready"
        out = {
            "rows": int(rows.sum()),
            "expansions": int(yr.sum()),
            "base_rate": base,
            "mean_probability": float(pr.mean()),
            "ece": expected_calibration_error(yr, pr),
            f"precision_top{round(100 * TOP_SHARE)}": precision,
            f"lift_top{round(100 * TOP_SHARE)}": precision / base if base else float("nan"),
            "top_rows": picked,
            "ready_share": float(ready.mean()),
            "ready_precision": float(yr[ready].mean()) if ready.any() else float("nan"),
        }
        if 0 < yr.sum() < len(yr):
            m = score_metrics(yr, pr)
            out.update(roc_auc=m["roc_auc"], log_loss=m["log_loss"])
        return out

    return {
        "status": "ok",
        "horizon_days": model.horizon_days,
        "threshold": model.threshold,
        "test_window": {
            "first": str(frame.as_of.min().date()),
            "last": str(frame.as_of.max().date()),
            "rows": int(test.sum()),
        },
        "windows": model.info.get("windows", {}),
        "routes": {s: model.routes.get(s, "__global__") for s in pd.unique(seg)},
        "cutoffs": {k: {"ready": r, "watch": w} for k, (r, w) in model.cutoffs.items()},
        "models": model.info.get("models", {}),
        "overall": block(np.ones(len(y), bool)),
        "segments": {s: block(seg == s) for s in sorted(pd.unique(seg))},
    }


def flat(e: dict) -> dict[str, float]:
    """MLflow metrics: `expansion_roc_auc`, `expansion_precision_top10`, per segment too."""
    if e.get("status") != "ok":
        return {}
    keys = ("roc_auc", "ece", "base_rate", "precision_top10", "lift_top10", "ready_precision")
    out = {f"expansion_{k}": e["overall"][k] for k in keys if k in e["overall"]}
    for s, b in e["segments"].items():
        out.update({f"expansion_{s}_{k}": b[k] for k in keys if k in b})
    return {k: float(v) for k, v in out.items() if v == v}
