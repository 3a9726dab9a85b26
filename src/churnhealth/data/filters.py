"""Row filters written in YAML, the same syntax everywhere (declared metrics, source mappings):
`{column: value}`, `{column: [v1, v2]}` or `{column: {lt|le|gt|ge|eq|ne: value}}`; several
columns must all match."""

from __future__ import annotations

import operator
from typing import Literal

import ibis
import ibis.expr.types as ir

Op = Literal["eq", "ne", "lt", "le", "gt", "ge"]
Scalar = str | int | float | bool
FilterValue = Scalar | list[Scalar] | dict[Op, Scalar]

OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def predicate(t: ir.Table, flt: dict[str, FilterValue]) -> ir.BooleanValue:
    """The rows of `t` that match every condition of `flt`."""
    cond = ibis.literal(True)
    for col, want in flt.items():
        c = t[col]
        if isinstance(want, list):
            cond &= c.isin(want)
        elif isinstance(want, dict):
            for op, value in want.items():
                cond &= OPS[op](c, value)
        else:
            cond &= c == want
    return cond
