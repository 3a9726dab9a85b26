"""The revenue-retention forecast: expected churned ARR from the curves, an interval that covers
what it claims, and the realised side it is backtested against."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.scoring.forecast import forecast, realised, simulate

AS_OF = pd.Timestamp("2026-01-15")


def book(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """`n` accounts in two segments with random ARR and random monthly hazards."""
    rng = np.random.default_rng(seed)
    scores = pd.DataFrame(
        {
            "account_id": [f"A{i}" for i in range(n)],
            "as_of": AS_OF,
            "segment": np.where(np.arange(n) % 3 == 0, "enterprise", "smb"),
            "arr": rng.lognormal(9, 1, n).round(),
        }
    )
    hazard = rng.uniform(0, 0.04, (n, 12))
    hazard[:, 5] += rng.uniform(0, 0.3, n)  # a renewal in month 6
    return scores, 1 - np.cumprod(1 - hazard, axis=1)


def test_expected_churned_arr_is_the_curves_increments():
    scores, curve = book(500)
    f = forecast(scores, curve, draws=200)
    month_p = np.diff(curve, axis=1, prepend=0)
    expected = scores.arr.to_numpy() @ month_p
    months = [m.churned_arr for m in f.portfolio.months]
    assert months == pytest.approx(expected)
    quarters = [q.churned_arr for q in f.portfolio.quarters]
    assert quarters == pytest.approx(expected.reshape(4, 3).sum(axis=1))
    year = f.portfolio.year
    assert year.churned_arr == pytest.approx(expected.sum())
    assert year.grr == pytest.approx(f.portfolio.months[-1].grr)
    assert year.grr == pytest.approx(1 - expected.sum() / scores.arr.sum())
    segs = sum(b.year.churned_arr for b in f.segments.values())
    assert segs == pytest.approx(year.churned_arr)


def test_dates_and_intervals_are_ordered():
    scores, curve = book(300)
    f = forecast(scores, curve, draws=300)
    p = f.portfolio
    assert [q.end for q in p.quarters] == [
        "2026-04-15",
        "2026-07-15",
        "2026-10-15",
        "2027-01-15",
    ]
    assert p.months[0].end == "2026-02-15"
    for r in [*p.months, *p.quarters, p.year]:
        assert r.churned_arr_lo <= r.churned_arr <= r.churned_arr_hi
        assert r.grr_lo <= r.grr <= r.grr_hi
    grr = [m.grr for m in p.months]
    assert grr == sorted(grr, reverse=True)


def test_same_seed_same_interval_other_seed_close():
    scores, curve = book(400)
    a = forecast(scores, curve, draws=2000, seed=1)
    assert a == forecast(scores, curve, draws=2000, seed=1)
    b = forecast(scores, curve, draws=2000, seed=2)
    lo_a, lo_b = a.portfolio.year.churned_arr_lo, b.portfolio.year.churned_arr_lo
    assert lo_a == pytest.approx(lo_b, rel=0.05)


def test_simulation_matches_the_binomial():
    """Equal accounts with the same probability: churned ARR / arr is binomial."""
    n, p = 1000, 0.1
    curve = np.tile(np.r_[np.full(11, 0.0), p], (n, 1))
    sims = simulate(curve, np.ones(n), np.zeros(n, np.int64), 1, 4000, 0)
    year = sims[:, 0, :].sum(axis=1)
    assert year.mean() == pytest.approx(n * p, rel=0.02)
    assert year.std() == pytest.approx(np.sqrt(n * p * (1 - p)), rel=0.08)
    assert sims[:, 0, :11].sum() == 0


def test_interval_covers_outcomes_drawn_from_the_curves():
    """If accounts do leave as their curves say, the 80% interval of each quarter holds the
    realised churned ARR about 80% of the time."""
    scores, curve = book(400, seed=3)
    f = forecast(scores, curve, draws=2000, interval=0.8)
    rng = np.random.default_rng(99)
    ends = pd.to_datetime([q.end for q in f.portfolio.quarters])
    month_ends = pd.to_datetime([m.end for m in f.portfolio.months])
    inside = []
    for _ in range(300):
        u = rng.random(len(scores))
        month = (u[:, None] > curve).sum(axis=1)  # 12: stayed
        when = pd.Series(
            [month_ends[m] if m < 12 else pd.NaT for m in month], dtype="datetime64[ns]"
        )
        got = realised(scores, when, ends[-1])
        for q, r in zip(f.portfolio.quarters, got["portfolio"], strict=True):
            inside.append(q.churned_arr_lo <= r <= q.churned_arr_hi)
    assert 0.74 <= np.mean(inside) <= 0.88


def test_realised_counts_known_quarters_only():
    scores = pd.DataFrame(
        {
            "account_id": ["A", "B", "C", "D"],
            "as_of": AS_OF,
            "segment": ["smb", "smb", "enterprise", "smb"],
            "arr": [100.0, 200.0, 1000.0, 50.0],
        }
    )
    churn = pd.to_datetime(pd.Series(["2026-04-15", "2026-04-16", "2026-08-01", None]))
    got = realised(scores, churn, pd.Timestamp("2026-10-20"))
    assert got["portfolio"] == [100.0, 200.0, 1000.0, None]
    assert got["segments"]["smb"] == [100.0, 200.0, 0.0, None]
    assert got["segments"]["enterprise"] == [0.0, 0.0, 1000.0, None]


def test_one_as_of_and_one_curve_per_account():
    scores, curve = book(10)
    with pytest.raises(ValueError, match="one curve"):
        forecast(scores, curve[:5])
    two = scores.assign(as_of=[AS_OF] * 5 + [AS_OF + pd.Timedelta(days=1)] * 5)
    with pytest.raises(ValueError, match="one as-of"):
        forecast(two, curve)
