"""Accounts, contracts and churn of the demo company, driven by the hidden state."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnhealth import calendar as cal
from churnhealth.synth.dynamics import (
    CHURN_REASONS,
    State,
    churn_prob,
    init_state,
    reason_index,
    relationship,
    step,
    usage_level,
)
from churnhealth.synth.params import Params
from churnhealth.synth.team import Log, Team, act

BURN_IN_MONTHS = 24
N_REASONS = len(CHURN_REASONS)
P_LATE_RENEWAL = 0.06


def monthly_hazard(company: Company) -> float:
    """Churns per active account-month over the simulated months: the rate a no-signal control
    of this company churns at."""
    months = cal.month_start(company.first + np.arange(company.months))
    start, end = months[0], company.end
    churns = (~np.isnat(company.churn_date)) & (company.churn_date >= start)
    churns &= company.churn_date < end
    exposure = sum(
        int(
            (
                (company.created < ms) & (np.isnat(company.churn_date) | (company.churn_date >= ms))
            ).sum()
        )
        for ms in months
    )
    return float(churns.sum() / max(exposure, 1))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


@dataclass
class Company:
    """The simulated history: accounts, subscription rows and the hidden state per month.

    `states[k + 1]` is the state during month k (k = -1 .. months - 1), `first` the first month.
    """

    seg: np.ndarray
    created: np.ndarray
    term: np.ndarray
    csm: np.ndarray
    churn_date: np.ndarray
    churn_reason: np.ndarray
    """Index into `dynamics.CHURN_REASONS` of each churned account's leading mechanism (-1)."""
    subscriptions: pd.DataFrame
    states: list[State]
    first: int
    months: int
    concept_shift: int | None
    lic_at: np.ndarray
    """Licenses under contract at the start of each month (months × accounts)."""
    actions: pd.DataFrame | None = None
    """With a CS team: its plays (account, date, play, source), `synth.team`."""

    @property
    def end(self) -> np.datetime64:
        return cal.month_start(self.first + self.months)

    def shifted(self, m: np.ndarray | int) -> np.ndarray | bool:
        if self.concept_shift is None:
            return False
        return np.asarray(m) >= self.concept_shift

    def state(self, k: int) -> State:
        """Hidden state during month `first + k` (k ≥ -1)."""
        return self.states[k + 1]


def _accounts(
    n: int, start: np.datetime64, end: np.datetime64, rng: np.random.Generator, p: Params
):
    seg = rng.choice(3, size=n, p=p.share)
    existing = rng.random(n) < 0.62
    age = (30 + rng.exponential(700, n) % (6 * 365)).astype(np.int64)
    span = int((end - start).astype(np.int64)) - 20
    created = np.where(
        existing,
        start - age.astype("timedelta64[D]"),
        start + rng.integers(0, span, n).astype("timedelta64[D]"),
    )
    created = created + (cal.day_of_month(created) == 1).astype("timedelta64[D]")
    order = np.argsort(created, kind="stable")
    seg, created = seg[order], created[order]
    u = rng.random(n)
    term = np.where(
        u < p.p_monthly[seg],
        1,
        np.where(u < p.p_monthly[seg] + p.p_multi_year[seg], rng.choice([24, 36], n), 12),
    )
    lic = np.exp(np.log(p.licenses_median[seg]) + p.licenses_sigma[seg] * rng.standard_normal(n))
    lic = np.maximum(np.round(lic), p.licenses_min[seg]).astype(np.int64)
    arr = np.round(lic * p.price_per_seat[seg] * rng.uniform(0.85, 1.15, n), -1)
    csm = rng.random(n) < p.csm_coverage[seg]
    return seg, created, term, lic, arr, csm


