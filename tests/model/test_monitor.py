"""Drift monitors on companies with injected drift: usage shift, concept shift, retraining.

Both companies share their seed and size, so they are identical before the shift date
(tests/data/test_synth.py checks it): the model trained on one before that date is the model
of the other too, and one training serves every test here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import joblib
import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.evaluation.challenger import evaluate_on
from churnhealth.evaluation.monitor_report import MonitorReport
from churnhealth.features.grid import schedule
from churnhealth.jobs.monitor import monitor
from churnhealth.jobs.train import TrainResult, train
from churnhealth.scoring.scorer import Scorer
from churnhealth.synth import Drift, generate
from churnhealth.tracking import load_model
from tests.conftest import cli
from tests.model.conftest import small_config

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SHIFT = dt.date(2025, 11, 1)
"""Both drifts start here, 24 months into a 5-year company; the champion is trained as of it."""
CHAMPION = "models:/churnhealth/1"


@dataclass
class Shifted:
    root: Path
    cfg: Config
    config_file: Path
    usage: Path
    concept: Path
    champion: TrainResult


def _config(root: Path, **retrain) -> Config:
    """Short validation and test windows, so a model fits in 2 years and a challenger in the
    2 years after the shift; the retraining policy learns from post-shift data only."""
    cfg = small_config(
        root, expansion=False, test_days=90, val_days=180, earlier_origin=False
    )  # no horizon beyond the test window is judged here: no earlier-origin model to fit
    # two trials whatever the machine's load: a time budget would let a busy machine stop a
    # study after one trial, and the decay these tests look for would change with it
    tuning = cfg.train.tuning.model_copy(update={"trials": 2})
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"tuning": tuning})})
    policy = cfg.monitor.retrain.model_copy(
        update={"history_days": 720, "max_model_age_days": 3650, **retrain}
    )
    return cfg.model_copy(
        update={
            "features": cfg.features.model_copy(
                update={"definitions": ROOT / "configs/features.yaml"}
            ),
            "monitor": cfg.monitor.model_copy(update={"retrain": policy}),
        }
    )


def _write(cfg: Config, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


@pytest.fixture(scope="module")
def shifted(tmp_path_factory, monkeypatch_session) -> Shifted:
    root = tmp_path_factory.mktemp("shifted")
    usage, concept = root / "usage.duckdb", root / "concept.duckdb"
    # few Monte Carlo paths: the truth table only feeds the oracle's figures, unused here
    generate(usage, 2000, 5, seed=0, drifts=(Drift("usage_shift", SHIFT),), truth_paths=10)
    generate(concept, 2000, 5, seed=0, drifts=(Drift("concept_shift", SHIFT),), truth_paths=10)
    monkeypatch_session.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = _config(root)
    champion = train(cfg, concept, as_of=SHIFT)
    return Shifted(root, cfg, _write(cfg, root / "config.yaml"), usage, concept, champion)


def test_usage_shift_alerts_usage_features_and_no_other_dimension(shifted):
    out = shifted.root / "usage" / "monitor.json"
    r = monitor(shifted.cfg, shifted.usage, CHAMPION, dt.date(2026, 1, 1), out=out).report
    assert json.loads(out.read_text()) == r.to_json()
    assert MonitorReport.model_validate_json(out.read_text()) == r  # what it wrote, it reads
    assert (out.parent / "monitor_psi.png").stat().st_size > 10_000
    alerts = {f.feature: f.dimension for f in r.features if f.status == "alert"}
    assert {"usage_license_share_30d", "usage_core_depth_30d"} <= set(alerts)
    assert set(alerts.values()) == {"usage"}
    others = [f for f in r.features if f.dimension != "usage"]
    assert max(f.psi for f in others if f.status != "expected") < 0.1
    assert r.status == "alert" and r.dimensions["usage"].alert == len(alerts)
    # two months after the model's data end, no label has matured yet
    assert r.performance.status == "insufficient_data"
    # expected churn over the health horizon (a year): most accounts stay
    assert 0 < r.expected.churn_rate < 0.5 and 0 < r.expected.recall < 1


def test_concept_shift_decay_is_detected_on_matured_labels(shifted):
    r = monitor(shifted.cfg, shifted.concept, CHAMPION, dt.date(2026, 7, 1)).report
    perf = r.performance
    assert perf.window.first >= str(SHIFT) and perf.window.churners >= 100
    test_auc = shifted.champion.report.overall["roc_auc"]
    assert perf.training_test["roc_auc"] == pytest.approx(test_auc)
    assert perf.status == "alert" and perf.roc_auc_decay_lower >= 0.05
    fired = {t.name for t in r.triggers if t.fired}
    assert fired == {"roc_auc_decay"}
    assert r.retrain.status == "not_requested"


def test_failed_retraining_never_replaces_the_champion(shifted):
    cfg = _config(shifted.root / "failed", history_days=200)
    cfg = cfg.model_copy(update={"mlflow": shifted.cfg.mlflow, "paths": shifted.cfg.paths})
    client = MlflowClient(cfg.mlflow.tracking_uri)
    before = client.get_model_version_by_alias("churnhealth", "champion").version
    exported = (cfg.paths.champion_dir / "registered_model.json").read_text()
    out = shifted.root / "failed" / "monitor.json"
    r = monitor(cfg, shifted.concept, CHAMPION, dt.date(2026, 7, 1), retrain=True, out=out).report
    assert r.retrain.status == "failed"
    assert "retraining failed: labelled as-of dates span" in r.retrain.reasons[-1]
    assert client.get_model_version_by_alias("churnhealth", "champion").version == before
    assert (cfg.paths.champion_dir / "registered_model.json").read_text() == exported
    run = client.get_run(r.mlflow_run_id)
    assert run.data.tags["churnhealth.retrain"] == "failed"


def test_monitor_retrain_promotes_a_challenger_that_recovers_the_lost_auc(shifted):
    out = shifted.root / "retrain" / "monitor.json"
    res = cli(
        "monitor",
        "--data",
        str(shifted.concept),
        "--config",
        str(shifted.config_file),
        "--as-of",
        "2027-11-01",
        "--retrain",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    assert "Retraining: promoted" in res.stdout
    r = json.loads(out.read_text())
    decision = r["retrain"]
    assert decision["status"] == "promoted" and "roc_auc_decay" in decision["triggers"]
    new = decision["challenger"]["version"]
    assert decision["challenger"]["history_from"] >= str(SHIFT)
    assert decision["challenger"]["gate"]["status"] == "passed"  # the gate comes first
    assert decision["window"]["first"] > shifted.champion.report.splits.val_end
    chal, champ = decision["challenger"]["metrics"], decision["champion"]["metrics"]
    assert chal["log_loss"] < champ["log_loss"]

    client = MlflowClient(shifted.cfg.mlflow.tracking_uri)
    assert str(client.get_model_version_by_alias("churnhealth", "champion").version) == new
    exported = json.loads((shifted.cfg.paths.champion_dir / "registered_model.json").read_text())
    assert exported["version"] == new
    run = client.get_run(decision["decision_run_id"])
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["churnhealth.kind"] == "retrain_decision"
    assert tags["churnhealth.decision"] == "promoted" and "log loss" in tags["churnhealth.reasons"]
    assert tags["mlflow.parentRunId"] == r["mlflow_run_id"]
    assert params["champion_version"] == "1" and params["challenger_version"] == new
    assert metrics["challenger_log_loss"] == pytest.approx(chal["log_loss"])
    assert metrics["promoted"] == 1
    monitor_run = client.get_run(r["mlflow_run_id"])
    assert monitor_run.data.tags["churnhealth.kind"] == "monitor"
    assert monitor_run.data.tags["churnhealth.retrain"] == "promoted"
    arts = {a.path for a in client.list_artifacts(r["mlflow_run_id"])}
    assert {"monitor.json", "monitor_psi.png"} <= arts

    # the following window: as-of dates after the retraining, whose labels mature by the end
    source = open_validated(shifted.concept, shifted.cfg.data.segments)
    dates = schedule(dt.date(2027, 11, 1), dt.date(2028, 7, 1), "MS")
    mlflow.set_tracking_uri(shifted.cfg.mlflow.tracking_uri)
    old = Scorer(model=load_model(shifted.cfg, CHAMPION).model, config=shifted.cfg)
    promoted = load_model(shifted.cfg, f"models:/churnhealth/{new}").model
    new_scorer = Scorer(model=promoted, config=shifted.cfg)
    old_auc = evaluate_on(old, source, dates)[0]["roc_auc"]
    new_auc = evaluate_on(new_scorer, source, dates)[0]["roc_auc"]
    lost = shifted.champion.report.overall["roc_auc"] - old_auc
    assert lost > 0.05
    assert new_auc - old_auc >= 0.5 * lost


def test_model_without_reference_is_a_one_line_error(shifted, tmp_path):
    old = tmp_path / "old_model"
    shutil.copytree(shifted.cfg.paths.champion_dir, old)
    path = old / "artifacts" / "bundle.joblib"
    bundle = joblib.load(path)
    joblib.dump(dataclasses.replace(bundle, reference=None), path)
    args = ["--data", str(shifted.concept), "--config", str(shifted.config_file)]
    res = cli("monitor", *args, "--model", str(old), "--out", str(tmp_path / "m.json"))
    assert res.returncode == 2, res.stderr[-1500:]
    [line] = [line for line in res.stderr.splitlines() if line.strip()]
    assert "has no drift reference: it was trained before monitoring" in line
    assert not (tmp_path / "m.json").exists()
    # other bad options (as-of outside the data, --out m.txt): tests/model/test_bad_input.py
