"""Shared fixtures: small demo companies generated once per test session (per worker)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

# Each xdist worker gets its share of the cores for OpenMP (LightGBM) and BLAS: set before
# either library loads. Two workers on two cores that each start two threads spend their time
# waiting for one another.
if workers := os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(max(1, (os.cpu_count() or 1) // int(workers))))

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import settings

from churnhealth.data.contract import contract
from churnhealth.synth import generate

# Examples per property test (each builds features on an edited company, about a second):
# 20 in `make test` and CI, 4 in `make test-fast` (--hypothesis-profile=fast).
settings.register_profile("default", max_examples=20)
settings.register_profile("fast", max_examples=4)
settings.load_profile("default")


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `churnhealth` command line in a subprocess (`env`: variables to add).

    Without MLFLOW_TRACKING_URI: MLflow exports it when a test in this process sets a tracking
    store, and the command would then use that store instead of its configuration's."""
    env = {**{k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "churnhealth", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def champion_or_forced(
    trained: subprocess.CompletedProcess[str],
    config: Path,
    cwd: Path | None = None,
    run=None,
) -> None:
    """After `train` on a small test company: when the skill gate kept v1 from @champion (whether
    a few hundred accounts give a model that beats the scorecard beyond noise depends on the
    draw), promote it with --force, so that a test about something else (a source, a mapping,
    hostile text) goes on to score. Tests of the gate itself never call this."""
    if "as @champion" in " ".join(trained.stdout.split()):
        return
    assert "skill gate" in " ".join(trained.stdout.split()), trained.stdout[-2000:]
    res = (run or cli)(
        "promote", "1", "--force", "--reason", "test", "--config", str(config), cwd=cwd
    )
    assert res.returncode == 0, res.stderr[-2000:]


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `churnhealth` command line run in this process (`churnhealth.cli.main`, what the
    installed command calls), with its output and exit code captured as `run_cli` returns them.

    For the many tests about messages, exit codes and what a command writes: it saves the
    second of imports a process of its own pays on every call. The working directory, the
    environment and MLflow's tracking URI are restored afterwards. Use `run_cli` where the
    process itself is under test: everything a terminal would show (a logging handler or a C
    library writes past `sys.stdout`), a JVM, a memory limit, processes racing each other."""
    from churnhealth.cli import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    mlflow = sys.modules.get("mlflow")  # the URI a fixture pointed MLflow at, if any
    saved_uri = mlflow.get_tracking_uri() if mlflow is not None else None
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(saved_cwd)
        if "mlflow" in sys.modules:
            sys.modules["mlflow"].set_tracking_uri(saved_uri)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["churnhealth", *args], code, out.getvalue(), err.getvalue())


def invisible(ch: str, keep: str = "\n") -> bool:
    """Whether `ch` is a control, format (bidi, zero-width) or line-separator character, which
    must not reach a terminal or a Slack message from data (`keep`: those allowed)."""
    return ch not in keep and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def control_characters(text: str) -> list[str]:
    """The invisible characters in `text` other than newlines, as U+XXXX."""
    return sorted({f"U+{ord(ch):04X}" for ch in text if invisible(ch)})


def chromium() -> str:
    """Debian's headless Chromium, which the page tests open HTML in; a failure saying how to
    install it when it is missing (`.ci/run` installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: apt-get install chromium (.ci/run does)")
    return found


def in_chromium(page: str, probe: str, folder: Path):
    """Load `page` in headless Chromium with `probe` (a <script> that writes its findings as
    JSON into a <pre id="probe">) before </body>, and return what the probe wrote."""
    import html
    import json
    import re
    import subprocess

    path = folder / "probe.html"
    path.write_text(page.replace("</body>", probe + "</body>"))
    run = subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'<pre id="probe">([^<]*)</pre>', run.stdout)
    assert found, run.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


def workspace_config(root: Path, **sections: dict) -> Path:
    """`root`/config.yaml: MLflow store, champion, reports and predict outputs under `root`,
    the repository's feature definitions and playbooks, one Optuna trial for every search
    (counted, not timed, as by default: the model does not depend on the machine's load), no
    earlier-origin model, and `sections` merged on top (e.g.
    data={"path": ...}, train={"tuning": {"trials": 1}})."""
    repo = Path(__file__).resolve().parents[1]
    cfg: dict = {
        "features": {"definitions": str(repo / "configs/features.yaml")},
        "mlflow": {
            "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "artifact_location": str(root / "art"),
        },
        "paths": {"champion_dir": str(root / "champion"), "reports_dir": str(root / "reports")},
        "expansion": {"trials": 1},
        # no earlier-origin model on two-year companies (one more fit each): the tests of it
        # are in tests/model/test_train.py and test_gate.py
        "train": {"tuning": {"trials": 1}, "earlier_origin": False},
        "backtest": {"tuning": {"trials": 1}},
        "predict": {
            "out_dir": str(root / "outputs"),
            "history": str(root / "outputs" / "history.duckdb"),
            "alerts": str(root / "outputs" / "alerts.jsonl"),
            "playbooks": str(repo / "configs/playbooks.yaml"),
        },
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the rank-sum formula, with ties given half credit."""
    y = np.asarray(y, dtype=bool)
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y.sum()
    neg = len(y) - pos
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


@pytest.fixture(autouse=True)
def _mlflow_override_restored():
    """Each test leaves MLFLOW_TRACKING_URI as it found it. MLflow exports the URI a test
    points it at (`mlflow.set_tracking_uri`) to that variable, and a command then takes it for
    the user's override (`tracking.configure`): a later test in the same worker would use
    another test's store, so the outcome depended on the order files ran in."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before


@pytest.fixture(scope="session")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 accounts over 2 years (seed 1): fast enough for every data test."""
    path = tmp_path_factory.mktemp("small") / "small.duckdb"
    generate(path, accounts=300, years=2, seed=1, truth_paths=20)
    return path


def assert_same_values(x: pd.Series, y: pd.Series, label: str, nulls_alike: bool) -> None:
    """One column on two engines: numbers to 1e-9, dates and times exactly, text exactly (with
    `nulls_alike`, a null is a null whichever way the engine spells it)."""
    if x.dtype.kind in "fiub":
        np.testing.assert_allclose(
            y.astype(float), x.astype(float), rtol=0, atol=1e-9, err_msg=label
        )
    elif x.dtype.kind == "M" or y.dtype.kind == "M":
        same = pd.to_datetime(x).values == pd.to_datetime(y).values
        assert (same | (x.isna() & y.isna()).values).all(), label
    else:
        same = x.astype(str) == y.astype(str)
        assert (same | (x.isna() & y.isna()) if nulls_alike else same).all(), label


def assert_same_tables(want, got, names) -> None:
    """The contract tables `names` of two sources hold the same rows (by their keys) and the
    same values (`assert_same_values`)."""
    specs = contract(["enterprise", "mid_market", "smb"])
    for name in names:
        a, b = (s.tables[name].execute() for s in (want, got))
        assert sorted(a.columns) == sorted(b.columns), name
        cols, key = sorted(a.columns), list(specs[name].key)
        a, b = (f[cols].sort_values(key).reset_index(drop=True) for f in (a, b))
        assert len(a) == len(b), name
        for c in cols:
            assert_same_values(a[c], b[c], f"{name}.{c}", nulls_alike=True)


def assert_same_features(want: pd.DataFrame, got: pd.DataFrame) -> None:
    """Two feature frames (sorted by account and as-of date) hold the same rows and values:
    numbers to 1e-9, dates exactly, text exactly (what engines must agree on)."""
    assert got.shape == want.shape
    assert (got.account_id == want.account_id).all() and (got.as_of == want.as_of).all()
    for c in want.columns:
        assert_same_values(want[c], got[c], c, nulls_alike=False)


LONGEST_FIRST = (
    *("tests/data/test_spark.py", "tests/data/test_postgres.py", "tests/model/test_monitor.py"),
    *(
        "tests/model/test_hostile_text.py",
        "tests/model/test_effects.py",
        "tests/model/test_train.py",
    ),
    *("tests/data/test_demo_company.py", "tests/model/test_predict.py"),
    *("tests/model/test_your_export.py", "tests/model/test_backtest.py"),
    *("tests/data/test_mapping.py", "tests/model/test_concurrency.py", "tests/data/test_doctor.py"),
    *("tests/model/test_notebook.py", "tests/data/test_point_in_time.py"),
)
"""Test files of more than 25 s (summed --durations on 2 cores), longest first. Under `--dist
loadfile` a worker takes the next file when it is free: the long ones start first and the short
ones fill the end, instead of one worker finishing a long file alone. The first five need no
trained workspace, which is being built meanwhile. A file missing here just runs after them."""


def pytest_collection_modifyitems(config, items):
    """Run the longest test files first (`LONGEST_FIRST`). Start the shared trained workspace
    (tests/model/golden.py) as soon as the run is known to need it, so it is built while the
    workers go on with other tests."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
    if any("trained" in getattr(item, "fixturenames", ()) for item in items):
        from tests.model.conftest import shared_root
        from tests.model.golden import start

        start(shared_root(config._tmp_path_factory.getbasetemp()))
