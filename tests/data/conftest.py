"""The small demo company as data tests read it: its tables as frames, and its features, which
every export shape must read back exactly (tests/data/test_mapping.py, test_saas_exports.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.features import build_features

SEGMENTS = Config().data.segments


def tables(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {n: con.table(n).df() for n in [r[0] for r in con.execute("SHOW TABLES").fetchall()]}


def features(source) -> pd.DataFrame:
    fs = build_features(source, Config())
    return fs.frame.sort_values(["account_id", "as_of"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def small(small_db) -> dict[str, pd.DataFrame]:
    return tables(small_db)


@pytest.fixture(scope="module")
def expected(small_db) -> pd.DataFrame:
    return features(open_validated(small_db, SEGMENTS))
