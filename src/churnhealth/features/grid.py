"""The observation grid: one row per account with an active subscription at each as-of date.

Contract facts at as-of T come from the subscriptions covering T (start_date ≤ T < end_date):
ARR, licenses, term, and the next renewal date, which follows from start_date and term_months
(never from a future end_date).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from churnhealth import calendar as cal
from churnhealth.config import LifecycleConfig

LIFECYCLE_STAGES = ("onboarding", "adoption", "maturity", "renewal_period")


def schedule(start: dt.date, end: dt.date, freq: str) -> list[pd.Timestamp]:
    """As-of dates on the schedule within [start, end]."""
    return list(pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=freq))


def _days(d: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(d, dtype="datetime64[D]")


def next_renewal(start: np.ndarray, term: np.ndarray, after: np.datetime64) -> np.ndarray:
    """First renewal date (start + k × term months, k ≥ 1) strictly after `after`."""
    since = cal.month_index(np.array([after]))[0] - cal.month_index(start)
    k = np.maximum(since // term, 1)
    day = cal.day_of_month(start)
    r = cal.date_in_month(cal.month_index(start) + k * term, day)
    return np.where(r > after, r, cal.date_in_month(cal.month_index(start) + (k + 1) * term, day))


def renewals_within(
    start: np.ndarray, term: np.ndarray, after: np.datetime64, horizon_days: int
) -> np.ndarray:
    """Renewal dates (start + k × term months, k ≥ 1) in (after, after + horizon_days]."""
    end = after + np.timedelta64(horizon_days, "D")
    since = cal.month_index(np.array([after]))[0] - cal.month_index(start)
    k = np.maximum(since // term, 1)
    day = cal.day_of_month(start)
    count = np.zeros(len(start), dtype=np.int64)
    for j in range(horizon_days // 28 + 2):
        r = cal.date_in_month(cal.month_index(start) + (k + j) * term, day)
        count += (r > after) & (r <= end)
    return count


def covering(subs: pd.DataFrame, day: pd.Timestamp, overlapping: str = "sum") -> pd.DataFrame:
    """Subscription rows covering `day`: start_date ≤ day < end_date (or still running); with
    `overlapping` "latest", only each account's newest of them (the largest on a tie)."""
    cov = subs[(subs.start_date <= day) & (subs.end_date.isna() | (subs.end_date > day))]
    if overlapping == "latest" and len(cov):
        cov = cov.sort_values(["account_id", "start_date", "arr"]).groupby("account_id").tail(1)
    return cov


def overlap_note(subs: pd.DataFrame, day: pd.Timestamp, overlapping: str) -> str | None:
    """A note when accounts hold several subscriptions at once on `day` (add-ons, or an export
    that never closes the old contract), with how they are read; None when none does."""
    subs = subs.assign(
        start_date=pd.to_datetime(subs.start_date), end_date=pd.to_datetime(subs.end_date)
    )
    n = covering(subs, day).groupby("account_id").size()
    several = n[n > 1]
    if several.empty:
        return None
    how = (
        "their ARR, seats and renewals add up (data.overlapping_subscriptions: sum; `latest` "
        "reads each account's newest only)"
        if overlapping == "sum"
        else "each account's newest is read (data.overlapping_subscriptions: latest)"
    )
    return (
        f"subscriptions: {len(several):,} of {len(n):,} active accounts hold several at "
        f"{day.date()} (median {several.median():.0f}, at most {several.max():,}); {how}"
    )


def arr_on(subs: pd.DataFrame, day: pd.Timestamp, overlapping: str = "sum") -> pd.Series:
    """ARR per account on `day` (of its covering subscriptions, as `covering` reads them)."""
    return covering(subs, day, overlapping).groupby("account_id").arr.sum()


