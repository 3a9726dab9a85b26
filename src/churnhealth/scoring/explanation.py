"""One account's score taken apart: what `churnhealth explain` prints (and `--json` writes).

`Explanation` is built once, complete, by the explain job from the account's scores row, its
effects and its history. Values a person reads come with their words (`reads`): a missing value
reads as what it means ("no tickets in 90 days"), never "nan". Its JSON Schema is
docs/schemas/explanation.json (`make docs`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from churnhealth.features.formats import Reading, reading
from churnhealth.scoring.summary import FROZEN
from churnhealth.scoring.words import contradicted


def number(v: Any) -> float | None:
    """A finite float, or None for a missing or infinite value."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def text(v: Any) -> str | None:
    """A string, or None for a missing value."""
    return v if isinstance(v, str) and v else None


class Driver(BaseModel):
    """One signal's effect on the account's health, its value beside its segment's median."""

    model_config = FROZEN

    feature: str
    """Its name in the data and the model (`usage_license_share_30d`)."""
    label: str
    """How a person reads its name ("Licenses active at peak, 30 days")."""
    dimension: str
    value: float | str | None
    """The feature's value (None: missing; `reads` says what that means)."""
    reads: str
    """The value as a CSM reads it ("8%", "no champion", "no tickets in 90 days")."""
    segment_median: float | str | None
    """The median of the account's segment at the same date (the most common value of a
    categorical feature); None when no account of the segment has a value."""
    median_reads: str
    effect: float
    """Health points this signal adds (positive) or takes away (negative)."""


class Override(BaseModel):
    """A CSM's health in force for the account."""

    model_config = FROZEN

    csm_health: int
    by: str
    until: dt.date | None
    reason: str
    model_health: int
    model_tier: str
    drives: bool
    """True when the override drives the tier and playbooks; False: shown only."""


class Lift(BaseModel):
    """A signal lifting the expansion score."""

    model_config = FROZEN

    feature: str
    label: str
    """How a person reads its name."""
    reads: str
    effect: float
    """Expansion-score points."""


class Expansion(BaseModel):
    """The account's expansion score."""

    model_config = FROZEN

    score: float
    tier: str
    probability: float
    lifts: list[Lift]


class BestPlay(BaseModel):
    """The play measured to save the most on the account (`scoring.saving`)."""

    model_config = FROZEN

    play: str
    p_saved: float
    """The expected cut in the churn probability (0.03: 3 points)."""
    arr_saved: float
    reason: str


class Point(BaseModel):
    """One past score of the account."""

    model_config = FROZEN

    as_of: dt.date
    health_score: int
    tier: str


class Alert(BaseModel):
    """An alert raised for the account (the latest of each playbook, from the alert log)."""

    model_config = FROZEN

    alert_id: str
    """What `churnhealth outcome` records the team's action against."""
    playbook: str
    as_of: dt.date
    owner: str | None
    due: dt.date | None


class Explanation(BaseModel):
    """One account's health at an as-of date: its scores, trend, each dimension's effect, the
    context apart, the strongest drivers and its history."""

    model_config = FROZEN

    account_id: str
    name: str | None = None
    """accounts.name, when the export has it."""
    owner: str | None = None
    """accounts.csm_owner, when the account has one."""
    crm: str | None = None
    """The account's CRM record (`predict.crm_url`), when one is configured."""
    currency: str = "USD"
    """The currency of `arr` (`data.currency`)."""
    segment: str
    lifecycle_stage: str
    arr: float | None
    days_to_renewal: float | None
    as_of: dt.date
    horizon_days: int
    health_score: int
    tier: str
    churn_probability: float
    """P(churn within `horizon_days`)."""
    p_churn_90d: float | None
    baseline_health: float
    """The health of the model's average account: effects add up from it."""
    momentum: str
    health_change_30d: float | None
    """None: no score 30 days back (momentum "new")."""
    projected_health_90d: float | None
    dimensions: dict[str, float]
    """Dimension → the effect of its signals, in health points."""
    signals_effect: float
    """The dimensions' effects summed: what the signals a CSM can act on do to health."""
    context_effect: float
    """Effect of the context (term, renewal timing, size): no lever, never a driver."""
    at_risk_for: str | None
    """Why an at-risk or critical account is flagged: "signals" (the save list) or "contract"
    (the renewal-exposure list); None for other tiers."""
    context: str
    """The strongest context items in words."""
    drivers: list[Driver] = Field(description="The strongest signals, by |effect|.")
    playbooks: list[str]
    """The playbooks whose conditions the account matches."""
    alerts: list[Alert] = Field(default_factory=list)
    """The latest alert of each playbook raised for the account up to the as-of date."""
    override: Override | None
    expansion: Expansion | None
    best_play: BestPlay | None = None
    """With trusted effects, the play expected to save the most on the account."""
    ranked_by: str = ""
    """How the save list ranks (by ARR saved with which plays, or by ARR lost and why)."""
    history: list[Point]

    @property
    def pulling_down(self) -> list[Driver]:
        return [d for d in self.drivers if d.effect < 0]

    @property
    def holding_up(self) -> list[Driver]:
        return [d for d in self.drivers if d.effect >= 0]

    def drivers_table(self) -> pd.DataFrame:
        """The drivers as a table (for a notebook)."""
        return pd.DataFrame([d.model_dump() for d in self.drivers])

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def driver(
    feature: str,
    dimension: str,
    value: Any,
    median: Any,
    effect: float,
    read: Reading,
    currency: str = "USD",
) -> Driver:
    """A `Driver`, its label, value and median in words (`read`: how the feature reads)."""

    def plain(v: Any) -> float | str | None:
        return v if isinstance(v, str) else number(v)

    return Driver(
        feature=feature,
        label=read.label,
        dimension=dimension,
        value=plain(value),
        reads=read.value(value, currency),
        segment_median=plain(median),
        median_reads=replace(read, missing="no account of the segment has a value").value(
            median, currency
        ),
        effect=round(float(effect), 2),
    )


