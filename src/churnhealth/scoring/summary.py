"""The portfolio summary of one scoring run: what `predict` writes as summary.json and prints.

`PortfolioSummary` is built once, complete, by the predict job, from the books `summarize`
computes, the forecast (`scoring.forecast`) and what the run did (alerts, overrides, where it
wrote). It becomes JSON only where it is written (`to_json`); the CLI, the portfolio page and
the notebook read its attributes. Its JSON Schema is docs/schemas/portfolio-summary.json
(`make docs`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from churnhealth.models.tiers import FLAGGED, TIERS
from churnhealth.scoring.forecast import Forecast

FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Share(BaseModel):
    """Accounts and their ARR."""

    model_config = FROZEN

    accounts: int
    arr: float


class TierShare(Share):
    """A tier's accounts, their ARR and the part of it expected to churn."""

    expected_churned_arr: float
    """Σ ARR × P(churn within the health horizon) over the tier's accounts: the tiers' add
    up to the book's."""


class Tiers(BaseModel):
    """How a segment's accounts are tiered, and what each tier means."""

    model_config = FROZEN

    source: str
    """bands (predict.bands), segment or lifecycle (an override in predict), learned or
    expected (the model's cut-offs), or a fallback."""
    healthy: int
    at_risk: int
    critical: int
    meanings: dict[str, str]
    """Tier → what it says: "at risk: health 25–49, a 50–75% chance of leaving within a
    year"."""


class Bridge(BaseModel):
    """From the ARR up for renewal in a period to the loss expected in it: the figures the
    page's cards and a forecast's first quarter otherwise leave unconnected."""

    model_config = FROZEN

    period: str
    """"90 days" or the health horizon ("365 days")."""
    days: int
    book_arr: float
    renewing: Share
    """Accounts whose next renewal decision falls within the period (every monthly contract
    within 90 days)."""
    flagged: Share
    """Of those renewing, the accounts at risk or critical."""
    expected_loss: float
    """Σ ARR × P(churn within the period) over the whole book."""
    expected_loss_renewing: float
    """The part of `expected_loss` on the accounts renewing in the period."""
    expected_loss_flagged: float
    """The part of it on the renewing accounts flagged."""


def bridges(scores: pd.DataFrame, horizon_days: int) -> list[Bridge]:
    """The bridge over 90 days (P(churn within 90 days)) and over the health horizon
    (P(churn within it))."""
    out = []
    flagged = scores.tier.isin(FLAGGED)
    arr = scores.arr.astype(float)
    for days, p in ((90, scores.p_churn_90d), (horizon_days, scores.churn_probability)):
        renewing = (scores.days_to_renewal <= days).fillna(False)
        loss = arr * p.astype(float)
        out.append(
            Bridge(
                period=f"{days} days",
                days=days,
                book_arr=float(arr.sum()),
                renewing=Share(accounts=int(renewing.sum()), arr=float(arr[renewing].sum())),
                flagged=Share(
                    accounts=int((renewing & flagged).sum()),
                    arr=float(arr[renewing & flagged].sum()),
                ),
                expected_loss=float(loss.sum()),
                expected_loss_renewing=float(loss[renewing].sum()),
                expected_loss_flagged=float(loss[renewing & flagged].sum()),
            )
        )
    return out


class Book(BaseModel):
    """One book's health: the whole portfolio, or one segment."""

    model_config = FROZEN

    accounts: int
    arr: float
    tiers: dict[str, TierShare]
    """Tier → its accounts, ARR and expected churned ARR (every tier, empty ones included)."""
    expected_churned_arr_90d: float
    """Σ ARR × P(churn within 90 days)."""
    expected_churned_arr_horizon: float
    """Σ ARR × P(churn within the health horizon)."""
    improving: int
    declining: int
    mean_health: float


class HealthChecked(BaseModel):
    """Whether the health horizon was judged on the champion's data, in one sentence."""

    model_config = FROZEN

    judged: bool | None
    """True: judged; False: not judged (the text says why); None: nothing says (a champion
    trained before horizons were judged, or a health horizon none of the judged ones)."""
    horizon: str | None
    text: str


class Room(BaseModel):
    """What one limit (the team's capacity, or a playbook's cap) allowed this run."""

    model_config = FROZEN

    limit: int
    """Plays under way at once (the team's; with per-owner limits, each CSM's is `per_owner`
    and this is the room of the accounts without one)."""
    per_owner: int | None
    under_way: int
    """Accounts with an alert still under way (raised within the cool-down) before this run."""
    new: int
    """Accounts alerted by this run."""
    waiting: int
    """Accounts that matched but found no room: listed, not alerted."""


class Webhook(BaseModel):
    """What posting the alerts to the webhook did."""

    model_config = FROZEN

    delivered: int
    failed: list[str]


