"""What `override` and `outcome` print: the audit records a CSM writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from rich.table import Table

from churnhealth.cli.app import console

if TYPE_CHECKING:  # the CLI imports a command's stages only when it runs
    import datetime as dt
    from pathlib import Path


def override_recorded(row: dict, store: Path) -> None:
    """The row an `override` appended."""
    what = (
        f"health {row['health']} from {row['valid_from']}"
        + (f" until {row['valid_until']}" if row["valid_until"] else " until cleared")
        if row["action"] == "set"
        else f"override cleared from {row['valid_from']}"
    )
    console.print(
        f"{row['account_id']}: {what} ({row['reason']}; by {row['recorded_by']}) — "
        + _recorded(row, f"the overrides in {store}")
    )


def _recorded(row: dict, where: str) -> str:
    """Where an audit row was appended, or that an identical retry wrote nothing."""
    if row.get("written", True):
        return f"recorded as row {row['seq']} of {where}"
    return f"already recorded as row {row['seq']} of {where}; nothing written"


def overrides(rows: pd.DataFrame, store: Path, every: bool, today: dt.date) -> None:
    """Each account's latest override with its status, or (`every`) the whole audit trail."""
    if rows.empty:
        console.print(f"No overrides recorded in {store}", highlight=False)
        return
    title = (
        f"Every override recorded in {store}, oldest first"
        if every
        else f"Latest override per account on {today} ({store})"
    )
    cols = ["#", "account", "action", "health", "from", "until", "reason", "by", "recorded"]
    table = Table(*cols, *([] if every else ["status"]), title=title)
    for r in rows.itertuples():
        table.add_row(
            str(r.seq),
            r.account_id,
            r.action,
            "" if pd.isna(r.health) else str(int(r.health)),
            str(pd.Timestamp(r.valid_from).date()),
            "" if pd.isna(r.valid_until) else str(pd.Timestamp(r.valid_until).date()),
            r.reason,
            r.recorded_by,
            str(r.recorded_at),
            *([] if every else [r.status]),
        )
    console.print(table)


def outcome_recorded(row: dict, store: Path) -> None:
    """The row an `outcome` appended."""
    console.print(
        f"alert {row['alert_id']} ({row['playbook'].replace('_', ' ')} for {row['account_id']} "
        f"as of {row['alert_as_of']}): {row['status']}"
        + (f" — {row['note']}" if row["note"] else "")
        + f" (by {row['recorded_by']}) — "
        + _recorded(row, f"the outcomes in {store}")
    )
