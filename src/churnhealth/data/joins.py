"""Lookups: columns a source mapping takes from another file or table by key (and, for
identify records that change over time, by the time the row happened).

Usage kept per subscription, events per user: the export's rows carry a key of another table,
and the account comes from there (`lookup:` in a table's mapping, see `data.mapping`). The join
runs on the engine. A key must name at most one row of the other table, and rows whose key it
lacks are dropped and counted.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import ibis.expr.types as ir

from churnhealth.data.filters import predicate
from churnhealth.data.mapping import TableMapping, read_raw
from churnhealth.errors import DataError


def looked_up(
    con: ibis.BaseBackend, root: Path | str, raw: ir.Table, tm: TableMapping, name: str
) -> tuple[ir.Table, list[str]]:
    """`raw` with the columns of each of `tm`'s lookups joined on by key, on the engine, and a
    note per lookup that left rows of `raw` without a match (they are dropped). A lookup key
    naming two rows of the other file, or matching no row at all, is one `DataError` line."""
    notes = []
    for i, lk in enumerate(tm.lookup, start=1):
        parsed = {tm.columns.get(c, c) for c in [*tm.dates, *tm.values]}  # as the table's own
        text = tuple(c for c, here in lk.take.items() if here in parsed)
        other = read_raw(con, root, lk, f"{name} lookup {i}", text)
        mine, theirs = lk.keys
        gone = [c for c in lk.filter if c not in other.columns]
        if gone:
            raise DataError(
                [
                    f"{lk.source}: no column {c} (for the lookup's filter; it has "
                    f"{', '.join(other.columns)})"
                    for c in gone
                ]
            )
        if lk.filter:
            other = other.filter(predicate(other, lk.filter))
        when, since = next(iter(lk.at.items())) if lk.at else (None, None)
        missing = [
            f"{tm.source}: no column {c}" for c in (mine, when) if c and c not in raw.columns
        ]
        missing += [
            f"{lk.source}: no column {c} (for the lookup of {name}; it has "
            f"{', '.join(other.columns)})"
            for c in dict.fromkeys([theirs, *([since] if since else []), *lk.take])
            if c not in other.columns
        ]
        missing += [
            f"{tm.source}: already has a column {c} (the lookup from {lk.source} takes it; "
            f"name it otherwise: take: {{{theirs_col}: another_name}})"
            for theirs_col, c in lk.take.items()
            if c in raw.columns
        ]
        if missing:
            raise DataError(missing)
        keys = {"_k": other[theirs], **({"_t": other[since]} if since else {})}
        counts = other.group_by(**keys).aggregate(n=other.count())
        twice = counts.filter(counts.n > 1)
        if (k := int(twice.count().execute())) > 0:
            first = twice.order_by(ibis.desc("n"), "_k").limit(1).execute().iloc[0]
            at = f" at {since} {first._t}" if since else ""
            raise DataError(
                [
                    f"{lk.source}: {theirs} {first._k}{at} matches {int(first.n)} rows (a "
                    f"lookup takes one row per key{' and time' if since else ''}); {k:,} "
                    f"key{'s' * (k != 1)} match more than one"
                ]
            )
        taken = {here: other[c] for c, here in lk.take.items()}
        right = other.select(_lookup_key=other[theirs], **taken)
        match = raw[mine] == right._lookup_key
        if since:  # the record in force at the row's time: from its `since` to the next one's
            frm = other[since].cast("timestamp")
            until = frm.lead().over(ibis.window(group_by=other[theirs], order_by=frm))
            right = other.select(_lookup_key=other[theirs], _from=frm, _until=until, **taken)
            t = raw[when].cast("timestamp")
            match = (
                (raw[mine] == right._lookup_key)
                & (right._from <= t)
                & (right._until.isnull() | (t < right._until))
            )
        if lk.unmatched == "keep":  # a left join: the taken columns null where none matches
            raw = raw.left_join(right, match).select(*raw.columns, *lk.take.values())
            continue
        joined = raw.inner_join(right, match).select(*raw.columns, *lk.take.values())
        total, kept = int(raw.count().execute()), int(joined.count().execute())
        if total and not kept:
            raise DataError(
                [
                    f"{tm.source}: none of its {total:,} rows has a {mine} that {lk.source} "
                    f"holds as {theirs} (is the lookup's key right?)"
                ]
            )
        if kept < total:
            before = f" in force at their {when}" if when else ""
            notes.append(
                f"{name}: {total - kept:,} of {total:,} rows of {tm.source} have no {mine} in "
                f"{lk.source} ({theirs}){before} and were dropped"
            )
        raw = joined
    return raw, notes
