"""The save list: alerts limited to what the team can work.

A team can have only so many save plays under way. An alert is under way for the playbooks'
`cooldown_days` after it was raised. The alerts of the playbooks marked `capacity: true` share
the team's capacity (`predict.capacity`: in total, or per CSM when `per_owner` is set); a
playbook with a `cap` has its own. Each run fills the room left with the matching accounts
that stand to lose the most ARR by their next renewal decision (`playbooks.at_stake`) or, with
trusted effect estimates, those a play is expected to save the most ARR on (`scoring.saving`);
the other matches wait, listed but not alerted, and are considered again at the next run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np
import pandas as pd

from churnhealth.scoring.playbooks import Playbooks
from churnhealth.scoring.summary import Room

TEAM = ""
"""The owner key of accounts without a CSM (they share the team's capacity)."""


def under_way(
    previous: pd.DataFrame, names: set[str], day: pd.Timestamp, cooldown_days: int
) -> set[str]:
    """Accounts with an alert of one of `names` raised in the cool-down before `day` (the
    day itself included: a re-run of a day adds nothing)."""
    if previous.empty:
        return set()
    start = day - pd.Timedelta(days=cooldown_days)
    recent = previous[
        previous.playbook.isin(names) & (previous.as_of > start) & (previous.as_of <= day)
    ]
    return set(recent.account_id)


def _fill(
    candidates: list[dict],
    busy: set[str],
    room: dict[str, int],
    owner_of: Mapping[str, str],
    key: str = "arr_at_stake",
) -> tuple[set[str], set[str]]:
    """Accounts alerted and accounts waiting: the candidates by `key` (ARR at stake, or the ARR
    a play is expected to save), most first, each
    taking one place of its owner's room (`TEAM` for accounts without one); an account with a
    play already under way, or taken by this run, needs no more room."""
    left = dict(room)
    taken: set[str] = set()
    waiting: set[str] = set()
    for a in sorted(candidates, key=lambda a: -(a.get(key) or 0.0)):
        account = a["account_id"]
        owner = owner_of.get(account, TEAM)
        if account in busy or account in taken:
            taken.add(account)
        elif left.get(owner, 0) > 0:
            left[owner] -= 1
            taken.add(account)
        else:
            waiting.add(account)
    return taken, waiting - taken


def limit(
    alerts: list[dict],
    plays: Playbooks,
    previous: pd.DataFrame,
    day: pd.Timestamp,
    *,
    team: int,
    per_owner: int | None = None,
    owners: Mapping[str, str] | None = None,
    key: str = "arr_at_stake",
) -> tuple[list[dict], dict[str, list[dict]], dict[str, Room]]:
    """The alerts the team has room for, the others (waiting) per playbook, and per limit
    (`capacity` for the save plays, a playbook's name for its cap) what it allowed. `key`: the
    alert field ranking them (`arr_saved` when the save list ranks by measured effects)."""
    owners = {k: v for k, v in (owners or {}).items() if isinstance(v, str) and v}
    per = per_owner is not None
    groups: list[tuple[str, set[str], int]] = []
    save = {pb.name for pb in plays.playbooks if pb.capacity}
    if save:
        groups.append(("capacity", save, team))
    groups += [(pb.name, {pb.name}, pb.cap) for pb in plays.playbooks if pb.cap is not None]
    dropped: set[tuple[str, str]] = set()  # (playbook, account) waiting
    rooms = {}
    for name, names, size in groups:
        busy = under_way(previous, names, day, plays.cooldown_days)
        owner_of = owners if per and name == "capacity" else {}
        used = Counter(owner_of.get(a, TEAM) for a in busy)
        room = {TEAM: size - used[TEAM]}
        if owner_of:
            room.update({o: per_owner - used[o] for o in set(owner_of.values())})
        candidates = [
            a
            for a in alerts
            if a["playbook"] in names and (a["playbook"], a["account_id"]) not in dropped
        ]
        rank = key if name == "capacity" else "arr_at_stake"  # a cap ranks as before
        taken, waiting = _fill(candidates, busy, room, owner_of, rank)
        dropped |= {
            (a["playbook"], a["account_id"]) for a in candidates if a["account_id"] in waiting
        }
        rooms[name] = Room(
            limit=size,
            per_owner=per_owner if owner_of else None,
            under_way=len(busy),
            new=len(taken - busy),
            waiting=sum(not a.get("by_saving") for a in candidates if a["account_id"] in waiting),
        )
    kept = [a for a in alerts if (a["playbook"], a["account_id"]) not in dropped]
    held: dict[str, list[dict]] = {}
    for a in alerts:  # an account that competed only by its saving does not wait
        if (a["playbook"], a["account_id"]) in dropped and not a.get("by_saving"):
            held.setdefault(a["playbook"], []).append(a)
    return kept, held, rooms


def by_saving(scores: pd.DataFrame, save: set[str], places: int) -> pd.DataFrame:
    """The accounts no save play's conditions matched that compete for the save list by the
    ARR a trusted play is expected to save on them (`scoring.saving`): the `places` with the
    most (no more could ever be chosen), with a saving above zero. Without trusted effects
    (no `arr_saved`), none."""
    saved = scores.get("arr_saved")
    if saved is None or saved.isna().all() or places <= 0:
        return scores.iloc[:0]
    listed = scores.playbooks.fillna("").str.split(",").map(lambda names: bool(save & set(names)))
    rest = scores[~listed.to_numpy(bool) & (saved.fillna(0) > 0).to_numpy()]
    return rest.nlargest(places, "arr_saved")


def status(
    accounts: pd.Series, kept: list[dict], held: dict[str, list[dict]], busy: set[str]
) -> np.ndarray:
    """Per account, where it stands on the save list: "new" (alerted by this run), "held out"
    (chosen by this run and held out to measure the play: not to be worked), "under way"
    (alerted within the cool-down), "waiting" (matched, no room) or None."""
    out = np.full(len(accounts), None, dtype=object)
    waiting = {a["account_id"] for alerts in held.values() for a in alerts}
    new = {a["account_id"] for a in kept if not a.get("held_out")}
    out_of_play = {a["account_id"] for a in kept if a.get("held_out")}
    for label, group in (
        ("waiting", waiting),
        ("under way", busy),
        ("held out", out_of_play),
        ("new", new),
    ):
        out[accounts.isin(group).to_numpy()] = label  # hashed: np.isin sorts objects
    return out
