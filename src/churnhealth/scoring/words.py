"""What a CSM reads of an account's effects: its top drivers, its context in words, and values
in business language (`features.formats`: "8%", "45 days ago", "no champion")."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from churnhealth.features.formats import Reading, reading
from churnhealth.units import money

TOP = 3
"""Drivers shown per account and direction."""
MIN_EFFECT = 0.05
"""Effects smaller than this (in health points) are not named as drivers."""


CONTEXT_WORDS = {
    "days_to_renewal": lambda v, c: f"renewal in {v:.0f} day{'s' * (v != 1)}",
    "renewals_in_horizon": lambda v, c: f"{v:.0f} renewal decision{'s' * (v != 1)} in the horizon",
    "term_months": lambda v, c: f"{v:.0f}-month term",
    "tenure_days": lambda v, c: f"customer for {v:.0f} days",
    "lifecycle_stage": lambda v, c: f"{str(v).replace('_', ' ')} stage",
    "segment": lambda v, c: f"{str(v).replace('_', ' ')} segment",
    "arr": lambda v, c: f"ARR {money(v, c, short=False)}",
    "licenses": lambda v, c: f"{v:,.0f} licenses",
}
"""How a context feature reads in a sentence (others: its label and value, `features.formats`)."""


def context_summary(
    context: pd.DataFrame,
    frame: pd.DataFrame,
    top: int = 2,
    readings: Mapping[str, Reading] | None = None,
    currency: str = "USD",
) -> list[str]:
    """Per account, the strongest context effects in words, e.g. "renewal in 15 days −12.0;
    customer for 400 days +1.2" (effects under MIN_EFFECT are left out)."""
    if context.empty or context.shape[1] == 0:
        return [""] * len(frame)
    vals = context.to_numpy()
    names = np.array(context.columns)
    shown = frame[list(names)].astype(object).to_numpy()
    order = np.argsort(-np.abs(vals), axis=1)[:, :top]
    out = []
    for i, idx in enumerate(order):
        parts = []
        for j in idx:
            if abs(vals[i, j]) < MIN_EFFECT or pd.isna(shown[i, j]):
                continue
            if names[j] in CONTEXT_WORDS:
                words = CONTEXT_WORDS[names[j]](shown[i, j], currency)
            else:
                words = reading(readings or {}, names[j]).phrase(shown[i, j], currency)
            parts.append(f"{words} {vals[i, j]:+.1f}")
        out.append("; ".join(parts))
    return out


_INFINITE = (np.inf, -np.inf)


def _shown(v: object, j: int, r: Reading, seen: dict, currency: str) -> str:
    """`r.value(v)` of feature `j`, remembered per feature, distinct value and type (counts
    and flags repeat across accounts; a missing value is not remembered)."""
    try:
        if v is None or v != v or v in _INFINITE:
            return r.value(v, currency)
        key = (j, type(v), v)
        return seen[key]
    except KeyError:
        text = seen[key] = r.value(v, currency)
        return text
    except TypeError:  # unhashable, or pd.NA (no truth value)
        return r.value(v, currency)


def typical_values(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The median of each feature per as-of date and segment: what `contradicted` compares a
    value with. Computed once over a whole book, so that scoring it in chunks changes nothing."""
    cols = [c for c in features if c in frame]
    values = frame[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    keys = [frame.as_of.to_numpy(), frame.segment.astype(object).to_numpy()]
    return values.groupby(keys).median().rename_axis(["as_of", "segment"])


def contradicted(
    effects: pd.DataFrame,
    frame: pd.DataFrame,
    healthier: Mapping[str, int],
    typical: pd.DataFrame | None = None,
) -> np.ndarray:
    """Where an effect says the opposite of the value (n × features): a declared signal worse
    than its segment's median pulling health up, or better than it pulling health down. The
    model's effects are exact, but shown as a driver such a value would tell a CSM that a
    drop in NPS helped; it stays in its dimension's total and is not named as a driver.

    `healthier`: feature → +1 when higher values are healthier, -1 when lower are
    (`features.spec.directions`); other features are never contradicted. `typical`: the
    medians per as-of date and segment (`typical_values`), by default those of `frame`."""
    out = np.zeros(effects.shape, bool)
    cols = [c for c in effects.columns if c in healthier and c in frame]
    if not cols:
        return out
    values = frame[cols].apply(pd.to_numeric, errors="coerce").astype(float)
    if typical is None:
        typical = typical_values(frame, cols)
    at = pd.MultiIndex.from_arrays(
        [frame.as_of.to_numpy(), frame.segment.astype(object).to_numpy()]
    )
    median = typical.reindex(at)[cols].to_numpy()
    better = (values.to_numpy() - median) * np.array([healthier[c] for c in cols])
    eff = effects[cols].to_numpy(float)
    bad = ((eff > 0) & (better < 0)) | ((eff < 0) & (better > 0))
    out[:, [effects.columns.get_loc(c) for c in cols]] = bad
    return out


def drivers(
    effects: pd.DataFrame,
    frame: pd.DataFrame,
    readings: Mapping[str, Reading] | None = None,
    healthier: Mapping[str, int] | None = None,
    typical: pd.DataFrame | None = None,
    currency: str = "USD",
) -> pd.DataFrame:
    """Top risk (most negative) and protective (most positive) drivers per account: feature
    (its name: the label is for display), its value as a CSM reads it ("8%", "no champion",
    a missing value as what it means; `readings` from `features.formats.readings`), and its
    effect in health points. A declared signal (`healthier`) whose effect contradicts its
    value against the segment's median is not named (`contradicted`)."""
    cols = {}
    readings = readings or {}
    read = [reading(readings, n) for n in effects.columns]
    seen: dict = {}  # (feature, value) → its text: counts and flags repeat across accounts
    vals = effects.to_numpy()
    if healthier:
        vals = np.where(contradicted(effects, frame, healthier, typical), 0.0, vals)
    names = np.array(effects.columns)
    shown = frame[list(names)].astype(object).to_numpy()
    rows = np.arange(len(vals))
    order = np.argsort(vals, axis=1)
    for kind, idx in (("risk", order[:, :TOP]), ("protective", order[:, ::-1][:, :TOP])):
        for k in range(TOP):
            if k >= idx.shape[1]:  # fewer signals than drivers shown
                cols[f"{kind}_{k + 1}_feature"] = np.full(len(vals), None, dtype=object)
                cols[f"{kind}_{k + 1}_value"] = [None] * len(vals)
                cols[f"{kind}_{k + 1}_effect"] = np.full(len(vals), np.nan)
                continue
            j = idx[:, k]
            eff = vals[rows, j]
            keep = (eff <= -MIN_EFFECT) if kind == "risk" else (eff >= MIN_EFFECT)
            cols[f"{kind}_{k + 1}_feature"] = np.where(keep, names[j], None)
            cols[f"{kind}_{k + 1}_value"] = [
                _shown(v, jj, read[jj], seen, currency) if ok else None
                for v, jj, ok in zip(shown[rows, j], j, keep, strict=True)
            ]
            cols[f"{kind}_{k + 1}_effect"] = np.where(keep, np.round(eff, 1), np.nan)
    return pd.DataFrame(cols, index=frame.index)
