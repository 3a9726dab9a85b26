"""A small trained model, tracked in a temporary SQLite MLflow store (once per session)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import joblib
import mlflow
import pytest
import yaml

from churnhealth.config import Config
from churnhealth.jobs.train import TrainResult
from churnhealth.tracking.store import configure
from tests.model.golden import wait

ROOT = Path(__file__).resolve().parents[2]


def small_config(root: Path, expansion: bool = True, **train_overrides) -> Config:
    """Config whose store, artifacts and outputs all live under `root`; tiny tuning budget,
    counted in trials only (a time budget would make the model depend on the machine's load);
    `expansion=False` trains no expansion model (tests of drift and training mechanics)."""
    cfg = Config().rooted(root)
    tuning = cfg.train.tuning.model_copy(update={"trials": 2})
    return cfg.model_copy(
        update={
            "train": cfg.train.model_copy(update={"tuning": tuning, **train_overrides}),
            "expansion": cfg.expansion.model_copy(update={"trials": 2, "enabled": expansion}),
        }
    )


@dataclass
class Trained:
    root: Path
    data: Path
    cfg: Config
    result: TrainResult


GOLDEN_ONLY = {"mlartifacts", "started", "done", "build.log", "result.joblib"}
"""What the shared build keeps to itself: the artifacts it logged stay where the copied store
says they are."""


def shared_root(base: Path) -> Path:
    """Where the run's shared trained workspace is built: beside the workers' own temporary
    folders under xdist (`base` is then the worker's), in `base` itself otherwise."""
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "golden-trained"


@pytest.fixture(scope="session")
def trained(tmp_path_factory, monkeypatch_session) -> Trained:
    """A 900-account, three-year company trained once per run (`tests/model/golden.py`), copied
    into this worker's own folder: its MLflow store, champion export, reports and data are its
    own, so what one worker's tests register or promote no other sees (the artifacts logged
    by the shared training stay where it logged them)."""
    golden = wait(shared_root(tmp_path_factory.getbasetemp()))
    root = tmp_path_factory.mktemp("trained")
    shutil.copytree(
        golden,
        root,
        dirs_exist_ok=True,
        ignore=lambda folder, names: GOLDEN_ONLY & set(names) if Path(folder) == golden else [],
    )
    monkeypatch_session.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = joblib.load(golden / "result.joblib")
    cfg = small_config(root)
    configure(cfg)  # MLflow points at this copy's store, as after training in this process
    return Trained(root, root / "company.duckdb", cfg, result)


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
    mlflow.set_tracking_uri(None)


def copy_workspace(trained: Trained, root: Path) -> tuple[Path, dict]:
    """A configuration file under `root` with its own copy of the trained fixture's MLflow
    store (the artifacts stay where the fixture logged them) and champion export, and its own
    outputs: commands run against it change nothing the other tests see."""
    store = root / "mlflow.db"
    shutil.copy(Path(trained.cfg.mlflow.tracking_uri.removeprefix("sqlite:///")), store)
    shutil.copytree(trained.cfg.paths.champion_dir, root / "models" / "champion")
    cfg = trained.cfg.model_dump(mode="json")
    cfg["mlflow"]["tracking_uri"] = f"sqlite:///{store}"
    cfg["paths"] = {
        "champion_dir": str(root / "models" / "champion"),
        "reports_dir": str(root / "reports"),
    }
    cfg["predict"].update(
        history=str(root / "outputs" / "history.duckdb"),
        alerts=str(root / "outputs" / "alerts.jsonl"),
        out_dir=str(root / "outputs"),
        playbooks=str(ROOT / "configs/playbooks.yaml"),
    )
    cfg["features"]["definitions"] = str(ROOT / "configs/features.yaml")
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, cfg