class PortfolioSummary(BaseModel):
    """summary.json: the book at the as-of date, what the run wrote, and how far to trust it."""

    model_config = FROZEN

    as_of: str
    source: str = ""
    """The data source scored (a file, folder or database without credentials)."""
    currency: str = "USD"
    """The currency of every amount (`data.currency`)."""
    portfolio: Book
    segments: dict[str, Book]
    forecast: Forecast
    compared: int
    """Accounts with a score 30 days back: momentum (improving, declining) is judged among
    them; the others are "new"."""
    tiered_by: dict[str, Tiers]
    """Segment → the cut-offs its accounts are tiered by, with their meanings (a lifecycle
    override, where configured, wins for its stage)."""
    model_version: str
    model: str
    """Where the model came from (a registry URI or a folder)."""
    scores: str
    """The scores file written."""
    alerts: dict[str, int]
    """Playbook → alerts raised by this run."""
    matched: dict[str, int] = Field(default_factory=dict)
    """Playbook → accounts whose scores meet its conditions (alerts are those matches not in
    their cool-down)."""
    waiting: dict[str, int] = Field(default_factory=dict)
    """Playbook → matches left waiting for room (predict.capacity, or its cap): listed in the
    scores (save_list "waiting"), not alerted."""
    cooling_down: dict[str, int] = Field(default_factory=dict)
    """Playbook → matches in their cool-down (alerted within cooldown_days): no new alert,
    a play under way."""
    held_out: dict[str, int] = Field(default_factory=dict)
    """Playbook → of this run's alerts, those held out to measure the play (its
    holdout_share): logged, not sent, not to be worked."""
    rooms: dict[str, Room] = Field(default_factory=dict)
    by_saving: dict[str, int] = Field(default_factory=dict)
    """Playbook → of its alerts, those raised for accounts outside its conditions for the ARR a
    measured play is expected to save on them (`scoring.saving`)."""
    ranked_by_saving: bool = False
    """True when the save list ranked by expected ARR saved (trusted effects), else by lost."""
    ranked_by: str = ""
    """How the save list was ranked this run: by expected ARR saved with the plays shown to
    keep accounts, or by expected ARR lost and why (`scoring.saving`)."""
    """"capacity" (the save plays' shared room) and each capped playbook → what its limit
    allowed this run (`scoring.capacity`)."""
    alerts_file: str
    overrides_in_force: int
    expansion_ready: Share | None
    """Accounts ready to expand, None without an expansion model."""
    bridge: list[Bridge] = Field(default_factory=list)
    """ARR renewing in the next 90 days and in the health horizon → of it flagged →
    expected loss (`bridges`)."""
    at_risk_for: dict[str, Share] = Field(default_factory=dict)
    """Why the at-risk and critical accounts are flagged: "signals" (a CSM can act on them:
    the save list's pool), "csm" (a CSM's override) and "contract" (term, renewal timing or
    size: the renewal-exposure list), with their ARR (predict.actionable_points)."""
    notes: list[str]
    problems: list[str] = Field(default_factory=list)
    """What a reader should see first: a champion forced past the skill gate, a playbook
    matching too much of the book."""
    judged: list[dict[str, str]] | None
    """One row of text per horizon (`evaluation.judged.table`), None for a champion trained
    before horizons were judged."""
    health_checked: HealthChecked
    webhook: Webhook | None = Field(default=None)
    """Set when alerts were posted to a webhook."""
    portfolio_page: str | None = Field(default=None)
    """Set when the portfolio page was written."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("webhook", "portfolio_page")
    """Keys summary.json leaves out when the run did not do them."""

    def to_json(self) -> dict[str, Any]:
        """The summary as summary.json holds it (keys of what the run did not do left out)."""
        out = self.model_dump()
        for key in self.OPTIONAL:
            if out[key] is None:
                del out[key]
        return out


def summarize(scores: pd.DataFrame) -> tuple[Book, dict[str, Book]]:
    """Accounts, ARR and expected churned ARR per tier, improving/declining counts: the whole
    book and per segment."""

    def block(df: pd.DataFrame) -> Book:
        lost = df.arr * df.churn_probability
        tiers = {
            t: TierShare(
                accounts=int((df.tier == t).sum()),
                arr=float(df.arr[df.tier == t].sum()),
                expected_churned_arr=float(lost[df.tier == t].sum()),
            )
            for t in TIERS
        }
        return Book(
            accounts=len(df),
            arr=float(df.arr.sum()),
            tiers=tiers,
            expected_churned_arr_90d=float((df.arr * df.p_churn_90d).sum()),
            expected_churned_arr_horizon=float((df.arr * df.churn_probability).sum()),
            improving=int((df.momentum == "improving").sum()),
            declining=int((df.momentum == "declining").sum()),
            mean_health=float(df.health_score.mean()),
        )

    return block(scores), {s: block(g) for s, g in scores.groupby("segment")}
