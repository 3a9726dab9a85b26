"""The `truth` table: each active account's true probabilities of churning.

At as-of date T (the first of month m) the truth conditions on the hidden state up to month
m − 1, the last month whose signals exist before T, and averages over Monte Carlo paths of the
next months. Within a path the renewal outcomes are integrated exactly (Rao-Blackwellised), so
200 paths give a precise estimate. Columns:

- `p_churn_90d`: churn in (T, T + 90 days], the 90-day label;
- `p_churn_12m`: churn in (T, T + 365 days], the 12-month health horizon;
- `next_renewal` and `p_churn_next_renewal`: the first renewal decision after T and the chance
  the account leaves at it (in the demo company accounts leave only at renewal decisions).

The first four months of each path use the same random draws as the 90-day figure always has, so
`p_churn_90d` is unchanged by the longer horizons; the 12-month and next-renewal figures follow
half of the paths on, from a stream of their own, each only until its account's last decision
within the year (100 paths by default: a precise estimate still, since the renewal outcomes are
integrated exactly).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from churnhealth import calendar as cal
from churnhealth.synth.dynamics import churn_prob, step
from churnhealth.synth.params import Params
from churnhealth.synth.simulate import Company

HORIZON_DAYS = 90
YEAR_DAYS = 365
MONTHS = 13
"""Months of each path: enough to reach T + 365 days from the first of a month."""


def covering_rows(company: Company, day: np.datetime64) -> pd.DataFrame:
    """Subscription rows that cover `day` (start ≤ day < end): one per active account."""
    subs = company.subscriptions
    d = pd.Timestamp(day)
    mask = (subs.start_date <= d) & (subs.end_date.isna() | (subs.end_date > d))
    return subs[mask]


def constant_truth(
    company: Company, hazard: float, advance: Callable[[], None] | None = None
) -> pd.DataFrame:
    """The truth of a no-signal company (`simulate(no_signal=hazard)`): an active account
    leaves in any month with probability `hazard`, so its chance of leaving within d days is
    1 − (1 − hazard)^(d / 30.44) whoever it is; within the next renewal, the same over the
    months until it."""
    frames = []
    for k in range(company.months + 1):
        m = company.first + k
        day = cal.month_start(m)
        rows = covering_rows(company, day)
        if advance:
            advance()
        if len(rows) == 0:
            continue
        anchor = rows.start_date.to_numpy().astype("datetime64[D]")
        term = rows.term_months.to_numpy()
        renewals = np.array([cal.renewal_in_month(m + j, anchor, term) for j in range(MONTHS)])
        due = ~np.isnat(renewals) & (renewals > day)
        first = due & (np.cumsum(due, axis=0) == 1)
        next_date = renewals[np.argmax(first, axis=0), np.arange(len(rows))]
        next_date = np.where(first.any(axis=0), next_date, np.datetime64("NaT"))
        days_to = (next_date - day).astype("timedelta64[D]")
        months_to = np.where(np.isnat(days_to), np.nan, days_to.astype(float) / 30.44)
        frames.append(
            pd.DataFrame(
                {
                    "account": rows.account.to_numpy(),
                    "as_of": pd.Timestamp(day),
                    "p_churn_90d": 1 - (1 - hazard) ** (HORIZON_DAYS / 30.44),
                    "p_churn_12m": 1 - (1 - hazard) ** (YEAR_DAYS / 30.44),
                    "next_renewal": next_date,
                    "p_churn_next_renewal": 1 - (1 - hazard) ** months_to,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out["as_of"] = out["as_of"].astype("datetime64[s]")
    return out


def decisions(day: np.datetime64, m: int, rows: pd.DataFrame):
    """The renewal calendar of the paths from `day` (the first of month m): each month's renewal
    dates, which are decisions after `day`, which is each account's first, and the last month a
    path must run to (its last decision within a year, or its first one)."""
    anchor = rows.start_date.to_numpy().astype("datetime64[D]")
    term = rows.term_months.to_numpy()
    renewals = [cal.renewal_in_month(m + j, anchor, term) for j in range(MONTHS)]
    due = np.array([~np.isnat(r) & (r > day) for r in renewals])
    first = due & (np.cumsum(due, axis=0) == 1)
    needed = (due & (np.array(renewals) <= day + np.timedelta64(YEAR_DAYS, "D"))) | first
    last = np.where(needed.any(axis=0), MONTHS - 1 - np.argmax(needed[::-1], axis=0), -1)
    return renewals, due, first, last, term


def renewing_now(company, idx, s, seg, path, paths, j, m, renewals, due, term, p):
    """The paths whose account decides a renewal in month j of the paths, its date and the
    chance the account leaves at it (`churn_prob` in the state of that month)."""
    acc = path // paths
    hit = np.flatnonzero(due[j][acc])
    if len(hit) == 0:
        return hit, None, None
    r = renewals[j][acc[hit]]
    tenure = (r - company.created[idx][acc[hit]]).astype(np.int64) / 30.44
    pc = churn_prob(s.take(hit), seg[hit], term[acc[hit]] == 1, tenure, company.shifted(m + j), p)
    return hit, r, pc


def truth_table(
    company: Company,
    paths: int,
    rng: np.random.Generator,
    p: Params,
    advance: Callable[[], None] | None = None,
) -> pd.DataFrame:
    frames = []
    quarter, year = np.timedelta64(HORIZON_DAYS, "D"), np.timedelta64(YEAR_DAYS, "D")
    # a stream of its own for months 5–13, spawned without drawing from `rng`
    later = np.random.default_rng(rng.bit_generator.seed_seq.spawn(1)[0])
    for k in range(company.months + 1):
        m = company.first + k
        day = cal.month_start(m)
        rows = covering_rows(company, day)
        idx = rows.account.to_numpy()
        if len(idx) == 0:
            continue
        renewals, due, first, last, term = decisions(day, m, rows)
        n = len(idx)
        survive_90d, survive_12m = np.ones(n * paths), np.ones(n * paths)
        p_next = np.full(n * paths, np.nan)
        path = np.arange(n * paths)  # the paths still simulated, as positions in the arrays
        s = company.state(k - 1).take(idx[path // paths])
        seg = company.seg[idx][path // paths]
        longer = (path % paths) < max(paths // 2, 1)
        for j in range(MONTHS):
            if j >= 4:  # from here on: half the paths, each until its last decision
                alive = longer[path] & (last[path // paths] >= j)
                if not alive.all():
                    path, seg = path[alive], seg[alive]
                    s = s.take(np.flatnonzero(alive))
                if len(path) == 0:
                    break
            s = step(s, seg, rng if j < 4 else later, p)
            acc = path // paths
            hit, r, pc = renewing_now(
                company, idx, s, seg, path, paths, j, m, renewals, due, term, p
            )
            if len(hit) == 0:
                continue
            at = path[hit]
            survive_90d[at] *= 1 - pc * (r <= day + quarter)
            survive_12m[at] *= 1 - pc * (r <= day + year)
            p_next[at] = np.where(first[j][acc[hit]], pc, p_next[at])
        next_date = np.array(renewals)[np.argmax(first, axis=0), np.arange(n)]
        next_date = np.where(first.any(axis=0), next_date, np.datetime64("NaT"))
        half = longer.reshape(n, paths)
        frames.append(
            pd.DataFrame(
                {
                    "account": idx,
                    "as_of": pd.Timestamp(day),
                    "p_churn_90d": 1 - survive_90d.reshape(n, paths).mean(axis=1),
                    "p_churn_12m": 1 - survive_12m.reshape(n, paths)[half].reshape(n, -1).mean(1),
                    "next_renewal": next_date,
                    "p_churn_next_renewal": p_next.reshape(n, paths)[half].reshape(n, -1).mean(1),
                }
            )
        )
        if advance:
            advance()
    out = pd.concat(frames, ignore_index=True)
    out["as_of"] = out["as_of"].astype("datetime64[s]")
    return out


def play_effects(
    company: Company,
    paths: int,
    seed: np.random.SeedSequence,
    p: Params,
    advance: Callable[[], None] | None = None,
) -> pd.DataFrame:
    """Each play's true effect on each active account at each as-of date T (`synth.team`).

    `effect_<play>_12m` is P(churn in (T, T + 365 days] | the play runs at T) minus the same
    without it, no other play following either way; `effect_<play>_next_renewal` the same for
    leaving at the next renewal decision. Negative: the play keeps the account. Every variant
    follows the same random paths (common random numbers), so `paths` paths give a precise
    difference even where each probability alone would be noisy.
    """
    from churnhealth.synth.team import PLAYS, apply

    year = np.timedelta64(YEAR_DAYS, "D")
    seeds = seed.spawn(company.months + 1)
    frames = []
    for k in range(company.months + 1):
        m = company.first + k
        day = cal.month_start(m)
        rows = covering_rows(company, day)
        idx = rows.account.to_numpy()
        if advance:
            advance()
        if len(idx) == 0:
            continue
        renewals, due, first, last, term = decisions(day, m, rows)
        n = len(idx)
        seg0 = company.seg[idx]
        start = company.state(k - 1).take(idx)
        out = {"account": idx, "as_of": pd.Timestamp(day)}
        base_12m = base_next = None
        for v in range(-1, len(PLAYS)):
            s0 = start if v < 0 else apply(v, start, seg0, p)
            rng = np.random.default_rng(seeds[k])
            path = np.arange(n * paths)
            s, seg = s0.take(path // paths), seg0[path // paths]
            survive = np.ones(n * paths)
            p_next = np.zeros(n * paths)
            for j in range(MONTHS):
                alive = last[path // paths] >= j
                if not alive.all():
                    path, seg = path[alive], seg[alive]
                    s = s.take(np.flatnonzero(alive))
                if len(path) == 0:
                    break
                s = step(s, seg, rng, p)
                acc = path // paths
                hit, r, pc = renewing_now(
                    company, idx, s, seg, path, paths, j, m, renewals, due, term, p
                )
                if len(hit) == 0:
                    continue
                at = path[hit]
                survive[at] *= 1 - pc * (r <= day + year)
                p_next[at] = np.where(first[j][acc[hit]], pc, p_next[at])
            p_12m = 1 - survive.reshape(n, paths).mean(axis=1)
            p_nx = np.where(first.any(axis=0), p_next.reshape(n, paths).mean(axis=1), np.nan)
            if v < 0:
                base_12m, base_next = p_12m, p_nx
                continue
            out[f"effect_{PLAYS[v]}_12m"] = p_12m - base_12m
            out[f"effect_{PLAYS[v]}_next_renewal"] = p_nx - base_next
        frames.append(pd.DataFrame(out))
    result = pd.concat(frames, ignore_index=True)
    result["as_of"] = result["as_of"].astype("datetime64[s]")
    return result
