"""Retraining when the monitor's policy fires: a challenger trained on recent data, compared
with the champion on the same matured window that neither has fitted, promoted only if better.

A retraining that fails, or a challenger that does not win, leaves the champion untouched; the
promotion moves the registry alias and the models/champion/ export together.
"""

from __future__ import annotations

import pandas as pd

from churnhealth import tracking
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluate import score_metrics
from churnhealth.features import build_features
from churnhealth.features.grid import schedule
from churnhealth.features.spec import check_metrics
from churnhealth.labels import last_labelled
from churnhealth.models.routed import HealthModel

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


def evaluate_on(cfg: Config, source, hm: HealthModel, dates: list[pd.Timestamp]) -> tuple:
    """Matured rows at `dates` with the model's own features: (metrics, rows, churners)."""
    metrics = check_metrics(hm.metadata["definitions"], cfg.data.segments, "model")
    frame = build_features(source, cfg, metrics, dates=dates).frame
    frame = frame[frame.labelled.astype(bool)]
    y = frame.churned_within_h.to_numpy(float)
    if len(frame) == 0:
        return {}, 0, 0
    m = score_metrics(y, hm.predict_proba(frame))
    return {k: m[k] for k in COMPARED}, len(frame), int(y.sum())


def retrain_if_triggered(
    cfg: Config, data, source, day: pd.Timestamp, champion, fired: list[dict], stage
) -> dict:
    """Train a challenger as of `day` when a trigger fired; compare and maybe promote it.

    `source` is the data truncated at `day`; `champion` the loaded champion model."""
    from churnhealth.train import train

    if not fired:
        return {"requested": True, "status": "not_triggered", "reasons": ["no trigger fired"]}
    reasons = [f"trigger: {t['reason']}" for t in fired]
    out = {
        "requested": True,
        "triggers": [t["name"] for t in fired],
        "champion": {"version": champion.version},
    }
    rcfg = recent_config(cfg, day)
    try:
        res = train(rcfg, data, day.date(), stage, decide=False)
    except ChurnhealthError as exc:
        return {**out, "status": "failed", "reasons": [*reasons, f"retraining failed: {exc}"]}
    out["challenger"] = {
        "version": res.version,
        "run_id": res.run_id,
        "history_from": str(rcfg.features.start) if rcfg.features.start else None,
    }
    done = stage("champion vs challenger", 1)
    dates = unseen_window(cfg, [champion.model, res.model], day)
    old, rows, churners = evaluate_on(cfg, source, champion.model, dates)
    new, _, _ = evaluate_on(cfg, source, res.model, dates)
    done()
    out["champion"]["metrics"], out["challenger"]["metrics"] = old, new
    out["window"] = {
        "first": str(dates[0].date()) if dates else None,
        "last": str(dates[-1].date()) if dates else None,
        "as_of_dates": len(dates),
        "rows": rows,
        "churners": churners,
    }
    m = cfg.monitor
    if rows < m.min_sample or churners < m.min_churners:
        status = "kept"
        reasons.append(
            f"kept champion v{champion.version}: the matured window neither model fitted has "
            f"{rows} rows and {churners} churners (need {m.min_sample} and {m.min_churners})"
        )
    else:
        better = new["log_loss"] < old["log_loss"]
        status = "promoted" if better else "kept"
        reasons.append(
            f"{'promoted' if better else 'kept champion v' + champion.version + ':'} challenger "
            f"v{res.version} log loss {new['log_loss']:.4f} {'<' if better else '≥'} champion "
            f"v{champion.version} {old['log_loss']:.4f} (ROC-AUC {new['roc_auc']:.3f} vs "
            f"{old['roc_auc']:.3f}) on as-of dates {out['window']['first']} to "
            f"{out['window']['last']} ({rows:,} rows, {churners:,} churners)"
        )
    if status == "promoted":
        try:
            tracking.promote(cfg, res.version)
        except (ChurnhealthError, OSError) as exc:
            status = "failed"
            reasons.append(f"promotion failed, champion v{champion.version} kept: {exc}")
    _tag_version(cfg, res.version, status, reasons[-1])
    out["champion_after"] = res.version if status == "promoted" else champion.version
    return {**out, "status": status, "reasons": reasons}


def _tag_version(cfg: Config, version: str, status: str, reason: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    name = cfg.mlflow.registered_model
    client.set_model_version_tag(name, version, "churnhealth.monitor_decision", status)
    client.set_model_version_tag(name, version, "churnhealth.monitor_reason", reason[:5000])


def log_decision(decision: dict, as_of: str) -> str:
    """The retraining decision as a nested MLflow run of its own (kind "retrain_decision"):
    decision and reasons as tags, versions and window as params, both models' metrics."""
    import mlflow

    with mlflow.start_run(run_name=f"retrain decision {as_of}", nested=True) as run:
        decision["decision_run_id"] = run.info.run_id
        reasons = "\n".join(f"- {r}" for r in decision["reasons"])
        mlflow.set_tags(
            {
                "churnhealth.kind": "retrain_decision",
                "churnhealth.decision": decision["status"],
                "churnhealth.reasons": reasons[:5000],
                "mlflow.note.content": f"**{decision['status']}**\n\n{reasons}",
            }
        )
        champ, chal = decision["champion"], decision.get("challenger", {})
        window = decision.get("window", {})
        mlflow.log_params(
            {
                "as_of": as_of,
                "decision": decision["status"],
                "triggers": ",".join(decision["triggers"]),
                "champion_version": champ["version"],
                "challenger_version": chal.get("version"),
                "challenger_run_id": chal.get("run_id"),
                "challenger_history_from": chal.get("history_from"),
                "window_first": window.get("first"),
                "window_last": window.get("last"),
                "champion_after": decision.get("champion_after", champ["version"]),
            }
        )
        values = {f"champion_{k}": v for k, v in champ.get("metrics", {}).items()}
        values.update({f"challenger_{k}": v for k, v in chal.get("metrics", {}).items()})
        values.update({f"window_{k}": window[k] for k in ("rows", "churners") if k in window})
        values["promoted"] = float(decision["status"] == "promoted")
        mlflow.log_metrics({k: float(v) for k, v in values.items() if v is not None})
    return run.info.run_id
