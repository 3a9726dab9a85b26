"""Repairs of the usage defects no row-level check can see, each reported with a counted note.

Two things go wrong in product-usage exports that every row would pass validation with:

- **A logging outage.** For a few weeks part of the book (a shard, a region, every account) has
  no usage rows at all, then logging resumes. Read as it is, every affected account looks as if
  it stopped using the product. An outage is found from the whole book at once: over at least
  `MIN_OUTAGE_DAYS` weekdays in a row, the accounts with usage fall more than `OUTAGE_DROP`
  below the usual count (the median of the same kind of day, weekday or weekend, over the 13
  weeks before). The accounts repaired are
  those with usage in the four weeks before and after it and none during it; their rows of the
  whole weeks just before it are carried forward into it (same weekdays), so a window that
  overlaps the outage reads the account's level from before it, never anything dated later.
- **A logging change.** From one day, an event is counted differently (each click logged three
  times, a new SDK), so its events per active user jump overnight across the book. Found per
  event name (`usage.feature`): the book's events per active user, compared between the four
  weeks after and before each day, steps by at least `STEP_FACTOR` (either way) while each side
  is steady (median absolute deviation under `STEADY`). Earlier rows are rescaled to the later
  (today's) scale, so the model learns on the scale it will score.

A behaviour change is neither: a churn wave or a drop in usage moves users and events together
(the synthetic `usage_shift` drift moves events per user by 0.79), and an outage of a single
account cannot be told from that account going quiet. Repairs use the whole history they are
given (a constant per defect, estimated once), which is why each is reported; `data.repair_usage:
false` keeps the notes and leaves the rows as they are. A defect still under way on the last day
of data is reported but not repaired: its end is not known yet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from churnhealth.data.contract import contract
from churnhealth.data.source import Source

MIN_OUTAGE_DAYS = 10
"""Consecutive weekdays with too few accounts logging usage before it is called an outage."""
OUTAGE_DROP = 0.15
"""Share of the usual accounts that must be missing on an outage day."""
STEP_FACTOR = 1.8
"""Overnight change of the book's events per active user that makes a logging change."""
STEADY = 0.12
"""Largest median absolute deviation (log scale) of each side of a logging change."""
WEEKS = 28
"""Days compared on each side of an outage or a logging change."""


@dataclasses.dataclass(frozen=True)
class Outage:
    start: dt.date
    end: dt.date
    """The first day after it."""
    ongoing: bool = False


