"""False alarms: on a company without drift the monitor raises no alert. One seed here;
`benchmarks/bench_monitor.py` runs five and docs/monitoring.md records them (the suite keeps
the behaviour, the benchmark the rate)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from churnhealth.jobs.monitor import monitor
from churnhealth.jobs.train import train
from churnhealth.synth import generate
from tests.model.conftest import small_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0])
def test_no_drift_raises_no_alert(seed, tmp_path, monkeypatch):
    """Trained on the data before 2026-05-01, monitored six months later at the data's end,
    when three months of labels have matured."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = tmp_path / "company.duckdb"
    generate(data, accounts=1500, years=3, seed=seed, truth_paths=10)  # no oracle needed
    cfg = small_config(tmp_path, expansion=False, test_days=90, val_days=180)
    cfg = cfg.model_copy(
        update={
            "features": cfg.features.model_copy(
                update={"definitions": ROOT / "configs/features.yaml"}
            )
        }
    )
    train(cfg, data, as_of=dt.date(2026, 5, 1))
    r = monitor(cfg, data, as_of=dt.date(2026, 11, 1)).report
    assert r.sample.sufficient and r.performance.status != "insufficient_data"
    alerts = [f.feature for f in r.features if f.status == "alert"]
    assert alerts == []
    assert r.score.status != "alert" and r.performance.status != "alert"
    assert r.status != "alert"
    assert [t.name for t in r.triggers if t.fired] == []
