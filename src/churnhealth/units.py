"""Money as a person reads it: in the data's currency (`data.currency`, an ISO 4217 code),
short on cards and tables ($350.3M, €12k) and whole where one account's value is read
($12,300). Every view (CLI, page, report, alert reasons) formats money here or, on the page,
with the same rule in JavaScript."""

from __future__ import annotations

import math

SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CNY": "CN¥",
    "INR": "₹",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "BRL": "R$",
    "KRW": "₩",
}
"""Currencies read by their symbol; any other reads by its code ("CHF 12k")."""


def prefix(currency: str) -> str:
    """What goes before an amount: "$", "€" or "CHF " (an unknown code, then a space)."""
    code = currency.upper()
    return SYMBOLS.get(code, f"{code} ")


def money(value: float | None, currency: str = "USD", *, short: bool = True) -> str:
    """`value` in `currency`: short ($350.3M, $12k, $640) or whole ($12,300); a missing or
    infinite amount reads "–", a negative one with a minus ahead of the symbol (−$1.2M)."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    v = float(value)
    sign, v = ("−" if v < 0 else ""), abs(v)
    if not short or v < 1e3:
        amount = f"{v:,.0f}"
    elif v >= 1e9:
        amount = f"{v / 1e9:,.1f}B"
    elif v >= 1e6:
        amount = f"{v / 1e6:,.1f}M"
    else:
        amount = f"{v / 1e3:,.0f}k"
    return f"{sign}{prefix(currency)}{amount}"
