"""Logging outages and logging changes in usage: found from the whole book, repaired with a note."""

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from churnhealth.data.repair import find_logging_changes, find_outages, repair_usage
from churnhealth.data.source import Source

DAYS = pd.date_range("2024-01-01", "2024-12-31", freq="D")


def per_day(drop: tuple[str, str, float] | None = None, seed: int = 0) -> pd.Series:
    """Accounts with usage per day: ~1000 on weekdays, ~80 on weekends, an optional drop."""
    rng = np.random.default_rng(seed)
    weekday = DAYS.day_of_week < 5
    n = np.where(weekday, rng.normal(1000, 10, len(DAYS)), rng.normal(80, 8, len(DAYS)))
    if drop:
        a, b, share = drop
        n[(a <= DAYS) & (b > DAYS)] *= 1 - share
    return pd.Series(n.round(), index=DAYS.date)


def test_a_month_without_a_third_of_the_accounts_is_an_outage_weekends_included():
    (o,) = find_outages(per_day(("2024-06-03", "2024-07-01", 1 / 3)))
    # Monday to Sunday: the weekends are judged against weekends
    assert (o.start, o.end, o.ongoing) == (dt.date(2024, 6, 3), dt.date(2024, 7, 1), False)


def test_a_holiday_week_a_small_dip_and_a_steady_book_are_not_outages():
    assert find_outages(per_day()) == []
    assert find_outages(per_day(("2024-12-23", "2025-01-01", 0.8))) == []
    assert find_outages(per_day(("2024-05-01", "2024-07-01", 0.08))) == []


def test_an_outage_still_under_way_on_the_last_day_is_found_as_ongoing():
    (o,) = find_outages(per_day(("2024-12-02", "2025-01-01", 0.5)))
    assert o.ongoing and o.end == dt.date(2025, 1, 1)


def daily(factor: float = 3.0, day: str = "2024-07-15", noise: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    users = rng.integers(800, 1200, len(DAYS))
    ratio = 6 * np.exp(noise * rng.standard_normal(len(DAYS)))
    ratio = np.where(day <= DAYS, ratio * factor, ratio)
    return pd.DataFrame(
        {"date": DAYS, "feature": "reports", "events": users * ratio, "active_users": users}
    )


def test_events_per_user_tripled_overnight_is_a_logging_change_on_its_exact_day():
    (c,) = find_logging_changes(daily())
    assert c.feature == "reports" and c.day == dt.date(2024, 7, 15)
    assert abs(c.factor - 3) < 0.1
    (c,) = find_logging_changes(daily(factor=0.4, day="2024-03-04"))
    assert c.day == dt.date(2024, 3, 4) and abs(c.factor - 0.4) < 0.02


def test_a_usage_drop_a_small_step_or_a_noisy_series_is_not_a_logging_change():
    assert find_logging_changes(daily(factor=1.3)) == []  # behaviour, e.g. usage_shift: 0.79
    assert find_logging_changes(daily(noise=0.6)) == []  # no steady level to step from


def usage_source(outage: bool, change: bool) -> tuple[Source, pd.DataFrame]:
    """60 accounts × 2024 with one row per weekday; accounts 0–19 lose June (one shard); from
    2024-09-02 events are logged three times."""
    rng = np.random.default_rng(2)
    days = DAYS[DAYS.day_of_week < 5]
    rows = pd.DataFrame(
        [(f"A{a:02d}", d, "reports") for a in range(60) for d in days],
        columns=["account_id", "date", "feature"],
    )
    rows["active_users"] = rng.integers(3, 8, len(rows))
    rows["events"] = rows.active_users * rng.integers(5, 8, len(rows))
    clean = rows.copy()
    if change:
        later = rows.date >= "2024-09-02"
        rows.loc[later, "events"] *= 3
    if outage:
        gone = (rows.account_id < "A20") & (rows.date >= "2024-06-01") & (rows.date < "2024-07-01")
        rows = rows[~gone]
    rows["date"] = rows.date.dt.date
    con = ibis.duckdb.connect()
    t = con.create_table("usage", rows)
    return Source("mem", con, {"usage": t}), clean


def test_an_outage_is_filled_for_the_shard_only_from_rows_dated_before_it():
    source, clean = usage_source(outage=True, change=False)
    fixed = repair_usage(source)
    (note,) = fixed.notes
    # no weekend rows at all: the outage is the weekdays without usage
    assert "logging outage from 2024-06-03 to 2024-06-28" in note and "for 20 accounts" in note
    u = fixed.tables["usage"].execute()
    u["date"] = pd.to_datetime(u.date)
    june = u[(u.date >= "2024-06-01") & (u.date < "2024-07-01")]
    assert june.groupby("account_id").size().eq(20).all()  # every weekday, every account
    filled = june[june.account_id < "A20"].merge(
        u[u.date < "2024-06-01"].assign(date=lambda d: d.date + pd.Timedelta(days=28)),
        on=["account_id", "date", "feature"],
        suffixes=("", "_before"),
    )
    # each filled row is the same account's row four weeks earlier, before the outage
    assert len(filled) == 20 * 20
    assert (filled.events == filled.events_before).all()
    assert len(u) == len(clean)


def test_a_logging_change_rescales_the_earlier_rows_to_the_new_scale():
    source, clean = usage_source(outage=False, change=True)
    fixed = repair_usage(source)
    (note,) = fixed.notes
    assert "logging change on 2024-09-02" in note and "rows rescaled to the new scale" in note
    u = fixed.tables["usage"].execute().sort_values(["account_id", "date"])
    ratio = u.events.sum() / (3 * clean.sort_values(["account_id", "date"]).events.sum())
    assert abs(ratio - 1) < 0.02


def test_with_repair_off_the_notes_stay_and_the_rows_do_not_change():
    source, _ = usage_source(outage=True, change=True)
    kept = repair_usage(source, repair=False)
    assert len(kept.notes) == 2 and all("not repaired" in n for n in kept.notes)
    assert kept.tables["usage"].count().execute() == source.tables["usage"].count().execute()


def test_a_clean_book_gets_no_note_and_the_same_tables():
    source, _ = usage_source(outage=False, change=False)
    assert repair_usage(source) is source
