"""The skill gate (issue 3.3): a model whose skill the data cannot show is registered without an
alias, says why in one paragraph, and becomes champion only by a forced, recorded promotion."""

from __future__ import annotations

import json

import pytest
import yaml
from mlflow.tracking import MlflowClient

from churnhealth.synth import generate
from tests.conftest import cli, workspace_config


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """150 accounts over two years (to 2025-11-01), trained as of two months before their end:
    too few churns after the validation window to judge any horizon, so the first model
    trained is refused. The two months leave the monitor a model old enough to retrain."""
    root = tmp_path_factory.mktemp("gate")
    data = root / "tiny.duckdb"
    generate(data, accounts=150, years=2, seed=1, truth_paths=10)
    config = workspace_config(
        root,
        data={"path": str(data)},
        expansion={"enabled": False},
        monitor={"retrain": {"max_model_age_days": 30}},
    )
    res = cli("train", "--as-of", "2025-09-01", "--config", str(config), cwd=root)
    return root, config, res


def test_a_model_the_data_cannot_judge_is_registered_without_an_alias(refused):
    root, config, res = refused
    assert res.returncode == 0, res.stderr[-2000:]  # training worked
    text = " ".join(res.stdout.split())
    assert "Registered churnhealth v1 without an alias: it failed the skill gate." in text
    assert "No horizon could be judged on this data (3 months:" in text
    assert "Causes: few churners:" in text and "short history:" in text
    # the suggested commands repeat the configuration train was given (issue 3.5)
    assert f"`churnhealth promote 1 --force --reason TEXT --config {config}`" in text
    assert f"`churnhealth doctor --config {config}`" in text
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics["alias"] is None and metrics["gate"]["status"] == "failed"
    cfg = yaml.safe_load(config.read_text())
    client = MlflowClient(cfg["mlflow"]["tracking_uri"])
    version = client.get_model_version("churnhealth", "1")
    assert version.aliases == [] and version.tags["churnhealth.gate"] == "failed"
    run = client.get_run(metrics["run_id"])
    assert run.data.metrics["gate_passed"] == 0 and run.data.tags["churnhealth.gate"] == "failed"
    assert not (root / "champion").exists()


def test_predict_without_a_champion_says_why_and_how_in_one_line(refused):
    root, config, _ = refused
    res = cli("predict", "--config", str(config), cwd=root)
    assert res.returncode == 2 and res.stdout == ""
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("model: no @champion of churnhealth: v1, the latest, failed the skill")
    assert line.endswith("or `churnhealth promote 1 --force --reason '…'`")


def test_promotion_past_the_gate_needs_force_and_a_reason_and_is_recorded(refused):
    root, config, _ = refused
    for args, expected in (
        ((), "promote: churnhealth v1 failed the skill gate ("),
        (("--force",), "promote: --force needs --reason saying why"),
        (("--force", "--reason", "  "), "promote: --force needs --reason saying why"),
    ):
        res = cli("promote", "1", *args, "--config", str(config), cwd=root)
        assert res.returncode == 2 and res.stderr.startswith(expected), res.stderr
        assert not (root / "champion").exists()
    why = "pilot with 150 accounts: reviewed by hand"
    res = cli("promote", "1", "--force", "--reason", why, "--config", str(config), cwd=root)
    assert res.returncode == 0, res.stderr
    assert "forced past the skill gate" in res.stdout and (root / "champion").is_dir()
    cfg = yaml.safe_load(config.read_text())
    client = MlflowClient(cfg["mlflow"]["tracking_uri"])
    tags = client.get_model_version("churnhealth", "1").tags
    assert tags["churnhealth.forced"] == "true" and tags["churnhealth.force_reason"] == why
    assert tags["churnhealth.forced_over"] == "no champion" and tags["churnhealth.forced_at"]
    model = client.get_registered_model("churnhealth")
    assert model.tags["churnhealth.last_forced"].endswith(f": {why}")
    assert {k: str(v) for k, v in model.aliases.items()} == {"champion": "1"}
    res = cli("predict", "--config", str(config), cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    # every run then says first that its champion failed the gate
    out = " ".join(res.stdout.split())
    assert "problem: champion v1 failed the skill gate (" in out
    assert "promoted by force: its health may rank accounts no better than chance" in out


def test_the_monitors_challenger_passes_the_same_gate(refused):
    """A challenger the data cannot judge is registered without an alias and the champion
    stays, whatever else the comparison would say (runs after the forced promotion above)."""
    root, config, _ = refused
    cfg = yaml.safe_load(config.read_text())
    client = MlflowClient(cfg["mlflow"]["tracking_uri"])
    if "champion" not in client.get_registered_model("churnhealth").aliases:
        cli("promote", "1", "--force", "--reason", "test", "--config", str(config), cwd=root)
    out = root / "monitor.json"
    args = ("--retrain", "--as-of", "2025-11-01", "--out", str(out), "--config", str(config))
    res = cli("monitor", *args, cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    decision = json.loads(out.read_text())["retrain"]
    assert decision["status"] == "kept" and decision["champion_after"] == "1"
    new = decision["challenger"]["version"]
    assert decision["challenger"]["gate"]["status"] == "failed"
    assert decision["reasons"][-1].startswith(f"kept champion v1: challenger v{new} failed the ")
    assert "window" not in decision  # never compared: the gate comes first
    version = client.get_model_version("churnhealth", new)
    assert version.aliases == [] and version.tags["churnhealth.gate"] == "failed"
    assert version.tags["churnhealth.monitor_decision"] == "kept"
    assert {k: str(v) for k, v in client.get_registered_model("churnhealth").aliases.items()} == {
        "champion": "1"
    }
