"""Every command × bad input: one line on stderr, exit code 2, no traceback, nothing written.

The kinds of bad input: a missing input, an unreadable one (a table file that is not a table,
a configuration that is a folder), a corrupt one (a DuckDB file, an MLflow store, a history, an
alert log or a report that is not what it claims to be), an output that cannot be written, a
bad option value, and an empty table. Each cell runs the real command line in this process
(`churnhealth.cli.main`) against a workspace of its own: a copy of the trained company, its
MLflow store and the exported champion. Cells that do not apply to a command are listed in
`NOT_APPLICABLE` with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import mlflow
import pandas as pd
import pytest
import yaml

from churnhealth.cli import main
from churnhealth.evaluation.backtest_report import BacktestReport
from churnhealth.jobs.report import BACKTEST_KEYS, PREDICTION_COLUMNS
from tests.model.conftest import copy_workspace

COMMANDS = (
    *("synth", "validate", "doctor", "features", "train", "backtest"),
    *("report", "promote", "predict", "explain", "monitor"),
)
KINDS = ("missing", "unreadable", "corrupt", "unwritable", "bad_option", "empty_table")
NOT_APPLICABLE = {
    ("synth", "empty_table"): "synth reads no tables",
    ("validate", "unwritable"): "validate writes nothing",
    ("doctor", "unwritable"): "doctor writes nothing",
    ("report", "empty_table"): "report reads reports, not tables",
    ("promote", "empty_table"): "promote reads the registry, not tables",
    ("promote", "unreadable"): "promote reads only the registry (corrupt: see corrupt)",
    ("explain", "unwritable"): "explain writes nothing",
}


@dataclass
class Workspace:
    root: Path
    data: Path
    config: Path
    store: Path
    history: Path
    reports: Path
    champion: Path

    def garbage(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(range(256)) * 8)
        return path

    def empty_subscriptions(self) -> None:
        with duckdb.connect(str(self.data)) as con:
            con.execute("DELETE FROM subscriptions")

    def table_folder(self) -> Path:
        """A folder of tables whose accounts file is not Parquet."""
        folder = self.root / "tables"
        self.garbage(folder / "accounts.parquet")
        return folder

    def file_in_the_way(self) -> Path:
        """A regular file where a folder would have to be."""
        path = self.root / "blocker.txt"
        path.write_text("not a folder")
        return path

    def set(self, **sections) -> None:
        """Change configuration keys, e.g. set(paths={"reports_dir": ...})."""
        raw = yaml.safe_load(self.config.read_text())
        for section, values in sections.items():
            raw[section].update({k: str(v) for k, v in values.items()})
        self.config.write_text(yaml.safe_dump(raw))

    def backtest_files(self) -> None:
        """A backtest.json and predictions the report accepts (a backtest of nothing: the
        cells' errors come before their contents are used)."""
        self.reports.mkdir(parents=True, exist_ok=True)
        (self.reports / "backtest.json").write_text(json.dumps(_empty_backtest().to_json()))
        columns = PREDICTION_COLUMNS
        pd.DataFrame({c: [1] for c in columns}).to_parquet(
            self.reports / "backtest_predictions.parquet"
        )


@pytest.fixture
def ws(trained, tmp_path) -> Workspace:
    """A workspace with its own copy of the company, the MLflow store (the artifacts stay
    where the trained fixture logged them) and the champion's export."""
    data = tmp_path / "company.duckdb"
    shutil.copy(trained.data, data)
    config, cfg = copy_workspace(trained, tmp_path)
    cfg["data"]["path"] = str(data)
    config.write_text(yaml.safe_dump(cfg))
    store = Path(cfg["mlflow"]["tracking_uri"].removeprefix("sqlite:///"))
    champion = Path(cfg["paths"]["champion_dir"])
    before, env = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    yield Workspace(
        tmp_path,
        data,
        config,
        store,
        tmp_path / "outputs" / "history.duckdb",
        tmp_path / "reports",
        champion,
    )
    mlflow.set_tracking_uri(before)  # MLflow exports it to MLFLOW_TRACKING_URI: undo that too
    if env is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)


