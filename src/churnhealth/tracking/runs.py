"""MLflow runs of `train`: the training run (kind "train") with the configuration and split
parameters, one nested run per Optuna trial, test-window metrics, plots, SHAP summaries,
metrics.json and the model, registered; and the tags a registered version carries (the skill
gate's verdict, the monitor's decision). The backtest's and the monitor's runs are in
`tracking.evaluations`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import joblib
import mlflow
import numpy as np
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from churnhealth.atomic import write_json
from churnhealth.config import Config
from churnhealth.evaluation import expansion, horizons, judged
from churnhealth.evaluation.bundle import ModelBundle
from churnhealth.evaluation.holdout import Holdout
from churnhealth.evaluation.training_report import Gate, Judged
from churnhealth.location import redact
from churnhealth.models.fitter import TrainingData
from churnhealth.tracking.store import (
    HealthPyfunc,
    configure,
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

    def log_judged(self, verdicts: Judged, gate: Gate) -> None:
        """Which horizons were judged on this data and their figures (`judged_12m`,
        `judged_6m_roc_auc_lo`…), and the skill gate's verdict (`gate_passed`, tag
        `churnhealth.gate`)."""
        mlflow.log_metrics({**judged.flat(verdicts.as_dicts()), "gate_passed": float(gate.passed)})
        mlflow.set_tags(
            {"churnhealth.gate": gate.status, "churnhealth.gate_reason": gate.reason[:5000]}
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

    def log_model(self, bundle: ModelBundle, holdout: Holdout, data: TrainingData) -> str:
        """Test-window metrics, reliability and ROC/PR plots, a SHAP summary per fitted model,
        the summary table, the configuration and the model bundle itself, registered under
        `mlflow.registered_model`; returns the new version."""
        from churnhealth.evaluation import plots  # matplotlib: not on predict's path

        cfg, metrics, model = self.cfg, holdout.metrics, bundle.health
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
            joblib.dump(bundle, tmp / "bundle.joblib")
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
                artifacts={"bundle": str(tmp / "bundle.joblib")},
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


def tag_gate(cfg: Config, version: str, gate: Gate) -> None:
    """Record the skill gate's verdict on the registered version (`promote` reads it)."""
    client = MlflowClient()
    name = cfg.mlflow.registered_model
    client.set_model_version_tag(name, version, "churnhealth.gate", gate.status)
    client.set_model_version_tag(name, version, "churnhealth.gate_reason", gate.reason[:5000])


def tag_version(cfg: Config, version: str, status: str, reason: str) -> None:
    """Record the monitor's decision about a registered version on the version itself."""
    client = MlflowClient()
    name = cfg.mlflow.registered_model
    client.set_model_version_tag(name, version, "churnhealth.monitor_decision", status)
    client.set_model_version_tag(name, version, "churnhealth.monitor_reason", reason[:5000])
