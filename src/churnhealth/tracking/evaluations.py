"""MLflow runs of the jobs that judge a model rather than train it: the backtest's run, the
monitor's run with its retraining decision, and what the report reads back from the store (the
champion's metrics and plots) or attaches to the backtest's run.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from churnhealth.atomic import write_json
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError, first_problem
from churnhealth.evaluation.backtest_report import BacktestReport
from churnhealth.evaluation.backtest_tables import lead_table, tables
from churnhealth.evaluation.monitor_report import MonitorReport, Retrain
from churnhealth.evaluation.renewals import FLAG_METRICS
from churnhealth.evaluation.training_report import TrainingReport
from churnhealth.location import redact
from churnhealth.tracking.store import (
    configure,
    current_champion,
    flatten,
    git_commit,
)


def backtest_metrics(report: BacktestReport) -> dict[str, float]:
    """The headline figures of a backtest as MLflow metrics: the flag per renewal decision at
    90 and 180 days (`renewal_90d_recall`…), lead time, the rows' ROC-AUC and ECE, the
    forecast's coverage and errors."""
    out = {}
    for lead in ("90", "180"):
        o = report.renewals.leads[lead].overall
        for k in (*FLAG_METRICS, "roc_auc", "arr_weighted_recall"):
            out[f"renewal_{lead}d_{k}"] = getattr(o, k)
    out.update({f"lead_{k}": v for k, v in report.lead_time.model_dump().items()})
    for name, rows in (("horizon", report.overall.horizon), ("90d", report.overall.ninety_days)):
        for k in ("roc_auc", "ece", "brier"):
            out[f"{name}_{k}"] = getattr(rows, k)
    if (portfolio := report.forecast.check.get("portfolio")) is not None:
        out.update({f"forecast_{k}": float(v) for k, v in portfolio.model_dump().items()})
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def log_backtest(
    cfg: Config, report: BacktestReport, predictions: pd.DataFrame, data: Path | None
) -> BacktestReport:
    """A run of kind "backtest": origins and settings as parameters, the headline figures,
    the tables, plots and backtest.json as artifacts. Returns the report with its run id."""
    from churnhealth.evaluation import plots  # matplotlib: not on predict's path

    configure(cfg)
    with mlflow.start_run(run_name=f"backtest {dt.datetime.now():%Y-%m-%d %H:%M}") as run:
        mlflow.set_tags({"churnhealth.kind": "backtest", "git_commit": git_commit()})
        mlflow.log_params(
            {
                "data.source": redact(str(data or cfg.data.path)),
                "origins": ",".join(report.origins),
                **flatten(cfg.backtest.model_dump(mode="json"), "backtest."),
            }
        )
        mlflow.log_metrics(backtest_metrics(report))
        report = report.model_copy(update={"run_id": run.info.run_id})
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for name, table in tables(report).items():
                table.to_csv(tmp / f"{name}.csv", index=False)
                mlflow.log_artifact(str(tmp / f"{name}.csv"), artifact_path="tables")
            for png in plots.backtest_plots(
                report, predictions, lead_table(report, predictions), tmp
            ).values():
                mlflow.log_artifact(str(png))
            mlflow.log_artifact(str(write_json(tmp / "backtest.json", report.to_json())))
    return report


def effects_metrics(fx: dict) -> dict[str, float]:
    """Each play's estimates over all accounts as metrics: `effect_<play>_<method>_<outcome>`
    with `_low` and `_high`, and the true effect where the data knows it (`_truth`)."""
    out = {}
    for e in fx["estimates"]:
        if e["group"] != "all":
            continue
        name = f"effect_{e['play']}_{e['method']}_{e['outcome']}"
        for suffix, key in (("", "effect"), ("_low", "low"), ("_high", "high")):
            if e[key] is not None:
                out[name + suffix] = e[key]
        if e["truth"] is not None and e["method"] == "doubly_robust":
            out[f"effect_{e['play']}_truth_{e['outcome']}"] = e["truth"]
    return {k: float(v) for k, v in out.items() if np.isfinite(v)}


