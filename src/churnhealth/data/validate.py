"""Validation of the raw tables against the data contract, before anything else reads them.

Every check is an Ibis expression, so it runs where the data lives (DuckDB by default). Counts
for a table's row-level checks come from one aggregate query; examples are fetched only for
checks that fail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import ibis
import ibis.expr.types as ir

from churnhealth.data.checks import (
    case_twins,
    count,
    duplicate_keys,
    exact_duplicates,
    examples,
    overlapping_subscriptions,
    unknown_accounts,
)
from churnhealth.data.contract import REQUIRED_TABLES, Column, Problem, Table, contract
from churnhealth.data.mapping import origin, outside_notes
from churnhealth.data.source import Source, day_literal
from churnhealth.data.values import (
    RowCheck,
    as_float,
    bad_rows,
    infinite,
    run_row_checks,
    type_check,
    value_checks,
)
from churnhealth.errors import DataError
from churnhealth.location import redact
from churnhealth.notes import absent


@dataclass(frozen=True)
class ReadFix:
    """A repair every command makes to a column as it reads it, found by validation: account
    ids trimmed of surrounding whitespace (`trim`), NaN where a null is allowed read as null
    (`nan`); `note` says what and how often."""

    table: str
    column: str
    how: Literal["trim", "nan"]
    note: str


@dataclass
class Report:
    """What validation found: row counts, problems (one line each) and notes."""

    path: str
    rows: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What is worth knowing but breaks no rule (`churnhealth validate` says them)."""
    carried: list[str] = field(default_factory=list)
    """Notes on what reading does to the data: every command that reads it says them, as
    `read_as_validated` adds them to the source's notes."""
    duplicates: dict[str, int] = field(default_factory=dict)
    """Exact duplicate rows per table (identical in every column): dropped when read."""
    fixes: list[ReadFix] = field(default_factory=list)
    """Columns repaired when read (`read_as_validated`)."""
    since: Mapping[str, dt.date] = field(default_factory=dict)
    """The first day of each table's rows that were checked (all rows: absent)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        counts = " · ".join(f"{t} {n:,}" for t, n in self.rows.items())
        return f"OK {self.path}: {counts}"

    def raise_for_problems(self) -> None:
        if self.problems:
            raise DataError([str(p) for p in self.problems])


Since = Mapping[str, dt.date] | Callable[[Source], Mapping[str, dt.date]]


def validate(
    source: Source,
    segments: list[str],
    as_of: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
    since: Since | None = None,
) -> Report:
    """Check every table of `source` against the contract; never raises for bad data.

    Tables, columns and types are always checked in full. `since` limits the row checks
    (values, duplicate keys, unknown accounts) of time-stamped tables to rows dated on or after
    a day per table: a mapping, or a function of the source called once the types are known
    good (scoring needs the data's last date to know which rows it reads). Row checks see the
    data as every command reads it: account ids trimmed, NaN where a null is allowed as null
    (`report.fixes`). Account ids differing only in case and overlapping subscriptions break
    no rule; each gets a note.
    """
    specs = contract(segments)
    report = Report(redact(str(source.path)))
    for name in REQUIRED_TABLES:
        if name not in source:
            report.problems.append(
                Problem(
                    name, None, None, "required table is missing", f"a table or file named {name}"
                )
            )
    usable: dict[str, Table] = {}
    for name, spec in specs.items():
        if name not in source:
            # usage from events, or events summed into usage already: no table is missing
            derived = (name == "events" and "usage" in source) or (
                name == "usage" and "events" in source
            )
            # a note when features are lost: not for your own feature table or the plays log
            if not (spec.required or derived or spec.open or not spec.featured):
                report.notes.append(absent(name))
            continue
        if progress:
            progress(name)
        columns = _check_columns(name, spec, source.tables[name], report)
        if spec.required and report.rows.get(name) == 0:
            report.problems.append(Problem(name, None, None, "table is empty", "at least one row"))
        if columns:
            usable[name] = dataclasses.replace(spec, columns=tuple(columns))
            raw = source.tables[name]
            zoned = [
                c.name
                for c in columns
                if raw[c.name].type().is_timestamp() and raw[c.name].type().timezone is not None
            ]
            if zoned:
                note = (
                    f"{name}: {', '.join(zoned)} carry a time zone: converted to UTC, the "
                    "clock days are counted in"
                )
                report.carried.append(note)
    if source.mapping is not None and isinstance(source.path, Path) and source.path.is_dir():
        report.carried += outside_notes(source.mapping, source.path)
    if callable(since):
        since = since(source) if report.ok else None
    report.since = dict(since or {})
    read = fixed(source, report.fixes)
    typed = {
        name: _rows_since(read.typed(spec), spec, report.since.get(name))
        for name, spec in usable.items()
    }
    for name, t in typed.items():
        found, report.duplicates[name] = _check_rows(specs[name], usable[name], t, as_of)
        report.problems += found
    report.problems += unknown_accounts(specs, typed)
    if {"account_id"} <= _names(usable, "accounts"):
        report.notes += case_twins(typed["accounts"])
    if {"account_id", "start_date"} <= _names(usable, "subscriptions"):
        report.notes += overlapping_subscriptions(typed["subscriptions"])
    if source.mapping is not None:
        report.problems = [origin(source.mapping, p) for p in report.problems]
    return report


def _names(usable: dict[str, Table], name: str) -> set[str]:
    """The columns of table `name` fit for row checks (none when it is absent)."""
    return set(usable[name].column_names) if name in usable else set()


def _check_columns(name: str, spec: Table, raw: ir.Table, report: Report) -> list[Column]:
    """Row count, missing columns and types; the columns fit for row checks. The row count,
    the type checks and what reading repairs are counted in one query (on Spark or PostgreSQL
    each query costs a round trip)."""
    for col in spec.columns:
        if col.name not in raw.columns and not col.nullable:
            report.problems.append(
                Problem(name, col.name, None, "column is missing", f"a {col.kind} column")
            )
    usable: list[Column] = []
    type_checks: list[RowCheck] = []
    for col in spec.columns:
        if col.name not in raw.columns:
            continue
        type_checks += _finite_check(spec, col, raw)
        bad = type_check(raw, col)
        if bad is None:
            usable.append(col)
            continue
        what, pred = bad
        if pred is None:
            n = count(raw.filter(raw[col.name].notnull()))
            report.problems.append(Problem(name, col.name, n, what, col.kind))
        else:
            usable.append(col)  # unless a row fails it (below)
            type_checks.append(
                RowCheck(col.name, pred, what, col.kind, (*spec.label_columns, col.name))
            )
    shown = {u.name for u in usable}
    for ch in type_checks:
        ch.show = tuple(c for c in ch.show if c in shown) or (ch.column,)
    repairs = _repairs(spec, raw)
    counts = (
        raw.aggregate(
            rows=raw.count(),
            **{f"c{i}": bad_rows(ch.bad) for i, ch in enumerate(type_checks)},
            **{f"f{i}": bad_rows(bad) for i, bad in enumerate(repairs.values())},
        )
        .execute()
        .iloc[0]
    )
    report.rows[name] = int(counts["rows"])
    report.problems += run_row_checks(name, raw, type_checks, counts)
    report.fixes += _read_fixes(spec, raw, repairs, counts)
    broken = {p.column for p in report.problems if p.table == name}
    return [c for c in usable if c.name not in broken]


def _finite_check(spec: Table, col: Column, raw: ir.Table) -> list[RowCheck]:
    """NaN and ±inf in a number column: an error, except NaN where a null is allowed (read as
    null, `_read_fixes`). An account id is shown even where the key is another id."""
    v = as_float(raw, col)
    if v is None:
        return []
    bad = infinite(v) if col.nullable else v.isnan() | infinite(v)
    show = (*spec.label_columns, "account_id", col.name)
    return [RowCheck(col.name, bad, "not a finite number", "a finite number", show, text=True)]


def _repairs(spec: Table, raw: ir.Table) -> dict[tuple[str, str], ir.BooleanValue]:
    """What reading repairs in a table, as (column, how) → the rows it applies to: account ids
    with surrounding whitespace (compared trimmed everywhere) and NaN where a null is allowed."""
    found: dict[tuple[str, str], ir.BooleanValue] = {}
    if "account_id" in raw.columns and raw.account_id.type().is_string():
        found["account_id", "trim"] = raw.account_id != raw.account_id.strip()
    for col in spec.columns:
        v = as_float(raw, col) if col.name in raw.columns and col.nullable else None
        if v is not None:
            found[col.name, "nan"] = v.isnan()
    return found


def _read_fixes(
    spec: Table, raw: ir.Table, repairs: dict[tuple[str, str], ir.BooleanValue], counts
) -> list[ReadFix]:
    """The repairs (`_repairs`) that apply to some row, by the `f0`, `f1`, … of `counts`."""
    fixes = []
    for i, ((column, how), bad) in enumerate(repairs.items()):
        n = int(counts[f"f{i}"] or 0)
        if n:
            fixes.append(ReadFix(spec.name, column, how, _fix_note(spec, raw, column, how, bad, n)))
    return fixes


def _fix_note(
    spec: Table, raw: ir.Table, column: str, how: str, bad: ir.BooleanValue, n: int
) -> str:
    rows = f"{n:,} row{'s' if n != 1 else ''}"
    if how == "trim":
        (example,) = raw.filter(bad).select(v=raw.account_id).order_by("v").limit(1).execute().v
        return (
            f"{spec.name}.account_id: surrounding whitespace trimmed in {rows} (ids are compared "
            f"trimmed); e.g. {example!r}"
        )
    show = tuple(c for c in (*spec.label_columns, "account_id") if c in raw.columns)
    return (
        f"{spec.name}.{column}: NaN in {rows}, read as null (expected a finite number or "
        f"null); e.g. {examples(raw, bad, show)[0]}"
    )


def fixed(source: Source, fixes: list[ReadFix]) -> Source:
    """The source with the columns of `fixes` repaired: ids trimmed, NaN as null."""
    if not fixes:
        return source
    tables = dict(source.tables)
    for f in fixes:
        t = tables[f.table]
        if f.how == "trim":
            value = t[f.column].strip()
        else:
            c = t[f.column]
            v = c if c.type().is_floating() else c.try_cast("float64")
            value = ibis.ifelse(v.isnan(), ibis.null("float64"), v)
        tables[f.table] = t.mutate(**{f.column: value})
    return dataclasses.replace(source, tables=tables)


def _rows_since(t: ir.Table, spec: Table, day: dt.date | None) -> ir.Table:
    if day is None or spec.time is None or spec.time not in t.columns:
        return t
    return t.filter(t[spec.time] >= day_literal(t[spec.time], day))


def _check_rows(
    spec: Table, usable: Table, t: ir.Table, as_of: dt.date | None
) -> tuple[list[Problem], int]:
    """Values, column order, dates before as-of and duplicate keys, in the typed table; and
    the number of exact duplicate rows (repaired, not a problem)."""
    have = set(usable.column_names)
    checks: list[RowCheck] = []
    for col in usable.columns:
        if col.bounds_by is not None and col.bounds_by[0] not in have:
            col = dataclasses.replace(col, bounds_by=None)
        checks += value_checks(usable, col, t[col.name], t)
    for start, end in spec.order:
        if start in have and end in have:
            checks.append(
                RowCheck(
                    end,
                    t[end] < t[start],
                    f"before {start}",
                    f"{end} ≥ {start}",
                    (*spec.label_columns, start, end),
                )
            )
    if as_of is not None:
        limit = ibis.timestamp(dt.datetime.combine(as_of, dt.time()))
        for col in usable.columns:
            if col.kind in ("date", "timestamp") and not col.planned:
                checks.append(
                    RowCheck(
                        col.name,
                        t[col.name].cast("timestamp") >= limit,
                        "dated on or after the as-of date",
                        f"dates before {as_of}",
                        (*spec.label_columns, col.name),
                    )
                )
    if not all(c in have for c in spec.label_columns):
        for ch in checks:
            ch.show = (ch.column,)
    problems = run_row_checks(spec.name, t, checks)
    if spec.key and all(k in have for k in spec.key):
        found, extra = duplicate_keys(spec.name, t, spec.key)
        problems += found
    else:
        extra = exact_duplicates(t)
    return problems, extra
