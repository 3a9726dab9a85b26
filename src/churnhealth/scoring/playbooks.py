"""Playbooks: alerts that turn a score into the next step, with a cool-down and a webhook.

Declared in `configs/playbooks.yaml`. Alerts are appended to `alerts.jsonl` first; when
CHURNHEALTH_WEBHOOK_URL is set they are then POSTed as Slack-compatible JSON, with a timeout and
retries with back-off. A failed delivery is reported, never lost: the file is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from churnhealth.errors import ChurnhealthError, ConfigError
from churnhealth.features.formats import Reading, reading
from churnhealth.location import redact
from churnhealth.scoring.people import People
from churnhealth.sinks import slack, visible
from churnhealth.units import money

Scalar = str | int | float | bool
Condition = Scalar | list[Scalar] | dict[Literal["eq", "ne", "lt", "le", "gt", "ge"], Scalar]
_OPS = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}
WEBHOOK_ENV = "CHURNHEALTH_WEBHOOK_URL"
ALERT_INPUTS = [
    "account_id",
    "as_of",
    "health_score",
    "tier",
    "arr",
    "churn_probability",
    "p_churn_next_renewal",
    "renewal_date",
    "segment",
    "health_change_30d",
    "expansion_score",
    "expansion_tier",
    "at_risk_for",
    "effect_signals",
    "context",
    "best_play",
    "arr_saved",
    "play_reason",
    *[
        f"{kind}_{k}_{part}"
        for kind in ("risk", "expansion")
        for k in (1, 2)
        for part in ("feature", "value")
    ],
]
"""The columns an alert and its reason are made of."""


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    action: str = ""
    when: dict[str, Condition] = {}
    any: dict[str, Condition] = {}
    capacity: bool = False
    """A save play: its alerts count against predict.capacity, the team's room for save plays
    under way (the accounts with the most ARR expected to be lost first; the rest wait)."""
    reason: Literal["drivers", "context", "expansion"] | None = None
    """What its alerts' reason names: the top risk drivers (the default), the contract context
    (a renewal-exposure play: the account is low for its term, renewal timing or size) or the
    expansion drivers (the default of a playbook named expansion_opportunity)."""
    due_days: int | None = Field(None, ge=0)
    """Days from the alert's as-of date to when the play should be done: each alert carries
    that date (`due`), beside the account's owner (accounts.csm_owner)."""
    segments: dict[str, dict[str, Condition]] = {}
    """Per segment, conditions replacing `when`'s of the same column (e.g. enterprise:
    {health_score: {lt: 80}}): one playbook whose thresholds fit each segment."""
    cap: int | None = Field(None, ge=0)
    """At most this many of its alerts under way at once (raised within cooldown_days), the
    accounts with the most ARR expected to be lost first; the other matches wait."""
    holdout_share: float = Field(0.0, ge=0, le=0.5)
    """The share of its alerts held out at random to measure what the play is worth
    (`churnhealth effects`): a held-out alert is logged (held_out: true) but not sent, shown
    as "held out (measuring)", and its account is not worked for the cool-down. The price:
    that share of the accounts the play would reach goes without it. 0 (the default): none;
    0.1–0.2 measures a play within a few quarters on a book of thousands."""


