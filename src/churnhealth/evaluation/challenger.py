"""Champion against a new model on rows neither has learned from: the decision to promote.

Two routes, one rule (a lower log loss on rows no model fitted, validated or calibrated on,
with enough rows and churners to judge):

- `against_champion`: a model `train` has just fitted, on the rows of its test window that the
  champion did not learn from either;
- `compare`: the monitor's challenger, trained on recent data (`churnhealth.jobs.monitor`), and
  the champion on the same matured as-of dates after every model's validation window.

Neither registers anything: the jobs turn the verdict into an alias (`churnhealth.tracking`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.source import Source
from churnhealth.evaluation.metrics import score_metrics
from churnhealth.features import LABEL
from churnhealth.features.grid import schedule
from churnhealth.features.labels import last_labelled
from churnhealth.models.estimators import binary_log_loss
from churnhealth.models.fitter import TrainingData
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


@dataclass(frozen=True)
class Verdict:
    """Whether the new model takes the champion's place, why, and the rows it was judged on
    (None when there was nothing to compare)."""

    promote: bool
    reason: str
    window: dict | None


def against_champion(
    cfg: Config, d: TrainingData, p_all: np.ndarray, champion: Scorer, version: str
) -> Verdict:
    """The new model (its probabilities `p_all` on `d`'s rows) against the champion (version
    `version`) on the rows of the new model's test window that neither model fitted,
    validated or calibrated on: promoted on a lower log loss there.

    A champion trained on later data (`train --as-of` before its data end) has learned from
    this model's test window; the comparison then uses only the rows after the champion's
    validation window, and is refused when too few remain to judge.
    """
    seen = pd.Timestamp(champion.model.metadata["splits"]["val_end"])
    rows = d.mask("test") & (d.frame.as_of > seen).to_numpy()
    test, y = d.frame[rows], d.y[rows]
    window = {
        "champion_version": version,
        "champion_val_end": str(seen.date()),
        "first": str(test.as_of.min().date()) if len(test) else None,
        "last": str(test.as_of.max().date()) if len(test) else None,
        "rows": int(rows.sum()),
        "churners": int(y.sum()),
    }
    m = cfg.monitor
    if len(test) < m.min_sample or y.sum() < m.min_churners:
        return Verdict(
            False,
            f"not compared with champion v{version}: it learned from as-of dates up to "
            f"{seen.date()}, which leaves {len(test):,} rows and {int(y.sum()):,} churners of "
            f"this model's test window that neither model has seen (need {m.min_sample:,} and "
            f"{m.min_churners:,}); promote by hand with `churnhealth promote VERSION`",
            window,
        )
    if not set(champion.model.input_columns) <= set(test.columns):
        test = _features_for(champion, d.source, test)
    new_loss = binary_log_loss(y, p_all[rows])
    old_loss = binary_log_loss(y, champion.model.predict_proba(test))
    where = f"on {len(test):,} test rows neither has seen ({window['first']} to {window['last']})"
    verb = "beats" if new_loss < old_loss else "does not beat"
    return Verdict(
        bool(new_loss < old_loss),
        f"log loss {new_loss:.4f} {verb} champion v{version} ({old_loss:.4f}) {where}",
        window,
    )


def _features_for(scorer: Scorer, source: Source, rows: pd.DataFrame) -> pd.DataFrame:
    """The given (account, as-of) rows with the features the scorer's model was trained on."""
    frame = scorer.features(source, [pd.Timestamp(d) for d in sorted(rows.as_of.unique())])
    keys = rows[["account_id", "as_of"]]
    return keys.merge(frame, on=["account_id", "as_of"], how="left").set_index(rows.index)
