"""The demo company's customer-success team: who it works, with which play, and what a play does.

Each month the team looks at the signals it can see (usage against the segment's usual, a lost
champion, a bad support stretch, a failed card charge, sour sentiment), with the noise of human
judgement, favours accounts renewing soon, and works the most worrying covered accounts up to
its capacity. It picks the play that answers the worst visible problem, except that a renewal
close at hand tempts it to offer a discount. Its choices are confounded, as a real team's are:
the accounts it works are riskier than the rest.

A play moves the hidden state, and what it does depends on why the account is at risk
(`apply`): training lifts low adoption, an executive call replaces a lost champion, a support
escalation repairs a bad support stretch, payment recovery fixes a failed charge (and nothing
else does), a discount holds the account for a few months without fixing anything. From
`experiment_months` before the end the team holds out a random share of its picks: recorded,
not run (source "holdout"); the plays it runs then are "alert", earlier ones "manual".

A play is applied to the state an account enters the month with, before the month's evolution,
so an account never worked keeps exactly the hidden state and renewal decisions it has without
the team (the team draws from a random stream of its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnhealth import calendar as cal
from churnhealth.data.contract import ACTION_SOURCES
from churnhealth.synth.dynamics import State, usage_level
from churnhealth.synth.params import Params

PLAYS = ("training", "executive_call", "support_escalation", "payment_recovery", "discount")
SOURCES = ACTION_SOURCES
TRAINING, EXEC_CALL, SUPPORT, PAYMENT, DISCOUNT = range(len(PLAYS))


@dataclass(frozen=True)
class Team:
    """How the team works: capacity, judgement and the experiment at the end of the history."""

    capacity: float = 0.03
    """Accounts worked a month, as a share of the active accounts with a CSM."""
    cooldown_months: int = 3
    """An account worked is not picked again for this many months."""
    threshold: float = 1.0
    """Least visible worry (in the units of `cues`) for an account to be worked at all."""
    noise: float = 0.6
    """Spread of the team's misreading of each signal."""
    renewal_pull: float = 0.8
    """Extra worry for an account whose renewal decision is within four months."""
    discount_temptation: float = 0.35
    """Chance of offering a discount instead of the right play when the renewal is that close."""
    experiment_months: int = 24
    """Holdouts start this many months before the end of the history (0: never)."""
    holdout_share: float = 0.25

    def cues(self, s: State, seg: np.ndarray, p: Params) -> np.ndarray:
        """What the team sees of each problem the plays answer (plays × accounts, about 0..3)."""
        usage = usage_level(s)
        low = (p.fit_mu[seg] - usage) / 0.75 + 1.5 * np.maximum(s.usage_avg - usage, 0)
        return np.stack(
            [
                low,
                (1 - s.champion) * (1.8 + 0.8 * (1 - s.sponsor)),
                s.svc / 0.45,
                3.0 * s.dunning,
                -s.sent / 0.5 - 0.8 * s.fin_eff,
            ]
        )

    def choose(
        self,
        s: State,
        seg: np.ndarray,
        candidates: np.ndarray,
        renewing: np.ndarray,
        room: int,
        rng: np.random.Generator,
        p: Params,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to `room` accounts to work this month (from `candidates`) and the play for each."""
        if len(candidates) == 0:
            return candidates, candidates
        seen = self.cues(s.take(candidates), seg[candidates], p)
        seen = seen + self.noise * rng.standard_normal(seen.shape)
        worry = seen.max(axis=0) + self.renewal_pull * renewing[candidates]
        tempted = renewing[candidates] & (rng.random(len(candidates)) < self.discount_temptation)
        order = np.argsort(-worry, kind="stable")[:room]
        order = order[worry[order] >= self.threshold]
        play = np.where(tempted, DISCOUNT, np.argmax(seen, axis=0))
        return candidates[order], play[order]


def apply(play: int, s: State, seg: np.ndarray, p: Params) -> State:
    """The state after running `play` on every account of `s` (a copy): the play's true effect,
    which depends on what is wrong with the account."""
    out = s.copy()
    if play == TRAINING:  # lifts usage that sits below the segment's usual; lasting in part
        gap = np.maximum(p.fit_mu[seg] + 0.3 - usage_level(s), 0)
        out.fit = s.fit + 0.6 * gap
        out.mu = s.mu + 0.3 * gap
    elif play == EXEC_CALL:  # a new executive sponsor where the champion is gone
        gone = s.champion == 0
        out.sponsor = np.where(gone, 1.0, s.sponsor)
        out.rel = np.where(gone, s.rel + 0.3, s.rel)
    elif play == SUPPORT:  # repairs a bad support stretch
        out.svc = np.where(s.svc > 0, 0.3 * s.svc, s.svc)
    elif play == PAYMENT:  # the failed charge is recovered
        out.dunning = np.zeros_like(s.dunning)
    elif play == DISCOUNT:  # holds the account for a few months, fixes nothing
        out.relief = s.relief + 1.0
    else:
        raise ValueError(f"unknown play {play}")
    return out


@dataclass
class Log:
    """The plays chosen, as they happen (positions into the company's accounts)."""

    account: list[np.ndarray]
    day: list[np.ndarray]
    play: list[np.ndarray]
    source: list[np.ndarray]

    @classmethod
    def empty(cls) -> Log:
        return cls([], [], [], [])

    def frame(self) -> pd.DataFrame:
        if not self.account:
            return pd.DataFrame({"account": [], "date": [], "play": [], "source": []})
        day = np.concatenate(self.day).astype("datetime64[s]")
        return pd.DataFrame(
            {
                "account": np.concatenate(self.account).astype(np.int64),
                "date": pd.to_datetime(day),
                "play": np.array(PLAYS, dtype=object)[np.concatenate(self.play)],
                "source": np.array(SOURCES, dtype=object)[np.concatenate(self.source)],
            }
        )


def act(
    team: Team,
    s: State,
    seg: np.ndarray,
    csm: np.ndarray,
    active: np.ndarray,
    renewing: np.ndarray,
    last_worked: np.ndarray,
    m: int,
    first_holdout_month: int,
    rng: np.random.Generator,
    p: Params,
    log: Log,
) -> State:
    """One month of the team: choose, log, and return the state with the plays that ran."""
    free = active & csm & (m - last_worked >= team.cooldown_months)
    room = round(team.capacity * int((active & csm).sum()))
    picked, play = team.choose(s, seg, np.flatnonzero(free), renewing, room, rng, p)
    if len(picked) == 0:
        return s
    last_worked[picked] = m
    day = cal.month_start(m) + rng.integers(0, 7, len(picked)).astype("timedelta64[D]")
    experiment = m >= first_holdout_month
    held = experiment & (rng.random(len(picked)) < team.holdout_share)
    source = np.where(held, 1, 0 if experiment else 2)
    log.account.append(picked)
    log.day.append(day)
    log.play.append(play)
    log.source.append(source)
    out = s.copy()
    for k in range(len(PLAYS)):
        run = picked[(play == k) & ~held]
        if len(run):
            out.put(run, apply(k, s.take(run), seg[run], p))
    return out


def summary(actions: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """Per play: how often it ran and was held out, and its true average effect on the accounts
    it was chosen for (run or held out), from `truth.play_effects` at the month it was chosen."""
    chosen = actions.assign(as_of=actions.date.dt.to_period("M").dt.to_timestamp())
    chosen = chosen.merge(effects, on=["account", "as_of"], how="left")
    rows = []
    for k, play in enumerate(PLAYS):
        mine = chosen[chosen.play == play]
        rows.append(
            {
                "play": play,
                "run": int((mine.source != SOURCES[1]).sum()),
                "held_out": int((mine.source == SOURCES[1]).sum()),
                "effect_12m": float(mine[f"effect_{PLAYS[k]}_12m"].mean()) if len(mine) else np.nan,
            }
        )
    return pd.DataFrame(rows)
