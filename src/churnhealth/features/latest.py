"""Metrics read from each account's latest row before each as-of date, and the as-of join
behind them: `days_since` (a filtered event, with values revealed later kept out until they
were known) and `external_features` (features computed elsewhere, if fresh enough). `features.build`
compiles the other metrics and calls these.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnhealth.data.contract import Table
from churnhealth.data.filters import predicate
from churnhealth.data.source import day_literal
from churnhealth.errors import DataError
from churnhealth.features.spec import DaysSince, External

KEYS = ["account_id", "as_of"]


def as_float(c: ir.Value) -> ir.Value:
    """A number or boolean column as float64, on every engine (PostgreSQL casts a boolean to
    an integer, not to a float)."""
    return (c.cast("int32") if c.type().is_boolean() else c).cast("float64")


@dataclass(frozen=True)
class AsOfRange:
    """The first and last as-of dates of a grid: the bounds of what its features read."""

    first: pd.Timestamp
    last: pd.Timestamp

    def visible(self, time: ir.Value, span: int | None) -> ir.BooleanValue:
        """Rows some as-of date sees: before the last, within `span` days of the first."""
        cond = time < day_literal(time, self.last)
        if span is not None:
            cond &= time >= day_literal(time, self.first - pd.Timedelta(days=span))
        return cond


def latest_before_first(r: ir.Table, dates: AsOfRange) -> ir.Table:
    """Rows (account_id, _t) from the first as-of date on, plus each account's latest row before
    it: an as-of join finds the same latest row for every as-of date, from far fewer rows."""
    first = day_literal(r._t, dates.first)
    early = r.filter(r._t < first).group_by("account_id").aggregate(_t=r._t.max())
    return early.union(r.filter(r._t >= first).select("account_id", "_t"))


def external_features(grid: ir.Table, t: ir.Table, metrics: list[External], dates: AsOfRange):
    """Features computed elsewhere: each account's latest `features` row dated on or before
    as_of (it was computed from data before its date), if at most `max_age` old."""
    problems = []
    for m in metrics:
        col = m.source_column
        if col not in t.columns:
            own = [c for c in t.columns if c not in KEYS]
            problems.append(
                f"features: no column {col} for metric {m.name} (it has {', '.join(own) or 'none'})"
            )
        elif not (t[col].type().is_numeric() or t[col].type().is_boolean()):
            problems.append(
                f"features.{col}: holds {t[col].type()} values (metric {m.name} expects numbers "
                "or booleans)"
            )
    if problems:
        raise DataError(problems)
    days = metrics[0].days
    last = day_literal(t.as_of, dates.last)
    keep = t.as_of <= last
    if days is not None:
        keep &= t.as_of >= day_literal(t.as_of, dates.first - pd.Timedelta(days=days))
    r = t.filter(keep).select(
        "account_id",
        _s=t.as_of,
        **{m.name: as_float(t[m.source_column]) for m in metrics},
    )
    a = asof_join(grid, r, "_s", strict=False, carry=["_s", *(m.name for m in metrics)])
    fresh = a._s.notnull()
    if days is not None:
        fresh &= a.as_of.delta(a._s, unit="day") <= days
    return a.select(*KEYS, **{m.name: ibis.ifelse(fresh, a[m.name], None) for m in metrics})


def days_since(grid: ir.Table, t: ir.Table, spec: Table, m: DaysSince, dates: AsOfRange):
    """Days from the latest row passing the filter to each as_of, by an as-of join.

    A filter on a value revealed later (a ticket's CSAT, known when it closes; an end date; a
    payment) must not see that value before it was known: such a row passes the filter at an
    as_of only once every value it filters on was known, i.e. from max(time, revealed-at) on.
    The join then runs on that moment, carrying the running maximum of the row times."""
    gates = sorted(
        {c.known_at for c in spec.columns if c.name in m.filter and c.known_at in t.columns}
    )
    g = grid.select(*KEYS, "as_of_ts")
    if not gates:
        seen = predicate(t, m.filter) & dates.visible(t[spec.time], None)
        r = latest_before_first(t.filter(seen).select("account_id", _t=t[spec.time]), dates)
        a = asof_join(g, r, "_t", strict=True, carry=["_t"])
        last = a._t.date() if a._t.type().is_timestamp() else a._t
        return a.select(*KEYS, **{m.name: a.as_of.delta(last, unit="day").cast("float64")})
    stamp = [t[c].cast("timestamp") for c in (spec.time, *gates)]
    known = ibis.greatest(*stamp) if len(stamp) > 1 else stamp[0]
    seen = predicate(t, m.filter)
    for c in gates:
        seen &= t[c].notnull()
    r = t.filter(seen).select("account_id", _t=stamp[0], _v=known)
    r = r.filter(r._v < day_literal(r._v, dates.last))
    r = r.group_by(["account_id", "_v"]).aggregate(_t=r._t.max())
    running = ibis.window(group_by="account_id", order_by="_v", preceding=None, following=0)
    r = r.mutate(_t=r._t.max().over(running))
    first = day_literal(r._v, dates.first)
    early = r.filter(r._v < first).group_by("account_id").aggregate(_v=r._v.max(), _t=r._t.max())
    r = early.union(r.filter(r._v >= first).select("account_id", "_v", "_t"))
    a = asof_join(g, r, "_v", strict=True, carry=["_t"])
    return a.select(*KEYS, **{m.name: a.as_of.delta(a._t.date(), unit="day").cast("float64")})


def asof_join(g: ir.Table, r: ir.Table, on: str, strict: bool, carry: list[str]) -> ir.Table:
    """Each grid row (KEYS) with the columns `carry` of its account's latest row of `r` whose
    `on` is before as_of (strictly, or on or before it); null when there is none.

    DuckDB runs an as-of join. Other engines (PostgreSQL, Spark) get the same answer from
    window functions every SQL engine has: grid rows and `r`'s rows in one window per account
    ordered by time, the running maximum of `on` at each grid row, and that row joined back."""
    when = g.as_of_ts if r[on].type().is_timestamp() else g.as_of
    if ibis.get_backend(g).name == "duckdb":
        cond = (when > r[on]) if strict else (when >= r[on])
        a = g.asof_join(r, on=cond, predicates=[g.account_id == r.account_id])
        return a.select(*KEYS, *carry)
    grid_first = 0 if strict else 1  # at equal times: the grid row before the data row (strict)
    grid = g.select(
        "account_id",
        "as_of",
        _k=when,
        _o=ibis.literal(grid_first, "int8"),
        _m=ibis.null(r[on].type()),
    )
    rows = r.select(
        "account_id",
        as_of=ibis.null(g.as_of.type()),
        _k=r[on],
        _o=ibis.literal(1 - grid_first, "int8"),
        _m=r[on],
    )
    u = grid.union(rows)
    w = ibis.window(group_by="account_id", order_by=["_k", "_o"], preceding=None, following=0)
    u = u.mutate(_m=u._m.max().over(w))
    found = u.filter(u._o == grid_first).select("account_id", "as_of", "_m")
    back = r.select("account_id", _m=r[on], **{c: r[c] for c in carry}).distinct()
    j = found.left_join(back, [found.account_id == back.account_id, found._m == back._m])
    return j.select(found.account_id, found.as_of, *(j[c] for c in carry))
