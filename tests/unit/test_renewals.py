"""Renewal decisions as cases: which decisions, which outcome, which score at each lead."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.evaluation.renewals import at_lead, decision_cases, lead_summary

T = pd.Timestamp


def scores() -> pd.DataFrame:
    """Monthly scores of an annual account renewing on 2026-06-15 and leaving at its renewal
    on 2027-06-15 (scored until then), and a monthly account leaving on 2026-04-10."""
    months = pd.date_range("2025-11-01", "2027-06-01", freq="MS")
    annual = pd.DataFrame(
        {
            "account_id": "A",
            "as_of": months,
            "renewal_date": [
                T("2026-06-15") if m < T("2026-06-15") else T("2027-06-15") for m in months
            ],
            "term_months": 12,
            "churn_after": T("2027-06-15"),
            "health_score": np.arange(len(months))[::-1] + 50,
        }
    )
    monthly_dates = pd.date_range("2026-01-01", "2026-04-01", freq="MS")
    monthly = pd.DataFrame(
        {
            "account_id": "M",
            "as_of": monthly_dates,
            "renewal_date": monthly_dates + pd.Timedelta(days=9),
            "term_months": 1,
            "churn_after": T("2026-04-10"),
            "health_score": [90, 80, 70, 60],
        }
    )
    out = pd.concat([annual, monthly], ignore_index=True)
    return out.assign(
        segment="smb",
        arr=1000.0,
        flagged=out.health_score < 65,
        scorecard_health=50.0,
    )


def test_each_decision_once_with_its_outcome():
    cases = decision_cases(scores(), T("2026-01-01"), T("2027-12-31")).set_index(
        ["account_id", "decision"]
    )
    assert cases.churned.to_dict() == {
        ("M", T("2026-01-10")): 0,
        ("M", T("2026-02-10")): 0,
        ("M", T("2026-03-10")): 0,
        ("M", T("2026-04-10")): 1,  # left at this decision
        ("A", T("2026-06-15")): 0,  # renewed
        ("A", T("2027-06-15")): 1,
    }
    window = decision_cases(scores(), T("2026-03-01"), T("2026-06-30"))
    assert set(window.decision) == {T("2026-03-10"), T("2026-04-10"), T("2026-06-15")}


def test_the_score_a_lead_ahead_is_the_latest_before_it():
    s = scores()
    cases = decision_cases(s, T("2026-01-01"), T("2027-12-31"))
    at90 = at_lead(cases, s, 90).set_index(["account_id", "decision"])
    # 90 days before 2027-06-15 is 2027-03-17: the 2027-03-01 score
    assert at90.loc[("A", T("2027-06-15")), "as_of"] == T("2027-03-01")
    assert at90.loc[("A", T("2026-06-15")), "as_of"] == T("2026-03-01")
    # the monthly account was not scored 90 days before its first decisions: left out
    assert ("M", T("2026-01-10")) not in at90.index
    assert at90.loc[("M", T("2026-04-10")), "as_of"] == T("2026-01-01")
    assert at90.loc[("M", T("2026-04-10")), "health_score"] == 90


def test_lead_summary_counts_warned_shares_over_all_churns():
    leads = pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "churn_date": T("2026-06-01"),
            "first_flag": [T("2025-06-01"), T("2026-01-01"), T("2026-04-01"), pd.NaT],
            "lead_days": [365.0, 151.0, 61.0, np.nan],
        }
    )
    s = lead_summary(leads, first_scored=T("2025-06-01"))
    assert s["churn_events"] == 4 and s["caught"] == 3
    assert s["median_lead_days"] == 151
    assert s["share_60d_ahead"] == 0.75 and s["share_90d_ahead"] == 0.5
    assert s["share_180d_ahead"] == 0.25
    assert s["censored"] == 1  # the run reaching the first scored date
