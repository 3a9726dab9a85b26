"""A small trained model, tracked in a temporary SQLite MLflow store (once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from churnhealth.config import Config
from churnhealth.jobs.train import TrainResult, train
from churnhealth.synth import generate


def small_config(root: Path, **train_overrides) -> Config:
    """Config whose store, artifacts and outputs all live under `root`; tiny tuning budget."""
    cfg = Config().rooted(root)
    tuning = cfg.train.tuning.model_copy(update={"trials": 2, "timeout_s": 10})
    return cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"tuning": tuning, **train_overrides})}
    )


@dataclass
class Trained:
    root: Path
    data: Path
    cfg: Config
    result: TrainResult


@pytest.fixture(scope="session")
def trained(tmp_path_factory, monkeypatch_session) -> Trained:
    root = tmp_path_factory.mktemp("trained")
    data = root / "company.duckdb"
    generate(data, accounts=900, years=3, seed=2)
    cfg = small_config(root)
    monkeypatch_session.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = train(cfg, data)
    return Trained(root, data, cfg, result)


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
    mlflow.set_tracking_uri(None)
