"""Exact duplicate rows (the same in every column, as exports repeat them) are dropped with a
counted note, in tables with a key and without one; rows sharing a key but differing stay an
error (tests/data/test_validate.py)."""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.load import check, open_validated
from churnhealth.errors import DataError
from churnhealth.features import build_features
from tests.conftest import cli

SEGMENTS = Config().data.segments


def features(path) -> pd.DataFrame:
    fs = build_features(open_validated(path, SEGMENTS), Config())
    return fs.frame.sort_values(["account_id", "as_of"]).reset_index(drop=True)


def test_exact_duplicates_are_dropped_and_counted(small_db, tmp_path):
    path = tmp_path / "dupes.duckdb"
    shutil.copy(small_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO usage SELECT * FROM usage USING SAMPLE 25 ROWS (reservoir, 1)")
        con.execute("INSERT INTO touchpoints SELECT * FROM touchpoints LIMIT 10")
        con.execute("INSERT INTO tickets SELECT * FROM tickets LIMIT 3")
    report = check(path, SEGMENTS)
    assert report.duplicates["usage"] == 25 and report.duplicates["touchpoints"] == 10
    assert report.duplicates["tickets"] == 3 and report.duplicates["accounts"] == 0
    assert "usage: dropped 25 exact duplicate rows (the same in every column)" in report.notes
    source = open_validated(path, SEGMENTS)
    assert "touchpoints: dropped 10 exact duplicate rows (the same in every column)" in source.notes
    pd.testing.assert_frame_equal(features(path), features(small_db))
    res = cli("validate", "--data", str(path))
    assert res.returncode == 0, res.stderr
    assert "tickets: dropped 3 exact duplicate rows" in res.stdout


def test_a_clean_company_has_nothing_to_drop(small_db):
    report = check(small_db, SEGMENTS)
    assert not any(report.duplicates.values())
    assert not any("duplicate" in n for n in report.notes)


def test_duplicate_keys_are_found_slice_by_slice_of_dates(small_db, tmp_path, monkeypatch):
    """A large table's key is searched one slice of days at a time: the slices cover every row
    (exact duplicates on the first and the last day are counted, a conflicting one is found)."""
    from churnhealth.data import checks

    path = tmp_path / "dupes.duckdb"
    shutil.copy(small_db, path)
    with duckdb.connect(str(path)) as con:
        lo, hi = con.execute("SELECT min(date), max(date) FROM usage").fetchone()
        for day in (lo, hi):
            con.execute(f"INSERT INTO usage SELECT * FROM usage WHERE date = '{day}' LIMIT 2")
        rows = con.execute("SELECT count(*) FROM usage").fetchone()[0]
    monkeypatch.setattr(checks, "SLICE_ROWS", rows // 7)
    t = open_validated(small_db, SEGMENTS).tables["usage"]
    assert len(checks.date_slices(t, ("account_id", "date", "feature"))) >= 8
    assert check(path, SEGMENTS).duplicates["usage"] == 4
    with duckdb.connect(str(path)) as con:
        con.execute(
            "INSERT INTO usage SELECT account_id, date, feature, active_users + 1, events "
            "FROM usage USING SAMPLE 1 ROWS (reservoir, 4)"
        )
    with pytest.raises(DataError) as sliced:
        check(path, SEGMENTS)
    assert "usage: duplicate key (account_id, date, feature) with different values" in str(
        sliced.value
    )
    monkeypatch.setattr(checks, "SLICE_ROWS", rows * 2)
    with pytest.raises(DataError) as whole:
        check(path, SEGMENTS)
    assert str(sliced.value) == str(whole.value)
