"""Behavioural tests of a trained model: it responds to the signals the way the domain says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.data.source import open_source
from churnhealth.features import build_features

USAGE_ACTIVITY = [
    "usage_peak_users_30d",
    "usage_license_share_30d",
    "usage_events_per_user_week",
    "usage_breadth_30d",
    "usage_core_depth_30d",
]


@pytest.fixture(scope="module")
def rows(trained) -> pd.DataFrame:
    fs = build_features(open_source(trained.data), trained.cfg)
    frame = fs.frame
    return frame[frame.as_of == frame.as_of.max()].reset_index(drop=True)


@pytest.fixture(scope="module")
def model(trained):
    return trained.result.model


def risk(model, frame: pd.DataFrame) -> np.ndarray:
    """The probability health shows (within the health horizon)."""
    return model.predict_proba(frame, model.horizon_days)


def renewed(rows: pd.DataFrame, days_after: int = 20) -> pd.DataFrame:
    """The same accounts `days_after` days after their next renewal, signals unchanged: only
    the calendar moves (as-of date, next renewal a term later, tenure, lifecycle stage)."""
    out = rows.copy()
    out["as_of"] = rows.renewal_date + pd.Timedelta(days=days_after)
    months = rows.term_months.astype(int)
    out["renewal_date"] = [
        r + pd.DateOffset(months=m) for r, m in zip(rows.renewal_date, months, strict=True)
    ]
    out["days_to_renewal"] = (out.renewal_date - out.as_of).dt.days.astype(float)
    out["tenure_days"] = rows.tenure_days + (out.as_of - rows.as_of).dt.days
    out["lifecycle_stage"] = np.where(out.tenure_days < 365, "adoption", "maturity")
    return out


def test_health_holds_through_a_renewal_when_nothing_changes(model, rows):
    """An annual account 15–60 days before its renewal, and the same account with the same
    signals 20 days after it renewed: health (a year ahead, one decision either way) moves by
    a few points, while the 90-day probability, which sees the decision only before it,
    collapses. Measured on the test fixture: median |change| under 1 point, 90% within 10 on
    the draws before synth.keyed; on today's median 3.1, 90% within 15 (a few accounts at their
    first anniversary read up to 21 points riskier just after it), while the 90-day probability
    falls by a median 13 points and by more than the 12-month one for 85% of the accounts."""
    annual = rows[(rows.term_months == 12) & rows.days_to_renewal.between(15, 60)]
    assert len(annual) >= 30
    after = renewed(annual)
    change = 100 * (risk(model, annual) - risk(model, after))
    assert np.median(np.abs(change)) <= 5
    assert np.quantile(np.abs(change), 0.9) <= 20
    quarter = model.predict_proba(annual, 90) - model.predict_proba(after, 90)
    assert np.median(quarter) > np.median(np.abs(change)) / 100
    assert np.mean(np.abs(change) < 100 * np.abs(quarter)) >= 0.75


def test_less_usage_never_lowers_risk_on_average(model, rows):
    base = risk(model, rows)
    for factor in (0.7, 0.4, 0.1):
        less = rows.copy()
        less[USAGE_ACTIVITY] = less[USAGE_ACTIVITY] * factor
        assert risk(model, less).mean() >= base.mean()
    for segment, idx in rows.groupby("segment").groups.items():
        less = rows.loc[idx].copy()
        less[USAGE_ACTIVITY] = less[USAGE_ACTIVITY] * 0.3
        assert risk(model, less).mean() >= base[idx].mean(), segment


def test_more_p1_tickets_never_lower_risk_on_average(model, rows):
    base = risk(model, rows)
    more = rows.copy()
    for col in ("sup_p1_tickets_90d", "sup_tickets_90d", "sup_tickets_30d", "sup_escalations_90d"):
        more[col] = more[col] + 3
    assert risk(model, more).mean() >= base.mean()


def _textbook(rows: pd.DataFrame, segment: str, churner: bool) -> pd.DataFrame:
    seg = rows[rows.segment == segment]
    numeric = [
        c for c in seg.columns if c.startswith(("usage_", "eng_", "sent_", "rel_", "sup_", "fin_"))
    ]
    lo, hi = seg[numeric].quantile(0.05), seg[numeric].quantile(0.95)
    good, bad = (lo, hi) if churner else (hi, lo)
    row = seg.iloc[[0]].copy()
    for col in numeric:
        row[col] = seg[col].median()
    for col in [
        *USAGE_ACTIVITY,
        "eng_touchpoints_90d",
        "eng_outreach_response_90d",
        "eng_trainings_180d",
        "sent_nps_last",
        "sent_csat_90d",
        "rel_has_champion",
        "rel_has_exec_sponsor",
        "rel_contacts",
        "sup_ticket_csat_90d",
    ]:
        row[col] = good[col]
    for col in [
        "usage_days_since_active",
        "eng_days_since_touchpoint",
        "sup_p1_tickets_90d",
        "sup_tickets_90d",
        "sup_escalations_90d",
        "fin_late_invoices_365d",
        "fin_max_days_late_365d",
        "rel_champion_left_90d",
    ]:
        row[col] = bad[col]
    row["usage_events_slope_90d"] = -0.5 if churner else 0.2
    row["usage_events_mom"] = -0.4 if churner else 0.1
    row["days_to_renewal"] = 20
    return row


@pytest.mark.parametrize("segment", ["enterprise", "mid_market", "smb"])
def test_a_textbook_churner_outranks_a_textbook_loyal_account(model, rows, segment):
    churner = risk(model, _textbook(rows, segment, churner=True))[0]
    loyal = risk(model, _textbook(rows, segment, churner=False))[0]
    assert churner > loyal


def test_account_id_changes_nothing(model, rows):
    renamed = rows.assign(account_id=[f"X{i}" for i in range(len(rows))][::-1])
    pd.testing.assert_frame_equal(
        model.score(rows).reset_index(drop=True), model.score(renamed).reset_index(drop=True)
    )
    shuffled = rows.sample(frac=1, random_state=0)
    pd.testing.assert_frame_equal(model.score(shuffled).sort_index(), model.score(rows))