Cell = tuple[Callable[[Workspace], list[str]], str]
"""(set the workspace up and return the command's arguments, expected start of the error)."""


def _c(ws: Workspace) -> list[str]:
    return ["--config", str(ws.config)]


def _d(ws: Workspace) -> list[str]:
    return ["--data", str(ws.data), *_c(ws)]


def _history(ws: Workspace) -> list[str]:
    ws.garbage(ws.history)
    return ["predict", *_d(ws)]


def _alerts(ws: Workspace) -> list[str]:
    ws.history.parent.mkdir(parents=True, exist_ok=True)
    (ws.history.parent / "alerts.jsonl").write_text("{not json\n")
    return ["predict", *_d(ws)]


def _effects(ws: Workspace) -> list[str]:
    ws.garbage(ws.reports / "effects.json")  # where predict looks for the plays' effects
    return ["predict", *_d(ws)]


def _reports(ws: Workspace, broken: str) -> list[str]:
    ws.backtest_files()
    ws.garbage(ws.reports / broken)
    return ["report", *_c(ws)]


def _empty_backtest() -> BacktestReport:
    """A backtest report of the right shape whose figures are all unknown."""
    nan = float("nan")
    outcomes = {
        **dict.fromkeys(("rows", "churners"), 0),
        **dict.fromkeys(("roc_auc", "pr_auc", "brier", "ece", "mean_probability"), nan),
        "churn_rate": nan,
        "too_small": None,
        "top10": {"captured": nan, "lift": nan},
    }
    day = {"first": "2026-01-01", "last": "2026-01-01"}
    return BacktestReport(
        step="6M",
        origins=["2026-01-01"],
        rows=0,
        scored=day,
        renewals={"window": day, "decisions": 0, "churned": 0, "leads": {}},
        lead_time={
            **dict.fromkeys(("churn_events", "caught", "censored"), 0),
            **dict.fromkeys(("caught_share", "median_lead_days", "median_lead_days_all"), nan),
            **{f"share_{d}d_ahead": nan for d in (60, 90, 180)},
        },
        retention_by_band=[],
        overall={"rows": 0, "horizon": outcomes, "90d": outcomes},
        periods={},
        segments={},
        forecast={"origins": [], "check": {}},
    )


def _backtest_of_another_shape(ws: Workspace) -> list[str]:
    """A backtest.json with every key the report looks for, but not a backtest report's
    shape (e.g. written by another version)."""
    ws.backtest_files()
    (ws.reports / "backtest.json").write_text(json.dumps(dict.fromkeys(BACKTEST_KEYS, 1)))
    return ["report", *_c(ws)]


def _monitor_of_another_shape(ws: Workspace) -> list[str]:
    """A monitor.json with every key the report looks for, but not a monitor report's shape
    (e.g. written by another version)."""
    ws.backtest_files()
    keys = ("status", "as_of", "features", "score", "performance", "triggers")
    (ws.reports / "monitor.json").write_text(json.dumps(dict.fromkeys(keys, "x")))
    return ["report", *_c(ws)]


def _report_store(ws: Workspace) -> list[str]:
    ws.backtest_files()
    ws.garbage(ws.store)
    return ["report", *_c(ws)]


def _report_target(ws: Workspace) -> list[str]:
    ws.backtest_files()
    (ws.reports / "report.html").mkdir()
    return ["report", *_c(ws)]


def _store(command: str, *extra: str) -> Callable[[Workspace], list[str]]:
    def setup(ws: Workspace) -> list[str]:
        ws.garbage(ws.store)
        return [command, *extra, *(_d(ws) if command != "promote" else _c(ws))]

    return setup


def _reports_blocked(command: str) -> Callable[[Workspace], list[str]]:
    def setup(ws: Workspace) -> list[str]:
        ws.set(paths={"reports_dir": ws.file_in_the_way() / "reports"})
        return [command, *_d(ws)]

    return setup


def _empty(command: str, *extra: str) -> Callable[[Workspace], list[str]]:
    def setup(ws: Workspace) -> list[str]:
        ws.empty_subscriptions()
        return [command, *extra, *_d(ws)]

    return setup