def _burn_in(seg: np.ndarray, term: np.ndarray, rng: np.random.Generator, p: Params) -> State:
    """Hidden state at the start of the history, shaped by earlier renewals.

    Accounts that would have churned before the data starts are replaced by fresh ones, so
    the customers present at the start are survivors, as in a real book of business.
    """
    s = init_state(seg, rng, p)
    tenure = np.full(len(seg), 24.0)
    for _ in range(BURN_IN_MONTHS):
        s = step(s, seg, rng, p)
        due = (term == 1) | (rng.random(len(seg)) < 1 / term)
        gone = due & (rng.random(len(seg)) < churn_prob(s, seg, term == 1, tenure, False, p))
        if gone.any():
            s.put(np.flatnonzero(gone), init_state(seg[gone], rng, p))
    return s


def simulate(
    n: int,
    start: np.datetime64,
    months: int,
    seed_seqs,
    p: Params,
    concept_shift: np.datetime64 | None = None,
    no_signal: float | None = None,
    team: Team | None = None,
    team_seed: np.random.SeedSequence | None = None,
) -> Company:
    """Run the company month by month; renewals are decided from the state of their month.

    With `no_signal` (a monthly probability), churn ignores the state: every active account
    leaves in a month with that probability, on a random day, whatever its usage, relationship,
    support, contract or renewal date; renewals then only renew, expand or contract (never
    late). The no-signal control (`generate(no_signal=True)`).

    With `team`, a customer-success team works accounts from the first month (`synth.team`),
    drawing from `team_seed`; accounts it never works evolve and renew exactly as without it."""
    rng_acc, rng_dyn, rng_dec = (np.random.default_rng(s) for s in seed_seqs)
    rng_ns = np.random.default_rng(seed_seqs[2].spawn(1)[0]) if no_signal is not None else None
    first = int(cal.month_index(np.array([start]))[0])
    end = cal.month_start(first + months)
    seg, created, term, lic, arr, csm = _accounts(n, start, end, rng_acc, p)
    created_m = cal.month_index(created)
    shift_m = None if concept_shift is None else int(cal.month_index(np.array([concept_shift]))[0])

    s = _burn_in(seg, term, rng_dyn, p)
    states = [s]

    anchor = created.copy()
    cur_lic, cur_arr = lic.copy(), arr.copy()
    churn_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    churn_reason = np.full(n, -1, dtype=np.int64)
    rows: list[tuple] = [(i, created[i], term[i], None, cur_arr[i], cur_lic[i]) for i in range(n)]
    cur_row = np.arange(n)
    lic_at = np.zeros((months, n), dtype=np.int64)
    log = Log.empty()
    rng_team = np.random.default_rng(team_seed)
    last_worked = np.full(n, -(10**6), dtype=np.int64)
    first_holdout = first + months - (team.experiment_months if team else 0)

    def leave(i: int, day: np.datetime64) -> None:
        churn_date[i] = max(day, rows[cur_row[i]][1] + np.timedelta64(1, "D"))
        churn_reason[i] = rng_ns.integers(0, N_REASONS)
        rows[cur_row[i]] = (*rows[cur_row[i]][:3], churn_date[i], *rows[cur_row[i]][4:])

    for k in range(months):
        m = first + k
        new = np.flatnonzero(created_m == m)
        if len(new):
            prev = states[-1]
            prev.put(new, init_state(seg[new], rng_dyn, p))
        prev = states[-1]
        if team is not None:
            ms = cal.month_start(m)
            active = (created < ms) & (np.isnat(churn_date) | (churn_date >= ms))
            renewing = np.zeros(n, dtype=bool)
            for j in range(4):
                renewing |= ~np.isnat(cal.renewal_in_month(m + j, anchor, term))
            prev = act(
                team,
                prev,
                seg,
                csm,
                active,
                renewing,
                last_worked,
                m,
                first_holdout,
                rng_team,
                p,
                log,
            )
        s = step(prev, seg, rng_dyn, p)
        states.append(s)
        lic_at[k] = cur_lic

        r = cal.renewal_in_month(m, anchor, term)
        day_out = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        if no_signal is not None:
            alive = np.isnat(churn_date) & (created < cal.month_start(m))
            out = np.flatnonzero(alive & (rng_ns.random(n) < no_signal))
            offset = rng_ns.integers(0, cal.days_in_month(m), len(out))
            day_out[out] = cal.month_start(m) + offset.astype("timedelta64[D]")
            for i in out[np.isnat(r[out]) | (day_out[out] < r[out])]:
                leave(i, day_out[i])  # before any renewal this month
        due = np.flatnonzero(~np.isnat(r) & np.isnat(churn_date) & (created < cal.month_start(m)))
        # drawn for every account every month, used for those due: what happens to one account
        # (a play that kept it) never moves another's numbers
        u = rng_dec.random((3, n))
        grow, shrink = rng_dec.uniform(1.1, 1.5, n), rng_dec.uniform(0.6, 0.9, n)
        gaps = rng_dec.integers(3, 21, n)
        if len(due) == 0:
            continue
        tenure = (r[due] - created[due]).astype(np.int64) / 30.44
        monthly = term[due] == 1
        pc = churn_prob(
            s.take(due), seg[due], monthly, tenure, shift_m is not None and m >= shift_m, p
        )
        churned = u[0, due] < pc if no_signal is None else np.zeros(len(due), bool)
        churn_date[due[churned]] = r[due[churned]]
        why = reason_index(
            s.take(due), seg[due], monthly, tenure, shift_m is not None and m >= shift_m, p
        )
        churn_reason[due[churned]] = why[churned]
        stay = due[~churned]
        ul = usage_level(s.take(stay))
        rel = relationship(s.take(stay), seg[stay], p)
        scale = np.where(term[stay] == 1, -2.2, 0.0)
        p_exp = _sigmoid(-2.4 + scale + 1.0 * ul + 0.4 * rel)
        p_con = _sigmoid(-3.4 + scale - 0.9 * ul)
        expand = u[1, stay] < p_exp
        contract = ~expand & (u[1, stay] < p_exp + p_con)
        late = (
            (no_signal is None)
            & (term[stay] >= 12)
            & (u[2, stay] < P_LATE_RENEWAL)
            & (r[stay] + np.timedelta64(21, "D") < end)
        )
        factor = np.where(expand, grow[stay], np.where(contract, shrink[stay], 1.0))
        gap = gaps[stay]
        for i in due[churned]:
            rows[cur_row[i]] = (*rows[cur_row[i]][:3], churn_date[i], *rows[cur_row[i]][4:])
        for j in np.flatnonzero(expand | contract | late):
            i = stay[j]
            end_r = r[i]
            new_start = end_r + np.timedelta64(int(gap[j]) if late[j] else 0, "D")
            if cal.day_of_month(np.array([new_start]))[0] == 1:
                new_start += np.timedelta64(1, "D")
            rows[cur_row[i]] = (*rows[cur_row[i]][:3], end_r, *rows[cur_row[i]][4:])
            cur_lic[i] = max(1, round(cur_lic[i] * factor[j]))
            cur_arr[i] = round(cur_arr[i] * factor[j], -1)
            cur_row[i] = len(rows)
            rows.append((i, new_start, term[i], None, cur_arr[i], cur_lic[i]))
            anchor[i] = new_start
        for i in due[~np.isnat(day_out[due])]:
            leave(i, day_out[i])  # on or after this month's renewal

    subs = pd.DataFrame(
        rows, columns=["account", "start_date", "term_months", "end_date", "arr", "licenses"]
    )
    subs["start_date"] = pd.to_datetime(subs["start_date"]).astype("datetime64[s]")
    subs["end_date"] = pd.to_datetime(subs["end_date"]).astype("datetime64[s]")
    return Company(
        seg,
        created,
        term,
        csm,
        churn_date,
        churn_reason,
        subs,
        states,
        first,
        months,
        shift_m,
        lic_at,
        log.frame() if team is not None else None,
    )
