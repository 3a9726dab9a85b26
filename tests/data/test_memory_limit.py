"""`data.memory_limit`: the embedded DuckDB keeps to it, and running out of it is one line."""

from __future__ import annotations

import ibis
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.load import open_configured
from churnhealth.features import build_features
from tests.conftest import run_cli, workspace_config


def test_the_embedded_duckdb_keeps_to_the_configured_limit(small_db):
    source = open_configured(Config(data={"memory_limit": "300MB"}), small_db)
    limit, progress = source.con.raw_sql(
        "SELECT current_setting('memory_limit'), current_setting('enable_progress_bar')"
    ).fetchone()
    assert limit.endswith("MiB") and 280 <= float(limit.split()[0]) <= 300
    assert progress is False  # DuckDB's own bar would write to stdout
    source.close()


def test_running_out_of_it_is_one_line_and_writes_nothing(small_db, tmp_path):
    config = workspace_config(tmp_path, data={"path": str(small_db), "memory_limit": "1MB"})
    out = tmp_path / "features.parquet"
    res = run_cli("features", "--config", str(config), "--out", str(out))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "out of memory: the embedded DuckDB needed more than data.memory_limit for this data; "
        "raise data.memory_limit in the configuration (docs/engines.md)"
    ]
    assert not out.exists()


def test_a_feature_build_leaves_no_table_behind_in_the_process(small_db):
    """Ibis keeps every in-memory table a backend has run for as long as that backend lives;
    the feature build's own must go with it, or each backfill pass of a large book holds
    another copy of the grid (~300 MB at a million accounts)."""
    default = ibis.get_backend()

    def registered() -> int:
        sql = "SELECT count(*) FROM duckdb_views() WHERE NOT internal"
        return default.raw_sql(sql).fetchone()[0]

    before = registered()
    source = open_configured(Config(), small_db)
    for day in ("2024-06-01", "2024-09-01"):
        build_features(source, Config(), dates=[pd.Timestamp(day)])
    source.close()
    assert registered() == before
