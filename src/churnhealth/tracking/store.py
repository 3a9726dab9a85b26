"""The MLflow store and registry: configuring the store, the champion/challenger aliases,
exporting the champion to models/champion/, and loading a model to score with.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from churnhealth.atomic import check_folder_writable
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation.bundle import ModelBundle
from churnhealth.location import redact
from churnhealth.locks import locked
from churnhealth.models.routed import HealthModel

CHAMPION, CHALLENGER = "champion", "challenger"


def configure(cfg: Config) -> str:
    """Point MLflow at the configured store (MLFLOW_TRACKING_URI wins) and experiment; one line
    naming the store (without its password) when it cannot be opened."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        # MLflow logs a failing query at ERROR level before raising it; the error reaches the
        # user once, as one line (`_first`), not as a page of SQL
        logging.getLogger(name).setLevel(logging.CRITICAL)
    user_uri = os.environ.get("MLFLOW_TRACKING_URI")
    uri = user_uri or cfg.mlflow.tracking_uri
    mlflow.set_tracking_uri(uri)
    if user_uri is None:
        # MLflow also exports the URI to the environment; left there, it would pass for the
        # user's override and pin every later configuration in this process to this store.
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    name = cfg.mlflow.experiment
    try:
        if mlflow.get_experiment_by_name(name) is None:
            location = cfg.mlflow.artifact_location
            if "://" not in location:
                location = Path(location).resolve().as_uri()
            mlflow.create_experiment(name, artifact_location=location)
        mlflow.set_experiment(name)
    except Exception as exc:
        raise ChurnhealthError(f"tracking store {redact(uri)}: unusable ({_first(exc)})") from None
    return uri


def _first(exc: BaseException) -> str:
    """The first line of an exception's message (MLflow and SQLAlchemy add many)."""
    text = str(exc).strip().splitlines()
    return redact(text[0][:300]) if text else type(exc).__name__


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """`d` as MLflow params: nested keys joined by dots, values as text with secrets hidden
    (`mlflow.tracking_uri` may hold a password)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = redact(str(v))
    return out


def _not_found(exc: MlflowException) -> bool:
    """No such registered model, or no such alias: not an error, just no champion yet."""
    if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return exc.error_code == "INVALID_PARAMETER_VALUE" and "alias" in str(exc).lower()


def current_champion(name: str) -> str | None:
    """The @champion version, None when there is none; a registry that cannot be read is an
    error (one line), never taken for "no champion yet"."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if _not_found(exc):
            return None
        problem = _first(exc)
    except Exception as exc:
        problem = _first(exc)
    raise ChurnhealthError(
        f"registry {redact(mlflow.get_tracking_uri())}: cannot read the @{CHAMPION} alias of "
        f"{name} ({problem})"
    )


def set_alias(name: str, alias: str, version: str) -> None:
    try:
        MlflowClient().set_registered_model_alias(name, alias, str(version))
    except Exception as exc:
        raise ChurnhealthError(
            f"registry: cannot set @{alias} of {name} to v{version} ({_first(exc)})"
        ) from None


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
    """Replace `target` by `staged` (the caller holds the export's lock)."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    shutil.rmtree(old, ignore_errors=True)


def export_champion(cfg: Config) -> Path:
    """Copy the registry's @champion to `paths.champion_dir` (an MLflow model directory).

    Under the export's lock, so a concurrent reader sees the old export or the new one, never a
    mix, and concurrent writers leave the export matching the alias."""
    name, target = cfg.mlflow.registered_model, Path(cfg.paths.champion_dir)
    with locked(target, what=f"paths.champion_dir {target}"):
        version = current_champion(name)
        if version is None:
            raise ChurnhealthError(f"registry: {name} has no @{CHAMPION} to export")
        with _staged(name, version, target) as staged:
            _swap(staged, target)
    return target


def promote(cfg: Config, version: str, *, force: bool = False, reason: str | None = None) -> Path:
    """Make `version` the champion: the @champion alias and the export to `champion_dir`
    change together, under the export's lock. The model is downloaded first; if the folder
    cannot then be replaced, the alias goes back to the previous champion.

    A version that failed the skill gate is refused unless `force`, which needs a `reason`;
    a forced promotion is recorded on the version (who it replaced, when, why) and on the
    registered model (`churnhealth.last_forced`)."""
    configure(cfg)
    name = cfg.mlflow.registered_model
    client = MlflowClient()
    if force and not (reason or "").strip():
        raise ChurnhealthError("promote: --force needs --reason saying why (it is recorded)")
    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException as exc:
        detail = "" if _not_found(exc) else f" ({_first(exc)})"
        raise ChurnhealthError(f"promote: {name} has no version {version}{detail}") from None
    except Exception as exc:
        raise ChurnhealthError(f"promote: cannot read {name} v{version} ({_first(exc)})") from None
    if mv.tags.get("churnhealth.gate") == "failed" and not force:
        raise ChurnhealthError(
            f"promote: {name} v{version} failed the skill gate "
            f"({mv.tags.get('churnhealth.gate_reason', 'see its metrics.json')}); to promote it "
            f"anyway: churnhealth promote {version} --force --reason '…'"
        )
    target = Path(cfg.paths.champion_dir)
    check_folder_writable(target.parent, "paths.champion_dir", shown=target)
    with locked(target, what=f"paths.champion_dir {target}"):
        previous = current_champion(name)
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
    if force:
        _record_forced(client, name, str(version), previous, reason or "")
    return target


def _record_forced(client: MlflowClient, name: str, version: str, previous, reason: str) -> None:
    """A forced promotion, on the version and on the registered model."""
    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    tags = {
        "churnhealth.forced": "true",
        "churnhealth.force_reason": reason[:5000],
        "churnhealth.forced_at": at,
        "churnhealth.forced_over": f"v{previous}" if previous else "no champion",
    }
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_tag(
        name, "churnhealth.last_forced", f"v{version} {at}: {reason}"[:5000]
    )


def _no_champion(name: str, export: Path) -> str:
    """Why there is no champion to score with, and how to get one."""
    latest = None
    try:
        found = MlflowClient().search_model_versions(
            f"name='{name}'", order_by=["version_number DESC"], max_results=1
        )
        latest = found[0] if found else None
    except Exception:  # an unreadable registry: the plain message below still holds
        pass
    if latest is not None and latest.tags.get("churnhealth.gate") == "failed":
        return (
            f"model: no @{CHAMPION} of {name}: v{latest.version}, the latest, failed the skill "
            f"gate ({latest.tags.get('churnhealth.gate_reason', '')}); train on more history or "
            f"more accounts, or `churnhealth promote {latest.version} --force --reason '…'`"
        )
    return (
        f"model: no @{CHAMPION} in the registry and no export in {export}: run `make train` first"
    )


class HealthPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: predict(features) → churn_probability, health_score, tier, model.

    The artifact is the model bundle ("bundle"); models registered before bundles saved the
    bare health model ("health_model"), which `unwrap` reads into a bundle."""

    def load_context(self, context) -> None:
        key = "bundle" if "bundle" in context.artifacts else "health_model"
        self.saved: object = joblib.load(context.artifacts[key])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return ModelBundle.loaded(self.saved, "the logged model").health.score(model_input)


