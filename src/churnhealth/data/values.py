"""The rules a column's values must keep: types, finite numbers, bounds, allowed values, and
the one counting query per table that checks them all.

A `RowCheck` is a row predicate with the words of the problem line it makes; `run_row_checks`
counts every check of a table in one aggregate and fetches examples only for those that fail.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnhealth.data.checks import INT64_LIMIT, examples
from churnhealth.data.contract import Column, Problem, Table


@dataclass
class RowCheck:
    column: str
    bad: ir.BooleanValue
    what: str
    expected: str
    show: tuple[str, ...]
    text: bool = False
    """Show the checked column as text in the examples (NaN and ±inf, not null)."""


def type_check(t: ir.Table, col: Column) -> tuple[str, ir.BooleanValue | None] | None:
    """None if the column's type fits; else (description, row predicate or None for all rows)."""
    c = t[col.name]
    dtype = c.type()
    kind = col.kind
    if kind in ("id",) and (dtype.is_string() or dtype.is_integer()):
        return None
    if kind == "string" and dtype.is_string():
        return None
    if kind == "int":
        if dtype.is_integer():
            return None
        if dtype.is_floating() or dtype.is_decimal():
            return "not whole numbers within ±9.2e18", _not_whole(c)
    if kind == "number" and dtype.is_numeric():
        return None
    if kind == "bool":
        if dtype.is_boolean():
            return None
        if dtype.is_integer():
            return "not booleans (0/1)", c.notnull() & ~c.isin([0, 1])
    if kind in ("date", "timestamp") and (dtype.is_date() or dtype.is_timestamp()):
        return None
    if dtype.is_string():
        target = {"int": "int64", "number": "float64", "bool": "boolean"}.get(kind, "timestamp")
        return f"not readable as {kind}", c.notnull() & c.try_cast(target).isnull()
    return f"type {dtype}", None


def _finite(c: ir.NumericValue) -> ir.BooleanValue:
    """Not null, NaN or ±inf (a decimal is never NaN)."""
    return c.notnull() & ~c.isnan() & ~infinite(c) if c.type().is_floating() else c.notnull()


def infinite(c: ir.FloatingValue) -> ir.BooleanValue:
    """±inf: beyond the largest double, as NaN also counts on every engine. (Ibis's `isinf`
    compares with the literal 'Inf', which Spark reads as null: never true there.)"""
    return ~c.isnan() & (c.abs() > sys.float_info.max)


def _not_whole(c: ir.NumericValue) -> ir.BooleanValue:
    """Finite values an int64 cannot hold: fractions, and whole numbers beyond its range (Ibis
    casts a floor to int64, so the floor only sees values within it)."""
    fits = _finite(c) & (c.abs() < INT64_LIMIT)
    x = ibis.ifelse(fits, c, 0)
    return _finite(c) & (~fits | (x != x.floor()))


def as_float(t: ir.Table, col: Column) -> ir.FloatingValue | None:
    """A number column as the floats it is read as, when it can hold NaN or ±inf: a float
    column, or text read as a number ('NaN', 'inf'); else None."""
    c = t[col.name]
    if col.kind not in ("int", "number"):
        return None
    if c.type().is_floating():
        return c
    if col.kind == "number" and c.type().is_string():
        return c.try_cast("float64")
    return None


def value_checks(spec: Table, col: Column, c: ir.Value, t: ir.Table) -> list[RowCheck]:
    show = (
        (*spec.label_columns, col.name)
        if col.name not in spec.label_columns
        else spec.label_columns
    )
    checks = []
    if not col.nullable:
        checks.append(RowCheck(col.name, c.isnull(), "null", "a value in every row", show))
    if col.kind == "id":
        blank = c.notnull() & (c.strip() == "")  # ids are text once typed
        checks.append(RowCheck(col.name, blank, "empty", "a non-empty id", show))
    if col.choices is not None:
        allowed = ", ".join(col.choices)
        checks.append(
            RowCheck(
                col.name,
                c.notnull() & ~c.isin(list(col.choices)),
                "value outside the allowed set",
                f"one of {allowed}",
                show,
            )
        )
    if col.min is not None:
        what = "negative" if col.min == 0 else f"below {col.min:g}"
        checks.append(RowCheck(col.name, c < col.min, what, f"≥ {col.min:g}", show))
    if col.max is not None:
        checks.append(RowCheck(col.name, c > col.max, f"above {col.max:g}", f"≤ {col.max:g}", show))
    if col.bounds_by is not None:
        other, bounds = col.bounds_by
        for value, (lo, hi) in bounds.items():
            checks.append(
                RowCheck(
                    col.name,
                    (t[other] == value) & ((c < lo) | (c > hi)),
                    f"out of range for {other} = {value}",
                    f"{lo:g} ≤ {col.name} ≤ {hi:g} when {other} = {value}",
                    (*show, other),
                )
            )
    return checks


def bad_rows(bad: ir.BooleanValue) -> ir.IntegerValue:
    """How many rows `bad` holds for: one column of a table's single counting query."""
    return ibis.ifelse(bad, 1, 0).sum()


def run_row_checks(
    name: str, t: ir.Table, checks: list[RowCheck], counts: pd.Series | None = None
) -> list[Problem]:
    """The problems of `checks` on `t`, counted in one query (or read from `counts`, a row
    whose `c0`, `c1`, … columns another query counted) and shown with examples."""
    if not checks:
        return []
    if counts is None:
        counts = (
            t.aggregate(**{f"c{i}": bad_rows(ch.bad) for i, ch in enumerate(checks)})
            .execute()
            .iloc[0]
        )
    problems = []
    for i, ch in enumerate(checks):
        n = int(counts[f"c{i}"] or 0)
        if n:
            problems.append(
                Problem(
                    name,
                    ch.column,
                    n,
                    ch.what,
                    ch.expected,
                    examples(t, ch.bad, ch.show, ch.column if ch.text else None),
                )
            )
    return problems
