"""Checks that look across rows: accounts no table should name, duplicate keys, rows that
are exact copies, account ids that differ only in case, overlapping subscriptions; and the
examples a problem line quotes.

Each is an Ibis expression run where the data lives; `churnhealth.data.validate` calls them for
every table it has found fit to check.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import pandas as pd

from churnhealth.data.contract import Problem, Table

MAX_EXAMPLES = 3
"""Rows a problem line quotes."""
SLICE_ROWS = 25_000_000
"""Rows per slice of dates when DuckDB looks for duplicate keys in a large table."""
INT64_LIMIT = 2.0**63
"""Whole numbers of this size (about 9.2e18) or more do not fit the int64 a count is read as."""


def examples(
    t: ir.Table, bad: ir.BooleanValue, show: tuple[str, ...], text: str | None = None
) -> list[str]:
    """The first rows where `bad` holds, as `column=value`; `text`: a column shown as text."""
    cols = list(dict.fromkeys(show))
    picked = {c: t[c].cast("string") if c == text else t[c] for c in cols}
    rows = t.filter(bad).select(**picked).order_by(cols).limit(MAX_EXAMPLES).execute()
    return [" ".join(f"{k}={fmt(v)}" for k, v in row.items()) for row in rows.to_dict("records")]


def fmt(v: object) -> str:
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


def count(expr: ir.Table) -> int:
    return int(expr.count().execute())


def unknown_accounts(specs: dict[str, Table], typed: dict[str, ir.Table]) -> list[Problem]:
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
                        " ".join(f"{k}={fmt(v)}" for k, v in r.items())
                        for r in ex.to_dict("records")
                    ],
                )
            )
    return problems


def duplicate_keys(name: str, t: ir.Table, key: tuple[str, ...]) -> tuple[list[Problem], int]:
    """Rows sharing a key: a problem when they differ in any column, else exact duplicates
    (returned as the number of extra rows; they are dropped when the data is read).

    On DuckDB, sorting a hash of the key finds candidates far faster than grouping by the key
    (tens of millions of distinct groups); the candidates are then checked exactly. A key with
    a date is searched one slice of dates at a time (`date_slices`), so the sort of a large
    table stays in memory instead of spilling to disk. Engines without a hash of a row group
    by the key."""
    if ibis.get_backend(t).name == "duckdb":
        hashed = t.mutate(_h=ibis.struct({k: t[k] for k in key}).hash())

        def candidates(part: ir.Table) -> ir.Table:
            ordered = part.mutate(_prev=part._h.lag().over(order_by=part._h))
            return ordered.filter(ordered._h == ordered._prev).select("_h").distinct()

        found = [c for w in date_slices(t, key) if count(c := candidates(hashed.filter(w)))]
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
        if count(counts) == 0:
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
        " ".join(f"{k}={fmt(r[k])}" for k in key) + f" ({r['n']}×)" for r in ex.to_dict("records")
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


def date_slices(t: ir.Table, key: tuple[str, ...]) -> list:
    """Filters cutting `t` into slices of whole days of ≤ about `SLICE_ROWS` rows, by the first
    date in `key` (rows sharing a key share its date); one filter keeping all for a small
    table or a key without a date."""
    day = next((k for k in key if t[k].type().is_date() or t[k].type().is_timestamp()), None)
    if day is None or count(t) <= SLICE_ROWS:
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


def exact_duplicates(t: ir.Table) -> int:
    """Extra copies of rows identical in every column (a table without a key)."""
    both = t.aggregate(n=t.count()).cross_join(t.distinct().aggregate(d=ibis._.count()))
    n, d = both.execute().iloc[0]
    return int(n) - int(d)


def case_twins(accounts: ir.Table) -> list[str]:
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


def overlapping_subscriptions(subs: ir.Table) -> list[str]:
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