def observation_grid(
    accounts: pd.DataFrame,
    subs: pd.DataFrame,
    as_ofs: list[pd.Timestamp],
    lifecycle: LifecycleConfig,
    horizon_days: int = 90,
    snapshot: pd.Timestamp | None = None,
    overlapping: str = "sum",
) -> pd.DataFrame:
    """Grid rows with segment, tenure, contract facts and lifecycle stage at each as-of.

    With several covering subscriptions (add-ons), ARR and licenses add up, the renewal is the
    soonest one, the term is that of the largest subscription, and the renewals within the
    horizon (the decisions at which the account can leave) add up; with `overlapping`
    "latest", only each account's newest covering subscription counts.

    Licenses come from the covering subscriptions. `accounts.licenses` is a snapshot taken at
    the end of the data (`snapshot`): it stands in for a subscription without licenses only at
    as-of dates on or after it; before, those seats are unknown (null), never today's count.
    """
    subs = subs.assign(
        start_date=pd.to_datetime(subs.start_date), end_date=pd.to_datetime(subs.end_date)
    )
    acc = accounts.set_index("account_id")
    own = subs.licenses.astype(float) if "licenses" in subs else pd.Series(np.nan, subs.index)
    subs = subs.assign(seats=own, seats_now=own.fillna(subs.account_id.map(acc.licenses)))
    frames = []
    for as_of in as_ofs:
        cov = covering(subs, as_of, overlapping)
        if cov.empty:
            continue
        day = np.datetime64(as_of.date(), "D")
        start, term = _days(cov.start_date), cov.term_months.to_numpy()
        known = snapshot is not None and as_of >= snapshot
        cov = cov.assign(
            renewal_date=next_renewal(start, term, day),
            renewals=renewals_within(start, term, day, horizon_days),
            seats=cov.seats_now if known else cov.seats,
        )
        main = cov.sort_values(["account_id", "arr"]).groupby("account_id").tail(1)
        g = cov.groupby("account_id", as_index=False).agg(
            arr=("arr", "sum"),
            licenses=("seats", "sum"),
            seats_known=("seats", "count"),
            renewal_date=("renewal_date", "min"),
            renewals_in_horizon=("renewals", "sum"),
        )
        g["licenses"] = g.licenses.where(g.pop("seats_known") > 0)
        g["as_of"] = as_of
        g["term_months"] = g.account_id.map(main.set_index("account_id").term_months)
        g["arr_365d_ago"] = g.account_id.map(
            arr_on(subs, as_of - pd.Timedelta(days=365), overlapping)
        )
        frames.append(g)
    grid = pd.concat(frames, ignore_index=True)
    grid["segment"] = grid.account_id.map(acc.segment)
    created = pd.to_datetime(grid.account_id.map(acc.created_at))
    grid["tenure_days"] = (grid.as_of - created).dt.days
    grid["renewal_date"] = pd.to_datetime(grid.renewal_date)
    grid["days_to_renewal"] = (grid.renewal_date - grid.as_of).dt.days
    grid["lifecycle_stage"] = lifecycle_stage(grid, lifecycle)
    cols = [
        "account_id",
        "as_of",
        "segment",
        "lifecycle_stage",
        "tenure_days",
        "days_to_renewal",
        "renewals_in_horizon",
        "renewal_date",
        "term_months",
        "arr",
        "licenses",
        "arr_365d_ago",
    ]
    return grid[cols].sort_values(["as_of", "account_id"], ignore_index=True)


def lifecycle_stage(grid: pd.DataFrame, lc: LifecycleConfig) -> pd.Series:
    """renewal_period (renewal within the window, for terms ≥ the minimum) takes precedence;
    otherwise onboarding, adoption or maturity by tenure."""
    stage = np.select(
        [grid.tenure_days < lc.onboarding_days, grid.tenure_days < lc.adoption_days],
        ["onboarding", "adoption"],
        "maturity",
    )
    renewal = (grid.term_months >= lc.renewal_min_term_months) & (
        grid.days_to_renewal <= lc.renewal_window_days
    )
    return pd.Series(np.where(renewal, "renewal_period", stage), index=grid.index)
