"""The generator is deterministic and its drift options change what they claim, nothing else."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from churnhealth.data.contract import TABLE_NAMES
from churnhealth.synth import Drift, generate

# raw events and a feature table of your own: not simulated
TABLES = (*(t for t in TABLE_NAMES if t not in ("events", "features")), "truth")


def read(path, table: str, where: str = "") -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(f"SELECT * FROM {table} {where}").df()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "base.duckdb"
    generate(path, accounts=400, years=1, seed=5, truth_paths=20)
    return path


def test_same_arguments_give_identical_output(baseline, tmp_path):
    again = tmp_path / "again.duckdb"
    generate(again, accounts=400, years=1, seed=5, truth_paths=20)
    for t in TABLES:
        pd.testing.assert_frame_equal(read(baseline, t), read(again, t), obj=t)


def test_parquet_folder_holds_the_same_tables(baseline, tmp_path):
    folder = tmp_path / "demo"
    generate(folder, accounts=400, years=1, seed=5, truth_paths=20)
    assert sorted(f.stem for f in folder.iterdir()) == sorted(TABLES)
    with duckdb.connect() as con:
        for t in ("subscriptions", "usage", "truth"):
            df = con.sql(f"SELECT * FROM read_parquet('{folder / t}.parquet')").df()
            pd.testing.assert_frame_equal(df, read(baseline, t), obj=t)


def test_another_seed_gives_another_company(baseline, tmp_path):
    other = tmp_path / "other.duckdb"
    generate(other, accounts=400, years=1, seed=6, truth_paths=20)
    assert not read(baseline, "usage").equals(read(other, "usage"))


def test_usage_shift_lowers_measured_usage_but_not_churn(baseline, tmp_path):
    shifted = tmp_path / "usage_shift.duckdb"
    when = dt.date(2024, 5, 1)
    generate(
        shifted, accounts=400, years=1, seed=5, truth_paths=20, drifts=(Drift("usage_shift", when),)
    )
    for t in ("subscriptions", "truth", "tickets", "surveys"):
        pd.testing.assert_frame_equal(read(baseline, t), read(shifted, t), obj=t)
    before = f"WHERE date < DATE '{when}'"
    pd.testing.assert_frame_equal(read(baseline, "usage", before), read(shifted, "usage", before))
    after = f"WHERE date >= DATE '{when}'"
    base, new = read(baseline, "usage", after), read(shifted, "usage", after)
    assert new.events.sum() < 0.65 * base.events.sum()
    assert new.active_users.sum() < 0.8 * base.active_users.sum()


def test_concept_shift_changes_churn_only_after_the_date(baseline, tmp_path):
    shifted = tmp_path / "concept_shift.duckdb"
    when = dt.date(2024, 5, 1)
    generate(
        shifted,
        accounts=400,
        years=1,
        seed=5,
        truth_paths=20,
        drifts=(Drift("concept_shift", when),),
    )
    early = "WHERE as_of <= DATE '2024-01-01'"  # their 90 days end before the shift
    cols = ["account_id", "as_of", "p_churn_90d"]
    pd.testing.assert_frame_equal(
        read(baseline, "truth", early)[cols], read(shifted, "truth", early)[cols]
    )
    ended = f"WHERE end_date < DATE '{when}' ORDER BY subscription_id"
    pd.testing.assert_frame_equal(
        read(baseline, "subscriptions", ended), read(shifted, "subscriptions", ended)
    )
    late = "WHERE as_of >= DATE '2024-06-01' ORDER BY account_id, as_of"
    a, b = read(baseline, "truth", late), read(shifted, "truth", late)
    assert (a.p_churn_90d - b.p_churn_90d).abs().mean() > 0.01


@pytest.mark.parametrize("text", ["usage_shift", "weather@2024-01-01", "usage_shift@soon"])
def test_bad_drift_is_rejected(text):
    from churnhealth.errors import ChurnhealthError

    with pytest.raises(ChurnhealthError, match="--drift"):
        Drift.parse(text)
