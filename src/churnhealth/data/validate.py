"""Validation of the raw tables against the data contract, before anything else reads them.

Every check is an Ibis expression, so it runs where the data lives (DuckDB by default). Counts
for a table's row-level checks come from one aggregate query; examples are fetched only for
checks that fail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.churn import with_churn_records
from churnhealth.data.contract import REQUIRED_TABLES, Column, Problem, Table, contract
from churnhealth.data.events import with_daily_usage
from churnhealth.data.mapping import SourceMapping, load_mapping, origin, outside_notes
from churnhealth.data.repair import WEEKS as REPAIR_MARGIN
from churnhealth.data.repair import repair_usage
from churnhealth.data.source import Source, day_literal, open_source, truncate
from churnhealth.errors import DataError
from churnhealth.location import redact
from churnhealth.notes import absent

MAX_EXAMPLES = 3
SLICE_ROWS = 25_000_000
"""Rows per slice of dates when DuckDB looks for duplicate keys in a large table (below)."""
INT64_LIMIT = 2.0**63
"""Whole numbers of this size (about 9.2e18) or more do not fit the int64 a count is read as."""


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


@dataclass
class _RowCheck:
    column: str
    bad: ir.BooleanValue
    what: str
    expected: str
    show: tuple[str, ...]
    text: bool = False
    """Show the checked column as text in the examples (NaN and ±inf, not null)."""


def _type_check(t: ir.Table, col: Column) -> tuple[str, ir.BooleanValue | None] | None:
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
    return c.notnull() & ~c.isnan() & ~_infinite(c) if c.type().is_floating() else c.notnull()


def _infinite(c: ir.FloatingValue) -> ir.BooleanValue:
    """±inf: beyond the largest double, as NaN also counts on every engine. (Ibis's `isinf`
    compares with the literal 'Inf', which Spark reads as null: never true there.)"""
    return ~c.isnan() & (c.abs() > sys.float_info.max)


def _not_whole(c: ir.NumericValue) -> ir.BooleanValue:
    """Finite values an int64 cannot hold: fractions, and whole numbers beyond its range (Ibis
    casts a floor to int64, so the floor only sees values within it)."""
    fits = _finite(c) & (c.abs() < INT64_LIMIT)
    x = ibis.ifelse(fits, c, 0)
    return _finite(c) & (~fits | (x != x.floor()))


def _as_float(t: ir.Table, col: Column) -> ir.FloatingValue | None:
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


def _value_checks(spec: Table, col: Column, c: ir.Value, t: ir.Table) -> list[_RowCheck]:
    show = (
        (*spec.label_columns, col.name)
        if col.name not in spec.label_columns
        else spec.label_columns
    )
    checks = []
    if not col.nullable:
        checks.append(_RowCheck(col.name, c.isnull(), "null", "a value in every row", show))
    if col.kind == "id":
        blank = c.notnull() & (c.strip() == "")  # ids are text once typed
        checks.append(_RowCheck(col.name, blank, "empty", "a non-empty id", show))
    if col.choices is not None:
        allowed = ", ".join(col.choices)
        checks.append(
            _RowCheck(
                col.name,
                c.notnull() & ~c.isin(list(col.choices)),
                "value outside the allowed set",
                f"one of {allowed}",
                show,
            )
        )
    if col.min is not None:
        what = "negative" if col.min == 0 else f"below {col.min:g}"
        checks.append(_RowCheck(col.name, c < col.min, what, f"≥ {col.min:g}", show))
    if col.max is not None:
        checks.append(
            _RowCheck(col.name, c > col.max, f"above {col.max:g}", f"≤ {col.max:g}", show)
        )
    if col.bounds_by is not None:
        other, bounds = col.bounds_by
        for value, (lo, hi) in bounds.items():
            checks.append(
                _RowCheck(
                    col.name,
                    (t[other] == value) & ((c < lo) | (c > hi)),
                    f"out of range for {other} = {value}",
                    f"{lo:g} ≤ {col.name} ≤ {hi:g} when {other} = {value}",
                    (*show, other),
                )
            )
    return checks


def _examples(
    t: ir.Table, bad: ir.BooleanValue, show: tuple[str, ...], text: str | None = None
) -> list[str]:
    """The first rows where `bad` holds, as `column=value`; `text`: a column shown as text."""
    cols = list(dict.fromkeys(show))
    picked = {c: t[c].cast("string") if c == text else t[c] for c in cols}
    rows = t.filter(bad).select(**picked).order_by(cols).limit(MAX_EXAMPLES).execute()
    return [" ".join(f"{k}={_fmt(v)}" for k, v in row.items()) for row in rows.to_dict("records")]


def _fmt(v: object) -> str:
    if v is None or v != v:  # None or NaN
        return "null"
    if isinstance(v, str) and (v == "" or v != v.strip()):
        return repr(v)  # an empty id, or one padded with whitespace
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date().isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer() and abs(v) < INT64_LIMIT:
        return str(int(v))
    return str(v)


def _bad_rows(bad: ir.BooleanValue) -> ir.IntegerValue:
    """How many rows `bad` holds for: one column of a table's single counting query."""
    return ibis.ifelse(bad, 1, 0).sum()


