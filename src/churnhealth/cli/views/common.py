"""The formatters every view shares: numbers, money, intervals, notes, churn reasons."""

from __future__ import annotations

import pandas as pd
from rich.table import Table

from churnhealth import units
from churnhealth.cli.app import console
from churnhealth.progress import err_console

GLOBAL = "__global__"
"""The route of a segment scored by the global model (`HealthModel.GLOBAL`)."""


def fmt(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3f}"


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage; "–" when there is none (e.g. no account in the list)."""
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}%}"


def money(v: float, currency: str = "USD") -> str:
    """An amount in short form in the data's currency ($350.3M, €12k)."""
    return units.money(v, currency)


def iv(v: float, lo: float | None, hi: float | None) -> str:
    """A figure over its 95% interval, on two lines and without leading zeros in the interval,
    to keep wide tables within a terminal."""
    if pd.isna(v):
        return "–"
    if lo is None or pd.isna(lo):
        return fmt(v)
    short = [f"{x:.3f}".replace("0.", ".", 1) if 0 <= x < 1 else f"{x:.3f}" for x in (lo, hi)]
    return f"{fmt(v)}\n{short[0]}–{short[1]}"


def notes(lines: list[str], problems: list[str] = ()) -> None:
    """Problems (what limits the figures above) first, in bold; then the notes, dimmed."""
    for line in problems:
        console.print(f"problem: {line}", style="bold", highlight=False)
    for note in lines:
        console.print(f"note: {note}", style="dim", highlight=False)


def say(line: str) -> None:
    """A line on stderr while a job runs (stdout stays for the results)."""
    err_console.print(line, highlight=False)


def churn_reasons_table(reasons: pd.DataFrame, top: int = 4) -> Table:
    """Why accounts left, per segment, from the churn records: the leading reasons' shares."""
    table = Table("segment", "churns", "reasons", title="Why accounts left (churn_events)")
    for seg, g in reasons.groupby("segment", sort=False):
        g = g.sort_values("churns", ascending=False)
        lead = ", ".join(f"{r.reason} {r.share:.0%}" for r in g.head(top).itertuples())
        more = f", +{len(g) - top} more" if len(g) > top else ""
        table.add_row(str(seg), f"{int(g.churns.sum()):,}", lead + more)
    return table