@dataclass
class LoadedModel:
    """A model bundle to score with, where it came from, and anything worth saying about how
    it was found (a fallback to the export)."""

    bundle: ModelBundle
    version: str
    source: str
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What a reader of its scores should see first: a champion forced past the skill gate."""

    @property
    def model(self) -> HealthModel:
        """The bundle's health model."""
        return self.bundle.health


def load_model(cfg: Config, uri: str | None) -> LoadedModel:
    """--model URI or path; by default the registry's @champion.

    Without a registered champion, the export in `paths.champion_dir` (a copied deployment).
    When the registered champion cannot be loaded, its export is used only if it holds the same
    version, and a note says so; otherwise one line says what failed."""
    if uri:
        return _load(uri)
    configure(cfg)
    name, export = cfg.mlflow.registered_model, Path(cfg.paths.champion_dir)
    version = current_champion(name)
    if version is None:
        if not export.exists():
            raise ChurnhealthError(_no_champion(name, export))
        lm = _load(str(export))
        lm.notes.append(f"no @{CHAMPION} of {name} in the registry: scored with {export}")
        return lm
    try:
        lm = _load(f"models:/{name}@{CHAMPION}")
        if (why := _forced_past_gate(name, version)) is not None:
            lm.problems.append(why)
        return lm
    except ChurnhealthError as exc:
        failed = str(exc).removeprefix("model: ")
    exported = _exported_version(export)
    if exported != version:
        have = f"holds v{exported}" if exported else "does not exist"
        raise ChurnhealthError(
            f"model: the registry's champion v{version} could not be loaded ({failed}); its "
            f"export {export} {have}: pass --model to score with another model"
        )
    lm = _load(str(export))
    lm.notes.append(
        f"the registry's champion v{version} could not be loaded ({failed}); scored with its "
        f"export {export}"
    )
    return lm


def _forced_past_gate(name: str, version: str) -> str | None:
    """One line when champion `version` failed the skill gate (it was promoted by force): its
    scores then rank accounts no better than the data could show, and every run says so."""
    tags = MlflowClient().get_model_version(name, version).tags
    if tags.get("churnhealth.gate") != "failed":
        return None
    why = tags.get("churnhealth.gate_reason") or "no figure recorded"
    return (
        f"champion v{version} failed the skill gate ({why}) and was promoted by force: its "
        "health may rank accounts no better than chance on this data"
    )


def _exported_version(export: Path) -> str | None:
    marker = export / "registered_model.json"
    try:
        return str(json.loads(marker.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def _load(uri: str) -> LoadedModel:
    """Load one model URI or directory; one line when it cannot be."""
    local = "://" not in uri and ":" not in uri.split("/")[0]
    if local and not Path(uri).exists():
        raise ChurnhealthError(f"model: {uri}: no such model directory")
    try:
        if local:
            with locked(Path(uri), shared=True, what=f"model {uri}"):
                pyfunc = mlflow.pyfunc.load_model(uri)
                version = version_of(pyfunc, uri)
        else:
            pyfunc = mlflow.pyfunc.load_model(uri)
            version = version_of(pyfunc, uri)
        bundle = unwrap(pyfunc, uri)
    except ChurnhealthError:
        raise
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ChurnhealthError(
            f"model: {uri}: saved by another version of churnhealth ({_first(exc)}); "
            "retrain it with `churnhealth train`"
        ) from None
    except Exception as exc:
        raise ChurnhealthError(f"model: {uri}: {_first(exc)}") from None
    return LoadedModel(bundle, version, uri)


def unwrap(pyfunc_model, where: str = "the model") -> ModelBundle:
    """The model bundle inside a loaded MLflow pyfunc model (one line naming `where` when it
    holds none, or one a later churnhealth saved)."""
    inner = pyfunc_model.unwrap_python_model()
    if not isinstance(inner, HealthPyfunc):
        raise ChurnhealthError(f"model: {where}: not a churnhealth health model")
    return ModelBundle.loaded(inner.saved, where)


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
