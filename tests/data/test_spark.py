"""Spark as an engine (issue 2.5): PySpark in local mode, started for real in these tests."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.validate import open_validated
from churnhealth.features import build_features
from tests.conftest import assert_same_features, run_cli

SEGMENTS = ["enterprise", "mid_market", "smb"]
JAVA = (
    "Java not found: Spark needs Java 17 (Debian/Ubuntu: apt-get install "
    "openjdk-17-jre-headless) — .ci/run installs it"
)


@pytest.fixture(scope="module")
def spark_url(small_db, tmp_path_factory) -> str:
    """The small company as a folder of Parquet files, read by a local Spark session."""
    if shutil.which("java") is None:
        pytest.fail(JAVA)  # never skipped: CI installs Java
    folder = tmp_path_factory.mktemp("spark")
    with duckdb.connect(str(small_db), read_only=True) as con:
        for (name,) in con.sql("SELECT table_name FROM information_schema.tables").fetchall():
            con.sql(f"COPY \"{name}\" TO '{folder / name}.parquet' (FORMAT parquet)")
    return f"spark://local[2]?path={folder}&spark.sql.shuffle.partitions=4"


def _frame(source) -> pd.DataFrame:
    fs = build_features(source, Config())
    return fs.frame.sort_values(["account_id", "as_of"]).reset_index(drop=True)


def test_features_on_spark_equal_duckdb_s(spark_url, small_db):
    got = _frame(open_validated(spark_url, SEGMENTS))
    want = _frame(open_validated(small_db, SEGMENTS))
    assert_same_features(want, got)


def test_validate_reads_the_folder_through_spark(spark_url):
    r = run_cli("validate", "--data", spark_url)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "accounts 300" in " ".join(r.stdout.split())
