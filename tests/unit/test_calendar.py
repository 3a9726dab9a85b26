import numpy as np

from churnhealth import calendar as cal


def d(s: str) -> np.datetime64:
    return np.datetime64(s, "D")


def test_month_helpers():
    m = cal.month_index(np.array([d("2024-02-17")]))[0]
    assert cal.month_start(m) == d("2024-02-01")
    assert cal.days_in_month(m) == 29
    assert cal.day_of_month(np.array([d("2024-02-17")]))[0] == 17


def test_renewals_clip_to_month_end_and_keep_the_anchor_day():
    anchor = np.array([d("2024-01-31")])
    feb = cal.month_index(np.array([d("2024-02-01")]))[0]
    assert cal.renewal_in_month(feb, anchor, np.array([1]))[0] == d("2024-02-29")
    assert cal.renewal_in_month(feb + 1, anchor, np.array([1]))[0] == d("2024-03-31")


def test_annual_renewal_only_on_anniversary():
    anchor = np.array([d("2023-05-10")] * 2)
    term = np.array([12, 24])
    may24 = cal.month_index(np.array([d("2024-05-01")]))[0]
    r = cal.renewal_in_month(may24, anchor, term)
    assert r[0] == d("2024-05-10") and np.isnat(r[1])
    assert np.isnat(cal.renewal_in_month(may24 - 1, anchor, term)).all()
    assert cal.renewal_in_month(may24 + 12, anchor, term)[1] == d("2025-05-10")


def test_no_renewal_in_the_start_month():
    anchor = np.array([d("2024-03-05")])
    m = cal.month_index(anchor)[0]
    assert np.isnat(cal.renewal_in_month(m, anchor, np.array([1]))[0])
