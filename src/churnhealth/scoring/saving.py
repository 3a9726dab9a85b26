"""What a play can save: the save list ranked by expected ARR saved, from measured effects.

`churnhealth effects` measures what each play did to churn within the health horizon
(effects.json). A play is trusted here when its effect was shown: its randomized estimate has a
95% interval wholly below zero, or else its doubly robust one does and the randomized estimate,
where there is one, does not contradict it (the two differ by less than their joint noise: an
experiment too small to show an effect does not show there is none, but it can refute a biased
observational estimate). For each account the expected reduction of a trusted play is the
account's churn probability times the play's relative effect (its effect over the churn the
accounts it ran on would have had without it) for accounts whose main risk lies in the same
dimension: an estimate for that subgroup is pulled toward the play's overall one as far as its
noise demands (empirical Bayes), so a subgroup of thirty plays cannot outrank the evidence of
three hundred. The best play is the one with the largest expected reduction; ARR × that
reduction is the expected ARR saved.

Without trusted effects (none measured, measured on other data or after the day scored, or no
play shown to work) the save list keeps ranking by expected ARR lost, and says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth.errors import ChurnhealthError
from churnhealth.features.spec import DIMENSIONS

Z95 = 1.959963984540054
MAX_AGE_DAYS = 365
"""Effects measured on data ending more than this before the day scored are too old to rank by."""
SAVING_COLUMNS = ["best_play", "p_saved", "arr_saved", "play_reason"]
"""The score columns this module adds (empty without trusted effects)."""


@dataclass(frozen=True)
class PlayEffect:
    """A trusted play: its relative reduction of churn overall and per main risk dimension."""

    play: str
    method: str
    effect: float
    """Change in P(churn within the horizon) where it ran (negative: it keeps accounts)."""
    low: float
    high: float
    plays: int
    """Plays with a known outcome behind the estimate."""
    reduction: float
    """Share of the churn it removes, overall: −effect / the churn without it."""
    by_risk: dict[str, float] = field(default_factory=dict)
    """Main risk dimension → the share it removes there (shrunk toward `reduction`)."""
    checked: str = ""
    """For a doubly robust estimate: the randomized one that did not contradict it, in words."""


@dataclass(frozen=True)
class Saving:
    """How the save list is ranked this run: by expected ARR saved with `plays`, or (no plays)
    by expected ARR lost, with the reason in `note`."""

    plays: tuple[PlayEffect, ...] = ()
    note: str = ""
    horizon_days: int = 365
    """The horizon the effects (and the churn probability) are over."""

    @property
    def ranks(self) -> bool:
        return bool(self.plays)

    @property
    def rank_key(self) -> str:
        """The alert field the save list is ranked by."""
        return "arr_saved" if self.ranks else "arr_at_stake"

    def score(self, scores: pd.DataFrame) -> pd.DataFrame:
        """`scores` plus, per account, the best trusted play, the reduction of its churn
        probability expected from it and ARR × that (empty without trusted plays)."""
        out = scores.copy()
        if not self.ranks:
            out["best_play"], out["p_saved"], out["arr_saved"] = None, np.nan, np.nan
            out["play_reason"] = None
            return out
        p = out.churn_probability.to_numpy(float)
        dim = main_risk(out)
        by = pd.Series(dim)
        gains = np.column_stack(
            [p * by.map(pe.by_risk).fillna(pe.reduction).to_numpy(float) for pe in self.plays]
        )
        best = gains.argmax(axis=1)
        saved = gains[np.arange(len(out)), best]
        names = np.array([pe.play for pe in self.plays], dtype=object)
        out["best_play"] = np.where(saved > 0, names[best], None)
        out["p_saved"] = np.round(saved, 4)
        out["arr_saved"] = np.round(out.arr.to_numpy(float) * saved, 2)
        pairs = list(zip(out.best_play, dim, strict=True))
        words = {(p, d): self.why(p, d) for p, d in set(pairs) if isinstance(p, str)}
        out["play_reason"] = [words.get(pair) for pair in pairs]
        return out

    def why(self, play: str, dim: str | None) -> str:
        """Why `play` is the best for an account whose main risk is `dim`, in words."""
        pe = next(x for x in self.plays if x.play == play)
        share = pe.by_risk.get(dim, pe.reduction) if dim else pe.reduction
        where = (
            f"accounts whose main risk is {dim}, like this one"
            if dim in pe.by_risk
            else "the accounts it ran on"
        )
        method = "randomized holdouts" if pe.method == "randomized" else "doubly robust"
        within = "a year" if self.horizon_days == 365 else f"{self.horizon_days} days"
        checked = f"; holdouts {pe.checked}, not contradicting it" if pe.checked else ""
        return (
            f"{play.replace('_', ' ')} cut churn within {within} by {share:.0%} for {where} "
            f"({method}, {pe.plays} plays: {_interval(pe.effect, pe.low, pe.high)}{checked})"
        )


def main_risk(scores: pd.DataFrame) -> np.ndarray:
    """Per account, the dimension whose signals pull its health down most (None when none
    does): the cause a play has to answer."""
    cols = [f"effect_{d}" for d in DIMENSIONS if f"effect_{d}" in scores]
    if not cols:
        return np.full(len(scores), None, dtype=object)
    e = scores[cols].to_numpy(float)
    e = np.where(np.isnan(e), 0.0, e)
    worst = e.argmin(axis=1)
    names = np.array([c.removeprefix("effect_") for c in cols], dtype=object)
    return np.where(e.min(axis=1) < 0, names[worst], None)


def _se(e: dict) -> float:
    return (e["high"] - e["low"]) / (2 * Z95)


def _relative(e: dict) -> tuple[float, float] | None:
    """(share of churn removed, its standard error), or None without a baseline."""
    u = e.get("untreated")
    if e.get("effect") is None or not u or u <= 0:
        return None
    return -e["effect"] / u, _se(e) / u


def shrink(overall: float, groups: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Each subgroup's share pulled toward `overall` by its noise: weight τ²/(τ² + se²), τ² the
    spread between subgroups beyond their noise (method of moments). Clipped to [0, 1]. Empty
    when the subgroups differ no more than chance: the overall share then holds for all."""
    if not groups:
        return {}
    r = np.array([v[0] for v in groups.values()])
    s2 = np.array([v[1] ** 2 for v in groups.values()])
    tau2 = max(0.0, float(np.mean((r - overall) ** 2) - np.mean(s2)))
    if tau2 == 0:
        return {}  # no subgroup differs beyond noise: the overall share holds for all
    shrunk = overall + tau2 / (tau2 + s2) * (r - overall)
    return {g: float(np.clip(x, 0.0, 1.0)) for g, x in zip(groups, shrunk, strict=True)}