def _broken_config(ws: Workspace) -> list[str]:
    (ws.root / "c.yaml").write_text("synth: [unclosed")
    return ["synth", "--config", str(ws.root / "c.yaml"), "--out", str(ws.root / "x.duckdb")]


def _champion_blocked(ws: Workspace) -> list[str]:
    ws.set(paths={"champion_dir": ws.file_in_the_way() / "champion"})
    return ["promote", "1", *_c(ws)]


def _data(command: str, which: str, *extra: str) -> Callable[[Workspace], list[str]]:
    """The command on missing, unreadable (a folder whose accounts file is not Parquet) or
    corrupt (not a DuckDB database) data."""

    def setup(ws: Workspace) -> list[str]:
        path = {
            "missing": lambda: ws.root / "nope.duckdb",
            "unreadable": ws.table_folder,
            "corrupt": lambda: ws.garbage(ws.root / "garbage.duckdb"),
        }[which]()
        return [command, *extra, "--data", str(path), *_c(ws)]

    return setup


MISSING_DATA = r"data error: .*nope\.duckdb: no such DuckDB file or folder"
UNREADABLE_DATA = r"data error: accounts: cannot read .*accounts\.parquet"
CORRUPT_DATA = r"data error: .*garbage\.duckdb: not a readable DuckDB database"
CORRUPT_STORE = r"tracking store sqlite:///.*mlflow\.db: unusable"
EMPTY = r"data error: subscriptions: table is empty \(expected at least one row\)"
NOT_WRITABLE = r".*: not writable"

