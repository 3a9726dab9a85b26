"""Compile declared metrics to Ibis expressions and build the feature table.

Per source table, one range join of the grid with the table's rows in the widest window its
metrics need, then one aggregate with a filtered reduction per metric. `days_since` uses an
as-of join; `latest` a ranked window. Metrics over metrics (ratio, difference, flag) are
expressions on the joined result. Everything runs in the source's backend (DuckDB by default);
only the grid-sized result comes back as pandas.

Each table is first cut to the rows some as-of date of the grid can see: dated before the last
as-of date and within the window of the first one (`lookback`). Scoring one date reads the last
weeks of a years-long usage table, not all of it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from churnhealth.data.contract import Table, contract
from churnhealth.data.filters import OPS, predicate
from churnhealth.data.source import Source, drop_temp, temp_table
from churnhealth.features.latest import (
    KEYS,
    AsOfRange,
    as_float,
    days_since,
    external_features,
)
from churnhealth.features.pit import GRID_COLUMNS, view_at
from churnhealth.features.spec import (
    Aggregate,
    DaysSince,
    Difference,
    External,
    Flag,
    Latest,
    PctChange,
    Ratio,
    Slope,
)
from churnhealth.notes import skipped

ZERO_FILL_AGGS = ("count", "sum", "nunique", "any")


@dataclass
class MetricPlan:
    """Which metrics can be computed from the tables present; `skipped` maps each absent table
    (or absent optional column, "usage.active_users") to the metrics it takes with it (directly
    or through a metric that uses one)."""

    metrics: list = field(default_factory=list)
    skipped: dict[str, list] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        """One line per absent table: how many features of which dimensions it takes."""
        out = []
        for table, gone in self.skipped.items():
            shown = [m for m in gone if m.output] or gone
            out.append(skipped(table, [m.name for m in shown], [m.dimension for m in shown]))
        return out


OPTIONAL: dict[str, set[str]] = defaultdict(set) | {
    t.name: {c.name for c in t.columns if c.nullable} for t in contract(["_"]).values()
}
"""Per table, the contract's optional columns: an export may lack them, and the metrics that
read one are then skipped (a column the user names that is not there is an error instead)."""


def plan(
    metrics: list, present: set[str], columns: dict[str, set[str]] | None = None
) -> MetricPlan:
    """Drop metrics whose table is absent, or (with `columns`: each present table's columns)
    whose optional column is (e.g. usage.active_users), and metrics that depend on dropped
    ones."""
    out = MetricPlan()
    cause: dict[str, str] = {}  # dropped metric -> the absent table (or table.column) behind it
    for m in metrics:
        table = getattr(m, "table", None)
        refs = [
            getattr(m, a)
            for a in ("numerator", "denominator", "left", "right", "metric")
            if hasattr(m, a)
        ]
        read = [c for c in (getattr(m, "column", None), *getattr(m, "filter", {})) if c]
        have = columns.get(table) if columns is not None else None
        gone = [c for c in read if have is not None and c not in have and c in OPTIONAL[table]]
        behind = next((cause[r] for r in refs if r in cause), None)
        if table is not None and table not in present:
            cause[m.name] = table
        elif gone:
            cause[m.name] = f"{table}.{gone[0]}"
        elif behind is not None:
            cause[m.name] = behind
        else:
            out.metrics.append(m)
            continue
        out.skipped.setdefault(cause[m.name], []).append(m)
    return out


def _in_window(v: ir.Table, days: int | None, skip: int = 0) -> ir.BooleanValue:
    """Rows with skip < days_ago ≤ skip + days (a row exactly `days` before as_of is in)."""
    if days is None:
        return v.days_ago > skip
    return (v.days_ago > skip) & (v.days_ago <= skip + days)


def _reduce(v: ir.Table, column: str | None, agg: str, where: ir.BooleanValue) -> ir.Value:
    one = ibis.ifelse(where, 1, 0)  # portable: not every engine casts booleans to integers
    if agg == "count":
        n = one.sum() if column is None else v[column].count(where=where)
        return n.cast("float64")
    if agg == "any":
        return one.max().cast("float64")
    c = v[column]
    if c.type().is_boolean() or c.type().is_integer():
        c = as_float(c)
    if agg == "median":  # Spark's percentile wants a constant fraction, not a filtered one
        return ibis.ifelse(where, c, ibis.null(c.type())).median()
    out = getattr(c, agg)(where=where)
    return out.cast("float64") if agg == "nunique" else out


def _span(m) -> int | bool | None:
    """Days of history a windowed metric needs (None: all), or False for other kinds."""
    if isinstance(m, PctChange):
        return 2 * m.days
    if isinstance(m, Aggregate | Slope | Latest | External):
        return m.days
    return False


def lookback(metrics: list) -> dict[str, int | None]:
    """Days before the first as-of date whose rows each table's metrics read (None: all).

    `days_since` needs none: it reads older rows only as each account's latest time.
    """
    out: dict[str, int | None] = {}
    for m in metrics:
        table = getattr(m, "table", None)
        if table is None:
            continue
        span = 0 if isinstance(m, DaysSince) else _span(m)
        before = out.get(table, 0)
        out[table] = None if span is None or before is None else max(before, span)
    return out


def _joined(
    grid: ir.Table, t: ir.Table, spec: Table, span: int | None, dates: AsOfRange
) -> ir.Table:
    t = t.filter(dates.visible(t[spec.time], span))
    time = t[spec.time]
    as_of = grid.as_of_ts if time.type().is_timestamp() else grid.as_of
    cond = [grid.account_id == t.account_id, time < as_of]
    if span is not None:
        cond.append(time >= as_of - ibis.interval(days=span))
    j = grid.select(*KEYS, "as_of_ts").join(t, cond)
    return view_at(j.drop("account_id_right") if "account_id_right" in j.columns else j, spec)


def table_metrics(
    grid: ir.Table, t: ir.Table, spec: Table, metrics: list, dates: AsOfRange
) -> list[ir.Table]:
    """Relations keyed by (account_id, as_of) holding this table's metrics (raw aggregates)."""
    out: list[ir.Table] = []
    external = [m for m in metrics if isinstance(m, External)]
    for days in sorted({m.days or 0 for m in external}):
        out.append(
            external_features(grid, t, [m for m in external if (m.days or 0) == days], dates)
        )
    metrics = [m for m in metrics if not isinstance(m, External)]
    windowed = [m for m in metrics if _span(m) is not False and not isinstance(m, Latest)]
    if windowed:
        spans = [_span(m) for m in windowed]
        span = None if any(s is None for s in spans) else max(spans)
        v = _joined(grid, t, spec, span, dates)
        reductions: dict[str, ir.Value] = {}
        for m in windowed:
            f = predicate(v, m.filter)
            if isinstance(m, Aggregate):
                reductions[m.name] = _reduce(v, m.column, m.agg, f & _in_window(v, m.days))
            elif isinstance(m, PctChange):
                reductions[f"{m.name}__now"] = _reduce(
                    v, m.column, m.agg, f & _in_window(v, m.days)
                )
                reductions[f"{m.name}__before"] = _reduce(
                    v, m.column, m.agg, f & _in_window(v, m.days, m.days)
                )
            elif isinstance(m, Slope):
                w = f & _in_window(v, m.days)
                y = as_float(v[m.column])
                reductions[f"{m.name}__s"] = y.sum(where=w)
                reductions[f"{m.name}__sxy"] = (y * (m.days + 1 - v.days_ago)).sum(where=w)
        out.append(v.group_by(KEYS).aggregate(**reductions))
    for m in metrics:
        if isinstance(m, Latest):
            v = _joined(grid, t, spec, m.days, dates)
            v = v.filter(predicate(v, m.filter) & _in_window(v, m.days) & v[m.column].notnull())
            rank = ibis.row_number().over(
                group_by=KEYS, order_by=[ibis.desc(v[spec.time]), ibis.desc(m.column)]
            )
            ranked = v.mutate(_rank=rank)
            col = ranked[m.column]
            out.append(
                ranked.filter(ranked._rank == m.offset).select(*KEYS, **{m.name: as_float(col)})
            )
        elif isinstance(m, DaysSince):
            out.append(days_since(grid, t, spec, m, dates))
    return out


def _finish(r: ir.Table, m) -> ir.Value:
    """The metric's final value from its raw reductions, with the kind's fill value."""

    def ref(name: str) -> ir.Value:
        return r[name].cast("float64")

    if isinstance(m, Aggregate):
        value = ref(m.name)
        default = 0.0 if m.agg in ZERO_FILL_AGGS else None
    elif isinstance(m, PctChange):
        now, before = ref(f"{m.name}__now"), ref(f"{m.name}__before")
        value = ibis.ifelse(before.fill_null(0) != 0, (now.fill_null(0) - before) / before, None)
        default = None
    elif isinstance(m, Slope):
        n = float(m.days)
        sx, sxx = n * (n + 1) / 2, n * (n + 1) * (2 * n + 1) / 6
        s, sxy = ref(f"{m.name}__s").fill_null(0), ref(f"{m.name}__sxy").fill_null(0)
        slope = (n * sxy - sx * s) / (n * sxx - sx * sx)
        value = ibis.ifelse(s != 0, slope / (s / n) * 30, None) if m.relative else slope
        default = None if m.relative else 0.0
    elif isinstance(m, Ratio):
        den = ref(m.denominator)
        value = ibis.ifelse(den.fill_null(0) != 0, ref(m.numerator) / den * m.scale, None)
        default = None
    elif isinstance(m, Difference):
        value, default = ref(m.left) - ref(m.right), None
    elif isinstance(m, Flag):
        value = ibis.ifelse(OPS[m.op](ref(m.metric), m.value).fill_null(False), 1.0, 0.0)
        default = None
    else:  # Latest, DaysSince, External: the joined value itself
        value, default = ref(m.name), None
    fill = m.fill if m.fill is not None else default
    return value if fill is None else value.fill_null(fill)


def compute_metrics(
    source: Source,
    specs: dict[str, Table],
    grid: pd.DataFrame,
    metrics: list,
    advance: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Every output metric for every grid row: a DataFrame keyed by (account_id, as_of).

    Each table's reductions run in the source's backend; the grid-sized results are joined
    and the metrics over metrics are evaluated on them.
    """
    numeric = [c for c in GRID_COLUMNS if c in grid.columns]
    base = grid[[*KEYS, *numeric]]
    keys = pa.Table.from_pandas(base[KEYS].assign(as_of=base.as_of.dt.date), preserve_index=False)
    name = f"_churnhealth_grid_{uuid.uuid4().hex[:12]}"
    g = temp_table(source.con, name, keys)
    g = g.mutate(as_of_ts=g.as_of.cast("timestamp"))
    by_table: dict[str, list] = {}
    for m in metrics:
        if getattr(m, "table", None):
            by_table.setdefault(m.table, []).append(m)
    parts = [base.set_index(KEYS)]
    dates = AsOfRange(grid.as_of.min(), grid.as_of.max())
    try:
        for table, ms in by_table.items():
            for rel in table_metrics(g, source.typed(specs[table]), specs[table], ms, dates):
                part = rel.to_pandas()
                part["as_of"] = pd.to_datetime(part.as_of).astype(base.as_of.dtype)
                parts.append(part.set_index(KEYS))
            if advance:
                advance(table)
    finally:
        drop_temp(source.con, name)
    # one join of every table's columns, handed over as Arrow: a grid of a million accounts
    # is then held about twice at most, not once per table joined
    merged = parts[0].join(parts[1:], how="left") if len(parts) > 1 else parts[0]
    del parts
    r = ibis.memtable(pa.Table.from_pandas(merged.reset_index(), preserve_index=False))
    del merged
    for m in metrics:
        r = r.mutate(**{m.name: _finish(r, m)})
    # on a connection of its own, closed here: Ibis keeps every memtable a backend has run for
    # that backend's life, and the default one lives as long as the process (a grid of a
    # million accounts is ~300 MB, held again by every backfill pass)
    con = ibis.duckdb.connect()
    try:
        return con.to_pandas(r.select(*KEYS, *[m.name for m in metrics if m.output]))
    finally:
        con.disconnect()
