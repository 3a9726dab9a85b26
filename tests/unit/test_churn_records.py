"""Churn records reconciled with subscriptions: each rule of `data.churn`, one case at a time."""

import pandas as pd
import pytest

from churnhealth.data.churn import reasons_by_segment, reconcile
from churnhealth.features.labels import churn_dates

T = pd.Timestamp


def subs(*rows):
    return pd.DataFrame(
        [
            {"account_id": a, "start_date": T(s), "term_months": 12, "end_date": e and T(e)}
            for a, s, e in rows
        ]
    ).astype({"end_date": "datetime64[ns]"})


def records(*rows):
    return pd.DataFrame(
        [{"account_id": a, "churn_date": T(d), "reason": r, "kind": None} for a, d, r in rows]
    )


def test_a_record_inside_a_coverage_ends_it_on_the_record_s_date():
    s = subs(("A", "2024-01-01", None))
    new, rec = reconcile(s, records(("A", "2024-06-15", "budget")))
    assert new.end_date.iloc[0] == T("2024-06-15")
    assert rec.ended == 1 and rec.counted.reason.tolist() == ["budget"]
    assert churn_dates(new).churn_date.tolist() == [T("2024-06-15")]


def test_a_record_just_after_the_coverage_confirms_it_and_moves_nothing():
    s = subs(("A", "2024-01-01", "2025-01-01"))
    new, rec = reconcile(s, records(("A", "2025-01-20", "competitor")))
    assert new.end_date.iloc[0] == T("2025-01-01")
    assert (rec.confirmed, rec.late, rec.unrecorded) == (1, 0, 0)
    assert len(rec.counted) == 1


def test_a_late_record_leaves_the_end_of_coverage_as_the_churn_date():
    s = subs(("A", "2024-01-01", "2025-01-01"))
    new, rec = reconcile(s, records(("A", "2025-02-20", "budget")), gap_days=30)
    assert new.end_date.iloc[0] == T("2025-01-01")
    assert rec.late == 1 and rec.late_days == [50] and rec.unrecorded == 0
    # its reason is the reason of the churn at the end of coverage
    assert rec.counted[["churn_date", "reason"]].values.tolist() == [[T("2025-01-01"), "budget"]]
    assert "median 50 days later" in " ".join(rec.notes(30))
    assert "no churn record" not in " ".join(rec.notes(30))


def test_a_re_signup_within_the_gap_overrules_the_record():
    s = subs(("A", "2024-01-01", "2025-01-01"), ("A", "2025-01-10", None))
    new, rec = reconcile(s, records(("A", "2024-12-31", "budget")))
    pd.testing.assert_frame_equal(new, s)
    assert rec.overruled == 1 and rec.counted.empty
    assert churn_dates(new).empty


def test_a_reactivation_after_the_gap_is_a_new_coverage():
    s = subs(("A", "2024-01-01", None), ("A", "2024-09-01", "2025-03-01"))
    new, rec = reconcile(s, records(("A", "2024-05-01", "budget")))
    assert new.end_date.tolist()[0] == T("2024-05-01")
    dates = churn_dates(new).churn_date.tolist()
    assert dates == [T("2024-05-01"), T("2025-03-01")]
    assert rec.ended == 1 and rec.unrecorded == 1  # the second churn has no record


def test_records_without_coverage_before_them_are_ignored_and_unrecorded_churns_counted():
    s = subs(("A", "2024-06-01", "2024-12-01"), ("B", "2024-01-01", "2024-03-01"))
    new, rec = reconcile(s, records(("A", "2024-02-01", "x"), ("Z", "2024-02-01", "y")))
    pd.testing.assert_frame_equal(new, s)
    assert rec.outside == 2 and rec.unrecorded == 2 and rec.records == 2
    notes = rec.notes(30)
    assert any("2 records are of accounts with no subscription" in n for n in notes)
    assert any("2 coverages ended with no churn record" in n for n in notes)


def test_records_that_match_the_subscriptions_exactly_change_nothing_and_say_nothing():
    s = subs(("A", "2024-01-01", "2024-07-01"), ("B", "2024-01-01", None))
    new, rec = reconcile(s, records(("A", "2024-07-01", "budget")))
    pd.testing.assert_frame_equal(new, s)
    assert rec.notes(30) == [] and rec.confirmed == 1


def test_reasons_are_shares_per_segment_and_overall():
    counted = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "churn_date": [T("2024-01-01")] * 4,
            "reason": ["budget", "budget", "competitor", None],
            "kind": [None] * 4,
        }
    )
    segment_of = pd.Series({"A": "smb", "B": "smb", "C": "smb", "D": "enterprise"})
    r = reasons_by_segment(counted, segment_of).set_index(["segment", "reason"])
    assert r.loc[("all", "budget"), "share"] == pytest.approx(0.5)
    assert r.loc[("smb", "budget"), "share"] == pytest.approx(2 / 3)
    assert r.loc[("enterprise", "unknown"), "churns"] == 1
    assert r.groupby(level="segment").share.sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
