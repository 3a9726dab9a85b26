"""CSM overrides: a customer-success manager's own view of an account's health, beside the
model's.

`churnhealth override` appends a row to the `csm_overrides` table of the history store — a
health set or a clear, by whom, when, why, from which as-of date and until which — and never
edits one: the table is the audit trail. At an as-of date T an account's override is the
latest recorded row whose validity covers T (valid_from ≤ T ≤ valid_until; a clear is
open-ended); when that row sets a health, the override is in force. Re-scoring a past date
therefore finds the overrides that held then.

Scores keep both healths (`model_health`, `csm_health`); with `predict.override_wins` the CSM's
drives `health_score`, the tier and the playbooks until it expires. Overrides never reach
labels or features: training reads the data alone, and the history keeps the model's health.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth.errors import ChurnhealthError
from churnhealth.locks import locked
from churnhealth.scoring import history

TABLE = "csm_overrides"
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    seq BIGINT NOT NULL, account_id VARCHAR NOT NULL, action VARCHAR NOT NULL,
    health INTEGER, reason VARCHAR NOT NULL, recorded_by VARCHAR NOT NULL,
    valid_from DATE NOT NULL, valid_until DATE, recorded_at TIMESTAMP NOT NULL)"""
COLUMNS = [
    "seq",
    "account_id",
    "action",
    "health",
    "reason",
    "recorded_by",
    "valid_from",
    "valid_until",
    "recorded_at",
]
SCORE_COLUMNS = [
    "model_health",
    "model_tier",
    "csm_health",
    "override_reason",
    "override_by",
    "override_until",
    "health_source",
]
"""What a scores row carries about overrides (documented in docs/predict.md)."""


def who() -> str:
    """The name recorded when `--by` is not given: the operating-system user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


def record(
    path: Path,
    account_id: str,
    *,
    health: int | None,
    reason: str,
    by: str,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Append a set (`health` given) or a clear (`health` None) for `account_id`; returns the
    row written. One line, nothing written, when the account was never scored or a value is
    out of range."""
    action = "clear" if health is None else "set"
    if health is not None and not 0 <= health <= 100:
        raise ChurnhealthError(f"override {account_id}: --health {health}: expected 0–100")
    if not reason.strip():
        raise ChurnhealthError(f"override {account_id}: --reason is empty: say why")
    if not by.strip():
        raise ChurnhealthError(f"override {account_id}: --by is empty: say who")
    if valid_until is not None and valid_until < valid_from:
        raise ChurnhealthError(
            f"override {account_id}: --until {valid_until} is before --from {valid_from}"
        )
    if action == "clear" and valid_until is not None:
        raise ChurnhealthError(f"override {account_id}: --until goes with --health, not --clear")
    row = {
        "account_id": account_id,
        "action": action,
        "health": health,
        "reason": reason.strip(),
        "recorded_by": by.strip(),
        "valid_from": valid_from,
        "valid_until": valid_until,
        "recorded_at": (now or dt.datetime.now()).replace(microsecond=0),
    }
    with locked(path, what=f"predict.history {path}"):
        if not history.scored(path, account_id):
            raise ChurnhealthError(
                f"override {account_id}: no such account in predict.history {path} (only "
                "accounts churnhealth predict has scored can be overridden)"
            )
        if action == "clear" and in_force(path, pd.Timestamp(valid_from), account_id).empty:
            raise ChurnhealthError(
                f"override {account_id}: no override in force on {valid_from} to clear"
            )
        seq, written = history.append(path, DDL, TABLE, row, key=("account_id",))
        row = {"seq": seq, **row, "written": written}
    return row


def audit(path: Path, account_id: str | None = None) -> pd.DataFrame:
    """Every recorded row (of one account, when given), oldest first."""
    where = "WHERE account_id = ?" if account_id else ""
    df = history.select(
        path,
        TABLE,
        f"SELECT {', '.join(COLUMNS)} FROM {TABLE} {where} ORDER BY seq",
        [account_id] if account_id else [],
    )
    return pd.DataFrame(columns=COLUMNS) if df is None else df


def in_force(path: Path, day: pd.Timestamp, account_id: str | None = None) -> pd.DataFrame:
    """The overrides in force at as-of `day`, indexed by account: csm_health,
    override_reason, override_by, override_from, override_until."""
    rows = audit(path, account_id)
    d = pd.Timestamp(day)
    if len(rows):
        start = pd.to_datetime(rows.valid_from)
        end = pd.to_datetime(rows.valid_until)
        rows = rows[(start <= d) & (end.isna() | (d <= end))]
        rows = rows.sort_values("seq").groupby("account_id").tail(1)
        rows = rows[rows.action == "set"]
    out = pd.DataFrame(
        {
            "csm_health": rows.health.astype("int64").to_numpy(),
            "override_reason": rows.reason.to_numpy(),
            "override_by": rows.recorded_by.to_numpy(),
            "override_from": pd.to_datetime(rows.valid_from).to_numpy(),
            "override_until": pd.to_datetime(rows.valid_until).to_numpy(),
        },
        index=pd.Index(rows.account_id.to_numpy(), name="account_id"),
    )
    return out


def latest(path: Path, today: dt.date) -> pd.DataFrame:
    """Each account's latest row with its status on `today`: in force, scheduled, expired or
    cleared."""
    rows = audit(path).sort_values("seq").groupby("account_id").tail(1).copy()
    if rows.empty:
        return rows.assign(status=pd.Series(dtype="str"))
    start = pd.to_datetime(rows.valid_from)
    end = pd.to_datetime(rows.valid_until)
    t = pd.Timestamp(today)
    rows["status"] = np.select(
        [rows.action == "clear", start > t, end.notna() & (end < t)],
        ["cleared", "scheduled", "expired"],
        "in force",
    )
    return rows.sort_values("account_id").reset_index(drop=True)


def apply(
    scores: pd.DataFrame,
    forced: pd.DataFrame,
    tiers: Callable[[np.ndarray], np.ndarray],
    *,
    wins: bool,
) -> pd.DataFrame:
    """`scores` with the model's health and tier kept as `model_health`/`model_tier`, the
    overrides in force (`forced`, from `in_force`) beside them, and — when the override `wins`
    — the CSM's health driving `health_score` and the tier (`tiers(health)` for these rows)."""
    out = scores.copy()
    out["model_health"] = out.health_score.to_numpy()
    out["model_tier"] = out.tier.to_numpy()
    o = forced.reindex(out.account_id.to_numpy())
    out["csm_health"] = pd.array(o.csm_health.to_numpy(), dtype="Int64")
    out["override_reason"] = pd.array(o.override_reason.to_numpy(), dtype="str")
    out["override_by"] = pd.array(o.override_by.to_numpy(), dtype="str")
    out["override_until"] = pd.to_datetime(o.override_until.to_numpy())
    has = out.csm_health.notna().to_numpy()
    out["health_source"] = np.where(has & wins, "csm", "model")
    if wins and has.any():
        health = out.health_score.to_numpy().copy()
        health[has] = out.csm_health.to_numpy()[has].astype(health.dtype)
        out["health_score"] = health
        out["tier"] = tiers(health)
    return out
