"""Two churnhealth processes at once leave the history and models/champion/ consistent.

Real processes, started together: two `churnhealth predict` runs on one history, and two
processes promoting different versions while a third loads the exported champion.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
from mlflow.tracking import MlflowClient

from tests.model.conftest import copy_workspace


def _start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
    """Exit code, stdout and stderr of each process, once all have ended."""
    out = [p.communicate(timeout=600) for p in procs]
    return [(p.returncode, *o) for p, o in zip(procs, out, strict=True)]


def test_two_predict_runs_on_one_history_follow_one_another(trained, tmp_path):
    config, cfg = copy_workspace(trained, tmp_path)
    args = ("-m", "churnhealth", "predict", "--data", str(trained.data), "--config", str(config))
    results = _finish([_start(*args, cwd=tmp_path), _start(*args, cwd=tmp_path)])
    for code, _, err in results:
        assert code == 0, err[-3000:]
    with duckdb.connect(cfg["predict"]["history"], read_only=True) as con:
        rows, keys = con.execute(
            "SELECT count(*), count(DISTINCT (account_id, as_of, model_version)) "
            "FROM health_history"
        ).fetchone()
        days = con.execute("SELECT count(DISTINCT as_of) FROM health_history").fetchone()[0]
    assert rows == keys and days > 1  # the backfill and the as-of date, each written once
    alerts = pd.read_json(cfg["predict"]["alerts"], lines=True)
    assert len(alerts) > 0
    # the second run saw the first one's alerts: the cool-down kept it from repeating them
    assert not alerts.duplicated(["account_id", "playbook", "as_of"]).any()
    summaries = [json.loads(p.read_text()) for p in (tmp_path / "outputs").glob("summary.json")]
    assert len(summaries) == 1


PROMOTE = """
import sys
from churnhealth.config import load_config
from churnhealth.tracking import promote
cfg = load_config(sys.argv[1])
for _ in range(int(sys.argv[3])):
    promote(cfg, sys.argv[2])
"""
EXPORT = """
import sys
from churnhealth.config import load_config
from churnhealth.tracking import export_champion, set_alias
cfg = load_config(sys.argv[1])
for _ in range(int(sys.argv[3])):
    set_alias(cfg.mlflow.registered_model, "champion", sys.argv[2])
    export_champion(cfg)
"""
"""What `train` does with a model that beats the champion: move the alias, export it."""
LOAD = """
import sys
from churnhealth.config import load_config
from churnhealth.tracking import load_model
cfg = load_config(sys.argv[1])
for _ in range(int(sys.argv[2])):
    lm = load_model(cfg, str(cfg.paths.champion_dir))
    print(lm.version, lm.model.metadata["trained_at"], flush=True)
"""


def _second_version(client: MlflowClient, tmp_path: Path) -> tuple[str, str]:
    """Register a second version: the champion's model with another training time, so a
    reader can tell which version's files it loaded."""
    import joblib
    import mlflow

    first = client.get_model_version_by_alias("churnhealth", "champion")
    local = Path(
        mlflow.artifacts.download_artifacts(
            f"models:/churnhealth/{first.version}", dst_path=str(tmp_path / "second")
        )
    )
    path = local / "artifacts" / "bundle.joblib"
    bundle = joblib.load(path)
    bundle.health.metadata["trained_at"] = "the second version"
    joblib.dump(bundle, path)
    second = client.create_model_version("churnhealth", local.as_uri(), run_id=first.run_id)
    return str(first.version), str(second.version)


def test_promotions_racing_a_reader_leave_the_export_matching_the_alias(trained, tmp_path):
    """One process exports new champions as `train` does while another promotes a different
    version and a third loads the export: every load is one version's files (its marker and
    its model agree), and the export ends matching the registry's alias."""
    import mlflow

    config, cfg = copy_workspace(trained, tmp_path)
    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    client = MlflowClient(cfg["mlflow"]["tracking_uri"])
    first, second = _second_version(client, tmp_path)
    trained_at = {first: trained.result.model.metadata["trained_at"], second: "the second version"}
    promote, export, load = (textwrap.dedent(s) for s in (PROMOTE, EXPORT, LOAD))
    procs = [
        _start("-c", export, str(config), second, "40", cwd=tmp_path),
        _start("-c", promote, str(config), first, "40", cwd=tmp_path),
        _start("-c", load, str(config), "150", cwd=tmp_path),
    ]
    results = _finish(procs)
    for code, _, err in results:
        assert code == 0, err[-3000:]
    loads = [line.split(" ", 1) for line in results[2][1].strip().splitlines()]
    assert len(loads) == 150
    assert {version for version, _ in loads} <= {first, second}
    assert all(trained_at[version] == stamp for version, stamp in loads), loads
    alias = str(client.get_model_version_by_alias("churnhealth", "champion").version)
    export = Path(cfg["paths"]["champion_dir"])
    assert json.loads((export / "registered_model.json").read_text())["version"] == alias
    assert (export / "MLmodel").is_file()
    leftovers = [p.name for p in export.parent.iterdir() if p.name != "champion"]
    assert leftovers == []