@dataclasses.dataclass(frozen=True)
class LoggingChange:
    feature: str
    day: dt.date
    """The first day on the new scale."""
    factor: float
    """New events per active user over old."""


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def find_outages(accounts_per_day: pd.Series) -> list[Outage]:
    """Outages from the number of accounts with usage rows on each day (index: dates).

    Weekdays and weekends are judged apart, each against the median of its own kind of day
    over the 13 weeks before; a day with too few accounts to judge (a quiet weekend) belongs to
    an outage when the days on both sides of it do."""
    if accounts_per_day.empty:
        return []
    s = accounts_per_day.sort_index()
    s.index = pd.DatetimeIndex(s.index)
    s = s.asfreq("D", fill_value=0)
    weekend = s.index.day_of_week >= 5
    base = pd.Series(np.nan, index=s.index)
    for kind, n in ((~weekend, 65), (weekend, 26)):
        base[kind] = s[kind].shift(1).rolling(n, min_periods=n // 3).median()
    low = pd.Series(s < (1 - OUTAGE_DROP) * base, dtype="boolean").where(base >= 20)
    low = low.ffill().where(low.bfill() == low.ffill(), low)  # bridge days not judged
    flags = low.fillna(False).to_numpy(dtype=bool)
    found = []
    for i, j in _runs(flags):
        if (~weekend[i:j]).sum() < MIN_OUTAGE_DAYS:
            continue
        ongoing = j == len(s)
        end = s.index[-1] + pd.Timedelta(days=1) if ongoing else s.index[j]
        found.append(Outage(s.index[i].date(), end.date(), ongoing))
    return found


def find_logging_changes(daily: pd.DataFrame) -> list[LoggingChange]:
    """Logging changes from the book's daily `events` and `active_users` per `feature`.

    Only days with both users and events are compared: events per user are read on a log
    scale, where a day without events (a small book's quiet feature) has no place."""
    found = []
    for feature, g in daily.groupby("feature", sort=True):
        g = g.set_index(pd.DatetimeIndex(g["date"])).sort_index()
        g = g[(g["active_users"] > 0) & (g["events"] > 0)]
        if len(g) < 2 * WEEKS:
            continue
        x = np.log(g["events"] / g["active_users"]).to_numpy()
        step = STEP_FACTOR
        best: tuple[float, int] | None = None
        for k in range(WEEKS, len(x) - WEEKS + 1):
            before, after = x[k - WEEKS : k], x[k : k + WEEKS]
            mb, ma = np.median(before), np.median(after)
            if abs(ma - mb) < math.log(step):
                continue
            spread = max(np.median(abs(before - mb)), np.median(abs(after - ma)))
            if spread > STEADY:
                continue
            # the split that fits both levels best: the change's exact day
            cost = abs(before - mb).sum() + abs(after - ma).sum()
            if best is None or cost < best[0]:
                best = (cost, k)
        if best is not None:
            k = best[1]
            factor = math.exp(np.median(x[k : k + WEEKS]) - np.median(x[k - WEEKS : k]))
            found.append(LoggingChange(str(feature), g.index[k].date(), round(factor, 2)))
    return found


def _count(t: ir.Table) -> int:
    return int(t.count().execute())


def _outage_repair(
    usage: ir.Table, events: ir.Table | None, o: Outage
) -> tuple[ir.Table, ir.Table | None, int, int]:
    """Usage (and raw events) with the outage filled for the accounts it hid; accounts, rows."""
    d = usage.date
    lo, hi = o.start - dt.timedelta(days=WEEKS), o.end + dt.timedelta(days=WEEKS)

    def accounts(a: dt.date, b: dt.date) -> ir.Table:
        return usage.filter((d >= a) & (d < b)).select("account_id").distinct()

    hit = (
        accounts(lo, o.start)
        .intersect(accounts(o.end, hi))
        .difference(accounts(o.start, o.end))
        .cache()
    )
    shift = 7 * math.ceil((o.end - o.start).days / 7)
    back = o.start - dt.timedelta(days=shift)
    src = usage.filter((d >= back) & (d < o.start)).semi_join(hit, "account_id")
    moved = src.mutate(date=(src.date + ibis.interval(days=shift)).cast("date"))
    moved = moved.filter(moved.date < o.end).select(usage.columns)
    n_accounts, n_rows = _count(hit), _count(moved)
    usage = usage.union(moved)
    if events is not None:
        ts = events.ts
        start, end = (ibis.literal(pd.Timestamp(x).to_pydatetime()) for x in (o.start, o.end))
        e = events.filter((ts >= start - ibis.interval(days=shift)) & (ts < start))
        e = e.semi_join(hit, "account_id")
        e = e.mutate(ts=e.ts + ibis.interval(days=shift))
        events = events.union(e.filter(e.ts < end).select(events.columns))
    return usage, events, n_accounts, n_rows


def _rescale(usage: ir.Table, changes: list[LoggingChange]) -> tuple[ir.Table, dict[dt.date, int]]:
    """Usage with the events before each change on the new scale; rows rescaled per day."""
    events = usage.events
    for c in changes:
        cond = (usage.feature == c.feature) & (usage.date < c.day)
        events = ibis.ifelse(cond, (events * c.factor).round().cast("int64"), events)
    rows = {}
    for day in sorted({c.day for c in changes}):  # one count per day, not per event name
        names = [c.feature for c in changes if c.day == day]
        rows[day] = _count(usage.filter(usage.feature.isin(names) & (usage.date < day)))
    return usage.mutate(events=events), rows


def _when(o: Outage) -> str:
    last = o.end - dt.timedelta(days=1)
    return f"{o.start} to {last}" + (" (still under way)" if o.ongoing else "")


def _change_notes(changes: list[LoggingChange], rows: dict[dt.date, int] | None) -> list[str]:
    """One note per day with a logging change: its event names, factors and rows rescaled."""
    by_day: dict[dt.date, list[LoggingChange]] = {}
    for c in changes:
        by_day.setdefault(c.day, []).append(c)
    notes = []
    for day, cs in sorted(by_day.items()):
        names = [c.feature for c in cs]
        what = ", ".join(names) if len(names) <= 4 else f"{len(names)} event names"
        lo, hi = min(c.factor for c in cs), max(c.factor for c in cs)
        factor = f"×{lo:g}" if lo == hi else f"×{lo:g} to ×{hi:g}"
        head = (
            f"usage: a logging change on {day}: events per active user {factor} overnight "
            f"across the book ({what})"
        )
        notes.append(
            f"{head}; {rows[day]:,} earlier rows rescaled to the new scale"
            if rows is not None
            else f"{head}; not repaired (data.repair_usage is false)"
        )
    return notes


def repair_usage(source: Source, repair: bool = True, since: dt.date | None = None) -> Source:
    """The source with logging outages filled and logging changes rescaled in `usage` (and
    outages in raw `events`), with a note per defect found; as-is when there is none.

    `since` looks only at rows from that day on (scoring reads no older rows)."""
    if "usage" not in source:
        return source
    specs = contract(["_"])
    usage = source.typed(specs["usage"])
    events = source.typed(specs["events"]) if "events" in source else None
    seen = usage if since is None else usage.filter(usage.date >= since)
    if source.con.name == "duckdb":  # DuckDB spills a DISTINCT to disk, not a count(DISTINCT)
        pairs = seen.select("date", "account_id").distinct()
        per_day = pairs.group_by("date").aggregate(n=pairs.count()).execute()
    else:  # PostgreSQL sorts per day for count(DISTINCT); its plain DISTINCT took minutes
        per_day = seen.group_by("date").aggregate(n=seen.account_id.nunique()).execute()
    outages = find_outages(per_day.set_index("date")["n"])
    # a logging change shows as a step in events per user: without users it cannot be seen
    users = "active_users" in seen.columns
    changes = []
    if users:
        daily = (
            seen.group_by(["date", "feature"])
            .aggregate(events=seen.events.sum(), active_users=seen.active_users.sum())
            .execute()
        )
        changes = find_logging_changes(daily)
    if not outages and not changes:
        return source
    notes = list(source.notes)
    for o in outages:
        if o.ongoing or not repair:
            why = "its end is not known yet" if o.ongoing else "data.repair_usage is false"
            notes.append(
                f"usage: a logging outage from {_when(o)} (accounts logging usage fell by more "
                f"than {OUTAGE_DROP:.0%}); not repaired: {why}"
            )
            continue
        usage, events, n_acc, n_rows = _outage_repair(usage, events, o)
        notes.append(
            f"usage: a logging outage from {_when(o)} (accounts logging usage fell by more than "
            f"{OUTAGE_DROP:.0%}): {n_rows:,} rows filled for {n_acc:,} accounts from the weeks "
            "before it"
        )
    rows = None
    if changes and repair:
        usage, rows = _rescale(usage, changes)
    notes += _change_notes(changes, rows)
    tables = dict(source.tables)
    tables["usage"] = usage
    if events is not None:
        tables["events"] = events
    return dataclasses.replace(source, tables=tables, notes=notes)
