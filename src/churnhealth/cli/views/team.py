"""What `override` and `outcome` print (the audit records a CSM writes) and `effects` (what
the plays are worth)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pandas as pd
from rich.table import Table

from churnhealth.cli.app import console

if TYPE_CHECKING:  # the CLI imports a command's stages only when it runs
    import datetime as dt
    from pathlib import Path

    from churnhealth.evaluation.effects import Estimate
    from churnhealth.jobs.effects import EffectsResult


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


def _points(e: Estimate | None, truth: bool = False) -> str:
    """An estimate in points of churn probability with its interval, or why there is none."""
    if e is None:
        return ""
    if e.effect is None:
        return e.refused or "n/a"
    return f"{100 * e.effect:+.1f} [{100 * e.low:+.1f}, {100 * e.high:+.1f}] (n={e.treated:,})"


def effects(res: EffectsResult, as_json: bool) -> None:
    """One table per outcome (play × method), then the subgroups of the doubly robust one."""
    if as_json:
        print(json.dumps(res.to_dict(), indent=2, default=str))
        return
    from churnhealth.evaluation.effects import not_judged_yet, waiting_line

    horizon = f"churn within {res.horizon_days} days"
    find = {(e.play, e.method, e.outcome, e.group): e for e in res.estimates}
    has_truth = any(e.truth is not None for e in res.estimates)
    waiting = not_judged_yet(res.plays, [e.as_dict() for e in res.estimates])
    for outcome, what in (("12m", horizon), ("next_renewal", "leaving at the next renewal")):
        table = Table(
            "play",
            "run",
            "held out",
            "randomized",
            "doubly robust",
            "naive (do not trust)",
            *(["true effect"] if has_truth else []),
            title=f"Effect of each play on {what}, in points of probability with 95% "
            f"intervals (negative: the play keeps accounts) — {res.source}, data to "
            f"{res.data_end}",
        )
        for play, counts in res.plays.items():
            if play in waiting:
                continue
            dr = find.get((play, "doubly_robust", outcome, "all"))
            truth = dr.truth if dr is not None else None
            table.add_row(
                play.replace("_", " "),
                f"{counts['run']:,}",
                f"{counts['held_out']:,}",
                _points(find.get((play, "randomized", outcome, "all"))),
                _points(dr),
                _points(find.get((play, "naive", outcome, "all"))),
                *([("" if truth is None else f"{100 * truth:+.1f}")] if has_truth else []),
            )
        console.print(table)
    groups = [e for e in res.estimates if e.method == "doubly_robust" and e.group != "all"]
    if groups:
        table = Table(
            "play",
            "group",
            f"doubly robust, {horizon}",
            *(["true effect"] if has_truth else []),
            title="Who a play helps: the doubly robust estimate by segment and by the account's "
            "main risk dimension",
        )
        for e in groups:
            if e.outcome != "12m" or (e.effect is None and e.treated == 0):
                continue
            table.add_row(
                e.play.replace("_", " "),
                e.group.replace("=", ": ").replace("_", " "),
                _points(e),
                *([("" if e.truth is None else f"{100 * e.truth:+.1f}")] if has_truth else []),
            )
        console.print(table)
    console.print(
        "Randomized: alerts run against alerts held out at random, the only comparison chance "
        "alone decided. Doubly robust: plays run against accounts not worked, adjusted for "
        "everything the features know; right only if they saw what the team saw. Naive: churn "
        "of the accounts worked minus the others; the team works accounts because they look at "
        "risk, so it is not an effect.",
        highlight=False,
    )
    if waiting:
        console.print(waiting_line(res.plays, waiting), highlight=False)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)
    run = f"; MLflow run {res.run_id}" if res.run_id else ""
    console.print(f"Written to {res.out} in {res.seconds:.0f} s{run}", highlight=False)
