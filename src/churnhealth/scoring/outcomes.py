"""Playbook outcomes: what the team did with each alert.

`churnhealth outcome ALERT_ID --status done|skipped|failed` appends a row to the
`alert_outcomes` table of the history store (who, when, an optional note); a later row for the
same alert supersedes an earlier one for the report, and none is ever edited, so the table is
the audit trail. The report compares the retention of accounts whose alert was acted on with
the others' — a description, not a causal effect (the team chose whom to act on).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from churnhealth.errors import ChurnhealthError
from churnhealth.locks import locked
from churnhealth.scoring import history, playbooks

STATUSES = ("done", "skipped", "failed")
TABLE = "alert_outcomes"
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    seq BIGINT NOT NULL, alert_id VARCHAR NOT NULL, account_id VARCHAR NOT NULL,
    playbook VARCHAR NOT NULL, alert_as_of DATE NOT NULL, status VARCHAR NOT NULL,
    note VARCHAR, recorded_by VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)"""
COLUMNS = [
    "seq",
    "alert_id",
    "account_id",
    "playbook",
    "alert_as_of",
    "status",
    "note",
    "recorded_by",
    "recorded_at",
]


def record(
    store: Path,
    alerts: Path,
    alert_id: str,
    *,
    status: str,
    by: str,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Append the outcome of the alert `alert_id` (found in the alert log `alerts`); returns
    the row written. One line, nothing written, for an unknown alert or status."""
    if status not in STATUSES:
        raise ChurnhealthError(
            f"outcome {alert_id}: --status {status!r}: expected one of {', '.join(STATUSES)}"
        )
    if not by.strip():
        raise ChurnhealthError(f"outcome {alert_id}: --by is empty: say who")
    logged = playbooks.previous_alerts(alerts)
    hit = logged[logged.alert_id == alert_id]
    if hit.empty:
        raise ChurnhealthError(
            f"outcome {alert_id}: no such alert in predict.alerts {alerts} "
            f"({len(logged):,} alerts logged; ids are in the log and the webhook messages)"
        )
    alert = hit.iloc[-1]
    row = {
        "alert_id": alert_id,
        "account_id": alert.account_id,
        "playbook": alert.playbook,
        "alert_as_of": pd.Timestamp(alert.as_of).date(),
        "status": status,
        "note": (note or "").strip() or None,
        "recorded_by": by.strip(),
        "recorded_at": (now or dt.datetime.now()).replace(microsecond=0),
    }
    with locked(store, what=f"predict.history {store}"):
        seq, written = history.append(store, DDL, TABLE, row, key=("alert_id",))
        row = {"seq": seq, **row, "written": written}
    return row


def audit(store: Path) -> pd.DataFrame:
    """Every recorded outcome, oldest first."""
    df = history.select(store, TABLE, f"SELECT {', '.join(COLUMNS)} FROM {TABLE} ORDER BY seq")
    return pd.DataFrame(columns=COLUMNS) if df is None else df


def latest(store: Path) -> pd.DataFrame:
    """Each alert's latest outcome (alert_id, status, note, recorded_by, recorded_at)."""
    rows = audit(store)
    return rows.sort_values("seq").groupby("alert_id").tail(1).reset_index(drop=True)


def as_actions(alerts: pd.DataFrame, recorded: pd.DataFrame) -> pd.DataFrame:
    """The alert log as `cs_actions` rows (account_id, date, playbook, source) plus `worked`.

    The play is the alert's playbook, or the play it named (`play`) when the save list ranked by
    measured effects. Every alert sent is an `alert` row and every held-out alert a `holdout`
    row, whatever the
    team recorded: the randomized comparison is of alerting against not alerting (intent to
    treat), and dropping the alerts a team skipped would undo the randomization. `worked` is
    False where the latest recorded outcome is "skipped": the doubly robust estimate counts only
    plays that ran."""
    if alerts.empty:
        return pd.DataFrame(columns=["account_id", "date", "playbook", "source", "worked"])
    status = recorded.set_index("alert_id").status if len(recorded) else pd.Series(dtype=str)
    skipped = alerts.alert_id.map(status).eq("skipped")
    return pd.DataFrame(
        {
            "account_id": alerts.account_id.astype(str),
            "date": pd.to_datetime(alerts.as_of),
            # an alert naming the play measured best for it (`scoring.saving`) measures that play
            "playbook": alerts.get("play", alerts.playbook).fillna(alerts.playbook).astype(str),
            "source": alerts.held_out.map({True: "holdout", False: "alert"}),
            "worked": ~alerts.held_out.astype(bool) & ~skipped,
        }
    ).reset_index(drop=True)


def logged_actions(alerts_path: Path, store: Path) -> pd.DataFrame:
    """`as_actions` of the alert log `alerts_path` and the outcomes in the history `store`."""
    return as_actions(playbooks.previous_alerts(alerts_path), latest(store))
