"""Discrete-time survival rows: steps, exposure, censoring, curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.models.hazard import curve, decisions, person_period, step_ends, within_days

TS = pd.Timestamp


def rows(*specs) -> pd.DataFrame:
    """(as_of, renewal_date, term_months) per row."""
    df = pd.DataFrame(specs, columns=["as_of", "renewal_date", "term_months"])
    return df.assign(as_of=pd.to_datetime(df.as_of), renewal_date=pd.to_datetime(df.renewal_date))


def test_steps_are_calendar_months_clipped_to_the_month_end():
    ends = step_ends(pd.Series([TS("2024-01-31")]), 3)
    assert [str(d) for d in ends[0]] == ["2024-02-29", "2024-03-31", "2024-04-30"]


def test_an_annual_contract_decides_once_a_monthly_one_every_step():
    frame = rows(("2024-01-01", "2024-05-14", 12), ("2024-01-01", "2024-01-14", 1))
    inside, before = decisions(frame, 12)
    assert inside[0].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert before[0].tolist() == [0] * 5 + [1] * 7
    assert inside[1].tolist() == [1] * 12 and before[1].tolist() == list(range(12))


def test_steps_stop_at_the_churn_and_at_what_was_known():
    frame = rows(("2024-01-01", "2024-03-10", 12), ("2024-01-01", "2024-07-10", 12))
    churn = pd.Series([TS("2024-03-10"), pd.NaT])
    pp = person_period(frame, churn, TS("2024-12-01"), gap_days=30)
    a = pp[pp.row == 0]
    assert a.step.tolist() == [1, 2, 3] and a.churned_in_step.tolist() == [0, 0, 1]
    assert a.decisions_in_step.tolist() == [0, 0, 1]
    # row 1 survives; steps are known while their end + 30 days ≤ 2024-12-01: up to 2024-11-01
    b = pp[pp.row == 1]
    assert b.step.tolist() == list(range(1, 11)) and b.churned_in_step.sum() == 0


def test_a_churn_not_yet_confirmed_by_the_gap_is_not_a_label():
    """Coverage ending on 2024-03-10 could still be renewed until 2024-04-09: at a boundary
    before that its step is unknown, so it is left out rather than labelled."""
    frame = rows(("2024-01-01", "2024-03-10", 12))
    churn = pd.Series([TS("2024-03-10")])
    early = person_period(frame, churn, TS("2024-04-05"), gap_days=30)
    assert early.step.tolist() == [1, 2] and early.churned_in_step.sum() == 0
    late = person_period(frame, churn, TS("2024-05-01"), gap_days=30)
    assert late.churned_in_step.tolist() == [0, 0, 1]


def test_per_row_boundaries_censor_each_row_at_its_window():
    frame = rows(("2024-01-01", "2024-06-10", 12), ("2024-01-01", "2024-06-10", 12))
    bounds = pd.Series([TS("2024-05-01"), TS("2024-09-01")])
    pp = person_period(frame, pd.Series([pd.NaT, pd.NaT]), bounds, gap_days=0)
    assert pp.groupby("row").step.max().tolist() == [4, 8]


def test_the_curve_multiplies_survival_and_interpolates_inside_a_step():
    h = np.full((1, 12), 0.1)
    p = curve(h)
    assert p[0, 0] == pytest.approx(0.1) and p[0, 11] == pytest.approx(1 - 0.9**12)
    frame = rows(("2024-01-01", "2024-06-10", 12))
    assert within_days(frame, p, 0)[0] == pytest.approx(0.0)
    assert within_days(frame, p, 31)[0] == pytest.approx(0.1)  # exactly one step
    mid = within_days(frame, p, 15)[0]  # half way through January, constant hazard
    assert mid == pytest.approx(1 - 0.9 ** (15 / 31))
    assert within_days(frame, p, 366)[0] == pytest.approx(p[0, 11])
