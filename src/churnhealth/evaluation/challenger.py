"""Champion against challenger on rows neither model has learned from.

When the monitor's retraining policy fires, a challenger is trained on recent data (the job in
`churnhealth.jobs.monitor`); this module decides whether it replaces the champion: both score
the same matured as-of dates after every model's validation window, and the challenger wins
only on a lower log loss there, with enough rows and churners to judge.
"""

from __future__ import annotations

import pandas as pd

from churnhealth.config import Config
from churnhealth.data.source import Source
from churnhealth.evaluation.metrics import score_metrics
from churnhealth.features import LABEL
from churnhealth.features.grid import schedule
from churnhealth.features.labels import last_labelled
from churnhealth.models.routed import HealthModel
from churnhealth.scoring.scorer import Scorer

NOT_REQUESTED = {"requested": False, "status": "not_requested", "reasons": []}
COMPARED = ("log_loss", "roc_auc", "ece", "brier")


def recent_config(cfg: Config, day: pd.Timestamp) -> Config:
    """The configuration the challenger trains with: as-of dates of the last
    `retrain.history_days` only, when set."""
    days = cfg.monitor.retrain.history_days
    if days is None:
        return cfg
    start = (day - pd.Timedelta(days=days)).date()
    return cfg.model_copy(update={"features": cfg.features.model_copy(update={"start": start})})


def unseen_window(cfg: Config, models: list[HealthModel], day: pd.Timestamp) -> list[pd.Timestamp]:
    """As-of dates after every model's validation window (so no model fitted their labels)
    whose labels have matured by `day`."""
    after = max(pd.Timestamp(m.metadata["splits"]["val_end"]) for m in models)
    last = last_labelled(cfg.labels, day)
    first = after + pd.Timedelta(days=1)
    return schedule(first.date(), last.date(), cfg.features.schedule) if first <= last else []


def evaluate_on(scorer: Scorer, source: Source, dates: list[pd.Timestamp]) -> tuple:
    """Matured rows at `dates` with the model's own features: (metrics, rows, churners)."""
    frame = scorer.features(source, dates)
    frame = frame[frame.labelled.astype(bool)]
    y = frame[LABEL].to_numpy(float)
    if len(frame) == 0:
        return {}, 0, 0
    m = score_metrics(y, scorer.model.predict_proba(frame))
    return {k: m[k] for k in COMPARED}, len(frame), int(y.sum())


def compare(
    cfg: Config,
    source: Source,
    day: pd.Timestamp,
    champion: Scorer,
    challenger: Scorer,
) -> dict:
    """Both models on the matured as-of dates neither has fitted: their metrics, the window,
    and the verdict ("promoted" or "kept") with its reason."""
    dates = unseen_window(cfg, [champion.model, challenger.model], day)
    old, rows, churners = evaluate_on(champion, source, dates)
    new, _, _ = evaluate_on(challenger, source, dates)
    window = {
        "first": str(dates[0].date()) if dates else None,
        "last": str(dates[-1].date()) if dates else None,
        "as_of_dates": len(dates),
        "rows": rows,
        "churners": churners,
    }
    m, cv, nv = cfg.monitor, champion.version, challenger.version
    if rows < m.min_sample or churners < m.min_churners:
        status = "kept"
        reason = (
            f"kept champion v{cv}: the matured window neither model fitted has "
            f"{rows} rows and {churners} churners (need {m.min_sample} and {m.min_churners})"
        )
    else:
        better = new["log_loss"] < old["log_loss"]
        status = "promoted" if better else "kept"
        reason = (
            f"{'promoted' if better else 'kept champion v' + cv + ':'} challenger "
            f"v{nv} log loss {new['log_loss']:.4f} {'<' if better else '≥'} champion "
            f"v{cv} {old['log_loss']:.4f} (ROC-AUC {new['roc_auc']:.3f} vs "
            f"{old['roc_auc']:.3f}) on as-of dates {window['first']} to "
            f"{window['last']} ({rows:,} rows, {churners:,} churners)"
        )
    return {
        "champion": old,
        "challenger": new,
        "window": window,
        "status": status,
        "reason": reason,
    }
