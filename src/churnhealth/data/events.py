"""Raw event logs: the daily usage table derived from them, on the engine.

A product's analytics export is often one row per event (account, time, event, user) rather
than one per account, day and feature. When the data has `events` and no `usage`, the usage
table is derived as the contract defines it — per account, day and event name: the distinct
users who acted and the number of events — by the engine that holds the events, into a
temporary table, so the events are read once and never loaded into pandas. Metrics declared on
`events` itself count distinct users over any window exactly, which a daily table cannot: the
sum of daily active users is not the month's active users.
"""

from __future__ import annotations

import dataclasses

from churnhealth.data.contract import contract
from churnhealth.data.source import Source, temp_table


def with_daily_usage(source: Source) -> Source:
    """The source with `usage` derived from `events` when it has events and no usage (as-is
    otherwise), and a note saying so."""
    if "events" not in source or "usage" in source:
        return source
    e = source.typed(contract(["_"])["events"])
    daily = e.group_by(account_id=e.account_id, date=e.ts.date(), feature=e.event).aggregate(
        active_users=e.user_id.nunique(), events=e.count()
    )
    table = temp_table(source.con, "_usage_from_events", daily)
    n = int(table.events.sum().execute() or 0)  # every event counted once: no second scan
    note = (
        f"usage: derived from {n:,} raw events (distinct users and events per account, day and "
        "event name)"
    )
    tables = {**source.tables, "usage": table}
    return dataclasses.replace(source, tables=tables, notes=[*source.notes, note])
