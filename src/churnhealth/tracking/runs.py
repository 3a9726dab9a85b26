"""MLflow runs: what `train`, `backtest`, `monitor` and `report` record, and how.

- a training run (kind "train"): configuration and split parameters, one nested run per Optuna
  trial, test-window metrics, plots, SHAP summaries, metrics.json and the model, registered;
- a backtest run: its figures, tables and plots;
- a monitor run: thresholds, PSI/KS and performance, and the retraining decision as a nested run;
- the report, attached to its backtest run.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from churnhealth.atomic import write_json
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import expansion, horizons, judged, plots
from churnhealth.evaluation.backtest import FLAG_METRICS, lead_table, tables
from churnhealth.evaluation.holdout import Holdout
from churnhealth.location import redact
from churnhealth.models.fitter import TrainingData
from churnhealth.models.routed import HealthModel
from churnhealth.tracking.store import (
    HealthPyfunc,
    configure,
    current_champion,
    flatten,
    git_commit,
)

MODEL_PACKAGES = (
    *("churnhealth", "mlflow", "cloudpickle", "joblib", "numpy", "pandas", "scipy"),
    *("scikit-learn", "lightgbm"),
)
"""What loading a logged model needs: churnhealth, whose classes the pickle holds, and the
libraries whose fitted objects are inside it."""


def model_requirements() -> list[str]:
    """The logged model's pip requirements, at this environment's versions. Listed rather than
    inferred: MLflow's inference loads the model in a subprocess (about 5 s of every training)
    and finds only the estimator kinds this model happened to choose (a model of logistic
    regressions left LightGBM out)."""
    return [f"{name}=={metadata.version(name)}" for name in MODEL_PACKAGES]


class TrainingRun:
    """The active MLflow run of one training (see `training_run`)."""

    def __init__(self, cfg: Config, run_id: str) -> None:
        self.cfg = cfg
        self.run_id = run_id

    def log_trial(self, model: str, number: int, params: dict, loss: float) -> None:
        """One Optuna trial as a nested run (the fitter's `on_trial` callback)."""
        with mlflow.start_run(run_name=f"{model} trial {number}", nested=True):
            mlflow.set_tags({"churnhealth.kind": "optuna_trial", "model": model})
            mlflow.log_params(params)
            mlflow.log_metric("val_log_loss", loss)

    def log_horizons(self, year: dict) -> None:
        """The year-ahead test's figures (`h12_roc_auc`, `h90_ece`, `early_warning_roc_auc`…)."""
        if figures := horizons.flat(year):
            mlflow.log_metrics(figures)

    def log_judged(self, verdicts: dict[str, dict], gate: dict) -> None:
        """Which horizons were judged on this data and their figures (`judged_12m`,
        `judged_6m_roc_auc_lo`…), and the skill gate's verdict (`gate_passed`, tag
        `churnhealth.gate`)."""
        mlflow.log_metrics(
            {**judged.flat(verdicts), "gate_passed": float(gate["status"] == "passed")}
        )
        mlflow.set_tags(
            {"churnhealth.gate": gate["status"], "churnhealth.gate_reason": gate["reason"][:5000]}
        )

    def log_expansion(self, figures: dict) -> None:
        """The expansion model's test-window figures (`expansion_precision_top10`…)."""
        if metrics := expansion.flat(figures):
            mlflow.log_metrics(metrics)

    def log_choices(self, info: dict[str, dict]) -> None:
        """The chosen candidate, its tuned parameters and its calibration, per fitted model."""
        params = {}
        for name, meta in info.items():
            params.update(
                {f"best.{name}.lightgbm.{k}": v for k, v in meta["lightgbm_params"].items()}
            )
            params[f"best.{name}.model"] = meta["chosen"]
            params[f"best.{name}.calibration"] = meta["calibration"]
        mlflow.log_params(params)

    def log_model(self, model: HealthModel, holdout: Holdout, data: TrainingData) -> str:
        """Test-window metrics, reliability and ROC/PR plots, a SHAP summary per fitted model,
        the summary table, the configuration and the model itself, registered under
        `mlflow.registered_model`; returns the new version."""
        cfg, metrics = self.cfg, holdout.metrics
        frame, y, p = data.frame, data.y, holdout.probabilities
        te = data.mask("test")
        flat = {
            f"test_{k}": v
            for k, v in metrics["overall"].items()
            if isinstance(v, float) and np.isfinite(v)
        }
        for s, m in metrics["segments"].items():
            flat.update(
                {
                    f"test_{s}_{k}": v
                    for k, v in m.items()
                    if isinstance(v, float) and np.isfinite(v)
                }
            )
        mlflow.log_metrics(flat)
        seg = frame.segment.to_numpy()
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            rel = {s: (y[te & (seg == s)], p[te & (seg == s)]) for s in metrics["segments"]}
            plots.plot_reliability({"all": holdout.curves["model"], **rel}, tmp / "reliability.png")
            plots.plot_roc_pr(holdout.curves, tmp / "roc_pr.png")
            rng = np.random.default_rng(cfg.train.seed)
            va, tr = data.step_mask("val"), data.step_mask("train")
            step_seg = seg[data.steps.row.to_numpy()]
            for key, fitted in model.models.items():
                mine = (step_seg == key) if key != model.GLOBAL else True
                rows = np.flatnonzero(va & mine)
                bg = np.flatnonzero(tr & mine)
                sample = rng.choice(rows, min(len(rows), 1500), replace=False)
                background = rng.choice(bg, min(len(bg), 200), replace=False)
                name = "global" if key == model.GLOBAL else key
                plots.plot_shap_summary(
                    fitted,
                    data.Xs.iloc[sample],
                    data.Xs.iloc[background],
                    f"SHAP summary of the monthly hazard: {name} ({fitted.kind})",
                    tmp / f"shap_{name}.png",
                )
            holdout.summary.to_csv(tmp / "summary.csv", index=False)
            (tmp / "config.json").write_text(cfg.model_dump_json(indent=2))
            joblib.dump(model, tmp / "health_model.joblib")
            example = frame.loc[te, model.required_columns].head(5)
            example = example.astype(dict.fromkeys(model.numeric, "float64"))
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
                signature = infer_signature(example, model.score(example))
            for f in ("reliability.png", "roc_pr.png", "summary.csv", "config.json"):
                mlflow.log_artifact(str(tmp / f))
            for f in tmp.glob("shap_*.png"):
                mlflow.log_artifact(str(f), artifact_path="shap")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=HealthPyfunc(),
                artifacts={"health_model": str(tmp / "health_model.joblib")},
                signature=signature,
                input_example=example,
                pip_requirements=model_requirements(),
                registered_model_name=cfg.mlflow.registered_model,
            )
        return str(info.registered_model_version)

    def log_json(self, name: str, payload: dict) -> None:
        """A JSON artifact of the run (metrics.json)."""
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(write_json(Path(tmp) / name, payload)))


