"""Computed columns in a source mapping (`compute:`): a little arithmetic over the export's
columns, for the values an export keeps in another form (cents, a price per seat and month, a
term as interval and count, Unix times).

An expression is written as in Python and may use:

- the export's columns by name (after its lookups); a name with spaces or other signs between
  backticks, as in pandas' `query`: `` `Close Date` ``; a dotted name (`price.unit_amount`) is
  one column of that name;
- numbers, text in quotes, True, False and None (null);
- `+ - * / %`, comparisons, `in [..]`, `and`, `or`, `not`, and `a if condition else b`;
- the functions in `FUNCTIONS`.

It becomes an Ibis expression, so it runs where the data lives (DuckDB, PostgreSQL, Spark). A
division by zero gives null on every engine (Spark's ANSI mode would fail, PostgreSQL always
does). Anything else (attributes, subscripts, other functions, keyword arguments) is refused
when the mapping is read, in one line.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from churnhealth.errors import DataError

FUNCTIONS: dict[str, tuple[int, int, str]] = {
    "coalesce": (2, 99, "the first of its arguments that is not null"),
    "round": (1, 2, "round(x, digits): rounded to digits decimals (0 by default)"),
    "abs": (1, 1, "the absolute value"),
    "lower": (1, 1, "text in lower case"),
    "upper": (1, 1, "text in upper case"),
    "strip": (1, 1, "text without leading and trailing spaces"),
    "replace": (3, 3, "replace(text, old, new): every old replaced by new"),
    "number": (1, 1, "text or a whole number as a decimal number"),
    "text": (1, 1, "any value as text"),
    "from_unix": (1, 1, "seconds since 1970-01-01 UTC (a Unix time) as a timestamp"),
}
"""Function name: (fewest arguments, most, what it gives)."""

_BACKTICKS = re.compile(r"`([^`]+)`")
_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod)
_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_EPOCH = dt.datetime(1970, 1, 1)
_SIGNS = {
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
}
"""Operators refused, as written (other refused parts are named by their kind: Subscript…)."""


def parse(text: str) -> tuple[ast.expr, dict[str, str]]:
    """The expression's tree and its backtick names (placeholder → column); ValueError naming
    the first part it does not allow."""
    quoted: dict[str, str] = {}

    def placeholder(m: re.Match) -> str:
        name = f"_q{len(quoted)}_"
        quoted[name] = m.group(1)
        return name

    try:
        tree = ast.parse(_BACKTICKS.sub(placeholder, text.strip()), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"{text!r} is not an expression ({exc.msg})") from None
    for node in ast.walk(tree):
        _allowed(node, text)
    return tree, quoted


def _allowed(node: ast.AST, text: str) -> None:
    ok = (
        ast.BinOp,
        ast.UnaryOp,
        ast.BoolOp,
        ast.Compare,
        ast.IfExp,
        ast.Call,
        ast.Name,
        ast.Attribute,
        ast.Constant,
        ast.List,
        ast.Tuple,
        ast.Load,
        ast.And,
        ast.Or,
        ast.Not,
        ast.USub,
        ast.UAdd,
        *_OPERATORS,
        *_COMPARISONS,
    )
    if not isinstance(node, ok):
        what = _SIGNS.get(type(node), type(node).__name__)
        raise ValueError(f"{text!r}: {what} is not allowed in a computed column")
    if isinstance(node, ast.Compare) and len(node.ops) != 1:
        raise ValueError(f"{text!r}: one comparison at a time (a < b and b < c)")
    if isinstance(node, ast.Attribute) and _dotted(node) is None:
        raise ValueError(f"{text!r}: only a column name may have dots")
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            raise ValueError(
                f"{text!r}: {name or ast.unparse(node.func)}() is not a function here "
                f"({', '.join(FUNCTIONS)})"
            )
        lo, hi, _ = FUNCTIONS[name]
        if node.keywords or not lo <= len(node.args) <= hi:
            wanted = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ValueError(f"{text!r}: {name}() takes {wanted} arguments, by position")
        fixed = {"round": (int, "a whole number of digits"), "replace": (str, "text in quotes")}
        if name in fixed:
            kind, words = fixed[name]
            for arg in node.args[1:]:
                if not (isinstance(arg, ast.Constant) and type(arg.value) is kind):
                    raise ValueError(f"{text!r}: {name}()'s {ast.unparse(arg)} must be {words}")
    if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str | None):
        raise ValueError(f"{text!r}: {node.value!r} is not a number, text or None")
    if isinstance(node, ast.List | ast.Tuple) and not all(
        isinstance(e, ast.Constant) for e in node.elts
    ):
        raise ValueError(f"{text!r}: a list may hold values only (for `in [...]`)")


def _dotted(node: ast.AST) -> str | None:
    """`a.b.c` as the column name "a.b.c"; None when it is not names and dots only."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (head := _dotted(node.value)) is not None:
        return f"{head}.{node.attr}"
    return None