def _interval(effect: float, low: float, high: float) -> str:
    """An effect in points of probability with its interval, e.g. "-13.4 points [-24.8, -2.0]"."""
    return f"{effect * 100:+.1f} points [{low * 100:+.1f}, {high * 100:+.1f}]"


def _said(e: dict) -> str:
    """`_interval` of one estimate of effects.json."""
    return _interval(e["effect"], e["low"], e["high"])


def _evidence(rct: dict | None, dr: dict | None) -> tuple[dict | None, str | None]:
    """The estimate that decides for a play, and why the observational one is refuted if it is.

    The randomized estimate decides when it shows the play keeps accounts, or when there is no
    doubly robust one. Else the doubly robust one decides, unless the experiment contradicts it:
    the two differ by more than 1.96 standard errors of their difference."""
    if rct is None or dr is None or rct["high"] < 0:
        return rct or dr, None
    gap = dr["effect"] - rct["effect"]
    if dr["high"] < 0 and abs(gap) > Z95 * float(np.hypot(_se(rct), _se(dr))):
        return None, (
            f"not shown (the randomized estimate, {_said(rct)}, contradicts the doubly robust "
            f"one, {_said(dr)})"
        )
    return dr, None


def trusted(estimates: list[dict]) -> tuple[list[PlayEffect], list[str]]:
    """The plays whose effect within the horizon was shown, and for each other play why not."""
    mine = [e for e in estimates if e.get("outcome") == "12m"]
    out, why = [], []
    for play in sorted({e["play"] for e in mine}):
        overall = {
            e["method"]: e
            for e in mine
            if e["play"] == play and e.get("group", "all") == "all" and e.get("effect") is not None
        }
        best, refuted = _evidence(overall.get("randomized"), overall.get("doubly_robust"))
        if refuted:
            why.append(f"{play}: {refuted}")
            continue
        if best is None:
            why.append(f"{play}: no estimate")
            continue
        rel = _relative(best)
        if rel is None and best["high"] < 0:
            why.append(f"{play}: shown, but measured by an older churnhealth effects (re-run it)")
            continue
        if best["high"] >= 0 or rel is None:
            why.append(f"{play}: not shown ({_said(best)})")
            continue
        groups = {
            e["group"].removeprefix("risk="): r
            for e in mine
            if e["play"] == play
            and e["method"] == "doubly_robust"
            and e.get("group", "").startswith("risk=")
            and e.get("effect") is not None
            and (r := _relative(e)) is not None
        }
        out.append(
            PlayEffect(
                play=play,
                method=best["method"],
                effect=best["effect"],
                low=best["low"],
                high=best["high"],
                plays=int(best.get("treated", 0)),
                reduction=float(np.clip(rel[0], 0.0, 1.0)),
                by_risk=shrink(rel[0], groups),
                checked=_said(rct)
                if best["method"] == "doubly_robust" and (rct := overall.get("randomized"))
                else "",
            )
        )
    return out, why


def load(path: Path, *, source: str, day: pd.Timestamp, horizon_days: int) -> Saving:
    """The save list's ranking for a run on `source` at `day`, from the effects at `path`."""
    lost = "ranked by expected ARR lost"
    if not path.is_file():
        return Saving(note=f"{lost}: no effects measured ({path}: churnhealth effects)")
    try:
        d = json.loads(path.read_text())
        estimates, end = list(d["estimates"]), pd.Timestamp(d["data_end"])
        their_source, their_horizon = d["source"], int(d["horizon_days"])
        plays, why = trusted(estimates)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise ChurnhealthError(
            f"{path}: not an effects file written by churnhealth effects "
            "(expected JSON with source, data_end, horizon_days and estimates)"
        ) from None
    if their_source != source:
        return Saving(note=f"{lost}: the effects in {path} were measured on {their_source}")
    if their_horizon != horizon_days:
        return Saving(
            note=f"{lost}: the effects in {path} are over {their_horizon} days, "
            f"health over {horizon_days}"
        )
    if end > day:
        return Saving(
            note=f"{lost}: the effects in {path} saw data to {end.date()}, after {day.date()}"
        )
    if (day - end).days > MAX_AGE_DAYS:
        return Saving(note=f"{lost}: the effects in {path} end {end.date()}, over a year before")
    if not plays:
        return Saving(
            note=f"{lost}: no play has been shown to keep accounts ({'; '.join(why) or 'none'})"
        )
    shown = ", ".join(p.play for p in plays)
    rest = f"; not used: {'; '.join(why)}" if why else ""
    return Saving(
        plays=tuple(plays),
        note=f"ranked by expected ARR saved with {shown} (effects to {end.date()}){rest}",
        horizon_days=horizon_days,
    )
