"""What `make ui` shows: a real `mlflow server` on the training's store, read over its REST API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

SEGMENTS = ("enterprise", "mid_market", "smb")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `mlflow server`, spoken to in plain HTTP."""

    def __init__(self, url: str):
        self.url = url

    def raw(self, route: str, /, **query: str) -> bytes:
        full = f"{self.url}{route}?{urllib.parse.urlencode(query)}" if query else self.url + route
        with urllib.request.urlopen(full, timeout=30) as resp:
            return resp.read()

    def get(self, endpoint: str, /, **query: str) -> dict:
        return json.loads(self.raw(f"/api/2.0/mlflow/{endpoint}", **query))

    def post(self, endpoint: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"{self.url}/api/2.0/mlflow/{endpoint}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def artifacts(self, run_id: str, path: str | None = None) -> dict[str, dict]:
        query = {"run_id": run_id, **({"path": path} if path else {})}
        return {f["path"]: f for f in self.get("artifacts/list", **query).get("files", [])}


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory):
    """`mlflow server` on the fixture's SQLite store and artifact root, as `make ui` runs it."""
    port = _free_port()
    log = tmp_path_factory.mktemp("mlflow-server") / "server.log"
    cmd = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        trained.cfg.mlflow.tracking_uri,
        "--default-artifact-root",
        trained.cfg.mlflow.artifact_location,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("wb") as out:
        # its own process group: the server's workers are stopped with it
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Server(url)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_experiment_and_parent_run_with_per_segment_metrics(server, trained):
    exp = server.get("experiments/get-by-name", experiment_name="churnhealth")["experiment"]
    runs = server.post(
        "runs/search",
        {
            "experiment_ids": [exp["experiment_id"]],
            "filter": "tags.`churnhealth.kind` = 'train'",
            "max_results": 100,
        },
    )["runs"]
    parent = next(r for r in runs if r["info"]["run_id"] == trained.result.run_id)
    assert parent["info"]["status"] == "FINISHED"
    metrics = {m["key"]: m["value"] for m in parent["data"]["metrics"]}
    for seg in ("", *(f"{s}_" for s in SEGMENTS)):
        for name in ("roc_auc", "pr_auc", "brier", "log_loss", "ece", "recall", "precision"):
            assert 0 <= metrics[f"test_{seg}{name}"] <= 1 or name == "log_loss", seg + name
    assert metrics["test_roc_auc"] == pytest.approx(trained.result.report.overall["roc_auc"])
    params = {p["key"]: p["value"] for p in parent["data"]["params"]}
    assert params["labels.horizon_days"] == "90" and "split.test_end" in params


def test_optuna_trials_are_nested_under_the_parent_run(server, trained):
    exp = server.get("experiments/get-by-name", experiment_name="churnhealth")["experiment"]
    trials = server.post(
        "runs/search",
        {
            "experiment_ids": [exp["experiment_id"]],
            "filter": f"tags.mlflow.parentRunId = '{trained.result.run_id}'",
            "max_results": 1000,
        },
    )["runs"]
    tuned = set()
    for t in trials:
        tags = {x["key"]: x["value"] for x in t["data"]["tags"]}
        assert tags["churnhealth.kind"] == "optuna_trial"
        assert {m["key"] for m in t["data"]["metrics"]} == {"val_log_loss"}
        assert {"learning_rate", "num_leaves", "n_estimators"} <= {
            p["key"] for p in t["data"]["params"]
        }
        tuned.add(tags["model"])
    # every fitted model was tuned (the time budget may stop a study after its first trial),
    # and the expansion model's global search (its segment models reuse those parameters)
    report = trained.result.report
    grown = {f"expansion_{k}" for k, v in report.expansion.models.items() if v["trials"]}
    assert grown == {"expansion_global"}
    assert tuned == set(report.models) | grown and tuned >= {"global", "smb"}


def test_registered_model_and_champion_alias(server, trained):
    model = server.get("registered-models/get", name="churnhealth")["registered_model"]
    assert {a["alias"]: a["version"] for a in model["aliases"]}["champion"] == "1"
    version = server.get("registered-models/alias", name="churnhealth", alias="champion")
    assert version["model_version"]["run_id"] == trained.result.run_id


def test_plots_metrics_and_shap_summaries_are_served(server, trained):
    run_id = trained.result.run_id
    root = server.artifacts(run_id)
    assert {"metrics.json", "reliability.png", "roc_pr.png", "summary.csv", "config.json"} <= set(
        root
    )
    assert root["shap"]["is_dir"]
    shap = server.artifacts(run_id, "shap")
    assert "shap/shap_global.png" in set(shap)
    png = server.raw("/get-artifact", run_uuid=run_id, path="shap/shap_global.png")
    assert png.startswith(b"\x89PNG") and len(png) == shap["shap/shap_global.png"]["file_size"]
    served = json.loads(server.raw("/get-artifact", run_uuid=run_id, path="metrics.json"))
    assert served["run_id"] == run_id and served["routes"] == trained.result.report.routes


def test_the_champion_model_and_its_files_are_served(server, trained):
    version = server.get("registered-models/alias", name="churnhealth", alias="champion")
    model_id = version["model_version"]["source"].removeprefix("models:/")
    info = server.get(f"logged-models/{model_id}")["model"]["info"]
    assert info["source_run_id"] == trained.result.run_id and info["name"] == "model"
    files = server.get(f"logged-models/{model_id}/artifacts/directories")["files"]
    assert {"MLmodel", "python_model.pkl", "input_example.json"} <= {f["path"] for f in files}
    inner = server.get(
        f"logged-models/{model_id}/artifacts/directories", artifact_directory_path="artifacts"
    )["files"]
    assert [f["path"] for f in inner] == ["artifacts/bundle.joblib"]
    mlmodel = server.raw(
        f"/ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files",
        artifact_file_path="MLmodel",
    ).decode()
    assert f"model_id: {model_id}" in mlmodel and "python_function" in mlmodel
