"""What a missing (null) value of a metric means, in words a CSM reads.

A null is not an unknown number: a median of no tickets, a change from nothing, a ratio over
zero licences. Where a person reads a feature's value (drivers, alert reasons, the portfolio
page, `explain`) a null reads as its meaning, e.g. "no tickets in 90 days", never "nan".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from churnhealth.features.build import ZERO_FILL_AGGS
from churnhealth.features.spec import (
    Aggregate,
    DaysSince,
    Difference,
    External,
    Latest,
    PctChange,
    Ratio,
    Slope,
    parse_window,
)

NOUNS = {
    "usage": "usage",
    "events": "product events",
    "touchpoints": "touchpoints",
    "surveys": "survey answers",
    "tickets": "tickets",
    "contacts": "contacts",
    "invoices": "invoices",
    "subscriptions": "subscriptions",
}
"""How each table's rows are named in a sentence."""

NO_VALUE = "no value"
"""What a null reads as when nothing more is known of it."""


def in_sentence(label: str) -> str:
    """A label inside a sentence: its first letter lowered unless it starts an acronym
    ("Licenses active" → "licenses active"; "NPS answer" and "P1 tickets" stay)."""
    first = label.split(" ", 1)[0]
    if len(first) > 1 and (first[1:2].isupper() or first[1:2].isdigit()):
        return label
    return label[:1].lower() + label[1:]


def _words(name: str) -> str:
    return name.replace("_", " ")


def _period(window: str) -> str:
    days = parse_window(window)
    return "ever" if days is None else f"in {days} days"


def rows_of(m) -> str:
    """The rows a table metric reads, e.g. "qbr touchpoints" or "matching tickets"."""
    noun = NOUNS.get(m.table, f"{_words(m.table)} rows")
    values = list(m.filter.values())
    if len(values) == 1 and isinstance(values[0], str):
        return f"{_words(values[0])} {noun}"
    return f"matching {noun}" if m.filter else noun


def meaning(m, labels: Mapping[str, str] | None = None) -> str:
    """What a null of metric `m` means ("no tickets in 90 days", "not defined: licenses is 0
    or missing"), from its kind and definition; the metrics it derives from are named by
    their `labels` where given (feature → label)."""

    def named(ref: str) -> str:
        return in_sentence((labels or {}).get(ref) or _words(ref))

    if isinstance(m, Aggregate) and m.column and m.agg not in ZERO_FILL_AGGS:
        return f"no {_words(m.column)} of {rows_of(m)} {_period(m.window)}"
    if isinstance(m, Aggregate | Latest):
        return f"no {rows_of(m)} {_period(m.window)}"
    if isinstance(m, PctChange):
        return f"no {rows_of(m)} in the {parse_window(m.window)} days before, nothing to compare"
    if isinstance(m, Slope):
        return f"too little {rows_of(m)} {_period(m.window)} for a trend"
    if isinstance(m, DaysSince):
        return f"no {rows_of(m)} yet"
    if isinstance(m, Ratio):
        return f"not defined: {named(m.denominator)} is 0 or missing"
    if isinstance(m, Difference):
        return f"not defined: {named(m.left)} or {named(m.right)} missing"
    if isinstance(m, External):
        return f"no value in the features table within {m.days} days"
    return NO_VALUE  # a flag, never null


def meanings(metrics: Iterable, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """Metric name → what its null means, for every metric (`labels`: see `meaning`)."""
    return {m.name: meaning(m, labels) for m in metrics}