def lifts(row: pd.Series, top: int, readings: Mapping[str, Reading]) -> list[Lift]:
    """The expansion score's strongest lifts from a scores row."""
    return [
        Lift(
            feature=row[f"expansion_{k}_feature"],
            label=reading(readings, row[f"expansion_{k}_feature"]).label,
            reads=str(row[f"expansion_{k}_value"]),
            effect=float(row[f"expansion_{k}_effect"]),
        )
        for k in range(1, top + 1)
        if isinstance(row.get(f"expansion_{k}_feature"), str)
    ]


def strongest(
    frame: pd.DataFrame,
    i: int,
    effects: pd.Series,
    dimensions: dict[str, str],
    readings: Mapping[str, Reading],
    top: int,
    healthier: dict[str, int] | None = None,
    currency: str = "USD",
) -> list[Driver]:
    """The `top` signals of row `i` of `frame` by |effect|, each beside the median of the
    account's segment at the same date; a declared signal (`healthier`) whose effect says the
    opposite of its value against that median is left out (`words.contradicted`)."""
    peers = frame[frame.segment == frame.segment.iloc[i]]
    shown = effects
    if healthier:  # the same rule as the scores' drivers, against the same medians
        at = int(np.flatnonzero(peers.index == frame.index[i])[0])
        rows = pd.DataFrame(0.0, index=peers.index, columns=effects.index)
        rows.iloc[at] = effects.to_numpy()
        shown = effects[~contradicted(rows, peers, healthier)[at]]
    out = []
    for f in shown.abs().sort_values(ascending=False).index[:top]:
        col = peers[f]
        if pd.api.types.is_numeric_dtype(col):
            median = col.median()
        else:
            mode = col.mode()
            median = mode.iloc[0] if len(mode) else None
        out.append(
            driver(
                f,
                dimensions.get(f, ""),
                frame.iloc[i][f],
                median,
                effects[f],
                reading(readings, f),
                currency,
            )
        )
    return out


def explained(
    row: pd.Series,
    *,
    dimensions: pd.Series,
    drivers: list[Driver],
    history: pd.DataFrame,
    horizon_days: int,
    top: int,
    readings: Mapping[str, Reading],
    alerts: pd.DataFrame | None = None,
    name: str | None = None,
    owner: str | None = None,
    crm: str | None = None,
    currency: str = "USD",
    ranked_by: str = "",
) -> Explanation:
    """The `Explanation` of a scores row (with its baseline, context effect and words)."""
    override = None
    if number(row.get("csm_health")) is not None:
        until = row.get("override_until")
        override = Override(
            csm_health=int(row.csm_health),
            by=str(row.override_by),
            until=None if pd.isna(until) else pd.Timestamp(until).date(),
            reason=str(row.override_reason),
            model_health=int(row.model_health),
            model_tier=str(row.model_tier),
            drives=row.health_source == "csm",
        )
    expansion = None
    if number(row.get("expansion_score")) is not None:
        expansion = Expansion(
            score=float(row.expansion_score),
            tier=str(row.expansion_tier),
            probability=float(row.expansion_probability),
            lifts=lifts(row, top, readings),
        )
    return Explanation(
        account_id=str(row.account_id),
        name=name,
        owner=owner,
        crm=crm,
        currency=currency,
        segment=str(row.segment),
        lifecycle_stage=str(row.lifecycle_stage),
        arr=number(row.arr),
        days_to_renewal=number(row.days_to_renewal),
        as_of=pd.Timestamp(row.as_of).date(),
        horizon_days=horizon_days,
        health_score=int(row.health_score),
        tier=str(row.tier),
        churn_probability=float(row.churn_probability),
        p_churn_90d=number(row.get("p_churn_90d")),
        baseline_health=round(float(row.baseline_health), 2),
        momentum=str(row.momentum),
        health_change_30d=number(row.get("health_change_30d")),
        projected_health_90d=number(row.get("projected_health_90d")),
        dimensions={d: round(float(v), 2) for d, v in dimensions.items()},
        signals_effect=round(float(row.effect_signals), 2),
        context_effect=round(float(row.effect_context), 2),
        at_risk_for=text(row.get("at_risk_for")),
        context=text(row.get("context")) or "",
        drivers=drivers,
        playbooks=[p for p in str(row.get("playbooks") or "").split(",") if p],
        alerts=[]
        if alerts is None or alerts.empty
        else [
            Alert(
                alert_id=str(a.alert_id),
                playbook=str(a.playbook),
                as_of=pd.Timestamp(a.as_of).date(),
                owner=text(a.owner),
                due=None if text(a.due) is None else pd.Timestamp(a.due).date(),
            )
            for a in alerts.sort_values("as_of").groupby("playbook").tail(1).itertuples()
        ],
        override=override,
        expansion=expansion,
        best_play=BestPlay(
            play=play,
            p_saved=float(row.p_saved),
            arr_saved=float(row.arr_saved),
            reason=str(row.play_reason),
        )
        if isinstance(play := row.get("best_play"), str)
        else None,
        ranked_by=ranked_by,
        history=[
            Point(as_of=pd.Timestamp(h.as_of).date(), health_score=int(h.health_score), tier=h.tier)
            for h in history.itertuples()
        ],
    )