def _run_row_checks(
    name: str, t: ir.Table, checks: list[_RowCheck], counts: pd.Series | None = None
) -> list[Problem]:
    """The problems of `checks` on `t`, counted in one query (or read from `counts`, a row
    whose `c0`, `c1`, … columns another query counted) and shown with examples."""
    if not checks:
        return []
    if counts is None:
        counts = (
            t.aggregate(**{f"c{i}": _bad_rows(ch.bad) for i, ch in enumerate(checks)})
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
                    _examples(t, ch.bad, ch.show, ch.column if ch.text else None),
                )
            )
    return problems


def _count(expr: ir.Table) -> int:
    return int(expr.count().execute())


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
            derived = name == "events" and "usage" in source
            if not spec.required and not derived and not spec.open:  # features: when declared
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
    read = _fixed(source, report.fixes)
    typed = {
        name: _rows_since(read.typed(spec), spec, report.since.get(name))
        for name, spec in usable.items()
    }
    for name, t in typed.items():
        found, report.duplicates[name] = _check_rows(specs[name], usable[name], t, as_of)
        report.problems += found
    report.problems += _unknown_accounts(specs, typed)
    if {"account_id"} <= _names(usable, "accounts"):
        report.notes += _case_twins(typed["accounts"])
    if {"account_id", "start_date"} <= _names(usable, "subscriptions"):
        report.notes += _overlapping_subscriptions(typed["subscriptions"])
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
    type_checks: list[_RowCheck] = []
    for col in spec.columns:
        if col.name not in raw.columns:
            continue
        type_checks += _finite_check(spec, col, raw)
        bad = _type_check(raw, col)
        if bad is None:
            usable.append(col)
            continue
        what, pred = bad
        if pred is None:
            n = _count(raw.filter(raw[col.name].notnull()))
            report.problems.append(Problem(name, col.name, n, what, col.kind))
        else:
            usable.append(col)  # unless a row fails it (below)
            type_checks.append(
                _RowCheck(col.name, pred, what, col.kind, (*spec.label_columns, col.name))
            )
    shown = {u.name for u in usable}
    for ch in type_checks:
        ch.show = tuple(c for c in ch.show if c in shown) or (ch.column,)
    repairs = _repairs(spec, raw)
    counts = (
        raw.aggregate(
            rows=raw.count(),
            **{f"c{i}": _bad_rows(ch.bad) for i, ch in enumerate(type_checks)},
            **{f"f{i}": _bad_rows(bad) for i, bad in enumerate(repairs.values())},
        )
        .execute()
        .iloc[0]
    )
    report.rows[name] = int(counts["rows"])
    report.problems += _run_row_checks(name, raw, type_checks, counts)
    report.fixes += _read_fixes(spec, raw, repairs, counts)
    broken = {p.column for p in report.problems if p.table == name}
    return [c for c in usable if c.name not in broken]


def _finite_check(spec: Table, col: Column, raw: ir.Table) -> list[_RowCheck]:
    """NaN and ±inf in a number column: an error, except NaN where a null is allowed (read as
    null, `_read_fixes`). An account id is shown even where the key is another id."""
    v = _as_float(raw, col)
    if v is None:
        return []
    bad = _infinite(v) if col.nullable else v.isnan() | _infinite(v)
    show = (*spec.label_columns, "account_id", col.name)
    return [_RowCheck(col.name, bad, "not a finite number", "a finite number", show, text=True)]