def log_effects(cfg: Config, fx: dict, data: Path | None) -> str:
    """A run of kind "effects": the data and horizon as parameters, every overall estimate as
    metrics, effects.json as an artifact. Returns the run id."""
    configure(cfg)
    with mlflow.start_run(run_name=f"effects {dt.datetime.now():%Y-%m-%d %H:%M}") as run:
        mlflow.set_tags({"churnhealth.kind": "effects", "git_commit": git_commit()})
        mlflow.log_params(
            {
                "data.source": redact(str(data or cfg.data.path)),
                "horizon_days": fx["horizon_days"],
                "plays": ",".join(fx["plays"]),
            }
        )
        mlflow.log_metrics(effects_metrics(fx))
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(write_json(Path(tmp) / "effects.json", fx)))
    return run.info.run_id


def log_monitor(
    cfg: Config, report: MonitorReport, note: str, png: Path, json_name: str
) -> MonitorReport:
    """A run of kind "monitor": thresholds as params, PSI/KS and performance as metrics,
    status and fired triggers as tags, monitor.json and the chart as artifacts; the retraining
    decision, when there is one, as a nested run of its own. Returns the report with the runs'
    ids (`mlflow_run_id`, `retrain.decision_run_id`), as the logged monitor.json holds it."""
    configure(cfg)
    perf, score, retrain = report.performance, report.score, report.retrain
    fired = [t.name for t in report.triggers if t.fired]
    with mlflow.start_run(run_name=f"monitor {report.as_of}") as run:
        mlflow.set_tags(
            {
                "churnhealth.kind": "monitor",
                "churnhealth.status": report.status,
                "churnhealth.model_version": report.model.version,
                "churnhealth.triggers_fired": ",".join(fired) or "none",
                "churnhealth.retrain": retrain.status,
                "mlflow.note.content": note,
            }
        )
        mlflow.log_params(
            {
                "as_of": report.as_of,
                "model_version": report.model.version,
                "model_source": report.model.source,
                "live_rows": report.sample.live_rows,
                "reference_rows": report.sample.reference_rows,
                "retrain_requested": retrain.requested,
                **flatten(report.thresholds.model_dump(), "threshold."),
            }
        )
        values = {
            "score_psi": score.psi,
            "score_ks": score.ks,
            "top_feature_drift_share": report.top_features.share,
            "features_alert": sum(f.status == "alert" for f in report.features),
            "features_warn": sum(f.status == "warn" for f in report.features),
            "expected_churn_rate": report.expected.churn_rate,
            "expected_recall": report.expected.recall,
            "model_age_days": report.model.age_days,
            "roc_auc_decay": perf.roc_auc_decay,
            **{f"live_{k}": v for k, v in (perf.live or {}).items()},
            **{f"psi.{f.feature}": f.psi for f in report.features},
            **{f"ks.{f.feature}": f.ks for f in report.features},
        }
        mlflow.log_metrics({k: float(v) for k, v in values.items() if v is not None})
        if retrain.status not in ("not_requested", "not_triggered"):
            decided = _log_decision(retrain, report.as_of)
            retrain = retrain.model_copy(update={"decision_run_id": decided})
        report = report.model_copy(update={"mlflow_run_id": run.info.run_id, "retrain": retrain})
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(write_json(Path(tmp) / json_name, report.to_json())))
        mlflow.log_artifact(str(png))
    return report


