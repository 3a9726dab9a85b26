"""The generator is deterministic and its drift options change what they claim, nothing else."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from churnhealth.data.contract import TABLE_NAMES
from churnhealth.errors import ChurnhealthError
from churnhealth.features import build_features
from churnhealth.synth import Drift, generate

# raw events and a feature table of your own: not simulated; cs_actions only with a team
TABLES = (*(t for t in TABLE_NAMES if t not in ("events", "features", "cs_actions")), "truth")


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


@pytest.fixture(scope="module")
def controls(tmp_path_factory):
    """A two-year company and its no-signal control, same seed."""
    root = tmp_path_factory.mktemp("controls")
    signal, control = root / "signal.duckdb", root / "control.duckdb"
    generate(signal, accounts=600, years=2, seed=7, truth_paths=10)
    res = generate(control, accounts=600, years=2, seed=7, truth_paths=10, no_signal=True)
    return signal, control, res


def test_the_no_signal_control_keeps_the_company_and_its_churn_rate(controls):
    signal, control, res = controls
    pd.testing.assert_frame_equal(
        read(signal, "accounts")[["account_id", "segment", "created_at"]],
        read(control, "accounts")[["account_id", "segment", "created_at"]],
    )
    firsts = (
        "WHERE start_date = (SELECT min(start_date) FROM subscriptions s2 "
        "WHERE s2.account_id = subscriptions.account_id)"
    )
    cols = ["account_id", "start_date", "term_months"]
    a, b = (
        read(p, "subscriptions", firsts)[cols].sort_values(cols).reset_index(drop=True)
        for p in (signal, control)
    )
    pd.testing.assert_frame_equal(a, b)  # the same contracts, on the same calendar
    left = [read(p, "churn_events").account_id.nunique() for p in (signal, control)]
    assert 0.75 < left[1] / left[0] < 1.33  # the same rate of leaving
    assert 0 < res.no_signal < 0.05
    truth = read(control, "truth")
    assert truth.groupby("as_of").p_churn_90d.nunique().max() == 1  # no account riskier


def test_in_the_no_signal_control_nothing_read_predicts_churn(controls):
    """What ranks churn on the company ranks it no better than chance on its control."""
    from churnhealth.config import Config
    from churnhealth.data.load import open_validated
    from churnhealth.evaluation.metrics import ranking_auc

    signal, control, _ = controls
    aucs = {}
    for name, path in (("signal", signal), ("control", control)):
        fs = build_features(open_validated(path, ["enterprise", "mid_market", "smb"]), Config())
        rows = fs.labelled
        y = rows.churned_within_h.to_numpy()
        aucs[name] = {
            f: ranking_auc(y, -rows[f].fillna(rows[f].median()).to_numpy())
            for f in ("usage_license_share_30d", "usage_days_since_active", "eng_touchpoints_90d")
            if f in rows
        }
    best = max(abs(a - 0.5) for a in aucs["signal"].values())
    assert best > 0.1, aucs["signal"]
    assert all(abs(a - 0.5) < 0.06 for a in aucs["control"].values()), aucs["control"]


def test_the_contract_mix_has_a_knob(tmp_path):
    """`monthly_share` puts that share of accounts on monthly contracts in every segment (the
    mostly-monthly companies issue 3.4 measures playbooks on)."""
    out = tmp_path / "monthly.duckdb"
    generate(out, accounts=400, years=1, seed=3, truth_paths=2, monthly_share=0.8)
    with duckdb.connect(str(out), read_only=True) as con:
        first = con.execute(
            """SELECT a.segment, s.term_months FROM subscriptions s JOIN accounts a USING
               (account_id) QUALIFY row_number() OVER (PARTITION BY account_id
               ORDER BY start_date) = 1"""
        ).df()
    monthly = first.groupby("segment").term_months.apply(lambda t: (t == 1).mean())
    assert set(monthly.index) == {"enterprise", "mid_market", "smb"}
    assert monthly.between(0.65, 0.95).all(), monthly
    with pytest.raises(ChurnhealthError, match=r"monthly-share must be in 0\.\.1"):
        generate(tmp_path / "bad.duckdb", accounts=50, years=1, monthly_share=1.5)
