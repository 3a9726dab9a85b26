"""What a play is worth: its effect on churn, three ways, and how far each can be trusted.

A unit is an (account, as-of date) pair: a play logged in `cs_actions` belongs to the latest
as-of date on or before it, so the features describing the unit use only data from before the
play. Effects are differences in the probability of churning (negative: the play keeps
accounts), on two outcomes: churn within the health horizon (12 months by default) and leaving
at the next renewal decision.

- **Randomized**: the alerts a play ran on against the alerts of the same play held out at
  random (`holdout_share`). Nothing but chance decided which was which, so the difference is the
  effect on the accounts the play is chosen for. Churn within the horizon is read with
  Kaplan–Meier curves, because recent alerts have not been followed for a year yet; the next
  renewal decision only on alerts whose decision has come.
- **Doubly robust** (`effects_dr`): the plays the team ran, against the accounts it did not work,
  adjusted for everything the features say about them.
- **Naive**: churn of the accounts worked minus churn of the others. The team works accounts
  because they look at risk, so this mixes the play's effect with why it was chosen; it is shown
  so that nobody mistakes it for the effect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

Z95 = 1.959963984540054
OUTCOMES = ("12m", "next_renewal")
MIN_GROUP = 10
"""Fewest units on either side for an estimate at all."""


@dataclass(frozen=True)
class Estimate:
    """One effect: a difference in the probability of churning with its 95% interval, or the
    reason there is none (`refused`)."""

    play: str
    method: str
    """randomized, doubly_robust or naive."""
    outcome: str
    """12m (churn within the health horizon) or next_renewal."""
    group: str = "all"
    """all, or the subgroup it was estimated in, e.g. segment=smb."""
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    treated: int = 0
    control: int = 0
    refused: str | None = None
    truth: float | None = None
    """The true average effect on the same units, where the data knows it (the demo's truth)."""
    untreated: float | None = None
    """The churn the units run would have had without the play, as estimated (randomized: the
    held-out alerts'): what the effect is relative to, for the save list (`scoring.saving`)."""
    diagnostics: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def covers_truth(self) -> bool | None:
        if self.truth is None or self.effect is None:
            return None
        return bool(self.low <= self.truth <= self.high)


def not_judged_yet(plays: dict[str, dict], estimates: list[dict]) -> list[str]:
    """The plays nothing can be compared for yet: none held out, and no play with a known
    outcome for any method (e.g. a playbook without holdouts whose alerts were raised today).
    `plays` and `estimates` as in the effects JSON. Shown as one line, not a row of refusals."""
    out = []
    for play, counts in plays.items():
        mine = [e for e in estimates if e["play"] == play and e["group"] == "all"]
        known = [e["treated"] for e in mine if e["method"] != "randomized"]  # known outcomes
        if counts["held_out"] == 0 and all(e["effect"] is None for e in mine) and not any(known):
            out.append(play)
    return out


def waiting_line(plays: dict[str, dict], waiting: list[str]) -> str:
    """The line naming the plays `not_judged_yet`."""
    listed = ", ".join(f"{p.replace('_', ' ')} ({plays[p]['run']:,} run)" for p in waiting)
    return (
        f"Not judged yet: {listed}. None was held out and none has a known outcome yet, so no "
        "method can say anything about them (left out of the tables)."
    )


def outcomes(grid: pd.DataFrame, data_end: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """Each unit's outcomes, censoring-aware.

    `grid` has as_of, renewal_date (next decision after as_of) and churn_after (first churn
    after as_of, NaT if none by the end of the data). Adds `duration` (days to churn, or to the
    end of the data) and `event`; `y_12m` with `seen_12m` (churned within the horizon; known
    once it churned or the horizon has passed); `y_next` with `seen_next` (left by its next
    renewal decision; known once that decision has come, or the account has left)."""
    as_of, churn = grid.as_of, grid.churn_after
    event = churn.notna() & (churn <= data_end)
    until = churn.where(event, data_end)
    horizon = pd.Timedelta(days=horizon_days)
    y12 = event & (churn <= as_of + horizon)
    renewal = grid.renewal_date
    y_next = event & renewal.notna() & (churn <= renewal)
    return grid.assign(
        duration=(until - as_of).dt.days.astype(float),
        event=event,
        y_12m=y12.astype(float),
        seen_12m=y12 | (as_of + horizon <= data_end),
        y_next=y_next.astype(float),
        seen_next=y_next | (renewal.notna() & (renewal <= data_end)),
    )


def proportion(y: pd.Series) -> tuple[float, float]:
    """A share and its variance for a difference's interval, Agresti–Caffo style (one success
    and one failure added): no group of 0 of 17 claims to be known exactly."""
    p = (y.sum() + 1) / (len(y) + 2)
    return float(y.mean()), float(p * (1 - p) / (len(y) + 2))


def kaplan_meier(duration: np.ndarray, event: np.ndarray, t: float) -> tuple[float, float]:
    """P(churn by day t) from right-censored follow-up, and its variance (Greenwood)."""
    order = np.argsort(duration, kind="stable")
    d, e = duration[order], event[order].astype(bool)
    times = np.unique(d[e & (d <= t)])
    s, green = 1.0, 0.0
    for u in times:
        at_risk = (d >= u).sum()
        dead = (e & (d == u)).sum()
        s *= 1 - dead / at_risk
        if at_risk > dead:
            green += dead / (at_risk * (at_risk - dead))
    return 1 - s, s * s * green


def randomized(exp: pd.DataFrame, play: str, outcome: str, horizon_days: int) -> Estimate:
    """Alerts run (`treated`) against alerts held out, on one outcome (see the module)."""
    run, held = exp[exp.treated], exp[~exp.treated]
    base = {"play": play, "method": "randomized", "outcome": outcome}
    if outcome == "next_renewal":
        run, held = run[run.seen_next], held[held.seen_next]
    counts = {"treated": len(run), "control": len(held)}
    if min(len(run), len(held)) < MIN_GROUP:
        why = (
            f"too few: {len(run)} run and {len(held)} held out"
            + (" with their renewal decided" if outcome == "next_renewal" else "")
            + f" (need {MIN_GROUP} of each)"
        )
        return Estimate(**base, **counts, refused=why)
    if outcome == "next_renewal":
        (p1, v1), (p0, v0) = proportion(run.y_next), proportion(held.y_next)
        truth_col = f"effect_{play}_next_renewal"
    else:
        # the curve reaches the horizon only if someone in each group was followed that far
        longest = min(g.duration.max() for g in (run, held))
        if longest < horizon_days and not (run.event.all() or held.event.all()):
            return Estimate(
                **base,
                **counts,
                refused=f"not judged: followed for at most {longest:.0f} of {horizon_days} days",
            )
        p1, v1 = kaplan_meier(run.duration.to_numpy(), run.event.to_numpy(), horizon_days)
        p0, v0 = kaplan_meier(held.duration.to_numpy(), held.event.to_numpy(), horizon_days)
        truth_col = f"effect_{play}_12m"
    diff, se = p1 - p0, np.sqrt(v1 + v0)
    truth = run_truth(pd.concat([run, held]), truth_col)
    return Estimate(
        **base,
        **counts,
        effect=float(diff),
        low=float(diff - Z95 * se),
        high=float(diff + Z95 * se),
        truth=truth,
        untreated=float(p0),
        diagnostics={"run": float(p1), "held_out": float(p0)},
    )


def naive(treated: pd.DataFrame, control: pd.DataFrame, play: str, outcome: str) -> Estimate:
    """Churn of the units worked minus churn of the units not worked, among those whose outcome
    is known. Not an effect: the team chose whom to work."""
    y, seen = ("y_12m", "seen_12m") if outcome == "12m" else ("y_next", "seen_next")
    t, c = treated[treated[seen]], control[control[seen]]
    base = {"play": play, "method": "naive", "outcome": outcome, "treated": len(t)}
    if min(len(t), len(c)) < MIN_GROUP:
        return Estimate(
            **base, control=len(c), refused=f"too few: {len(t)} worked with known outcome"
        )
    (p1, v1), (p0, v0) = proportion(t[y]), proportion(c[y])
    se = np.sqrt(v1 + v0)
    truth_col = f"effect_{play}_{outcome}"
    return Estimate(
        **base,
        control=len(c),
        effect=float(p1 - p0),
        low=float(p1 - p0 - Z95 * se),
        high=float(p1 - p0 + Z95 * se),
        truth=run_truth(t, truth_col),
        diagnostics={"worked": float(p1), "not_worked": float(p0)},
    )


def run_truth(units: pd.DataFrame, column: str) -> float | None:
    """Mean true effect over `units`, where the data carries it (the demo's truth table)."""
    if column not in units or units[column].isna().all():
        return None
    return float(units[column].mean())
