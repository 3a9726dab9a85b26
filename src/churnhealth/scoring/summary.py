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


class Book(BaseModel):
    """One book's health: the whole portfolio, or one segment."""

    model_config = FROZEN

    accounts: int
    arr: float
    tiers: dict[str, Share]
    """Tier → its accounts and ARR (every tier, empty ones included)."""
    arr_at_risk: float
    """ARR of the accounts at risk or critical."""
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


class Webhook(BaseModel):
    """What posting the alerts to the webhook did."""

    model_config = FROZEN

    delivered: int
    failed: list[str]


class PortfolioSummary(BaseModel):
    """summary.json: the book at the as-of date, what the run wrote, and how far to trust it."""

    model_config = FROZEN

    as_of: str
    portfolio: Book
    segments: dict[str, Book]
    forecast: Forecast
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
    alerts_file: str
    overrides_in_force: int
    expansion_ready: Share | None
    """Accounts ready to expand, None without an expansion model."""
    notes: list[str]
    problems: list[str] = Field(default_factory=list)
    """What a reader should see first: a playbook matching too much of the book."""
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
    """Accounts and ARR per tier, ARR at risk, improving/declining counts: the whole book and
    per segment."""

    def block(df: pd.DataFrame) -> Book:
        tiers = {
            t: Share(accounts=int((df.tier == t).sum()), arr=float(df.arr[df.tier == t].sum()))
            for t in TIERS
        }
        risky = df.tier.isin(FLAGGED)
        return Book(
            accounts=len(df),
            arr=float(df.arr.sum()),
            tiers=tiers,
            arr_at_risk=float(df.arr[risky].sum()),
            expected_churned_arr_90d=float((df.arr * df.p_churn_90d).sum()),
            expected_churned_arr_horizon=float((df.arr * df.churn_probability).sum()),
            improving=int((df.momentum == "improving").sum()),
            declining=int((df.momentum == "declining").sum()),
            mean_health=float(df.health_score.mean()),
        )

    return block(scores), {s: block(g) for s, g in scores.groupby("segment")}
