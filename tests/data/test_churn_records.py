"""Churn records through the data path: records that agree with the subscriptions change
nothing; a record inside a coverage ends it for every reader (grid, labels), but only from its
date on; and the commands say what they reconciled."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.churn import churn_reasons
from churnhealth.data.load import open_validated
from churnhealth.features import build_features
from tests.conftest import cli

SEGMENTS = Config().data.segments


def frame(path: Path, **kw) -> pd.DataFrame:
    source = open_validated(path, SEGMENTS, **kw)
    fs = build_features(source, Config())
    return fs.frame.sort_values(["account_id", "as_of"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def planted(small_db, tmp_path_factory) -> tuple[Path, str, pd.Timestamp]:
    """The small company with one churn recorded inside a running coverage."""
    path = tmp_path_factory.mktemp("records") / "planted.duckdb"
    shutil.copy(small_db, path)
    with duckdb.connect(str(path)) as con:
        (account,) = con.execute(
            "SELECT account_id FROM subscriptions GROUP BY account_id "
            "HAVING count(*) = 1 AND bool_and(end_date IS NULL) "
            "AND min(start_date) < DATE '2024-01-01' ORDER BY account_id LIMIT 1"
        ).fetchone()
        day = pd.Timestamp("2024-09-15")
        con.execute(
            "INSERT INTO churn_events VALUES (?, ?, 'budget cuts', 'voluntary')",
            [account, day.date()],
        )
    return path, account, day


def test_the_demo_records_agree_with_its_subscriptions_and_change_nothing(small_db, tmp_path):
    without = tmp_path / "without.duckdb"
    shutil.copy(small_db, without)
    with duckdb.connect(str(without)) as con:
        con.execute("DROP TABLE churn_events")
    source = open_validated(small_db, SEGMENTS)
    assert source.notes == [] and len(source.churn_records) > 0
    pd.testing.assert_frame_equal(frame(small_db), frame(without))


def test_a_record_inside_a_coverage_ends_it_there(planted, small_db):
    path, account, day = planted
    before, after = frame(small_db), frame(path)
    mine = after[after.account_id == account]
    assert mine.as_of.max() <= day < before[before.account_id == account].as_of.max()
    near = mine[(mine.as_of > day - pd.Timedelta(days=90)) & mine.labelled]
    assert len(near) and (near.churned_within_h == 1).all()
    assert (near.churn_date == day).all()
    others = after.account_id != account
    pd.testing.assert_frame_equal(
        after[others].reset_index(drop=True),
        before[before.account_id != account].reset_index(drop=True),
    )


def test_a_record_changes_nothing_before_its_date(planted, small_db):
    path, _, day = planted
    as_of = (day - pd.Timedelta(days=20)).date()
    got, want = frame(path, truncate_at=as_of), frame(small_db, truncate_at=as_of)
    pd.testing.assert_frame_equal(got, want)


def test_reasons_and_notes_are_reported(planted):
    path, _, _ = planted
    source = open_validated(path, SEGMENTS)
    assert source.notes == [
        f"churn_events: 1 of {len(source.churn_records):,} records fall inside a subscription's "
        "coverage: the record's date ends it"
    ]
    reasons = churn_reasons(source, SEGMENTS)
    overall = reasons[reasons.segment == "all"]
    assert overall.share.sum() == pytest.approx(1.0)
    assert set(reasons.segment) <= {"all", *SEGMENTS}
    res = cli("validate", "--data", str(path))
    assert res.returncode == 0, res.stderr
    assert "records fall inside a subscription's coverage" in res.stdout
