"""The observable tables, generated with noise from the hidden state of each month.

Accounts are indexed by position; ids are attached when the tables are assembled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from churnhealth import calendar as cal
from churnhealth.synth.dynamics import budget, problem, relationship, usage_level
from churnhealth.synth.params import DEPARTMENTS, FEATURES, Params
from churnhealth.synth.simulate import Company

INTENSITY = np.array([0.5, 0.4, 0.3, 0.28, 0.22, 0.18, 0.15, 0.08])
DEPTH = np.array([1.3, 1.3, 1.3, 1.3, 1.0, 1.0, 1.0, 0.8])
WEEKEND = 0.06
SEG_USAGE = np.array([0.1, 0.2, 0.35])
SEG_BREADTH = np.array([0.6, 0.2, -0.3])
RAMP_DAYS = np.array([300, 110, 45])
"""Adoption ramp: enterprise rollouts across departments take most of a year, smb days."""
INTEGRATION = np.array([0, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
"""Features that integration depth drives (integrations, api)."""
OUTREACH_USAGE = np.array([0.0, 0.0, -0.8])
"""Calls and meetings follow a cadence (enterprise, mid-market) or low usage (smb, reactive)."""
NET_DAYS = np.array([45, 30, 14])
LATE_BASE = np.array([-1.7, -2.5, -2.2])
"""Invoiced accounts pay late at this base rate (logit); enterprise accounts payable is slow."""
TICKET_RATE = np.array([4.0, 1.5, 0.45])
TICKET_USAGE = np.array([0.6, 0.0, -0.5])
"""How tickets follow usage: how-to tickets of a wide rollout (enterprise) vs friction (smb)."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _month_bounds(company: Company, k: int):
    """Accounts active in month k and their first/last+1 active day within it."""
    m = company.first + k
    ms, me = cal.month_start(m), cal.month_start(m + 1)
    churn = np.where(np.isnat(company.churn_date), me, company.churn_date)
    act = np.flatnonzero((company.created < me) & (churn > ms))
    lo = np.maximum(company.created[act], ms)
    hi = np.minimum(churn[act], me)
    return act, ms, lo, hi