CELLS: dict[tuple[str, str], list[Cell]] = {
    ("synth", "missing"): [
        (lambda ws: ["synth", "--config", str(ws.root / "nope.yaml")], r"config error: .*nope"),
    ],
    ("synth", "unreadable"): [
        (
            lambda ws: ["synth", "--config", str(ws.garbage(ws.root / "c.yaml"))],
            r"config error: .*c\.yaml: unreadable \(not text\)",
        ),
    ],
    ("synth", "corrupt"): [(_broken_config, r"config error: .*c\.yaml: not valid YAML")],
    ("synth", "unwritable"): [
        (
            lambda ws: ["synth", "--out", str(ws.file_in_the_way() / "x.duckdb"), *_c(ws)],
            r"--out .*blocker\.txt/x\.duckdb: not writable",
        ),
    ],
    ("synth", "bad_option"): [
        (lambda ws: ["synth", "--drift", "sideways", *_c(ws)], r"--drift 'sideways': expected"),
        (
            lambda ws: ["synth", "--accounts", "3", *_c(ws)],
            r"churnhealth synth: Invalid value for '--accounts'",
        ),
    ],
    ("validate", "missing"): [(_data("validate", "missing"), MISSING_DATA)],
    ("validate", "unreadable"): [(_data("validate", "unreadable"), UNREADABLE_DATA)],
    ("validate", "corrupt"): [(_data("validate", "corrupt"), CORRUPT_DATA)],
    ("validate", "bad_option"): [
        (lambda ws: ["validate", "--as-of", "2026-13-01", *_d(ws)], r"--as-of '2026-13-01'"),
    ],
    ("validate", "empty_table"): [(_empty("validate"), EMPTY)],
    ("doctor", "missing"): [(_data("doctor", "missing"), MISSING_DATA)],
    ("doctor", "unreadable"): [(_data("doctor", "unreadable"), UNREADABLE_DATA)],
    ("doctor", "corrupt"): [(_data("doctor", "corrupt"), CORRUPT_DATA)],
    ("doctor", "bad_option"): [
        (lambda ws: ["doctor", "--json", "--nope", *_d(ws)], r"churnhealth doctor: No such option"),
    ],
    ("doctor", "empty_table"): [(_empty("doctor"), EMPTY)],
    ("features", "missing"): [(_data("features", "missing"), MISSING_DATA)],
    ("features", "unreadable"): [(_data("features", "unreadable"), UNREADABLE_DATA)],
    ("features", "corrupt"): [(_data("features", "corrupt"), CORRUPT_DATA)],
    ("features", "unwritable"): [
        (
            lambda ws: ["features", "--out", str(ws.file_in_the_way() / "f.parquet"), *_d(ws)],
            r"--out .*blocker\.txt/f\.parquet: not writable",
        ),
    ],
    ("features", "bad_option"): [
        (
            lambda ws: ["features", "--out", str(ws.root / "f.txt"), *_d(ws)],
            r"--out .*f\.txt: expected a \.parquet or \.csv file",
        ),
        (lambda ws: ["features", "--start", "soon", *_d(ws)], r"--start 'soon': expected a date"),
    ],
    ("features", "empty_table"): [(_empty("features"), EMPTY)],
    ("train", "missing"): [(_data("train", "missing"), MISSING_DATA)],
    ("train", "unreadable"): [(_data("train", "unreadable"), UNREADABLE_DATA)],
    ("train", "corrupt"): [
        (_data("train", "corrupt"), CORRUPT_DATA),
        (_store("train"), CORRUPT_STORE),
    ],
    ("train", "unwritable"): [(_reports_blocked("train"), r"paths\.reports_dir .*not writable")],
    ("train", "bad_option"): [
        (lambda ws: ["train", "--as-of", "yesterday", *_d(ws)], r"--as-of 'yesterday'"),
        (lambda ws: ["train", "--as-of", "2020-01-01", *_d(ws)], r".*no dated rows"),
    ],
    ("train", "empty_table"): [(_empty("train"), EMPTY)],
    ("backtest", "missing"): [(_data("backtest", "missing"), MISSING_DATA)],
    ("backtest", "unreadable"): [(_data("backtest", "unreadable"), UNREADABLE_DATA)],
    ("backtest", "corrupt"): [(_data("backtest", "corrupt"), CORRUPT_DATA)],
    ("backtest", "unwritable"): [
        (_reports_blocked("backtest"), r"paths\.reports_dir .*not writable")
    ],
    ("backtest", "bad_option"): [
        (lambda ws: ["backtest", "--step", "M", *_d(ws)], r"--step 'M': expected a whole"),
        (lambda ws: ["backtest", "--step", "1.5M", *_d(ws)], r"--step '1\.5M': expected"),
        (lambda ws: ["backtest", "--start", "May", *_d(ws)], r"--start 'May': expected a date"),
    ],
    ("backtest", "empty_table"): [(_empty("backtest"), EMPTY)],
    ("report", "missing"): [
        (lambda ws: ["report", *_c(ws)], r".*backtest\.json: not found; run `churnhealth"),
    ],
    ("report", "unreadable"): [
        (
            lambda ws: _reports(ws, "backtest_predictions.parquet"),
            r".*backtest_predictions\.parquet: not the backtest's predictions",
        ),
    ],
    ("report", "corrupt"): [
        (lambda ws: _reports(ws, "backtest.json"), r".*backtest\.json: not valid JSON"),
        (lambda ws: _reports(ws, "monitor.json"), r".*monitor\.json: not valid JSON"),
        (_backtest_of_another_shape, r".*backtest\.json: not a backtest of this churnhealth "),
        (
            _monitor_of_another_shape,
            r".*monitor\.json: not a monitor report of this churnhealth version \(",
        ),
        (_report_store, CORRUPT_STORE),
    ],
    ("report", "unwritable"): [(_report_target, r"paths\.reports_dir .*report\.html: is a folder")],
    ("report", "bad_option"): [
        (lambda ws: ["report", "--config", str(ws.root)], r"churnhealth report: Invalid value"),
    ],
    ("promote", "missing"): [
        (lambda ws: ["promote", "99", *_c(ws)], r"promote: churnhealth has no version 99$"),
    ],
    ("promote", "corrupt"): [(_store("promote", "1"), CORRUPT_STORE)],
    ("promote", "unwritable"): [(_champion_blocked, r"paths\.champion_dir .*not writable")],
    ("promote", "bad_option"): [
        (lambda ws: ["promote", "one", *_c(ws)], r"promote: churnhealth has no version one \("),
    ],
    ("predict", "missing"): [
        (_data("predict", "missing"), MISSING_DATA),
        (
            lambda ws: ["predict", "--model", str(ws.root / "no-model"), *_d(ws)],
            r"model: .*no-model: no such model directory",
        ),
    ],
    ("predict", "unreadable"): [(_data("predict", "unreadable"), UNREADABLE_DATA)],
    ("predict", "corrupt"): [
        (_data("predict", "corrupt"), CORRUPT_DATA),
        (_store("predict"), CORRUPT_STORE),
        (_history, r"predict\.history .*history\.duckdb: not a readable DuckDB database"),
        (_alerts, r"predict\.alerts .*alerts\.jsonl: line 1 is not an alert"),
        (_effects, r".*effects\.json: not an effects file written by churnhealth effects"),
    ],
    ("predict", "unwritable"): [
        (
            lambda ws: ["predict", "--out", str(ws.file_in_the_way() / "s.parquet"), *_d(ws)],
            r"--out .*blocker\.txt/s\.parquet: not writable",
        ),
    ],
    ("predict", "bad_option"): [
        (lambda ws: ["predict", "--as-of", "2019-01-01", *_d(ws)], r"--as-of 2019-01-01: outside"),
        (
            lambda ws: ["predict", "--out", str(ws.root / "s.txt"), *_d(ws)],
            r"--out .*s\.txt: expected a \.parquet or \.csv file",
        ),
    ],
    ("predict", "empty_table"): [(_empty("predict"), EMPTY)],
    ("explain", "missing"): [
        (lambda ws: ["explain", "NOPE", *_d(ws)], r"account NOPE: not an active account"),
        (_data("explain", "missing", "A00001"), MISSING_DATA),
    ],
    ("explain", "unreadable"): [(_data("explain", "unreadable", "A00001"), UNREADABLE_DATA)],
    ("explain", "corrupt"): [
        (_data("explain", "corrupt", "A00001"), CORRUPT_DATA),
        (_store("explain", "A00001"), CORRUPT_STORE),
    ],
    ("explain", "bad_option"): [
        (lambda ws: ["explain", "A00001", "--as-of", "x", *_d(ws)], r"--as-of 'x': expected"),
    ],
    ("explain", "empty_table"): [(_empty("explain", "A00001"), EMPTY)],
    ("monitor", "missing"): [
        (_data("monitor", "missing"), MISSING_DATA),
        (
            lambda ws: ["monitor", "--model", str(ws.root / "no-model"), *_d(ws)],
            r"model: .*no-model: no such model directory",
        ),
    ],
    ("monitor", "unreadable"): [(_data("monitor", "unreadable"), UNREADABLE_DATA)],
    ("monitor", "corrupt"): [
        (_data("monitor", "corrupt"), CORRUPT_DATA),
        (_store("monitor"), CORRUPT_STORE),
    ],
    ("monitor", "unwritable"): [
        (
            lambda ws: ["monitor", "--out", str(ws.file_in_the_way() / "m.json"), *_d(ws)],
            r"--out .*blocker\.txt/m\.json: not writable",
        ),
    ],
    ("monitor", "bad_option"): [
        (
            lambda ws: ["monitor", "--out", str(ws.root / "m.txt"), *_d(ws)],
            r"--out .*m\.txt: expected a \.json file",
        ),
    ],
    ("monitor", "empty_table"): [(_empty("monitor"), EMPTY)],
}


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_the_matrix_covers_every_command_and_kind():
    for command in COMMANDS:
        for kind in KINDS:
            cell = (command, kind)
            assert (cell in CELLS) != (cell in NOT_APPLICABLE), cell


@pytest.mark.parametrize(
    ("command", "kind", "case"),
    [(c, k, i) for (c, k), cases in CELLS.items() for i in range(len(cases))],
)
def test_bad_input_is_one_line_exit_2_and_nothing_is_written(ws, capsys, command, kind, case):
    setup, expected = CELLS[(command, kind)][case]
    argv = setup(ws)
    before = _files(ws.root)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_.value.code == 2, err[-2000:]
    assert len(lines) == 1, err[-2000:]
    assert re.match(expected, lines[0]), lines[0]
    assert "Traceback" not in err
    assert _files(ws.root) == before
