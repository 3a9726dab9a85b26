"""The MLflow store and registry: configuring the store, the champion/challenger aliases,
exporting the champion to models/champion/, and loading a model to score with.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import joblib
import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.models.routed import HealthModel

CHAMPION, CHALLENGER = "champion", "challenger"


def configure(cfg: Config) -> str:
    """Point MLflow at the configured store (MLFLOW_TRACKING_URI wins) and experiment."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    user_uri = os.environ.get("MLFLOW_TRACKING_URI")
    uri = user_uri or cfg.mlflow.tracking_uri
    mlflow.set_tracking_uri(uri)
    if user_uri is None:
        # MLflow also exports the URI to the environment; left there, it would pass for the
        # user's override and pin every later configuration in this process to this store.
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    name = cfg.mlflow.experiment
    if mlflow.get_experiment_by_name(name) is None:
        location = cfg.mlflow.artifact_location
        if "://" not in location:
            location = Path(location).resolve().as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return uri


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = str(v)
    return out


def current_champion(name: str) -> str | None:
    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION).version
    except MlflowException:
        return None


def set_alias(name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, str(version))


@contextmanager
def _staged(name: str, version: str, target: Path) -> Iterator[Path]:
    """Version `version` of the registered model, downloaded into a folder beside `target`
    (removed on exit unless it has been moved into place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}", dst_path=str(tmp / "download")
        )
        staged = tmp / "model"
        shutil.move(local, staged)
        (staged / "registered_model.json").write_text(
            json.dumps({"name": name, "version": str(version), "alias": CHAMPION})
        )
        yield staged
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap(staged: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def export_champion(name: str, target: Path) -> Path:
    """Copy the registry's @champion to `target` (an MLflow model directory), atomically."""
    target = Path(target)
    with _staged(name, str(current_champion(name)), target) as staged:
        _swap(staged, target)
    return target


def promote(cfg: Config, version: str) -> Path:
    """Make `version` the champion: the @champion alias and the export to `champion_dir`
    change together. The model is downloaded first; if the folder cannot then be replaced,
    the alias goes back to the previous champion."""
    configure(cfg)
    name = cfg.mlflow.registered_model
    client = MlflowClient()
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise ChurnhealthError(f"promote: {name} has no version {version}") from None
    previous = current_champion(name)
    target = Path(cfg.paths.champion_dir)
    with _staged(name, str(version), target) as staged:
        set_alias(name, CHAMPION, version)
        try:
            _swap(staged, target)
        except BaseException:
            if previous is None:
                client.delete_registered_model_alias(name, CHAMPION)
            else:
                set_alias(name, CHAMPION, previous)
            raise
    return target


class HealthPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: predict(features) → churn_probability, health_score, tier, model."""

    def load_context(self, context) -> None:
        self.model: HealthModel = joblib.load(context.artifacts["health_model"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.model.score(model_input)


@dataclass
class LoadedModel:
    """A health model to score with, and where it came from."""

    model: HealthModel
    version: str
    source: str


def load_model(cfg: Config, uri: str | None) -> LoadedModel:
    """--model URI or path; by default the registry's @champion, else models/champion/."""
    candidates = [uri] if uri else []
    if not uri:
        configure(cfg)
        if current_champion(cfg.mlflow.registered_model):
            candidates.append(f"models:/{cfg.mlflow.registered_model}@champion")
        candidates.append(str(cfg.paths.champion_dir))
    errors = []
    for c in candidates:
        if "://" not in c and ":" not in c.split("/")[0] and not Path(c).exists():
            errors.append(f"{c}: no such model directory")
            continue
        try:
            pyfunc = mlflow.pyfunc.load_model(c)
        except Exception as exc:
            errors.append(f"{c}: {str(exc).strip().splitlines()[0][:200]}")
            continue
        return LoadedModel(unwrap(pyfunc), version_of(pyfunc, c), c)
    raise ChurnhealthError(
        "model: " + "; ".join(errors or ["no model found: run `make train` first"])
    )


def unwrap(pyfunc_model) -> HealthModel:
    """The HealthModel inside a loaded MLflow pyfunc model."""
    return pyfunc_model.unwrap_python_model().model


def version_of(pyfunc, uri: str) -> str:
    """Registered version for a registry URI or an exported champion; else the run id."""
    if uri.startswith("models:/"):
        ref = uri.removeprefix("models:/")
        name, _, alias = ref.partition("@")
        if alias:
            return str(MlflowClient().get_model_version_by_alias(name, alias).version)
        return ref.partition("/")[2]
    marker = Path(uri) / "registered_model.json"
    if marker.exists():
        return str(json.loads(marker.read_text())["version"])
    return f"run-{(pyfunc.metadata.run_id or 'unknown')[:8]}"
