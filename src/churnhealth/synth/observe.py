"""The observable tables, generated with noise from the hidden state of each month.

Accounts are indexed by position; ids are attached when the tables are assembled. Every random
number is addressed by account, month and slot (`synth.keyed`), so an account's rows depend on
its own history only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from churnhealth import calendar as cal
from churnhealth.synth.dynamics import budget, problem, relationship, usage_level
from churnhealth.synth.keyed import Keyed
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


def _random_ts(lo: np.ndarray, hi: np.ndarray, k: Keyed, label: str, *coords) -> np.ndarray:
    """A random business-hours timestamp on a day in [lo, hi)."""
    span = np.maximum((hi - lo).astype(np.int64), 1)
    day = lo + (k.uniform(label + ".day", *coords) * span).astype(np.int64).astype("timedelta64[D]")
    secs = k.integers(8 * 3600, 18 * 3600, label + ".time", *coords).astype("timedelta64[s]")
    return day.astype("datetime64[s]") + secs


def _expand(counts: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    return [np.repeat(c, counts) for c in cols]


def _slots(counts: np.ndarray) -> np.ndarray:
    """For rows expanded from `counts`, each row's number within its account: 0, 1, …"""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


class Observer:
    """Generates each table from the company's hidden states, with its own random stream."""

    def __init__(
        self,
        company: Company,
        p: Params,
        seed: np.random.SeedSequence,
        usage_shift: np.datetime64 | None = None,
    ):
        self.c, self.p, self.k = company, p, Keyed(seed)
        self.usage_shift = usage_shift
        every = np.arange(len(company.seg))
        self.breadth_noise = 0.5 * self.k.normal("breadth", every)
        self.qbr_phase = self.k.integers(0, 12, "qbr_phase", every)

    def usage(self, advance: Callable[[], None] | None = None) -> pd.DataFrame:
        c, p, k_ = self.c, self.p, self.k
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
            m = c.first + k
            day = np.arange(nd)[None, :]
            day_p = day_p * np.exp(0.25 * k_.normal("usage.noise", act[:, None], m, day))
            prob = np.minimum(day_p[:, :, None] * (INTENSITY * boost)[:, None, :], 1.0)
            prob *= uses[:, None, :]
            lic = c.lic_at[k, act]
            cell = (np.arange(nd)[:, None] * len(FEATURES) + np.arange(len(FEATURES)))[None]
            at = (act[:, None, None], m, cell)
            users = k_.binomial(lic[:, None, None], prob, "usage.users", *at)
            depth = np.exp(1.0 + 0.45 * u)[:, None, None] * (DEPTH * boost)[:, None, :]
            events = k_.poisson(users * depth, "usage.events", *at)
            if self.usage_shift is not None:
                after = (days >= self.usage_shift)[None, :, None]
                thin_u = k_.binomial(users, p.usage_shift_users, "usage.shift_users", *at)
                thin_e = k_.binomial(events, p.usage_shift_events, "usage.shift_events", *at)
                users = np.where(after, thin_u, users)
                events = np.where(after, thin_e, events)
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
        c, p, k_ = self.c, self.p, self.k
        parts = []
        for k in range(c.months):
            m = c.first + k
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
                label = f"touch.{kind}"
                n = (
                    qbr.astype(np.int64)
                    if kind == "qbr"
                    else k_.poisson(rates[kind], label + ".count", act, m)
                )
                a, l_, h_, pa = _expand(n, act, lo, hi, attend[kind])
                at = (a, m, _slots(n))
                parts.append(
                    pd.DataFrame(
                        {
                            "account": a,
                            "ts": _random_ts(l_, h_, k_, label, *at),
                            "kind": kind,
                            "attended": k_.uniform(label + ".attended", *at) < pa,
                        }
                    )
                )
        return pd.concat(parts, ignore_index=True)

    def surveys(self) -> pd.DataFrame:
        c, p, k_ = self.c, self.p, self.k
        parts = []
        respondents = np.array([3, 2, 1])
        for k in range(c.months):
            m = c.first + k
            act, ms, lo, hi = _month_bounds(c, k)
            s = c.state(k).take(act)
            seg = c.seg[act]
            rel, sent, u = relationship(s, seg, p), s.sent, usage_level(s)
            month_of_year = (c.first + k) % 12 + 1
            tenure_m = cal.month_index(np.array([ms]))[0] - cal.month_index(c.created[act])
            campaign = (month_of_year in (3, 9)) | (tenure_m == 2)
            p_resp = _sigmoid(-0.3 + 0.5 * rel + 0.2 * sent) * np.where(c.csm[act], 1.0, 0.7)
            n_nps = k_.binomial(respondents[seg], p_resp, "nps.count", act, m) * campaign
            a, l_, h_, se, r_ = _expand(n_nps, act, lo, hi, sent, rel)
            at = (a, m, _slots(n_nps))
            noise = 1.1 * k_.normal("nps.score", *at)
            score = np.clip(np.round(7.0 + 1.7 * se + 0.3 * r_ + noise), 0, 10)
            ts = _random_ts(l_, h_, k_, "nps", *at)
            parts.append(pd.DataFrame({"account": a, "ts": ts, "kind": "nps", "score": score}))
            rate = 0.15 * np.array([2.0, 1.3, 1.0])[seg] * _sigmoid(u + 1)
            n_csat = k_.poisson(rate, "csat.count", act, m)
            a, l_, h_, se = _expand(n_csat, act, lo, hi, sent)
            at = (a, m, _slots(n_csat))
            score = np.clip(np.round(3.9 + 0.75 * se + 0.7 * k_.normal("csat.score", *at)), 1, 5)
            ts = _random_ts(l_, h_, k_, "csat", *at)
            parts.append(pd.DataFrame({"account": a, "ts": ts, "kind": "csat", "score": score}))
        return pd.concat(parts, ignore_index=True)

    def tickets(self) -> pd.DataFrame:
        c, p, k_ = self.c, self.p, self.k
        parts = []
        end = c.end.astype("datetime64[s]")
        for k in range(c.months):
            m = c.first + k
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
            n = k_.poisson(lam, "ticket.count", act, m)
            a, l_, h_, pr, rel, sent, svc = _expand(
                n, act, lo, hi, prob_, relationship(s, seg, p), s.sent, s.svc
            )
            at = (a, m, _slots(n))
            opened = _random_ts(l_, h_, k_, "ticket.opened", *at)
            u = k_.uniform("ticket.priority", *at)
            p1 = _sigmoid(-3.3 + 1.1 * pr)
            prio = np.where(u < p1, 0, np.where(u < p1 + 0.18, 1, np.where(u < p1 + 0.6, 2, 3)))
            escalated = k_.uniform("ticket.escalated", *at) < _sigmoid(
                -3.2 + 0.8 * pr - 0.4 * rel + 0.7 * svc + 1.6 * (prio == 0)
            )
            log_h = (
                np.array([1.4, 2.6, 3.3, 3.9])[prio]
                + 0.35 * pr
                + 0.6 * svc
                + 0.8 * k_.normal("ticket.hours", *at)
            )
            hours = np.exp(log_h)
            closed = opened + (hours * 3600).astype(np.int64).astype("timedelta64[s]")
            closed = np.where(closed < end, closed, np.datetime64("NaT"))
            rated = ~np.isnat(closed) & (k_.uniform("ticket.rated", *at) < 0.35)
            csat = np.clip(
                np.round(
                    4.3
                    + 0.5 * sent
                    - 0.5 * svc
                    - 0.3 * np.log1p(hours / 24)
                    + 0.8 * k_.normal("ticket.csat", *at)
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
        """People at each account; champion and sponsor changes follow the hidden state.

        Each row is keyed by its account and a code: 0 the first champion, 1 the first sponsor,
        2… the other first contacts, and 1000 + 2 × month (+1 for a sponsor) one who came later."""
        c, p, k_ = self.c, self.p, self.k
        start = cal.month_start(c.first)
        n = len(c.seg)
        rows: list[tuple] = []
        codes: list[int] = []

        def day_in(lo: np.datetime64, hi: np.datetime64, i: int, code: int, what: str):
            span = max(int((hi - lo).astype(np.int64)), 1)
            return lo + np.timedelta64(int(k_.integers(0, span, f"contact.{what}", i, code)), "D")

        def add(row: tuple, code: int) -> None:
            rows.append(row)
            codes.append(code)

        churn = np.where(np.isnat(c.churn_date), c.end, c.churn_date)
        first_seen = np.maximum(cal.month_index(c.created) - c.first, -1)
        depts_all = np.array(DEPARTMENTS)
        roles = np.array(["admin", "user", "user", "manager", "finance", "it"])
        for i in range(n):
            seg = c.seg[i]
            lo = c.created[i]
            hi = min(start, churn[i]) if lo < start else lo + np.timedelta64(1, "D")
            k0 = int(first_seen[i])
            s0 = c.state(k0)
            order = np.argsort(k_.uniform("contact.depts", i, np.arange(len(depts_all))))
            depts = depts_all[order[: int(s0.depts[i])]]
            if s0.champion[i] > 0:
                add((i, "manager", True, False, depts[0], day_in(lo, hi, i, 0, "start"), None), 0)
            if s0.sponsor[i] > 0:
                add((i, "executive", False, True, depts[0], day_in(lo, hi, i, 1, "start"), None), 1)
            for j in range(max(1, int(k_.poisson(p.n_contacts[seg], "contact.count", i)))):
                role = roles[k_.integers(0, len(roles), "contact.role", i, j)]
                dept = depts[k_.integers(0, len(depts), "contact.dept", i, j)]
                day = day_in(lo, hi, i, 2 + j, "start")
                add((i, str(role), False, False, str(dept), day, None), 2 + j)
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
                code = 1000 + 2 * k + (not is_ch)
                for i in seen[(before > 0) & (now == 0)]:
                    if i in opened:
                        j = opened.pop(i)
                        rows[j] = (*rows[j][:6], day_in(lo[pos[i]], hi[pos[i]], i, code, "end"))
                for i in seen[(before == 0) & (now > 0)]:
                    role = "manager" if is_ch else "executive"
                    opened[i] = len(rows)
                    dept = depts_all[k_.integers(0, len(depts_all), "contact.new_dept", i, code)]
                    day = day_in(lo[pos[i]], hi[pos[i]], i, code, "start")
                    add((i, role, is_ch, not is_ch, str(dept), day, None), code)
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
        at = (df.account.to_numpy(), np.array(codes))
        plain = ~(df.is_champion | df.is_exec_sponsor)
        leave_m = k_.geometric(0.008, "contact.leave_month", *at)
        start_m = np.maximum(
            cal.month_index(df.started_at.to_numpy().astype("datetime64[D]")), c.first
        )
        leave = cal.month_start(start_m + leave_m) + k_.integers(
            1, 28, "contact.leave_day", *at
        ).astype("timedelta64[D]")
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
        c, k_ = self.c, self.k
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
            at = (a, m, start[j].astype(np.int64))  # one invoice per subscription and month
            late = k_.uniform("invoice.late", *at) < _sigmoid(LATE_BASE[seg] - 1.4 * b)
            net = np.where(card[a], 0, NET_DAYS[seg])
            due = issued[j] + net.astype("timedelta64[D]")
            days_late = 1 + np.round(k_.gamma2(6 + 8 * np.maximum(-b, 0), "invoice.days_late", *at))
            early = (k_.uniform("invoice.early", *at) * net).astype(np.int64)
            paid = np.where(
                late,
                due + days_late.astype(np.int64).astype("timedelta64[D]"),
                issued[j] + early.astype("timedelta64[D]"),
            )
            failed = card[a] & dunning[k, a]
            recovered = cal.month_start(c.first + fixed[k, a]) + k_.integers(
                0, 20, "invoice.recovered", *at
            ).astype("timedelta64[D]")
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
