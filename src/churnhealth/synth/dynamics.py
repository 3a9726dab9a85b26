"""The hidden health state of an account and how it evolves month by month.

Both the simulation of the company and the Monte Carlo behind the `truth` table use these
functions, so the truth is the exact law of what the simulation does.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from churnhealth.synth.params import Params


@dataclass
class State:
    """Hidden state per account (arrays of equal length).

    fit: product fit, pulled towards the account's own level `mu`; `fit_pend`/`fit_eff` carry
    product-fit problems (a shock is pending for a month, then phases in and slowly recovers).
    rel: relationship noise on top of champion/sponsor presence. sent: sentiment.
    fin_pend/fin_eff: budget cuts, with the same pending/phase-in mechanics.
    depts: departments using the product (fixed). card: pays by card (fixed); dunning: this
    month's card charge failed and is not yet recovered. integ: depth of integration into the
    customer's other systems, around the account's own level `integ_mu`. svc: how bad the
    support experience has been lately (0 = as expected). usage_avg: usage over the past
    months (a slow moving average), against which a sudden drop shows. relief: a discount's
    hold on the account, fading month by month (0 unless the CS team gave one, `synth.team`).
    """

    mu: np.ndarray
    fit: np.ndarray
    fit_pend: np.ndarray
    fit_eff: np.ndarray
    rel: np.ndarray
    champion: np.ndarray
    sponsor: np.ndarray
    sent: np.ndarray
    fin_pend: np.ndarray
    fin_eff: np.ndarray
    depts: np.ndarray
    card: np.ndarray
    dunning: np.ndarray
    integ_mu: np.ndarray
    integ: np.ndarray
    svc: np.ndarray
    usage_avg: np.ndarray
    relief: np.ndarray

    def take(self, idx: np.ndarray) -> State:
        return State(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def put(self, idx: np.ndarray, other: State) -> None:
        for f in fields(self):
            getattr(self, f.name)[idx] = getattr(other, f.name)

    def copy(self) -> State:
        return State(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    @classmethod
    def empty(cls, n: int) -> State:
        return cls(**{f.name: np.zeros(n) for f in fields(cls)})


def usage_level(s: State) -> np.ndarray:
    """Latent product usage: fit plus the effect of any product-fit problem."""
    return s.fit + s.fit_eff


def relationship(s: State, seg: np.ndarray, p: Params) -> np.ndarray:
    return 0.9 * s.champion + 0.6 * s.sponsor + s.rel - p.rel_center()[seg]


def breadth(s: State, seg: np.ndarray, p: Params) -> np.ndarray:
    """Spread across departments (log scale, relative to the segment's typical account)."""
    return np.log(s.depts) - np.log(p.n_departments[seg])


def problem(s: State) -> np.ndarray:
    """Size of a product-fit problem, pending or in effect (≥ 0)."""
    return -(s.fit_pend + s.fit_eff)


def budget(s: State) -> np.ndarray:
    """Budget pressure felt now; pending cuts show in payments before anywhere else."""
    return s.fin_eff + 0.6 * s.fin_pend


def init_state(seg: np.ndarray, rng: np.random.Generator, p: Params) -> State:
    n = len(seg)
    mu = p.fit_mu[seg] + p.fit_mu_sd * rng.standard_normal(n)
    fit = mu + 0.3 * rng.standard_normal(n)
    champion = (rng.random(n) < p.p_champion0[seg]).astype(float)
    sponsor = (rng.random(n) < p.p_sponsor0[seg]).astype(float)
    rel = 0.45 * rng.standard_normal(n)
    depts = np.clip(rng.poisson(p.n_departments[seg]), 1, p.max_departments).astype(float)
    card = (rng.random(n) < p.p_card[seg]).astype(float)
    integ_mu = rng.standard_normal(n)
    s = State.empty(n)
    s.mu, s.fit, s.rel, s.champion, s.sponsor = mu, fit, rel, champion, sponsor
    s.depts, s.card, s.integ_mu = depts, card, integ_mu
    s.integ = integ_mu - 1.0 + 0.3 * rng.standard_normal(n)
    s.usage_avg = fit.copy()
    s.sent = 0.5 * fit + 0.3 * relationship(s, seg, p) + 0.5 * rng.standard_normal(n)
    return s


def step(s: State, seg: np.ndarray, rng: np.random.Generator, p: Params) -> State:
    """One month of evolution: gradual drift plus shocks (product fit, champion, budget)."""
    n = len(seg)
    z = rng.standard_normal((5, n))
    u = rng.random((6, n))
    fit = s.fit + p.fit_revert * (s.mu - s.fit) + p.fit_noise * z[0]
    fit_eff = p.shock_recovery * s.fit_eff + p.shock_transfer * s.fit_pend
    fit_pend = (1 - p.shock_transfer) * s.fit_pend + p.fit_shock * (u[0] < p.p_fit_shock[seg])
    fin_eff = p.shock_recovery * s.fin_eff + p.shock_transfer * s.fin_pend
    fin_pend = (1 - p.shock_transfer) * s.fin_pend + p.fin_shock * (u[1] < p.p_fin_shock[seg])
    champion = np.where(
        s.champion > 0, u[2] >= p.champion_leave[seg], u[2] < p.champion_gain[seg]
    ).astype(float)
    sponsor = np.where(s.sponsor > 0, u[3] >= p.sponsor_leave, u[3] < p.sponsor_gain[seg]).astype(
        float
    )
    rel = p.rel_persist * s.rel + p.rel_noise * z[1]
    decline = np.minimum(p.p_decline * np.exp(-p.decline_budget * fin_eff), 0.5)
    dunning = (s.card * np.where(s.dunning > 0, u[5] >= p.p_recover, u[4] < decline)).astype(float)
    integ = (
        p.integ_persist * s.integ
        + (1 - p.integ_persist) * (s.integ_mu + p.integ_fit * s.fit)
        + p.integ_noise * z[3]
    )
    new = replace(
        s,
        fit=fit,
        fit_pend=fit_pend,
        fit_eff=fit_eff,
        rel=rel,
        champion=champion,
        sponsor=sponsor,
        fin_pend=fin_pend,
        fin_eff=fin_eff,
        dunning=dunning,
        integ=integ,
        relief=p.relief_decay * s.relief,
    )
    new.svc = p.svc_persist * s.svc + p.svc_problem * problem(new) + p.svc_noise * z[4]
    new.usage_avg = p.avg_persist * s.usage_avg + (1 - p.avg_persist) * usage_level(new)
    target = (
        0.6 * usage_level(new) + 0.4 * relationship(new, seg, p) + 0.3 * fin_eff - 0.25 * new.svc
    )
    new.sent = p.sent_persist * s.sent + (1 - p.sent_persist) * target + p.sent_noise * z[2]
    return new


def churn_prob(
    s: State,
    seg: np.ndarray,
    monthly: np.ndarray,
    tenure_months: np.ndarray,
    shifted: np.ndarray | bool,
    p: Params,
) -> np.ndarray:
    """Probability that an account leaves at a renewal decided in the month of state `s`.

    Monthly contracts decide every month, annual ones at renewal only. `shifted` selects the
    post-concept-shift weights of usage, relationship and sentiment, and scales each segment's
    own mechanisms by `shift_hold`.
    """
    shifted = np.asarray(shifted, dtype=bool)
    k = np.where(shifted, p.shift_hold, 1.0)
    w_u = np.where(shifted, p.w_usage_shifted[seg], p.w_usage[seg])
    w_r = np.where(shifted, p.w_rel_shifted[seg], p.w_rel[seg])
    w_s = np.where(shifted, p.w_sent_shifted[seg], p.w_sent[seg])
    b = np.where(monthly, p.b_monthly[seg], p.b_renewal[seg])
    young = tenure_months < p.onboarding_months
    usage = usage_level(s)
    logit = (
        b
        - w_u * usage
        - w_r * relationship(s, seg, p)
        - w_s * s.sent
        - p.w_fin[seg] * s.fin_eff
        + p.w_dunning * s.dunning * monthly
        - p.w_relief * s.relief
        + young * p.onboarding_boost[seg]
        + k
        * (
            -p.w_usage_avg[seg] * s.usage_avg
            + p.w_drop[seg] * (s.usage_avg - usage)
            + p.w_orphan[seg] * (1 - s.champion) * (1 - s.sponsor)
            - p.w_breadth[seg] * breadth(s, seg, p)
            - p.w_integ[seg] * s.integ
            + p.w_svc[seg] * s.svc
            - young * p.w_activation[seg] * usage
        )
    )
    q = np.where(monthly, p.q_monthly, p.q_renewal)
    return 1 - (1 - 1 / (1 + np.exp(-logit))) * (1 - q)


CHURN_REASONS = (
    "low adoption",
    "champion left",
    "dissatisfied",
    "budget cuts",
    "payment failed",
    "missing capabilities",
    "poor support",
)
"""What a CSM would record for each mechanism of `churn_prob` (in the order of `reason_index`)."""


def reason_index(
    s: State,
    seg: np.ndarray,
    monthly: np.ndarray,
    tenure_months: np.ndarray,
    shifted: np.ndarray | bool,
    p: Params,
) -> np.ndarray:
    """Index into CHURN_REASONS of the mechanism that raised each account's churn logit the
    most above the mean of the accounts deciding alongside it (the terms of `churn_prob`)."""
    shifted = np.asarray(shifted, dtype=bool)
    k = np.where(shifted, p.shift_hold, 1.0)
    w_u = np.where(shifted, p.w_usage_shifted[seg], p.w_usage[seg])
    w_r = np.where(shifted, p.w_rel_shifted[seg], p.w_rel[seg])
    w_s = np.where(shifted, p.w_sent_shifted[seg], p.w_sent[seg])
    young = tenure_months < p.onboarding_months
    usage = usage_level(s)
    terms = np.stack(
        [
            -w_u * usage
            + k
            * (
                -p.w_usage_avg[seg] * s.usage_avg
                + p.w_drop[seg] * (s.usage_avg - usage)
                - young * p.w_activation[seg] * usage
            ),
            -w_r * relationship(s, seg, p)
            + k * p.w_orphan[seg] * (1 - s.champion) * (1 - s.sponsor),
            -w_s * s.sent,
            -p.w_fin[seg] * s.fin_eff,
            p.w_dunning * s.dunning * monthly,
            k * (-p.w_breadth[seg] * breadth(s, seg, p) - p.w_integ[seg] * s.integ),
            k * p.w_svc[seg] * s.svc,
        ]
    )
    return np.argmax(terms - terms.mean(axis=1, keepdims=True), axis=0)