def _random_ts(lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random business-hours timestamp on a day in [lo, hi)."""
    span = np.maximum((hi - lo).astype(np.int64), 1)
    day = lo + (rng.random(len(lo)) * span).astype(np.int64).astype("timedelta64[D]")
    secs = rng.integers(8 * 3600, 18 * 3600, len(lo)).astype("timedelta64[s]")
    return day.astype("datetime64[s]") + secs


def _expand(counts: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    return [np.repeat(c, counts) for c in cols]


class Observer:
    """Generates each table from the company's hidden states, with its own random stream."""

    def __init__(
        self,
        company: Company,
        p: Params,
        rngs: dict[str, np.random.Generator],
        usage_shift: np.datetime64 | None = None,
    ):
        self.c, self.p, self.rngs = company, p, rngs
        self.usage_shift = usage_shift
        n = len(company.seg)
        self.breadth_noise = rngs["static"].normal(0, 0.5, n)
        self.qbr_phase = rngs["static"].integers(0, 12, n)

    def usage(self, advance: Callable[[], None] | None = None) -> pd.DataFrame:
        c, p, rng = self.c, self.p, self.rngs["usage"]
        parts = []
        for k in range(c.months):
            act, ms, lo, hi = _month_bounds(c, k)
            s = c.state(k).take(act)
            seg = c.seg[act]
            u = usage_level(s)
            age = (ms + np.timedelta64(15, "D") - c.created[act]).astype(np.int64)
            ramp = np.clip((age + 20) / RAMP_DAYS[seg], 0.2, 1.0)
            share = 0.92 * _sigmoid(0.5 + 1.2 * u + SEG_USAGE[seg]) * ramp
            nf = np.clip(
                np.round(1 + 7 * _sigmoid(0.9 * u + SEG_BREADTH[seg] + self.breadth_noise[act])),
                1,
                8,
            )
            integ = s.integ[:, None]
            uses = (np.arange(len(FEATURES))[None, :] < nf[:, None]) | (
                INTEGRATION[None, :] & (integ > -0.5)
            )
            boost = np.where(INTEGRATION[None, :], np.exp(0.5 * integ), 1.0)
            nd = int(cal.days_in_month(c.first + k))
            days = ms + np.arange(nd).astype("timedelta64[D]")
            weekday = ((days.astype(np.int64) + 3) % 7) < 5
            covered = (days[None, :] >= lo[:, None]) & (days[None, :] < hi[:, None])
            day_p = share[:, None] * np.where(weekday, 1.0, WEEKEND)[None, :] * covered
            day_p = day_p * np.exp(0.25 * rng.standard_normal(day_p.shape))
            prob = np.minimum(day_p[:, :, None] * (INTENSITY * boost)[:, None, :], 1.0)
            prob *= uses[:, None, :]
            lic = c.lic_at[k, act]
            users = rng.binomial(lic[:, None, None], prob)
            depth = np.exp(1.0 + 0.45 * u)[:, None, None] * (DEPTH * boost)[:, None, :]
            events = rng.poisson(users * depth)
            if self.usage_shift is not None:
                after = (days >= self.usage_shift)[None, :, None]
                thin = self.rngs["usage_shift"]
                users = np.where(after, thin.binomial(users, p.usage_shift_users), users)
                events = np.where(after, thin.binomial(events, p.usage_shift_events), events)
            a, d, f = np.nonzero(users)
            parts.append(
                pd.DataFrame(
                    {
                        "account": act[a].astype(np.int32),
                        "date": days[d],
                        "feature": f.astype(np.int8),
                        "active_users": users[a, d, f].astype(np.int32),
                        "events": events[a, d, f].astype(np.int64),
                    }
                )
            )
            if advance:
                advance()
        return pd.concat(parts, ignore_index=True)

    def touchpoints(self) -> pd.DataFrame:
        c, p, rng = self.c, self.p, self.rngs["touchpoints"]
        parts = []
        for k in range(c.months):
            act, ms, lo, hi = _month_bounds(c, k)
            s = c.state(k).take(act)
            seg, csm = c.seg[act], c.csm[act]
            u, rel, sent = usage_level(s), relationship(s, seg, p), s.sent
            frac = (hi - lo).astype(np.int64) / float(cal.days_in_month(c.first + k))
            engage = np.exp(0.25 * rel) * frac
            outreach = engage * np.exp(OUTREACH_USAGE[seg] * u)
            size = np.array([2.0, 1.3, 1.0])[seg]
            young = (ms - c.created[act]).astype(np.int64) < 120
            every = p.qbr_every[seg].astype(np.int64)
            qbr = (
                csm
                & (every > 0)
                & (((c.first + k + self.qbr_phase[act]) % np.maximum(every, 1)) == 0)
            )
            rates = {
                "call": np.where(csm, np.array([2.0, 1.0, 0.5])[seg], 0) * outreach,
                "email": np.where(csm, np.array([4.0, 2.5, 1.5])[seg], 0.8) * engage,
                "meeting": np.where(csm, np.array([1.0, 0.4, 0.15])[seg], 0) * outreach,
                "training": (0.12 + 0.8 * young) * _sigmoid(u) * size * frac,
                "webinar": 0.25 * _sigmoid(u + 0.5 * sent) * size * frac,
                "community": 0.35 * _sigmoid(1.2 * u) * np.array([0.6, 1.0, 1.2])[seg] * frac,
            }
            attend = {
                "call": _sigmoid(1.0 + 1.0 * rel + 0.4 * sent),
                "email": _sigmoid(-0.4 + 0.9 * rel + 0.3 * sent),
                "meeting": _sigmoid(1.0 + 1.0 * rel + 0.4 * sent),
                "qbr": _sigmoid(0.9 + 1.6 * rel + 0.4 * sent),
                "training": _sigmoid(0.4 + 0.8 * u),
                "webinar": _sigmoid(0.4 + 0.8 * u),
                "community": np.ones(len(act)),
            }
            for kind in ("call", "email", "meeting", "qbr", "training", "webinar", "community"):
                n = qbr.astype(np.int64) if kind == "qbr" else rng.poisson(rates[kind])
                a, l_, h_, pa = _expand(n, act, lo, hi, attend[kind])
                parts.append(
                    pd.DataFrame(
                        {
                            "account": a,
                            "ts": _random_ts(l_, h_, rng),
                            "kind": kind,
                            "attended": rng.random(len(a)) < pa,
                        }
                    )
                )
        return pd.concat(parts, ignore_index=True)

    def surveys(self) -> pd.DataFrame:
        c, p, rng = self.c, self.p, self.rngs["surveys"]
        parts = []
        respondents = np.array([3, 2, 1])
        for k in range(c.months):
            act, ms, lo, hi = _month_bounds(c, k)
            s = c.state(k).take(act)
            seg = c.seg[act]
            rel, sent, u = relationship(s, seg, p), s.sent, usage_level(s)
            month_of_year = (c.first + k) % 12 + 1
            tenure_m = cal.month_index(np.array([ms]))[0] - cal.month_index(c.created[act])
            campaign = (month_of_year in (3, 9)) | (tenure_m == 2)
            p_resp = _sigmoid(-0.3 + 0.5 * rel + 0.2 * sent) * np.where(c.csm[act], 1.0, 0.7)
            n_nps = rng.binomial(respondents[seg], p_resp) * campaign
            a, l_, h_, se, r_ = _expand(n_nps, act, lo, hi, sent, rel)
            score = np.clip(np.round(7.0 + 1.7 * se + 0.3 * r_ + rng.normal(0, 1.1, len(a))), 0, 10)
            parts.append(
                pd.DataFrame(
                    {"account": a, "ts": _random_ts(l_, h_, rng), "kind": "nps", "score": score}
                )
            )
            n_csat = rng.poisson(0.15 * np.array([2.0, 1.3, 1.0])[seg] * _sigmoid(u + 1))
            a, l_, h_, se = _expand(n_csat, act, lo, hi, sent)
            score = np.clip(np.round(3.9 + 0.75 * se + rng.normal(0, 0.7, len(a))), 1, 5)
            parts.append(
                pd.DataFrame(
                    {"account": a, "ts": _random_ts(l_, h_, rng), "kind": "csat", "score": score}
                )
            )
        return pd.concat(parts, ignore_index=True)

    def tickets(self) -> pd.DataFrame:
        c, p, rng = self.c, self.p, self.rngs["tickets"]
        parts = []
        end = c.end.astype("datetime64[s]")
        for k in range(c.months):
            act, _, lo, hi = _month_bounds(c, k)
            s = c.state(k).take(act)
            seg = c.seg[act]
            prob_ = problem(s)
            frac = (hi - lo).astype(np.int64) / float(cal.days_in_month(c.first + k))
            size = (c.lic_at[k, act] / p.licenses_median[seg]) ** 0.3
            lam = (
                TICKET_RATE[seg]
                * size
                * np.exp(0.75 * prob_ + TICKET_USAGE[seg] * usage_level(s))
                * frac
            )
            n = rng.poisson(lam)
            a, l_, h_, pr, rel, sent, svc = _expand(
                n, act, lo, hi, prob_, relationship(s, seg, p), s.sent, s.svc
            )
            opened = _random_ts(l_, h_, rng)
            u = rng.random(len(a))
            p1 = _sigmoid(-3.3 + 1.1 * pr)
            prio = np.where(u < p1, 0, np.where(u < p1 + 0.18, 1, np.where(u < p1 + 0.6, 2, 3)))
            escalated = rng.random(len(a)) < _sigmoid(
                -3.2 + 0.8 * pr - 0.4 * rel + 0.7 * svc + 1.6 * (prio == 0)
            )
            log_h = (
                np.array([1.4, 2.6, 3.3, 3.9])[prio]
                + 0.35 * pr
                + 0.6 * svc
                + rng.normal(0, 0.8, len(a))
            )
            hours = np.exp(log_h)
            closed = opened + (hours * 3600).astype(np.int64).astype("timedelta64[s]")
            closed = np.where(closed < end, closed, np.datetime64("NaT"))
            rated = ~np.isnat(closed) & (rng.random(len(a)) < 0.35)
            csat = np.clip(
                np.round(
                    4.3
                    + 0.5 * sent
                    - 0.5 * svc
                    - 0.3 * np.log1p(hours / 24)
                    + rng.normal(0, 0.8, len(a))
                ),
                1,
                5,
            )
            parts.append(
                pd.DataFrame(
                    {
                        "account": a,
                        "opened_at": opened,
                        "closed_at": closed,
                        "priority": np.array(["p1", "p2", "p3", "p4"])[prio],
                        "escalated": escalated,
                        "csat": np.where(rated, csat, np.nan),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)

    def contacts(self) -> pd.DataFrame:
        """People at each account; champion and sponsor changes follow the hidden state."""
        c, p, rng = self.c, self.p, self.rngs["contacts"]
        start = cal.month_start(c.first)
        n = len(c.seg)
        rows: list[tuple] = []

        def day_in(lo: np.datetime64, hi: np.datetime64) -> np.datetime64:
            span = max(int((hi - lo).astype(np.int64)), 1)
            return lo + np.timedelta64(int(rng.integers(0, span)), "D")

        churn = np.where(np.isnat(c.churn_date), c.end, c.churn_date)
        first_seen = np.maximum(cal.month_index(c.created) - c.first, -1)
        depts_all = np.array(DEPARTMENTS)
        for i in range(n):
            seg = c.seg[i]
            lo = c.created[i]
            hi = min(start, churn[i]) if lo < start else lo + np.timedelta64(1, "D")
            k0 = int(first_seen[i])
            s0 = c.state(k0)
            depts = rng.choice(depts_all, int(s0.depts[i]), replace=False)
            if s0.champion[i] > 0:
                rows.append((i, "manager", True, False, depts[0], day_in(lo, hi), None))
            if s0.sponsor[i] > 0:
                rows.append((i, "executive", False, True, depts[0], day_in(lo, hi), None))
            for _ in range(max(1, rng.poisson(p.n_contacts[seg]))):
                role = rng.choice(["admin", "user", "user", "manager", "finance", "it"])
                rows.append(
                    (i, str(role), False, False, str(rng.choice(depts)), day_in(lo, hi), None)
                )
        champ = np.array([c.state(k).champion for k in range(-1, c.months)])
        spons = np.array([c.state(k).sponsor for k in range(-1, c.months)])
        open_champ: dict[int, int] = {}
        open_spons: dict[int, int] = {}
        for idx, row in enumerate(rows):
            (open_champ if row[2] else open_spons if row[3] else {})[row[0]] = idx
        for k in range(c.months):
            act, _, lo, hi = _month_bounds(c, k)
            seen = act[first_seen[act] < k]
            for flags, opened, is_ch in ((champ, open_champ, True), (spons, open_spons, False)):
                before, now = flags[k][seen], flags[k + 1][seen]
                pos = {a: j for j, a in enumerate(act)}
                for i in seen[(before > 0) & (now == 0)]:
                    if i in opened:
                        j = opened.pop(i)
                        rows[j] = (*rows[j][:6], day_in(lo[pos[i]], hi[pos[i]]))
                for i in seen[(before == 0) & (now > 0)]:
                    role = "manager" if is_ch else "executive"
                    opened[i] = len(rows)
                    rows.append(
                        (
                            i,
                            role,
                            is_ch,
                            not is_ch,
                            str(rng.choice(depts_all)),
                            day_in(lo[pos[i]], hi[pos[i]]),
                            None,
                        )
                    )
        df = pd.DataFrame(
            rows,
            columns=[
                "account",
                "role",
                "is_champion",
                "is_exec_sponsor",
                "department",
                "started_at",
                "ended_at",
            ],
        )
        plain = ~(df.is_champion | df.is_exec_sponsor)
        leave_m = rng.geometric(0.008, len(df))
        start_m = np.maximum(
            cal.month_index(df.started_at.to_numpy().astype("datetime64[D]")), c.first
        )
        leave = cal.month_start(start_m + leave_m) + rng.integers(1, 28, len(df)).astype(
            "timedelta64[D]"
        )
        acc_end = churn[df.account.to_numpy()]
        leaves = plain.to_numpy() & (leave < acc_end) & (leave < c.end)
        ended = df.ended_at.to_numpy().astype("datetime64[D]")
        df["ended_at"] = np.where(leaves, leave, ended)
        return df

    def invoices(self) -> pd.DataFrame:
        """Invoices at each billing date in the history.

        Invoiced accounts pay within their terms, late under budget pressure (enterprise
        accounts payable is slow anyway). Card payers are charged on the day; a failed charge
        stays unpaid until the month the card is fixed, or for good if the account leaves.
        """
        c, rng = self.c, self.rngs["invoices"]
        subs = c.subscriptions
        acc = subs.account.to_numpy()
        start = subs.start_date.to_numpy().astype("datetime64[D]")
        stop = subs.end_date.to_numpy().astype("datetime64[D]")
        stop = np.where(np.isnat(stop), c.end, stop)
        bill = np.where(subs.term_months.to_numpy() == 1, 1, 12)
        churn = np.where(np.isnat(c.churn_date), c.end, c.churn_date)
        dunning = np.array([c.state(k).dunning for k in range(c.months)]) > 0
        fixed = np.full(dunning.shape, c.months)
        for k in range(c.months - 2, -1, -1):
            fixed[k] = np.where(dunning[k + 1], fixed[k + 1], k + 1)
        card = c.state(c.months - 1).card > 0
        parts = []
        for k in range(c.months):
            m = c.first + k
            issued = cal.renewal_in_month(m, start, bill)
            issued = np.where(cal.month_index(start) == m, start, issued)
            ok = ~np.isnat(issued) & (issued < stop)
            j = np.flatnonzero(ok)
            a = acc[j]
            seg = c.seg[a]
            b = budget(c.state(k).take(a))
            late = rng.random(len(j)) < _sigmoid(LATE_BASE[seg] - 1.4 * b)
            net = np.where(card[a], 0, NET_DAYS[seg])
            due = issued[j] + net.astype("timedelta64[D]")
            days_late = 1 + np.round(rng.gamma(2.0, 6 + 8 * np.maximum(-b, 0)))
            early = (rng.random(len(j)) * net).astype(np.int64)
            paid = np.where(
                late,
                due + days_late.astype(np.int64).astype("timedelta64[D]"),
                issued[j] + early.astype("timedelta64[D]"),
            )
            failed = card[a] & dunning[k, a]
            recovered = cal.month_start(c.first + fixed[k, a]) + rng.integers(0, 20, len(j)).astype(
                "timedelta64[D]"
            )
            recovered = np.where(recovered < churn[a], recovered, np.datetime64("NaT"))
            paid = np.where(card[a], np.where(failed, recovered, issued[j]), paid)
            paid = np.where(paid < c.end, paid, np.datetime64("NaT"))
            amount = np.round(subs.arr.to_numpy()[j] * bill[j] / 12, 2)
            parts.append(
                pd.DataFrame(
                    {
                        "account": a,
                        "issued_at": issued[j],
                        "due_at": due,
                        "paid_at": paid,
                        "amount": amount,
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)
