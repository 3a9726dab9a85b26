"""The observation grid and the churn/expansion labels, on hand-made subscriptions."""

from __future__ import annotations

import pandas as pd
import pytest

from churnhealth.config import LifecycleConfig
from churnhealth.features.grid import observation_grid, overlap_note
from churnhealth.features.labels import attach_labels

TS = pd.Timestamp


def subs(*rows) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["account_id", "start_date", "term_months", "end_date", "arr"])
    return df.assign(
        start_date=pd.to_datetime(df.start_date),
        end_date=pd.to_datetime(df.end_date),
        licenses=None,
    )


def accounts(*ids, created="2022-01-10", licenses=10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": list(ids),
            "segment": "smb",
            "created_at": pd.to_datetime(created),
            "licenses": licenses,
        }
    )


def labels(s: pd.DataFrame, as_of: str, data_end: str = "2030-01-01", **kw) -> pd.Series:
    acc = accounts(*s.account_id.unique())
    grid = observation_grid(acc, s, [TS(as_of)], LifecycleConfig())
    out = attach_labels(grid, s, TS(data_end), **kw)
    assert len(out) == 1
    return out.iloc[0]


def test_renewal_within_the_gap_is_not_churn():
    s = subs(("A", "2023-01-01", 12, "2024-01-01", 1000), ("A", "2024-01-20", 12, None, 1000))
    row = labels(s, "2023-12-01")
    assert row.churned_within_h == 0 and pd.isna(row.churn_date)


def test_renewal_after_the_gap_is_churn_on_the_day_coverage_ended():
    s = subs(("A", "2023-01-01", 12, "2024-01-01", 1000), ("A", "2024-02-15", 12, None, 1000))
    row = labels(s, "2023-12-01")
    assert row.churned_within_h == 1 and row.churn_date == TS("2024-01-01")


@pytest.mark.parametrize(("end", "churned"), [("2024-03-31", 1), ("2024-04-01", 0)])
def test_churn_exactly_at_the_horizon_edge(end, churned):
    s = subs(("A", "2023-01-15", 1, end, 1000))
    assert labels(s, "2024-01-01").churned_within_h == churned  # horizon ends 2024-03-31


def test_coverage_ending_on_the_as_of_date_is_not_in_the_grid():
    s = subs(("A", "2023-01-15", 1, "2024-01-01", 1000), ("B", "2023-01-15", 1, None, 500))
    grid = observation_grid(accounts("A", "B"), s, [TS("2024-01-01")], LifecycleConfig())
    assert grid.account_id.tolist() == ["B"]


def test_rows_whose_horizon_and_gap_pass_the_data_end_are_unlabelled():
    s = subs(("A", "2023-01-15", 1, None, 1000))
    ok = labels(s, "2024-02-01", data_end="2024-06-01")  # 2024-02-01 + 90 + 30 = 2024-05-31
    assert ok.labelled and ok.churned_within_h == 0
    late = labels(s, "2024-03-01", data_end="2024-06-01")
    assert not late.labelled
    assert pd.isna(late.churned_within_h) and pd.isna(late.expanded_within_h)


@pytest.mark.parametrize(("new_arr", "expanded"), [(1100, 1), (1050, 0)])
def test_expansion_is_arr_up_by_the_threshold_over_the_horizon(new_arr, expanded):
    s = subs(("A", "2023-02-15", 12, "2024-02-15", 1000), ("A", "2024-02-15", 12, None, new_arr))
    assert labels(s, "2024-01-01").expanded_within_h == expanded


def test_grid_contract_facts_and_lifecycle():
    s = subs(
        ("M", "2024-01-31", 1, None, 600),  # monthly, anchored on the 31st
        ("R", "2023-03-20", 12, None, 5000),  # annual, renewal within 60 days
        ("R", "2024-01-05", 12, None, 1000),  # an add-on: ARR adds up
        ("N", "2024-02-20", 12, None, 2000),  # new account
        ("Y", "2023-06-01", 12, None, 3000),  # adoption
    )
    acc = pd.concat(
        [
            accounts("M", "R", created="2021-01-31"),
            accounts("N", created="2024-02-20"),
            accounts("Y", created="2023-06-01"),
        ]
    )
    grid = observation_grid(
        acc, s, [TS("2024-03-01")], LifecycleConfig(), snapshot=TS("2024-03-01")
    ).set_index("account_id")
    assert grid.loc["M", "renewal_date"] == TS("2024-03-31")
    assert grid.loc["M", "lifecycle_stage"] == "maturity"  # monthly terms have no renewal period
    assert grid.loc["R", "arr"] == 6000 and grid.loc["R", "licenses"] == 20
    assert grid.loc["R", "renewal_date"] == TS("2024-03-20")
    assert grid.loc["R", "lifecycle_stage"] == "renewal_period"
    assert grid.loc["N", "lifecycle_stage"] == "onboarding"
    assert grid.loc["N", "tenure_days"] == 10
    assert grid.loc["Y", "lifecycle_stage"] == "adoption"
    assert grid.loc["Y", "days_to_renewal"] == 92