def columns(text: str) -> list[str]:
    """The export's columns the expression reads."""
    tree, quoted = parse(text)
    return list(dict.fromkeys(quoted.get(n, n) for n in _names(tree)))


def _names(node: ast.AST) -> list[str]:
    """Column names under `node`: a dotted name whole, and never a function's own name."""
    if isinstance(node, ast.Name | ast.Attribute) and (name := _dotted(node)) is not None:
        return [name]
    children = node.args if isinstance(node, ast.Call) else ast.iter_child_nodes(node)
    return [n for child in children for n in _names(child)]


def compile_on(t: ir.Table, text: str, where: str) -> ir.Value:
    """The expression on table `t`; a column `t` lacks is one `DataError` line (`where`: the
    export's file and the contract column it makes)."""
    tree, quoted = parse(text)
    missing = [c for c in columns(text) if c not in t.columns]
    if missing:
        raise DataError(
            [f"{where}: no column {c} (it has {', '.join(t.columns)})" for c in missing]
        )
    return _build(tree, t, quoted)


def _build(node: ast.expr, t: ir.Table, quoted: dict[str, str]) -> ir.Value:
    def go(n: ast.expr) -> ir.Value:
        return _build(n, t, quoted)

    if isinstance(node, ast.Constant):
        return ibis.null() if node.value is None else ibis.literal(node.value)
    if isinstance(node, ast.Name | ast.Attribute):
        name = _dotted(node)
        return t[quoted.get(name, name)]
    if isinstance(node, ast.UnaryOp):
        value = go(node.operand)
        return {ast.USub: lambda v: -v, ast.UAdd: lambda v: v, ast.Not: lambda v: ~v}[
            type(node.op)
        ](value)
    if isinstance(node, ast.BinOp):
        a, b = go(node.left), go(node.right)
        if isinstance(node.op, ast.Div | ast.Mod):
            b = b.nullif(0)  # null, not an error or infinity, on every engine
        ops: dict[type, Callable] = {
            ast.Add: lambda x, y: x + y,
            ast.Sub: lambda x, y: x - y,
            ast.Mult: lambda x, y: x * y,
            ast.Div: lambda x, y: x / y,
            ast.Mod: lambda x, y: x % y,
        }
        return ops[type(node.op)](a, b)
    if isinstance(node, ast.BoolOp):
        values = [go(v) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = out & v if isinstance(node.op, ast.And) else out | v
        return out
    if isinstance(node, ast.Compare):
        a, op, right = go(node.left), node.ops[0], node.comparators[0]
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.List | ast.Tuple):
                raise DataError([f"`in` needs a list of values: {ast.unparse(node)}"])
            values = [e.value for e in right.elts]
            return a.isin(values) if isinstance(op, ast.In) else a.notin(values)
        b = go(right)
        cmp: dict[type, Callable] = {
            ast.Eq: lambda x, y: x == y,
            ast.NotEq: lambda x, y: x != y,
            ast.Lt: lambda x, y: x < y,
            ast.LtE: lambda x, y: x <= y,
            ast.Gt: lambda x, y: x > y,
            ast.GtE: lambda x, y: x >= y,
        }
        return cmp[type(op)](a, b)
    if isinstance(node, ast.IfExp):
        return ibis.ifelse(go(node.test), go(node.body), go(node.orelse))
    if isinstance(node, ast.Call):
        return _call(node.func.id, [go(a) for a in node.args])
    raise DataError([f"cannot compute {ast.unparse(node)}"])  # parse() refused it already


def _call(name: str, args: list[ir.Value]) -> ir.Value:
    x = args[0]
    if name == "coalesce":
        return ibis.coalesce(*args)
    if name == "round":
        digits = args[1].op().value if len(args) > 1 else 0
        return x.round(int(digits))
    if name == "abs":
        return x.abs()
    if name in ("lower", "upper", "strip"):
        return getattr(x.cast("string"), name)()
    if name == "replace":
        return x.cast("string").replace(args[1].op().value, args[2].op().value)
    if name == "number":
        return x.cast("float64")
    if name == "text":
        return x.cast("string")
    # from_unix: the epoch plus an interval gives a time without a zone on every engine
    # (DuckDB's to_timestamp would read the session's zone when the date is taken)
    return ibis.literal(_EPOCH) + x.cast("int64").as_interval("s")
