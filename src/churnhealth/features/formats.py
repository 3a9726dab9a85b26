"""How a feature reads to a person: its label and its value in business language.

`usage_license_share_30d 0.08` is how a model sees an account; a CSM reads "Licenses active,
30 days: 8%", and `rel_has_champion 0.00` reads "no champion". Each metric may declare its
`label`, `format` and, for a yes/no feature, `when_true`/`when_false` words in
configs/features.yaml; what it leaves out is made here from its kind and definition, so a
metric a user adds without them still reads as words, never as its column name. Feature names
stay in the JSON and parquet outputs; this is for the explain table, alert reasons, the
portfolio page and the report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnhealth.features.missing import NO_VALUE, in_sentence, meaning, rows_of
from churnhealth.features.spec import (
    Aggregate,
    DaysSince,
    Difference,
    Flag,
    Latest,
    PctChange,
    Ratio,
    Slope,
    parse_window,
)
from churnhealth.units import money

AGG_WORDS = {
    "sum": "total",
    "mean": "mean",
    "median": "median",
    "min": "least",
    "max": "most",
    "nunique": "distinct",
}


def _words(name: str) -> str:
    return name.replace("_", " ")


def _period(window: str | None) -> str:
    days = parse_window(window) if window else None
    return "all time" if days is None else f"{days} days"


def _short(description: str) -> str | None:
    """A description short enough to serve as a label (one clause, no full stop)."""
    text = description.strip().rstrip(".")
    return text if text and len(text) <= 60 and "." not in text and ";" not in text else None


def label_of(m) -> str:
    """The metric's label: declared, else its description when short, else made from its
    kind ("Tickets, 30 days", "Days since the last qbr touchpoints")."""
    if m.label:
        return m.label
    if short := _short(m.description):
        return short
    if isinstance(m, Aggregate):
        if m.agg in ("count", "any") or not m.column:
            what = rows_of(m)
        else:
            what = f"{AGG_WORDS.get(m.agg, m.agg)} {_words(m.column)} of {rows_of(m)}"
        return f"{what[:1].upper()}{what[1:]}, {_period(m.window)}"
    if isinstance(m, PctChange):
        return f"Change in {rows_of(m)}, last {_period(m.window)} vs the {_period(m.window)} before"
    if isinstance(m, Slope):
        return f"Trend of {_words(m.column)}, {_period(m.window)}"
    if isinstance(m, DaysSince):
        return f"Last {rows_of(m)}"
    if isinstance(m, Latest):
        return f"{'Latest' if m.offset == 0 else 'Previous'} {_words(m.column)} of {rows_of(m)}"
    if isinstance(m, Ratio):
        return f"{_words(m.numerator).capitalize()} per {_words(m.denominator)}"
    if isinstance(m, Difference):
        return f"{_words(m.left).capitalize()} minus {_words(m.right)}"
    name = _words(m.name)
    return name[:1].upper() + name[1:]


def format_of(m) -> str:
    """The metric's format: declared, else from its kind (a flag or `any` reads yes/no, days
    since reads "N days ago", a change as a signed percentage, a count whole)."""
    if m.format:
        return m.format
    if isinstance(m, Flag) or (isinstance(m, Aggregate) and m.agg == "any"):
        return "yes_no"
    if isinstance(m, DaysSince):
        return "days_ago"
    if isinstance(m, PctChange) or (isinstance(m, Slope) and m.relative):
        return "change"
    if isinstance(m, Aggregate) and m.agg in ("count", "nunique"):
        return "count"
    if isinstance(m, Difference):
        return "signed"
    return "number"


def _number(v: float) -> str:
    """Three significant digits (two below 1, one below 0.01), thousands whole: 1,234, 46,
    8.82, 0.32, 0.008; under 0.001 "≈0"."""
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1 or a == 0:
        return f"{v:.3g}"
    if a >= 0.01:
        return f"{v:.2g}"
    return f"{v:.1g}" if a >= 0.001 else "≈0"


def _plural(v: float, unit: str) -> str:
    text = f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.1f}"
    return f"{text} {unit}{'' if text == '1' else 's'}"


def _percent(v: float, signed: bool = False) -> str:
    p = v * 100
    text = f"{p:+.1f}" if signed else f"{p:.1f}"
    if abs(p) >= 9.95 or round(p, 1).is_integer():
        text = f"{p:+.0f}" if signed else f"{p:.0f}"
    return f"{text}%"


def _missing(v: object) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Reading:
    """How one feature reads: its label, its value's format and, for yes/no, its words."""

    label: str
    format: str = "number"
    when_true: str = ""
    when_false: str = ""
    missing: str = NO_VALUE
    """What a null of it means ("no tickets in 90 days")."""

    def value(self, v: object, currency: str = "USD") -> str:
        """`v` as a person reads it: "8%", "+25%", "45 days ago", "$12,300", "no champion";
        a missing or infinite value reads as what it means, never "nan"."""
        if _missing(v):
            return self.missing
        if isinstance(v, str):
            return v
        if isinstance(v, bool | np.bool_):
            return (self.when_true or "yes") if v else (self.when_false or "no")
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        if not math.isfinite(x):
            return self.missing
        f = self.format
        if f == "yes_no":
            return (self.when_true or "yes") if x >= 0.5 else (self.when_false or "no")
        if f == "percent":
            return _percent(x)
        if f == "change":
            return _percent(x, signed=True)
        if f == "count":
            return f"{x:,.0f}" if x.is_integer() or abs(x) >= 100 else f"{x:,.1f}"
        if f == "days":
            return _plural(x, "day")
        if f == "days_ago":
            return "today" if round(x) == 0 else f"{_plural(x, 'day')} ago"
        if f == "hours":
            return _plural(x, "hour")
        if f == "money":
            return money(x, currency, short=False)
        if f == "signed":
            return f"{x:+,.0f}" if x.is_integer() else f"{x:+.3g}"
        return _number(x)

    def phrase(self, v: object, currency: str = "USD") -> str:
        """The feature in a sentence: "licenses active, 30 days (8%)", or a yes/no feature's
        own words ("no champion")."""
        return self.said(self.value(v, currency))

    def said(self, text: str) -> str:
        """A value already read (`value`) in a sentence with the label, or alone when it is
        a yes/no feature's own words."""
        if self.format == "yes_no" and text and text in (self.when_true, self.when_false):
            return text
        return f"{in_sentence(self.label)} ({text})"