def _repairs(spec: Table, raw: ir.Table) -> dict[tuple[str, str], ir.BooleanValue]:
    """What reading repairs in a table, as (column, how) → the rows it applies to: account ids
    with surrounding whitespace (compared trimmed everywhere) and NaN where a null is allowed."""
    found: dict[tuple[str, str], ir.BooleanValue] = {}
    if "account_id" in raw.columns and raw.account_id.type().is_string():
        found["account_id", "trim"] = raw.account_id != raw.account_id.strip()
    for col in spec.columns:
        v = _as_float(raw, col) if col.name in raw.columns and col.nullable else None
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
        f"null); e.g. {_examples(raw, bad, show)[0]}"
    )


def _fixed(source: Source, fixes: list[ReadFix]) -> Source:
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


def _case_twins(accounts: ir.Table) -> list[str]:
    """A note on account ids that differ from another only in case: kept apart (ids are
    compared as they are), but likely one account spelled twice."""
    ids = accounts.filter(accounts.account_id.notnull()).select("account_id").distinct()
    groups = ids.group_by(key=ids.account_id.lower()).aggregate(
        n=ids.count(), first=ids.account_id.min(), last=ids.account_id.max()
    )
    twins = groups.filter(groups.n > 1).order_by("first").execute()
    if twins.empty:
        return []
    e = twins.iloc[0]
    return [
        f"accounts.account_id: {int(twins.n.sum()):,} ids differ from another only in case (ids "
        f"are case-sensitive: kept as different accounts); e.g. {e['first']} and {e['last']}"
    ]