class Playbooks(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cooldown_days: int = Field(30, ge=0)
    playbooks: list[Playbook]


def load_playbooks(path: Path | str) -> Playbooks:
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: no such playbooks file"])
    try:
        return Playbooks.model_validate(yaml.safe_load(path.read_text()) or {})
    except (UnicodeDecodeError, OSError, yaml.YAMLError):
        raise ConfigError([f"{path}: not a readable YAML file"]) from None
    except ValidationError as err:
        raise ConfigError(
            [f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        ) from None


def _test(frame: pd.DataFrame, column: str, cond: Condition) -> np.ndarray:
    if column not in frame.columns:
        raise ConfigError([f"playbooks: condition on unknown column {column!r}"])
    col = frame[column]
    if isinstance(cond, list):
        return col.isin(cond).to_numpy()
    if isinstance(cond, dict):
        ok = np.ones(len(frame), bool)
        for op, value in cond.items():
            ok &= (
                _OPS[op](col.to_numpy(dtype=float if not isinstance(value, str) else object), value)
                & col.notna().to_numpy()
            )
        return ok
    return (col == cond).to_numpy()


def _named(row: Mapping, kind: str, readings: Mapping[str, Reading]) -> list[str]:
    """The row's two strongest drivers of `kind` (risk, expansion) in a sentence: "licenses
    active at peak, 30 days (8%)", "no champion"."""
    return [
        reading(readings, row[f"{kind}_{k}_feature"]).said(str(row[f"{kind}_{k}_value"]))
        for k in (1, 2)
        if isinstance(row.get(f"{kind}_{k}_feature"), str)
    ]


def reason(row: Mapping, pb: Playbook, readings: Mapping[str, Reading] | None = None) -> str:
    """One sentence in plain words naming the top drivers by their labels (`readings`:
    feature → how it reads, `features.formats.readings`)."""
    readings = readings or {}
    drivers = _named(row, "risk", readings)
    kind = pb.reason or ("expansion" if pb.name == "expansion_opportunity" else "drivers")
    if kind == "context":
        return _context_reason(row, pb)
    growth = kind == "expansion" and not pd.isna(row.get("expansion_score"))
    if growth:
        drivers = _named(row, "expansion", readings)
    change = (
        ""
        if pd.isna(row.get("health_change_30d"))
        else f", {row['health_change_30d']:+.0f} in 30 days"
    )
    lead = f"Health {row['health_score']} ({str(row['tier']).replace('_', ' ')}{change})"
    if growth:
        lead = (
            f"Expansion score {row['expansion_score']:.0f} "
            f"({str(row['expansion_tier']).replace('_', ' ')}), {lead[0].lower()}{lead[1:]}"
        )
    verb = "lifted most by" if growth else "pulled down most by"
    tail = f", {verb} {' and '.join(drivers)}" if drivers else ""
    return f"{lead}{tail}: {pb.action}".rstrip(": ")


def _context_reason(row: Mapping, pb: Playbook) -> str:
    """Health, then why it is low: the contract context (term, renewal timing, size) rather
    than the signals a CSM can act on."""
    signals = row.get("effect_signals")
    parts = [] if pd.isna(signals) else [f"signals {signals:+.1f} points"]
    if isinstance(row.get("context"), str) and row["context"]:
        parts.append(str(row["context"]))
    why = f" ({'; '.join(parts)})" if parts else ""
    tier = str(row["tier"]).replace("_", " ")
    lead = f"Health {row['health_score']} ({tier}) for its contract, not its signals{why}"
    return f"{lead}: {pb.action}".rstrip(": ")


def at_stake(frame: pd.DataFrame) -> pd.Series:
    """Per row, the ARR expected to be lost by the account's next renewal decision (ARR ×
    P(churn by then); within the health horizon when the decision lies beyond it, or read off
    health when neither is known): what a save list is ranked by."""
    p = pd.Series(np.nan, index=frame.index)
    for key in ("p_churn_next_renewal", "churn_probability"):
        if key in frame:
            p = p.fillna(frame[key].astype(float))
    return frame.arr.astype(float) * p.fillna(1 - frame.health_score.astype(float) / 100)


def held_out(alert: str, share: float) -> bool:
    """Whether the alert `alert` (its id) is held out of a playbook holding out `share`:
    decided by a hash of the id alone, so a re-run of the same date decides the same, and
    independent of anything the model or the team knows about the account."""
    if share <= 0:
        return False
    draw = int(hashlib.sha256(f"holdout\x1f{alert}".encode()).hexdigest()[:13], 16) / 16**13
    return draw < share


def hold_out(alerts: list[dict], config: Playbooks) -> list[dict]:
    """`alerts` with `held_out` set on each: true for those its playbook's `holdout_share`
    draws (after the team's capacity chose them, so held-out and worked alerts come from the
    same list)."""
    share = {pb.name: pb.holdout_share for pb in config.playbooks}
    return [
        {**a, "held_out": held_out(a["alert_id"], share.get(a["playbook"], 0.0))} for a in alerts
    ]


def alert_id(account_id: str, playbook: str, as_of: str) -> str:
    """A stable id for the alert of `playbook` on `account_id` at `as_of` (YYYY-MM-DD): the
    same alert gets the same id however often the date is re-scored."""
    return hashlib.sha1(f"{account_id}\x1f{playbook}\x1f{as_of}".encode()).hexdigest()[:12]


LOGGED = [
    "alert_id", "account_id", "playbook", "as_of", "reason", "owner", "due", "held_out", "play",
]  # fmt: skip


def previous_alerts(path: Path) -> pd.DataFrame:
    """The alerts raised so far (alert_id, account_id, playbook, as_of, reason, owner, due,
    held_out and the play named, if any),
    from the alert log; lines written before alerts had ids get the id they would have had,
    and before owners and due dates none."""
    if not Path(path).exists():
        return pd.DataFrame(columns=LOGGED)
    rows = []
    for i, line in enumerate(Path(path).read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            day = str(pd.Timestamp(row["as_of"]).date())
            rows.append(
                {
                    "alert_id": row.get("alert_id")
                    or alert_id(row["account_id"], row["playbook"], day),
                    **{k: row[k] for k in ("account_id", "playbook", "as_of")},
                    "reason": row.get("reason", ""),
                    "owner": row.get("owner"),
                    "due": row.get("due"),
                    "held_out": bool(row.get("held_out", False)),
                    "play": row.get("play"),
                }
            )
        except (ValueError, TypeError, KeyError):
            raise ChurnhealthError(
                f"predict.alerts {path}: line {i} is not an alert (expected one JSON object "
                "with account_id, playbook and as_of per line); move the file aside to start a "
                "new alert log"
            ) from None
    df = pd.DataFrame(rows, columns=LOGGED) if rows else pd.DataFrame(columns=LOGGED)
    df["as_of"] = pd.to_datetime(df.as_of)
    return df


def conditions(pb: Playbook) -> str:
    """A playbook's conditions as one reads them: "days_to_renewal ≤ 60 and health_score < 70"."""
    words = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}

    def one(col: str, cond: Condition) -> str:
        if isinstance(cond, dict):
            return " and ".join(f"{col} {words[op]} {v}" for op, v in cond.items())
        if isinstance(cond, list):
            return f"{col} in {', '.join(map(str, cond))}"
        return f"{col} = {cond}"

    text = " and ".join(one(c, v) for c, v in pb.when.items())
    if pb.any:
        either = " or ".join(one(c, v) for c, v in pb.any.items())
        text = f"{text} and ({either})" if text else either
    return text or "always"


def too_broad(matched: dict[str, int], book: int, config: Playbooks, share: float) -> list[str]:
    """One line per playbook matching more than `share` of the `book` active accounts."""
    out = []
    for pb in config.playbooks:
        n = matched.get(pb.name, 0)
        if book and n / book > share:
            out.append(
                f"playbook {pb.name} matched {n:,} of {book:,} active accounts ({n / book:.0%}, "
                f"more than predict.playbook_warn_share {share:.0%}) on {conditions(pb)}: a "
                "team cannot act on that many; narrow its conditions in the playbooks file"
            )
    return out


def matches(frame: pd.DataFrame, config: Playbooks) -> dict[str, np.ndarray]:
    """Per playbook, the rows meeting its conditions."""
    out = {}
    for pb in config.playbooks:
        hit = np.ones(len(frame), bool)
        for col, cond in pb.when.items():
            hit &= _test(frame, col, cond)
        if pb.segments:  # a segment's own thresholds replace those of `when` on its rows
            seg = frame["segment"].astype(object).to_numpy()
            for s, conds in pb.segments.items():
                rows = seg == s
                if not rows.any():
                    continue
                own = np.ones(len(frame), bool)
                for col, cond in {**pb.when, **conds}.items():
                    own &= _test(frame, col, cond)
                hit = np.where(rows, own, hit)
        if pb.any:
            hit &= np.logical_or.reduce([_test(frame, c, v) for c, v in pb.any.items()])
        out[pb.name] = hit
    return out


def trigger(
    frame: pd.DataFrame,
    config: Playbooks,
    past: pd.DataFrame,
    hits: dict[str, np.ndarray] | None = None,
    people: People | None = None,
    readings: Mapping[str, Reading] | None = None,
    currency: str = "USD",
) -> list[dict]:
    """Alerts for rows meeting each playbook, minus those still cooling down after an alert in
    `past` (see `previous_alerts`); each names the account, its owner and its CRM record
    (`people`), its drivers by their labels (`readings`) and, for a playbook with `due_days`,
    the date the play is due."""
    people = people or People()
    hits = hits if hits is not None else matches(frame, config)
    frame = frame[[c for c in ALERT_INPUTS if c in frame.columns]]
    frame = frame.assign(arr_at_stake=at_stake(frame))
    out = []
    for pb in config.playbooks:
        rows = frame[hits[pb.name]]
        recent = past[(past.playbook == pb.name)]
        if len(rows) and len(recent):
            last = recent.groupby("account_id").as_of.max()
            since = rows.as_of - rows.account_id.map(last)
            rows = rows[~(since < pd.Timedelta(days=config.cooldown_days))]
        for row in rows.to_dict("records"):
            day = str(row["as_of"].date())
            out.append(
                {
                    "alert_id": alert_id(row["account_id"], pb.name, day),
                    "account_id": row["account_id"],
                    "name": people.names.get(row["account_id"]),
                    "playbook": pb.name,
                    "title": pb.title,
                    "as_of": day,
                    "health_score": int(row["health_score"]),
                    "tier": row["tier"],
                    "reason": _with_play(reason(row, pb, readings), row, pb, currency),
                    "arr": float(row["arr"]),
                    "arr_at_stake": round(float(row["arr_at_stake"]), 2),
                    **(_play(row) if pb.capacity else {}),
                    "renewal_date": str(pd.Timestamp(row["renewal_date"]).date()),
                    "segment": row["segment"],
                    "owner": people.owners.get(row["account_id"]),
                    "crm": people.link(row["account_id"]),
                    "currency": currency,
                    "due": None
                    if pb.due_days is None
                    else str((row["as_of"] + pd.Timedelta(days=pb.due_days)).date()),
                }
            )
    return out


def _with_play(text: str, row: Mapping, pb: Playbook, currency: str) -> str:
    """A save play's reason ends naming the play measured to save the most on the account."""
    play = row.get("best_play")
    if not pb.capacity or not isinstance(play, str):
        return text
    saved = money(float(row["arr_saved"]), currency)
    name = play.replace("_", " ")
    return (
        f"{text.rstrip('.')}. Best play: {name}, expected to keep {saved} ARR: "
        f"{row['play_reason']}."
    )


def _play(row: Mapping) -> dict:
    """The best play for the account, the ARR it is expected to save and why (only when the
    save list ranks by measured effects: `scoring.saving`)."""
    play = row.get("best_play")
    if not isinstance(play, str):
        return {}
    return {
        "play": play,
        "arr_saved": round(float(row["arr_saved"]), 2),
        "play_reason": row.get("play_reason"),
    }


def append(path: Path, alerts: list[dict]) -> None:
    """Append whole lines and flush to disk before anything is sent anywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        for a in alerts:
            f.write(json.dumps(a) + "\n")
        f.flush()
        os.fsync(f.fileno())


SECTION_CHARS = 2900
"""Slack caps a section's text at 3,000 characters; the rest of the budget is margin."""


def slack_messages(alerts: list[dict], limit: int = 50, log: str = "alerts.jsonl") -> list[dict]:
    """One Slack-compatible message per playbook, listing up to `limit` accounts and as many
    as fit in one section. Text from data is escaped for mrkdwn (`sinks.slack`), and a cut
    list always ends with "… and N more in `log`"."""
    out = []
    for name in dict.fromkeys(a["playbook"] for a in alerts):
        group = [a for a in alerts if a["playbook"] == name]
        lines: list[str] = []
        for i, a in enumerate(group[:limit]):
            who = [f"owner {slack(a['owner'], limit=60)}"] if a.get("owner") else []
            who += [f"due {a['due']}"] if a.get("due") else []
            who += [f"<{a['crm']}|CRM record>"] if a.get("crm") else []  # validated URL
            name = f"{slack(a['name'], limit=80)} · " if a.get("name") else ""
            arr = money(a["arr"], a.get("currency") or "USD", short=False)
            line = (
                f"• *{name}{slack(a['account_id'], limit=80)}* ({slack(a['segment'], limit=40)}, "
                f"ARR {arr}, renews {a['renewal_date']}): {slack(a['reason'])} "
                f"(alert {a['alert_id']}{''.join('; ' + w for w in who)})"
            )
            tail = f"… and {len(group) - i} more in {slack(log, limit=80)}"
            if len("\n".join([*lines, line])) + len(tail) + 1 > SECTION_CHARS:
                break
            lines.append(line)
        if len(lines) < len(group):
            lines.append(f"… and {len(group) - len(lines)} more in {slack(log, limit=80)}")
        count = f"{len(group)} account{'s' * (len(group) != 1)}"
        header = f"{visible(group[0]['title'])[:120]}: {count}"  # plain text: shown as it is
        out.append(
            {
                "text": f"{slack(group[0]['title'], limit=120)}: {count}",
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": header}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
                ],
            }
        )
    return out


def deliver(
    url: str, messages: list[dict], timeout: float = 5.0, retries: int = 3, backoff: float = 0.5
) -> tuple[int, list[str]]:
    """POST each message; retry with exponential back-off. Returns (delivered, errors)."""
    delivered, errors = 0, []
    for msg in messages:
        body = json.dumps(msg).encode()
        for attempt in range(retries):
            req = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    if 200 <= resp.status < 300:
                        delivered += 1
                        break
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            else:
                last = f"HTTP {resp.status}"
            if attempt < retries - 1:
                time.sleep(backoff * 2**attempt)
        else:
            last = redact(last.replace(url, "the webhook URL"))
            errors.append(f"{msg['text']}: not delivered after {retries} attempts ({last})")
    return delivered, errors