CONTEXT = {
    "days_to_renewal": Reading("Days to renewal", "days"),
    "renewals_in_horizon": Reading("Renewal decisions in the horizon", "count"),
    "term_months": Reading("Contract term (months)", "count"),
    "tenure_days": Reading("Customer for", "days"),
    "arr": Reading("ARR", "money"),
    "licenses": Reading("Licenses", "count"),
    "arr_365d_ago": Reading("ARR a year ago", "money"),
    "lifecycle_stage": Reading("Lifecycle stage"),
    "segment": Reading("Segment"),
}
"""The grid's context features: facts of the contract, read the same way for every model."""


def readings(metrics: Iterable) -> dict[str, Reading]:
    """Feature → how it reads, for every metric and the grid's context features; a missing
    value reads as what it means (`features.missing.meaning`, naming the metrics a ratio or
    difference derives from by their labels)."""
    metrics = list(metrics)
    labels = {k: r.label for k, r in CONTEXT.items()} | {m.name: label_of(m) for m in metrics}
    out = dict(CONTEXT)
    for m in metrics:
        out[m.name] = Reading(
            label=labels[m.name],
            format=format_of(m),
            when_true=m.when_true,
            when_false=m.when_false,
            missing=meaning(m, labels),
        )
    return out


def reading(readings: Mapping[str, Reading], feature: str) -> Reading:
    """`feature`'s reading, or one made from its name for a feature no definition covers."""
    if feature in readings:
        return readings[feature]
    name = _words(feature)
    return Reading(name[:1].upper() + name[1:])