@contextmanager
def training_run(cfg: Config, data: TrainingData, as_of: dt.date | None) -> Iterator[TrainingRun]:
    """An MLflow run of kind "train", with the configuration, the data's fingerprint and the
    splits as parameters. A failure inside marks the run FAILED and registers nothing."""
    configure(cfg)
    with mlflow.start_run(run_name=f"train {dt.datetime.now():%Y-%m-%d %H:%M}") as run:
        mlflow.set_tags({"churnhealth.kind": "train", "git_commit": git_commit()})
        params = flatten(cfg.model_dump(mode="json"))
        params.update(
            {
                "data.fingerprint": data.fingerprint(),
                "data.source": redact(str(data.source.path)),
                "data.as_of": str(as_of or "latest"),
                "features.list": ",".join(data.fs.features),
                **{f"split.{k}": v for k, v in data.splits.describe().items()},
                **{f"split.{w}_{k}": v for w, d in data.windows().items() for k, v in d.items()},
            }
        )
        mlflow.log_params(params)
        yield TrainingRun(cfg, run.info.run_id)


def backtest_metrics(report: dict) -> dict[str, float]:
    """The headline figures of a backtest as MLflow metrics: the flag per renewal decision at
    90 and 180 days (`renewal_90d_recall`…), lead time, the rows' ROC-AUC and ECE, the
    forecast's coverage and errors."""
    out = {}
    for lead in ("90", "180"):
        o = report["renewals"]["leads"][lead]["overall"]
        for k in (*FLAG_METRICS, "roc_auc", "arr_weighted_recall"):
            out[f"renewal_{lead}d_{k}"] = o[k]
    out.update({f"lead_{k}": v for k, v in report["lead_time"].items()})
    for name in ("horizon", "90d"):
        for k in ("roc_auc", "ece", "brier"):
            out[f"{name}_{k}"] = report["overall"][name][k]
    for k, v in report["forecast"]["check"].get("portfolio", {}).items():
        out[f"forecast_{k}"] = float(v)
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


