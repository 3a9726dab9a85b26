"""Parameters of the demo company: how the three segments differ.

Values follow practitioner figures: annual churn roughly smb 20–40%, mid-market 10–20%,
enterprise 5–12%. The segments leave for different reasons (docs/demo-company.md):
enterprise over the relationship (champion and sponsor, departments, a year of value), smb over
usage (a slow start, a sudden drop) and failed card payments, mid-market over how deeply the
product is integrated and how support treats it. Arrays are indexed by segment in the order of
`SEGMENTS`.
"""

from __future__ import annotations

import numpy as np

SEGMENTS = ("enterprise", "mid_market", "smb")
FEATURES = (
    "dashboards",
    "reports",
    "workflows",
    "integrations",
    "automation",
    "api",
    "mobile",
    "admin",
)
CORE_FEATURES = FEATURES[:4]
INDUSTRIES = (
    "software",
    "healthcare",
    "financial_services",
    "retail",
    "manufacturing",
    "education",
    "media",
    "logistics",
    "professional_services",
    "public_sector",
)
DEPARTMENTS = (
    "operations",
    "sales",
    "marketing",
    "finance",
    "it",
    "engineering",
    "support",
    "hr",
    "product",
)
PLANS = ("enterprise", "growth", "starter")


def _a(*values: float) -> np.ndarray:
    return np.array(values, dtype=float)


class Params:
    """Per-segment arrays (enterprise, mid_market, smb) and global constants."""

    share: np.ndarray = _a(0.15, 0.30, 0.55)
    licenses_median: np.ndarray = _a(900, 110, 12)
    licenses_sigma: np.ndarray = _a(0.7, 0.6, 0.6)
    licenses_min: np.ndarray = _a(150, 25, 2)
    price_per_seat: np.ndarray = _a(780, 600, 420)
    p_monthly: np.ndarray = _a(0.0, 0.2, 0.6)
    p_multi_year: np.ndarray = _a(0.25, 0.05, 0.0)
    csm_coverage: np.ndarray = _a(1.0, 0.8, 0.2)
    qbr_every: np.ndarray = _a(3, 6, 0)
    n_contacts: np.ndarray = _a(14, 6, 2)
    n_departments: np.ndarray = _a(5, 3, 1)
    max_departments: int = 9
    p_card: np.ndarray = _a(0.0, 0.3, 0.85)
    """Share paying by card (self-serve); the others are invoiced."""

    # latent dynamics (monthly)
    fit_mu: np.ndarray = _a(0.15, 0.0, -0.1)
    fit_mu_sd: float = 0.75
    fit_revert: float = 0.12
    fit_noise: float = 0.2
    p_fit_shock: np.ndarray = _a(0.012, 0.015, 0.018)
    fit_shock: float = -1.6
    p_fin_shock: np.ndarray = _a(0.008, 0.011, 0.015)
    fin_shock: float = -1.7
    shock_transfer: float = 0.5
    shock_recovery: float = 0.86
    p_champion0: np.ndarray = _a(0.85, 0.75, 0.6)
    champion_leave: np.ndarray = _a(0.018, 0.018, 0.02)
    champion_gain: np.ndarray = _a(0.14, 0.12, 0.08)
    p_sponsor0: np.ndarray = _a(0.7, 0.45, 0.15)
    sponsor_leave: float = 0.012
    sponsor_gain: np.ndarray = _a(0.03, 0.018, 0.004)
    rel_noise: float = 0.22
    rel_persist: float = 0.9
    sent_persist: float = 0.72
    sent_noise: float = 0.3
    avg_persist: float = 0.85
    """Usage over the past months: a slow moving average of usage."""
    p_decline: float = 0.03
    """Monthly chance that a card charge fails (expired or declined card), more under budget
    pressure..."""
    decline_budget: float = 0.5
    p_recover: float = 0.55
    """...and that a failed charge is recovered within a month (card updated)."""
    integ_persist: float = 0.93
    integ_fit: float = 0.5
    integ_noise: float = 0.12
    svc_persist: float = 0.8
    svc_problem: float = 0.25
    """Product problems also make for a worse support experience."""
    svc_noise: float = 0.3

    # churn: logit = intercept - weights · drivers + risks; see dynamics.churn_prob
    b_monthly: np.ndarray = _a(-4.8, -4.65, -4.0)
    b_renewal: np.ndarray = _a(-3.1, -2.75, -1.6)
    w_fin: np.ndarray = _a(0.5, 0.55, 0.6)
    w_sent: np.ndarray = _a(0.5, 0.3, 0.1)
    # enterprise: the relationship and a year of value
    w_rel: np.ndarray = _a(1.5, 0.3, 0.0)
    w_orphan: np.ndarray = _a(1.2, 0.2, 0.0)
    """Extra risk with neither champion nor executive sponsor."""
    w_breadth: np.ndarray = _a(0.9, 0.2, 0.0)
    w_usage_avg: np.ndarray = _a(0.4, 0.2, 0.0)
    """Usage over the past months: an enterprise renewal weighs a year of value, not a dip."""
    # mid-market: integration depth and the support experience
    w_integ: np.ndarray = _a(0.1, 1.5, 0.1)
    w_svc: np.ndarray = _a(0.0, 1.2, 0.1)
    # smb: usage now, a slow start, a sudden drop, failed card payments
    w_usage: np.ndarray = _a(0.1, 0.3, 1.2)
    w_drop: np.ndarray = _a(0.0, 0.2, 1.2)
    """A drop below the account's own usual usage: smb customers leave right after one."""
    onboarding_months: float = 6.0
    onboarding_boost: np.ndarray = _a(0.2, 0.45, 0.6)
    w_activation: np.ndarray = _a(0.0, 0.3, 0.9)
    """Extra weight of usage while onboarding: a slow start is a warning sign in smb."""
    w_dunning: float = 2.8
    """A monthly card subscription whose charge failed and is not recovered (involuntary)."""
    w_relief: float = 1.2
    relief_decay: float = 0.7
    """A discount (`synth.team`) lowers the churn logit by w_relief, fading by relief_decay a
    month: it holds an account through a renewal close at hand, and fixes nothing."""
    q_monthly: float = 0.0025
    q_renewal: float = 0.02
    """Churn that no signal predicts (acquisitions, bankruptcies), per decision."""

    # concept shift: new weights after the shift date. A competitor courts the most active
    # accounts with a cheaper offer: heavy usage now signals risk instead of loyalty, and what
    # used to hold accounts (the relationship, each segment's own mechanisms) counts for less.
    # A model trained before the shift loses about 0.1 of ROC-AUC, and one retrained on
    # post-shift data wins most of it back. (Milder weights that only moved weight from usage
    # to relationship cost 0.02-0.05 and left little to recover: the relationship is the least
    # observable part of the state.)
    w_usage_shifted: np.ndarray = _a(-1.0, -1.0, -1.0)
    w_rel_shifted: np.ndarray = _a(0.5, 0.5, 0.5)
    w_sent_shifted: np.ndarray = _a(0.3, 0.3, 0.3)
    shift_hold: float = 0.0
    """Share of the segment mechanisms' weights (orphaned accounts, departments, a year of value,
    integration, support, a usage drop, a slow start) left after the shift: the cheaper offer
    overrides them."""

    # usage shift: measured usage after a product change (churn unchanged)
    usage_shift_users: float = 0.7
    usage_shift_events: float = 0.55

    def rel_center(self) -> np.ndarray:
        """Mean of the relationship index at the start, so intercepts stay interpretable."""
        return 0.9 * self.p_champion0 + 0.6 * self.p_sponsor0