def _overlapping_subscriptions(subs: ir.Table) -> list[str]:
    """A note on accounts whose subscriptions overlap in time (each adds its ARR): how many
    accounts and rows, and the most in force on one day, with that account."""
    far = ibis.date(9999, 12, 31)
    end = subs.end_date if "end_date" in subs.columns else ibis.null("date")
    s = subs.select(account_id=subs.account_id, start=subs.start_date, end=end.fill_null(far))
    s = s.filter(s.account_id.notnull() & s.start.notnull() & (s.end > s.start))
    # a row overlaps another when an earlier one ends after it starts, or the next starts
    # before it ends (ordered by start)
    w = {"group_by": s.account_id, "order_by": [s.start, s.end]}
    s = s.mutate(
        earlier=s.end.max().over(ibis.window(**w, rows=(None, -1))),
        later=s.start.lead().over(ibis.window(**w)),
    )
    overlapping = ((s.earlier > s.start) | (s.later < s.end)).fill_null(False)
    rows = int(s.filter(overlapping).count().execute())
    if rows == 0:
        return []
    # the most in force at once: +1 at each start, -1 at each end (ends first on a day)
    steps = s.select("account_id", day=s.start, step=ibis.literal(1)).union(
        s.filter(s.end < far).select("account_id", day=s.end, step=ibis.literal(-1))
    )
    running = steps.step.cumsum(group_by=steps.account_id, order_by=[steps.day, steps.step])
    steps = steps.mutate(running=running)
    most = steps.group_by("account_id").aggregate(most=steps.running.max())
    most = most.filter(most.most > 1)
    accounts = int(most.count().execute())
    top = most.order_by([ibis.desc("most"), "account_id"]).limit(1).execute().iloc[0]
    has = "account has" if accounts == 1 else "accounts have"
    return [
        f"subscriptions: {accounts:,} {has} overlapping subscriptions ({rows:,} rows whose dates "
        f"overlap another of the same account; at most {int(top.most):,} in force on one day, "
        f"account_id={top.account_id}): each adds its ARR"
    ]


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
    checks: list[_RowCheck] = []
    for col in usable.columns:
        if col.bounds_by is not None and col.bounds_by[0] not in have:
            col = dataclasses.replace(col, bounds_by=None)
        checks += _value_checks(usable, col, t[col.name], t)
    for start, end in spec.order:
        if start in have and end in have:
            checks.append(
                _RowCheck(
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
                    _RowCheck(
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
    problems = _run_row_checks(spec.name, t, checks)
    if spec.key and all(k in have for k in spec.key):
        found, extra = _duplicate_keys(spec.name, t, spec.key)
        problems += found
    else:
        extra = _exact_duplicates(t)
    return problems, extra


def _unknown_accounts(specs: dict[str, Table], typed: dict[str, ir.Table]) -> list[Problem]:
    """Rows whose account_id is not in accounts."""
    accounts = typed.get("accounts")
    if accounts is None or "account_id" not in accounts.columns:
        return []
    ids = accounts.select("account_id").distinct()
    unknown = {
        name: t.filter(t.account_id.notnull()).anti_join(ids, "account_id")
        for name, t in typed.items()
        if specs[name].references_accounts and "account_id" in t.columns
    }
    if not unknown:
        return []
    per = [o.aggregate(table=ibis.literal(name), n=o.count()) for name, o in unknown.items()]
    counted = (ibis.union(*per) if len(per) > 1 else per[0]).execute()  # one round trip
    found = dict(zip(counted.table, counted.n, strict=True))
    problems = []
    for name, orphans in unknown.items():
        n = int(found.get(name, 0))
        if n:
            cols = list(specs[name].label_columns)
            ex = orphans.select(*cols).order_by(cols).limit(MAX_EXAMPLES).execute()
            problems.append(
                Problem(
                    name,
                    "account_id",
                    n,
                    "unknown account_id",
                    "an account_id present in accounts",
                    [
                        " ".join(f"{k}={_fmt(v)}" for k, v in r.items())
                        for r in ex.to_dict("records")
                    ],
                )
            )
    return problems


def _duplicate_keys(name: str, t: ir.Table, key: tuple[str, ...]) -> tuple[list[Problem], int]:
    """Rows sharing a key: a problem when they differ in any column, else exact duplicates
    (returned as the number of extra rows; they are dropped when the data is read).

    On DuckDB, sorting a hash of the key finds candidates far faster than grouping by the key
    (tens of millions of distinct groups); the candidates are then checked exactly. A key with
    a date is searched one slice of dates at a time (`_date_slices`), so the sort of a large
    table stays in memory instead of spilling to disk. Engines without a hash of a row group
    by the key."""
    if ibis.get_backend(t).name == "duckdb":
        hashed = t.mutate(_h=ibis.struct({k: t[k] for k in key}).hash())

        def candidates(part: ir.Table) -> ir.Table:
            ordered = part.mutate(_prev=part._h.lag().over(order_by=part._h))
            return ordered.filter(ordered._h == ordered._prev).select("_h").distinct()

        found = [c for w in _date_slices(t, key) if _count(c := candidates(hashed.filter(w)))]
        if not found:
            return [], 0
        rows = hashed.semi_join(ibis.union(*found) if len(found) > 1 else found[0], "_h")
        rows = rows.mutate(_row=ibis.struct({c: rows[c] for c in t.columns}).hash())
        groups = (
            rows.group_by(list(key))
            .aggregate(n=rows.count(), variants=rows._row.nunique())
            .filter(lambda g: g.n > 1)
        )
    else:
        counts = t.group_by(list(key)).aggregate(n=t.count()).filter(lambda g: g.n > 1)
        if _count(counts) == 0:
            return [], 0
        rows = t.semi_join(counts, list(key)).distinct()
        variants = rows.group_by(list(key)).aggregate(variants=rows.count())
        groups = counts.join(variants, list(key))
    sums = groups.aggregate(
        conflicting=groups.n.sum(where=groups.variants > 1),
        extra=(groups.n - 1).sum(where=groups.variants == 1),
    ).execute()
    conflicting, extra = (int(v) if v == v and v is not None else 0 for v in sums.iloc[0])
    if conflicting == 0:
        return [], extra
    bad = groups.filter(groups.variants > 1)
    ex = bad.order_by(list(key)).limit(MAX_EXAMPLES).execute()
    examples = [
        " ".join(f"{k}={_fmt(r[k])}" for k in key) + f" ({r['n']}×)" for r in ex.to_dict("records")
    ]
    label = key[0] if len(key) == 1 else "(" + ", ".join(key) + ")"
    problem = Problem(
        name,
        label if len(key) == 1 else None,
        conflicting,
        f"duplicate {'id' if len(key) == 1 else 'key ' + label} with different values",
        f"unique {label}",
        examples,
    )
    return [problem], extra


def _date_slices(t: ir.Table, key: tuple[str, ...]) -> list:
    """Filters cutting `t` into slices of whole days of ≤ about `SLICE_ROWS` rows, by the first
    date in `key` (rows sharing a key share its date); one filter keeping all for a small
    table or a key without a date."""
    day = next((k for k in key if t[k].type().is_date() or t[k].type().is_timestamp()), None)
    if day is None or _count(t) <= SLICE_ROWS:
        return [ibis.literal(True)]
    per = t.group_by(day).aggregate(n=t.count()).order_by(day).execute()
    is_date = t[day].type().is_date()
    slices, lo, rows = [], None, 0
    for value, n in zip(per[day], per.n, strict=True):
        if pd.isna(value):
            continue
        value = pd.Timestamp(value).date() if is_date else pd.Timestamp(value).to_pydatetime()
        lo = value if lo is None else lo
        rows += n
        if rows >= SLICE_ROWS:
            slices.append(t[day].between(lo, value))
            lo, rows = None, 0
    if lo is not None:
        slices.append(t[day] >= lo)
    return [*slices, t[day].isnull()]


def _exact_duplicates(t: ir.Table) -> int:
    """Extra copies of rows identical in every column (a table without a key)."""
    both = t.aggregate(n=t.count()).cross_join(t.distinct().aggregate(d=ibis._.count()))
    n, d = both.execute().iloc[0]
    return int(n) - int(d)


def read_as_validated(source: Source, report: Report) -> Source:
    """The source as validation read it, with a note per repair: account ids trimmed and NaN
    where a null is allowed read as null (`report.fixes`), then the exact duplicate rows it
    counted dropped; and the notes on what reading does (`report.carried`)."""
    source = _fixed(source, report.fixes)
    notes = [*source.notes, *report.carried, *(f.note for f in report.fixes)]
    tables = dict(source.tables)
    for name, n in report.duplicates.items():
        if n:
            tables[name] = tables[name].distinct()
            rows = "row" if n == 1 else "rows"
            notes.append(f"{name}: dropped {n:,} exact duplicate {rows} (the same in every column)")
    return dataclasses.replace(source, tables=tables, notes=notes)


def open_validated(
    path,
    segments: list[str],
    as_of: dt.date | None = None,
    truncate_at: dt.date | None = None,
    since: Since | None = None,
    gap_days: int = 30,
    mapping: SourceMapping | None = None,
    repair: bool = True,
    memory_limit: str | None = None,
) -> Source:
    """Open a source and validate it; raise `DataError` (one line per problem) if it is bad.

    `truncate_at` first reduces the data to what was known before that date (training as if
    today were that date); `as_of` rejects data dated on or after it instead. `since` checks
    only the rows the caller reads (see `validate`). Churn records, when the data has them, are
    then reconciled with the subscriptions (`data.churn`, with the re-signup gap `gap_days`).
    `mapping` describes an export that is not shaped like the contract (`data.mapping`).
    The source is read as validation read it (`read_as_validated`: ids trimmed, NaN as null,
    exact duplicates dropped). Logging outages and logging changes in usage are then found in
    what is left and, with `repair`, repaired (`data.repair`). `memory_limit`: see
    `data.source.configure_duckdb`.
    """
    source = open_source(path, mapping, memory_limit)
    report = validate(source, segments, as_of, since=since)
    report.raise_for_problems()
    source = with_daily_usage(read_as_validated(source, report))
    if truncate_at is not None:
        source = truncate(source, truncate_at, contract(segments))
    first = report.since.get("usage")  # what scoring reads: the repairs look no further
    source = repair_usage(source, repair, first and first - dt.timedelta(days=REPAIR_MARGIN))
    return with_churn_records(source, segments, gap_days)


def open_configured(cfg: Config, data=None, **kw) -> Source:
    """`open_validated` as the configuration says: its data path (unless `data`), segments,
    re-signup gap and source mapping; `kw`: `as_of`, `truncate_at`, `since`."""
    return open_validated(
        data or cfg.data.path,
        cfg.data.segments,
        gap_days=cfg.labels.resignup_gap_days,
        mapping=load_mapping(cfg.data.sources),
        repair=cfg.data.repair_usage,
        memory_limit=cfg.data.memory_limit,
        **kw,
    )


def check(
    path,
    segments: list[str],
    as_of: dt.date | None = None,
    gap_days: int = 30,
    mapping: SourceMapping | None = None,
    repair: bool = True,
    memory_limit: str | None = None,
) -> Report:
    """`churnhealth validate`: the report of a source that breaks no rule (with what its churn
    records disagreed on); else `DataError`, one line per problem."""
    source = open_source(path, mapping, memory_limit)
    report = validate(source, segments, as_of)
    report.raise_for_problems()
    source = repair_usage(with_daily_usage(read_as_validated(source, report)), repair)
    report.notes += with_churn_records(source, segments, gap_days).notes
    return report
