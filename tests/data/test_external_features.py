"""Bring your own features: a `features` table computed elsewhere, read by `external` metrics."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.errors import ConfigError, DataError
from churnhealth.features import build_features
from churnhealth.features.spec import check_metrics, load_metrics
from tests.conftest import cli, workspace_config

SEGMENTS = ["enterprise", "mid_market", "smb"]


def byo_company(small_db: Path, root: Path) -> tuple[Path, Path, pd.DataFrame, list[str]]:
    """The small company as accounts, subscriptions and a feature table holding its own default
    features at every as-of date, with definitions declaring them `external`."""
    cfg = Config()
    metrics = load_metrics(cfg.features.definitions, SEGMENTS)
    frame = build_features(open_validated(small_db, SEGMENTS), cfg, metrics).frame
    out = [m for m in metrics if m.output and m.name in frame.columns]
    names = [m.name for m in out]
    table = frame[["account_id", "as_of", *names]].assign(as_of=frame.as_of.dt.date)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "byo.duckdb"
    with duckdb.connect(str(path)) as con, duckdb.connect(str(small_db), read_only=True) as src:
        for name in ("accounts", "subscriptions"):
            con.register("_t", src.table(name).df())
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
        con.register("_t", table)
        con.execute("CREATE TABLE features AS SELECT * FROM _t")
    defs = root / "features.yaml"
    entries = [
        {"name": m.name, "kind": "external", "dimension": m.dimension, "role": m.role} for m in out
    ]
    defs.write_text(yaml.safe_dump({"metrics": entries}, sort_keys=False))
    return path, defs, frame, names


@pytest.fixture(scope="module")
def byo(small_db, tmp_path_factory):
    return byo_company(small_db, tmp_path_factory.mktemp("byo"))


def test_external_features_read_back_exactly_what_was_computed(byo):
    path, defs, frame, names = byo
    cfg = Config.model_validate({"features": {"definitions": str(defs)}})
    got = build_features(open_validated(path, SEGMENTS), cfg).frame
    keys = ["account_id", "as_of"]
    a = frame.set_index(keys).sort_index()
    b = got.set_index(keys).sort_index()
    common = a.index.intersection(b.index)
    assert len(common) == len(b) > 0.8 * len(a)  # the grid starts 90 days after the data
    pd.testing.assert_frame_equal(a.loc[common, names], b.loc[common, names], check_dtype=False)
    # the grid's own context columns are computed from subscriptions as before
    for c in ("days_to_renewal", "tenure_days", "term_months"):
        pd.testing.assert_series_equal(a.loc[common, c], b.loc[common, c], check_dtype=False)


def test_a_row_is_seen_from_its_own_date_until_it_is_max_age_old(small_db, tmp_path):
    """Rows dated 2025-01-01 (1.0) and 2025-02-01 (2.0); max_age 20 days."""
    with duckdb.connect(str(small_db), read_only=True) as src:
        accounts = src.table("accounts").df()
        subs = src.table("subscriptions").df()
    live = (pd.to_datetime(subs.start_date) < "2024-12-01") & (
        subs.end_date.isna() | (pd.to_datetime(subs.end_date) > "2025-03-01")
    )
    a = subs.account_id[live].iloc[0]
    rows = pd.DataFrame(
        {
            "account_id": [a, a],
            "as_of": [dt.date(2025, 1, 1), dt.date(2025, 2, 1)],
            "score": [1.0, 2.0],
        }
    )
    path = tmp_path / "c.duckdb"
    with duckdb.connect(str(path)) as con:
        for name, df in (("accounts", accounts), ("subscriptions", subs), ("features", rows)):
            con.register("_t", df)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
    defs = tmp_path / "f.yaml"
    metric = {"name": "score", "kind": "external", "dimension": "usage", "max_age": "20d"}
    defs.write_text(yaml.safe_dump({"metrics": [metric]}))
    cfg = Config.model_validate({"features": {"definitions": str(defs)}})
    days = [pd.Timestamp(d) for d in ("2024-12-31", "2025-01-01", "2025-01-21", "2025-01-22")]
    days += [pd.Timestamp("2025-02-01")]
    got = build_features(open_validated(path, SEGMENTS), cfg, dates=days).frame
    got = got[got.account_id == a].set_index("as_of").score
    # before its date: nothing; on it: seen; 20 days later: still; 21 days: too old; then the next
    values = got.reindex(days)
    assert values.isna().tolist() == [True, False, False, True, False]
    assert values.dropna().tolist() == [1.0, 1.0, 2.0]


def test_a_missing_or_text_feature_column_is_one_line(byo, tmp_path):
    path, _, _, _ = byo
    for column, expected in (
        ("no_such", "features: no column no_such for metric x (it has "),
        ("account_id", "features.account_id: holds string values (metric x expects numbers"),
    ):
        defs = tmp_path / "f.yaml"
        metric = {"name": "x", "kind": "external", "dimension": "usage", "column": column}
        defs.write_text(yaml.safe_dump({"metrics": [metric]}))
        cfg = workspace_config(
            tmp_path, data={"path": str(path)}, features={"definitions": str(defs)}
        )
        r = cli("features", "--config", str(cfg), "--out", str(tmp_path / "f.parquet"))
        assert r.returncode == 2 and "Traceback" not in r.stderr
        (line,) = r.stderr.strip().splitlines()
        assert expected in line
        assert not (tmp_path / "f.parquet").exists()


def test_an_external_metric_is_checked_like_any_other():
    with pytest.raises(ConfigError) as err:
        check_metrics(
            [{"name": "x", "kind": "external", "dimension": "usage", "max_age": "soon"}],
            SEGMENTS,
        )
    assert "window 'soon' does not parse" in " ".join(err.value.problems)
    with pytest.raises(ConfigError):
        check_metrics(
            [{"name": "x", "kind": "external", "dimension": "usage", "table": "usage"}], SEGMENTS
        )


def test_two_values_for_one_account_and_date_are_rejected(byo, tmp_path):
    path, _, _, names = byo
    copy = tmp_path / "dup.duckdb"
    copy.write_bytes(path.read_bytes())
    with duckdb.connect(str(copy)) as con:
        con.execute(
            f"INSERT INTO features SELECT * REPLACE ({names[0]} + 1 AS {names[0]}) "
            "FROM features LIMIT 1"
        )
    with pytest.raises(DataError) as err:
        open_validated(copy, SEGMENTS)
    (line,) = err.value.problems
    assert line.startswith("features: duplicate key (account_id, as_of) with different values")