def _log_decision(decision: Retrain, as_of: str) -> str:
    """The retraining decision as a nested run of its own (kind "retrain_decision"):
    decision and reasons as tags, versions and window as params, both models' metrics;
    returns the run's id."""
    with mlflow.start_run(run_name=f"retrain decision {as_of}", nested=True) as run:
        reasons = "\n".join(f"- {r}" for r in decision.reasons)
        mlflow.set_tags(
            {
                "churnhealth.kind": "retrain_decision",
                "churnhealth.decision": decision.status,
                "churnhealth.reasons": reasons[:5000],
                "mlflow.note.content": f"**{decision.status}**\n\n{reasons}",
            }
        )
        champ, chal, window = decision.champion, decision.challenger, decision.window
        mlflow.log_params(
            {
                "as_of": as_of,
                "decision": decision.status,
                "triggers": ",".join(decision.triggers or []),
                "champion_version": champ.version if champ else None,
                "challenger_version": chal.version if chal else None,
                "challenger_run_id": chal.run_id if chal else None,
                "challenger_history_from": chal.history_from if chal else None,
                "window_first": window.first if window else None,
                "window_last": window.last if window else None,
                "champion_after": decision.champion_after or (champ.version if champ else None),
            }
        )
        values = {f"champion_{k}": v for k, v in ((champ and champ.metrics) or {}).items()}
        values.update({f"challenger_{k}": v for k, v in ((chal and chal.metrics) or {}).items()})
        if window is not None:
            values.update({"window_rows": window.rows, "window_churners": window.churners})
        values["promoted"] = float(decision.status == "promoted")
        mlflow.log_metrics({k: float(v) for k, v in values.items() if v is not None})
    return run.info.run_id


def champion_artifacts(
    cfg: Config, tmp: Path
) -> tuple[str, TrainingReport | None, list[Path], list[str]]:
    """The champion's version, its training report (metrics.json) and SHAP summary plots
    (downloaded into `tmp`), and a note for each of those this store no longer has or cannot
    read (None or an empty list in its place: the report leaves that part out and says
    why)."""
    configure(cfg)
    name = cfg.mlflow.registered_model
    version = current_champion(name)
    if version is None:
        raise ChurnhealthError(
            f"no @champion of {name} in {redact(mlflow.get_tracking_uri())}: run train"
        )
    run_id = MlflowClient().get_model_version(name, version).run_id
    notes: list[str] = []

    def fetch(path: str, what: str) -> Path | None:
        try:
            return Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=path, dst_path=str(tmp)
                )
            )
        except Exception as exc:  # a deleted run, artifact folder or file
            notes.append(
                f"the champion v{version}'s training run {run_id} has no {path} in this store "
                f"({_gone(exc)}): the report leaves out {what}; `make train` records it again"
            )
            return None

    metrics = fetch("metrics.json", "the training figures")
    shap_dir = fetch("shap", "the SHAP summaries")
    training = None
    if metrics is not None:
        try:
            training = TrainingReport.model_validate(json.loads(metrics.read_text()))
        except ValueError as exc:  # not JSON, or pydantic's ValidationError
            notes.append(
                f"the champion v{version}'s metrics.json (run {run_id}) is not a training "
                f"report this churnhealth reads ({first_problem(exc)}): the report leaves out "
                "the training figures; `make train` records them again"
            )
    plots_ = sorted(shap_dir.glob("*.png")) if shap_dir is not None else []
    return version, training, plots_, notes


def attach(run_id: str, path: Path, named_by: str) -> str | None:
    """Add a file to an existing run's artifacts (the report to its backtest run). When this
    store does not have the run that `named_by` (a file) names, nothing is attached and the
    one-line reason is returned instead: the file came from another store, or the run was
    deleted."""
    client = MlflowClient()
    try:
        client.get_run(run_id)
    except Exception as exc:
        return (
            f"{named_by} names MLflow run {run_id}, which this store "
            f"({redact(mlflow.get_tracking_uri())}) does not have ({_gone(exc)}): {path.name} "
            "is not attached to it; run the command that wrote the file again to link them"
        )
    client.log_artifact(run_id, str(path))
    return None


def _gone(exc: Exception) -> str:
    """MLflow's reason in a few words, without its stack of context."""
    text = " ".join(str(exc).split())
    return redact(text[:160] + ("…" if len(text) > 160 else ""))
