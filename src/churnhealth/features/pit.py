"""Point in time: each table as it was known at an as-of date.

After a table is joined to the observation grid (one row per account and as-of), `view_at`
hides what was not yet known at as_of — an end date, closing time, payment date or ticket CSAT
dated on or after as_of reads as null — and adds derived columns computed from what was known.
Metrics can use these derived columns like the table's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from churnhealth.data.contract import Table


@dataclass(frozen=True)
class Derived:
    name: str
    kind: str
    meaning: str


DAYS_AGO = Derived(
    "days_ago", "int", "Whole days from the row's time to as_of (1 = the day before)."
)
DERIVED: dict[str, tuple[Derived, ...]] = {
    "tickets": (
        Derived("open", "bool", "Still open at as_of: not closed before it."),
        Derived(
            "resolution_hours", "number", "Hours from opened to closed, if closed before as_of."
        ),
    ),
    "invoices": (
        Derived(
            "days_late",
            "number",
            "Days past due as known at as_of: paid late, or due and "
            "still unpaid (0 when paid on time or not yet due).",
        ),
        Derived("late", "bool", "days_late > 0."),
    ),
    "contacts": (
        Derived("active", "bool", "Still there at as_of: not left before it."),
        Derived("ended_days_ago", "int", "Days since the contact left, if before as_of."),
    ),
}
GRID_COLUMNS: dict[str, str] = {
    "tenure_days": "int",
    "days_to_renewal": "int",
    "term_months": "int",
    "arr": "number",
    "licenses": "number",
    "arr_365d_ago": "number",
}
"""Numeric columns of the observation grid that metrics may refer to."""


def column_kind(spec: Table, name: str) -> str | None:
    """Kind of a table column or derived column, or None if the table has no such column."""
    for col in spec.columns:
        if col.name == name:
            return col.kind
    for d in (*DERIVED.get(spec.name, ()), DAYS_AGO):
        if d.name == name:
            return d.kind
    return None


def _before_as_of(t: ir.Table, value: ir.Value) -> ir.BooleanValue:
    as_of = t.as_of_ts if value.type().is_timestamp() else t.as_of
    return value < as_of


def _days(t: ir.Table, value: ir.Value) -> ir.IntegerValue:
    day = value.date() if value.type().is_timestamp() else value
    return t.as_of.delta(day, unit="day")


def view_at(t: ir.Table, spec: Table) -> ir.Table:
    """The joined table as known at each row's as_of (needs columns as_of and as_of_ts)."""
    known = {
        c.name: ibis.ifelse(_before_as_of(t, t[c.known_at]), t[c.name], ibis.null(t[c.name].type()))
        for c in spec.columns
        if c.known_at and c.name in t.columns and c.known_at in t.columns
    }
    t = t.mutate(**known) if known else t
    derived: dict[str, ir.Value] = {DAYS_AGO.name: _days(t, t[spec.time])}
    if spec.name == "tickets":
        derived["open"] = t.closed_at.isnull()
        seconds = t.closed_at.epoch_seconds() - t.opened_at.epoch_seconds()
        # in floating point on every engine (Spark would divide decimals to 6 places)
        derived["resolution_hours"] = seconds.cast("float64") / 3600.0
    elif spec.name == "invoices":
        due = t.due_at < t.as_of
        settled = t.paid_at.fill_null(t.as_of)
        late_days = ibis.greatest(settled.delta(t.due_at, unit="day"), 0)
        derived["days_late"] = ibis.ifelse(due, late_days, 0).cast("float64")
    elif spec.name == "contacts":
        derived["active"] = t.ended_at.isnull()
        derived["ended_days_ago"] = _days(t, t.ended_at)
    t = t.mutate(**derived)
    if spec.name == "invoices":
        t = t.mutate(late=t.days_late > 0)
    return t