def log_backtest(cfg: Config, report: dict, predictions: pd.DataFrame, data: Path | None) -> str:
    """A run of kind "backtest": origins and settings as parameters, the headline figures,
    the tables, plots and backtest.json as artifacts. Sets `report["run_id"]`."""
    configure(cfg)
    with mlflow.start_run(run_name=f"backtest {dt.datetime.now():%Y-%m-%d %H:%M}") as run:
        mlflow.set_tags({"churnhealth.kind": "backtest", "git_commit": git_commit()})
        mlflow.log_params(
            {
                "data.source": redact(str(data or cfg.data.path)),
                "origins": ",".join(report["origins"]),
                **flatten(cfg.backtest.model_dump(mode="json"), "backtest."),
            }
        )
        mlflow.log_metrics(backtest_metrics(report))
        report["run_id"] = run.info.run_id
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for name, table in tables(report).items():
                table.to_csv(tmp / f"{name}.csv", index=False)
                mlflow.log_artifact(str(tmp / f"{name}.csv"), artifact_path="tables")
            for png in plots.backtest_plots(
                report, predictions, lead_table(report, predictions), tmp
            ).values():
                mlflow.log_artifact(str(png))
            mlflow.log_artifact(str(write_json(tmp / "backtest.json", report)))
    return run.info.run_id


def log_monitor(cfg: Config, report: dict, note: str, png: Path, json_name: str) -> str:
    """A run of kind "monitor": thresholds as params, PSI/KS and performance as metrics,
    status and fired triggers as tags, monitor.json and the chart as artifacts; the retraining
    decision, when there is one, as a nested run of its own. Sets `report["mlflow_run_id"]`."""
    configure(cfg)
    perf, score = report["performance"], report["score"]
    fired = [t["name"] for t in report["triggers"] if t["fired"]]
    with mlflow.start_run(run_name=f"monitor {report['as_of']}") as run:
        report["mlflow_run_id"] = run.info.run_id
        mlflow.set_tags(
            {
                "churnhealth.kind": "monitor",
                "churnhealth.status": report["status"],
                "churnhealth.model_version": report["model"]["version"],
                "churnhealth.triggers_fired": ",".join(fired) or "none",
                "churnhealth.retrain": report["retrain"]["status"],
                "mlflow.note.content": note,
            }
        )
        mlflow.log_params(
            {
                "as_of": report["as_of"],
                "model_version": report["model"]["version"],
                "model_source": report["model"]["source"],
                "live_rows": report["sample"]["live_rows"],
                "reference_rows": report["sample"]["reference_rows"],
                "retrain_requested": report["retrain"]["requested"],
                **flatten(report["thresholds"], "threshold."),
            }
        )
        values = {
            "score_psi": score["psi"],
            "score_ks": score["ks"],
            "top_feature_drift_share": report["top_features"]["share"],
            "features_alert": sum(f["status"] == "alert" for f in report["features"]),
            "features_warn": sum(f["status"] == "warn" for f in report["features"]),
            "expected_churn_rate": report["expected"]["churn_rate"],
            "expected_recall": report["expected"]["recall"],
            "model_age_days": report["model"]["age_days"],
            "roc_auc_decay": perf.get("roc_auc_decay"),
            **{f"live_{k}": v for k, v in perf.get("live", {}).items()},
            **{f"psi.{f['feature']}": f["psi"] for f in report["features"]},
            **{f"ks.{f['feature']}": f["ks"] for f in report["features"]},
        }
        mlflow.log_metrics({k: float(v) for k, v in values.items() if v is not None})
        if report["retrain"]["status"] not in ("not_requested", "not_triggered"):
            _log_decision(report["retrain"], report["as_of"])
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(write_json(Path(tmp) / json_name, report)))
        mlflow.log_artifact(str(png))
    return run.info.run_id


def _log_decision(decision: dict, as_of: str) -> str:
    """The retraining decision as a nested run of its own (kind "retrain_decision"):
    decision and reasons as tags, versions and window as params, both models' metrics."""
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


def tag_gate(cfg: Config, version: str, gate: dict) -> None:
    """Record the skill gate's verdict on the registered version (`promote` reads it)."""
    client = MlflowClient()
    name = cfg.mlflow.registered_model
    client.set_model_version_tag(name, version, "churnhealth.gate", gate["status"])
    client.set_model_version_tag(name, version, "churnhealth.gate_reason", gate["reason"][:5000])


def tag_version(cfg: Config, version: str, status: str, reason: str) -> None:
    """Record the monitor's decision about a registered version on the version itself."""
    client = MlflowClient()
    name = cfg.mlflow.registered_model
    client.set_model_version_tag(name, version, "churnhealth.monitor_decision", status)
    client.set_model_version_tag(name, version, "churnhealth.monitor_reason", reason[:5000])


def champion_artifacts(cfg: Config, tmp: Path) -> tuple[str, dict, list[Path], list[str]]:
    """The champion's version, its training metrics.json and SHAP summary plots (downloaded
    into `tmp`), and a note for each of those this store no longer has (an empty dict or list
    in its place: the report leaves that part out and says why)."""
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
    training = json.loads(metrics.read_text()) if metrics is not None else {}
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