def test_arr_a_year_ago_uses_only_what_was_known():
    s = subs(("A", "2022-06-01", 12, "2023-06-01", 800), ("A", "2023-06-01", 12, None, 1000))
    grid = observation_grid(accounts("A"), s, [TS("2024-03-01")], LifecycleConfig())
    assert grid.arr_365d_ago.tolist() == [800] and grid.arr.tolist() == [1000]


@pytest.mark.parametrize(
    ("start", "term", "as_of", "expected"),
    [
        ("2023-01-15", 1, "2024-01-01", 3),  # monthly: Jan 15, Feb 15, Mar 15
        ("2023-01-31", 1, "2024-01-31", 3),  # Feb 29, Mar 31, Apr 30 (Jan 31 itself is not after)
        ("2023-03-10", 12, "2024-01-01", 1),  # annual renewal on Mar 10, inside 90 days
        ("2023-06-10", 12, "2024-01-01", 0),  # next renewal in June: no decision in the horizon
        ("2022-03-31", 24, "2024-01-05", 1),  # two-year term ending Mar 31
    ],
)
def test_renewals_in_horizon_count_the_decisions_within_90_days(start, term, as_of, expected):
    s = subs(("A", start, term, None, 1000))
    grid = observation_grid(accounts("A", created=start), s, [TS(as_of)], LifecycleConfig(), 90)
    assert grid.renewals_in_horizon.tolist() == [expected]


def test_licenses_snapshot_is_unknown_in_the_past():
    """accounts.licenses is today's count: a subscription without licenses has unknown seats at
    past as-of dates, and the snapshot only at the end of the data."""
    s = subs(("A", "2023-01-01", 12, None, 1000))
    s.loc[:, "licenses"] = None
    acc = accounts("A", licenses=40)
    end = TS("2024-06-01")
    grid = observation_grid(acc, s, [TS("2024-01-01"), end], LifecycleConfig(), snapshot=end)
    assert pd.isna(grid.licenses.iloc[0]) and grid.licenses.iloc[1] == 40
    with_own = s.assign(licenses=25.0)
    grid = observation_grid(acc, with_own, [TS("2024-01-01"), end], LifecycleConfig(), snapshot=end)
    assert grid.licenses.tolist() == [25, 25]


def test_expansion_over_a_year_counts_the_renewal_months_away_and_waits_for_it():
    """With a 365-day expansion horizon, an expansion signed at a renewal 10 months after the
    as-of date counts (it would not within 90 days); its label is null until the year and the
    gap have passed; an account that left and came back bigger within the year did not
    expand."""
    grown = subs(("A", "2023-11-01", 12, "2024-11-01", 1000), ("A", "2024-11-01", 12, None, 1500))
    quarter = labels(grown, "2024-01-01")
    assert quarter.expanded_within_h == 0
    year = labels(grown, "2024-01-01", expansion_days=365)
    assert year.expanded_within_h == 1 and year.churned_within_h == 0
    early = labels(grown, "2024-01-01", data_end="2024-12-31", expansion_days=365)
    assert early.labelled and pd.isna(early.expanded_within_h)  # known on 2025-01-30
    back = subs(
        ("B", "2023-11-01", 12, "2024-05-01", 1000),  # left
        ("B", "2024-08-01", 12, None, 3000),  # won back, bigger, after the gap
    )
    assert labels(back, "2024-01-01", expansion_days=365).expanded_within_h == 0


def test_overlapping_subscriptions_add_up_or_the_newest_is_read_and_a_note_says_so():
    """Issue 3.5: an account holding several subscriptions at once (add-ons, or an export that
    never closes the old contract) is counted in a note; `sum` adds them up, `latest` reads the
    newest, for the ARR a year back and the expansion label alike."""
    s = subs(
        ("A", "2023-01-01", 12, None, 100.0),
        ("A", "2024-06-01", 1, None, 40.0),
        ("B", "2023-03-01", 12, None, 70.0),
    )
    acc = accounts("A", "B")
    day = [TS("2024-07-01")]
    both = observation_grid(acc, s, day, LifecycleConfig()).set_index("account_id")
    newest = observation_grid(acc, s, day, LifecycleConfig(), overlapping="latest")
    newest = newest.set_index("account_id")
    assert both.arr.to_dict() == {"A": 140.0, "B": 70.0}
    assert newest.arr.to_dict() == {"A": 40.0, "B": 70.0}
    assert newest.term_months["A"] == 1 and both.term_months["A"] == 12
    assert overlap_note(s, TS("2024-07-01"), "sum") == (
        "subscriptions: 1 of 2 active accounts hold several at 2024-07-01 (median 2, at most "
        "2); their ARR, seats and renewals add up (data.overlapping_subscriptions: sum; "
        "`latest` reads each account's newest only)"
    )
    assert overlap_note(s, TS("2024-01-01"), "sum") is None  # one each then
    later = s.assign(end_date=pd.NaT)
    out = attach_labels(
        newest.reset_index(), later, TS("2026-01-01"), expansion_days=180, overlapping="latest"
    )
    assert not out.expanded_within_h.astype(bool).any()  # the newest is unchanged: no growth
