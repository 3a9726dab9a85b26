"""Notes a person reads: what limits a result comes first, each cause is said once.

A job's notes come from many stages. `arrange` puts the problems (a signal table absent, a
horizon that cannot be checked) before the rest, drops repeats, and lets the feature build's
line on an absent table (which names what the absence costs) replace validation's shorter one.
"""

from __future__ import annotations

from collections.abc import Iterable

ABSENT = ": absent, "
"""How a note on an absent table begins after the table's name."""


def absent(table: str) -> str:
    """Validation's note on an optional table that is not there."""
    return f"{table}{ABSENT}its features will be skipped"


def skipped(table: str, features: list[str], dimensions: list[str]) -> str:
    """The feature build's note on an absent table: how many features of which dimensions it
    takes with it, the first few by name."""
    n = len(features)
    names = ", ".join(features[:4]) + (f", +{n - 4} more" if n > 4 else "")
    return (
        f"{table}{ABSENT}so {n} {' and '.join(sorted(set(dimensions)))} "
        f"feature{'s are' if n != 1 else ' is'} skipped ({names})"
    )


def absent_table(note: str) -> str | None:
    """The table a note on an absent table is about, or None for any other note."""
    head, sep, _ = note.partition(ABSENT)
    return head if sep and " " not in head else None


def arrange(problems: Iterable[str], notes: Iterable[str]) -> tuple[list[str], list[str]]:
    """The problems, then the other notes, each list without repeats and without a note that a
    problem already says; validation's line on an absent table goes when a fuller line on the
    same table exists."""
    problems, notes = list(problems), list(notes)
    tables = {n: absent_table(n) for n in problems + notes}
    fuller = {t for n, t in tables.items() if t and n != absent(t)}
    seen: set[str] = set()

    def keep(lines: list[str]) -> list[str]:
        out = []
        for n in lines:
            t = tables[n]
            if n not in seen and not (t in fuller and n == absent(t)):
                seen.add(n)
                out.append(n)
        return out

    return keep(problems), keep(notes)
