"""Churn and expansion as they follow from subscriptions.

An account churns when its coverage ends and no new subscription starts within the re-signup
gap. Labels look into the future on purpose; features never do. Subscriptions are small (a row
per contract change), so this works in pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnhealth.config import LabelsConfig
from churnhealth.data.churn import FAR_FUTURE, coverage_spells
from churnhealth.features.grid import arr_on

LABEL = "churned_within_h"
"""The churn label the health models learn: churn within the horizon."""


def last_labelled(labels: LabelsConfig, day: pd.Timestamp) -> pd.Timestamp:
    """The latest as-of date whose label is known by `day`: its horizon and re-signup gap have
    passed (the rule `attach_labels` applies at the end of the data)."""
    return day - pd.Timedelta(days=labels.horizon_days + labels.resignup_gap_days)


def churn_dates(subscriptions: pd.DataFrame, gap_days: int = 30) -> pd.DataFrame:
    """One row per churn event: account_id and churn_date (the day coverage ended)."""
    spells = coverage_spells(subscriptions, gap_days)
    ended = spells.dropna(subset=["spell_end"])
    return ended.rename(columns={"spell_end": "churn_date"})[["account_id", "churn_date"]]


def annual_churn(
    subscriptions: pd.DataFrame,
    segments: pd.Series,
    start: pd.Timestamp,
    years: int,
    gap_days: int = 30,
) -> pd.DataFrame:
    """Logo churn per segment and year: share of accounts active at the year's start that
    churned before its end. `segments` maps account_id to segment."""
    spells = coverage_spells(subscriptions, gap_days)
    end = spells["spell_end"].fillna(FAR_FUTURE)
    rows = []
    for y in range(years):
        y0, y1 = start + pd.DateOffset(years=y), start + pd.DateOffset(years=y + 1)
        active = spells[(spells.spell_start <= y0) & (end > y0)]
        churned = active[active.spell_end.notna() & (active.spell_end < y1)]
        act = active.account_id.map(segments).value_counts()
        ch = churned.account_id.map(segments).value_counts()
        for seg, n in act.items():
            rows.append(
                {
                    "year": y + 1,
                    "segment": seg,
                    "active_at_start": int(n),
                    "churned": int(ch.get(seg, 0)),
                    "churn_rate": float(ch.get(seg, 0)) / n,
                }
            )
    out = pd.DataFrame(rows)
    return out if out.empty else out.sort_values(["segment", "year"], ignore_index=True)


def next_churn(keys: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """The first churn date after each row's as-of date (NaT when none is recorded), indexed
    like `keys` (its "index" column). What is known of it at a date is up to the caller: the
    survival model uses only the months whose outcome was known (`models.hazard`)."""
    m = keys.merge(events, on="account_id")
    m = m[m.churn_date > m.as_of]
    return m.groupby("index").churn_date.min()


def attach_labels(
    grid: pd.DataFrame,
    subscriptions: pd.DataFrame,
    data_end: pd.Timestamp,
    horizon_days: int = 90,
    gap_days: int = 30,
    expansion_threshold: float = 0.10,
    expansion_days: int | None = None,
    overlapping: str = "sum",
) -> pd.DataFrame:
    """Add churned_within_h, churn_date, expanded_within_h, labelled and churn_after to grid
    rows (`overlapping`: how an account's concurrent subscriptions make its ARR, as in the
    grid).

    churned_within_h: coverage ends, without re-signup within the gap, in (as_of, as_of + h].
    A row is labelled only when as_of + h + gap ≤ data_end: before that its outcome is not yet
    known. Unlabelled rows keep null labels (kept for scoring, never for training).
    expanded_within_h: no churn within `expansion_days` (default h) and the ARR under contract
    on as_of + expansion_days at least (1 + expansion_threshold) × today's; null until
    as_of + expansion_days + gap ≤ data_end.
    """
    e = pd.Timedelta(days=horizon_days if expansion_days is None else expansion_days)
    h = pd.Timedelta(days=horizon_days)
    subs = subscriptions.assign(
        start_date=pd.to_datetime(subscriptions.start_date),
        end_date=pd.to_datetime(subscriptions.end_date),
    )
    events = churn_dates(subs, gap_days)
    keys = grid[["account_id", "as_of"]].reset_index()
    after = keys.merge(events, on="account_id")
    after = after[after.churn_date > after.as_of]
    m = after[after.churn_date <= after.as_of + h]
    first = m.groupby("index").churn_date.min()
    out = grid.copy()
    out["churn_date"] = first.reindex(out.index)
    churned = out.churn_date.notna()
    gone = out.index.isin(after.loc[after.churn_date <= after.as_of + e, "index"])
    later = pd.Series(np.nan, index=out.index)
    for as_of, idx in out.groupby("as_of").groups.items():
        later[idx] = out.loc[idx, "account_id"].map(arr_on(subs, as_of + e, overlapping)).to_numpy()
    expanded = ~gone & (later.fillna(0) >= (1 + expansion_threshold) * out.arr)
    gap = pd.Timedelta(days=gap_days)
    labelled = out.as_of + h + gap <= data_end
    out["labelled"] = labelled
    out["churn_after"] = next_churn(keys, events).reindex(out.index)
    out["churned_within_h"] = churned.astype(float).where(labelled)
    out["expanded_within_h"] = expanded.astype(float).where(out.as_of + e + gap <= data_end)
    out["churn_date"] = out.churn_date.where(labelled)
    return out
