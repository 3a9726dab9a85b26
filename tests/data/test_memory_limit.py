"""`data.memory_limit`: the embedded DuckDB keeps to it, and running out of it is one line."""

from __future__ import annotations

from churnhealth.config import Config
from churnhealth.data.validate import open_configured
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
