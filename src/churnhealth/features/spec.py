"""Declared metrics: the feature definitions users write in `configs/features.yaml`.

Each metric has a kind (aggregate, ratio, difference, pct_change, days_since, slope, latest,
flag, or external: a feature computed elsewhere, read from the `features` table), a dimension
(usage, engagement, sentiment, relationship, support, financial) and, for table-based kinds, the
table, column, window and filter it reads. Definitions are checked
against the data contract before any data is read: one line per problem, naming the metric.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from churnhealth.data.contract import Table, contract
from churnhealth.data.filters import FilterValue, Op
from churnhealth.errors import ConfigError
from churnhealth.features.pit import DERIVED, GRID_COLUMNS, column_kind

DIMENSIONS = ("usage", "engagement", "sentiment", "relationship", "support", "financial")
Dimension = Literal["usage", "engagement", "sentiment", "relationship", "support", "financial"]
Agg = Literal["count", "sum", "mean", "median", "min", "max", "nunique", "any"]
NUMERIC_AGGS = ("sum", "mean", "median")
Format = Literal[
    "percent", "change", "count", "days", "days_ago", "hours", "money", "yes_no", "signed", "number"
]
"""How a feature's value reads to a person (`features.formats`)."""
_WINDOW = re.compile(r"^\s*(\d+)\s*([dw])\s*$")
_NAME = r"^[a-z][a-z0-9_]*$"


def parse_window(text: str | int) -> int | None:
    """'30d' → 30, '12w' → 84, 'all' → None (no lower bound)."""
    if isinstance(text, int) and not isinstance(text, bool) and text > 0:
        return text
    if isinstance(text, str):
        if text.strip() == "all":
            return None
        m = _WINDOW.match(text)
        if m and int(m.group(1)) > 0:
            return int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    raise ValueError(f"window {text!r} does not parse (expected Nd, Nw or all)")


def _window_text(v: Any) -> str:
    """A window that parses (`parse_window`), kept as written."""
    parse_window(v)
    return str(v)


class _Metric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    dimension: Dimension
    description: str = ""
    output: bool = True
    """False for helper metrics that other metrics use but the model does not."""
    role: Literal["signal", "context"] = "signal"
    """signal: something a CSM can change (usage, engagement, sentiment, relationship, support,
    billing behaviour); context: a fact that changes the probability but is no lever (renewal
    timing, term, size). Explanations name signals as drivers and report context apart."""
    fill: float | None = None
    """Value when there is nothing to compute from (overrides the kind's default)."""
    healthier: Literal["higher", "lower"] | None = None
    """Which way the signal is healthier: higher (usage, NPS), lower (days since active, late
    invoices), or unsaid (ticket volume: engaged customers file tickets too). The gradient-
    boosted models are held to it (monotone constraints, `train.monotone`), and no driver
    calls a value worse than its segment's typical one a help, or a better one a drag."""
    label: str = Field("", max_length=80)
    """How a person reads its name ("Licenses active, 30 days"); default: one made from the
    kind and definition (`features.formats.label`). The JSON and parquet keep `name`."""
    format: Format | None = None
    """How its value reads: percent (0.08 → 8%), change (0.25 → +25%), count, days, days_ago
    (45 → 45 days ago), hours, money (in data.currency), yes_no, signed (+2), number (three
    significant digits); default: from the kind (`features.formats.format_of`)."""
    when_true: str = Field("", max_length=80)
    """A yes/no feature's words when it holds ("a champion in place"); default "yes"."""
    when_false: str = Field("", max_length=80)
    """A yes/no feature's words when it does not ("no champion"); default "no"."""


class _TableMetric(_Metric):
    table: str
    filter: dict[str, FilterValue] = {}


class _Windowed(_TableMetric):
    window: str = "all"

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, v: Any) -> str:
        return _window_text(v)

    @property
    def days(self) -> int | None:
        return parse_window(self.window)


class Aggregate(_Windowed):
    """agg of column over the rows in [as_of − window, as_of) that pass the filter."""

    kind: Literal["aggregate"]
    column: str | None = None
    agg: Agg = "count"


class PctChange(_Windowed):
    """Relative change of agg(column) between the last window and the one before it."""

    kind: Literal["pct_change"]
    column: str | None = None
    agg: Literal["count", "sum", "mean", "max"] = "sum"
    window: str = "30d"


class Slope(_Windowed):
    """Linear trend of the daily sum of column over the window, as a share of its daily mean
    per 30 days (relative) or in units per day."""

    kind: Literal["slope"]
    column: str
    window: str = "90d"
    relative: bool = True


class DaysSince(_TableMetric):
    """Days from the latest row passing the filter to as_of; null when there is none."""

    kind: Literal["days_since"]


class Latest(_Windowed):
    """Value of column in the latest row (offset 0) or the one before (offset 1) in the window."""

    kind: Literal["latest"]
    column: str
    offset: int = Field(0, ge=0, le=10)


class Ratio(_Metric):
    """numerator / denominator × scale; null when the denominator is 0 or missing."""

    kind: Literal["ratio"]
    numerator: str
    denominator: str
    scale: float = 1.0


class Difference(_Metric):
    """left − right."""

    kind: Literal["difference"]
    left: str
    right: str


class Flag(_Metric):
    """1 when `metric op value` holds, else 0 (missing counts as 0)."""

    kind: Literal["flag"]
    metric: str
    op: Op = "gt"
    value: float = 0.0


class External(_Metric):
    """A feature computed elsewhere (your warehouse): `column` (default: the metric's name) of
    the `features` table, in the account's latest row dated on or before as_of and at most
    `max_age` before it; null when there is none (or `fill`)."""

    kind: Literal["external"]
    table: Literal["features"] = "features"
    column: str | None = None
    max_age: str = "35d"

    @field_validator("max_age", mode="before")
    @classmethod
    def _age(cls, v: Any) -> str:
        return _window_text(v)

    @property
    def days(self) -> int | None:
        return parse_window(self.max_age)

    @property
    def source_column(self) -> str:
        return self.column or self.name


Metric = Annotated[
    Aggregate | PctChange | Slope | DaysSince | Latest | Ratio | Difference | Flag | External,
    Field(discriminator="kind"),
]
TABLE_KINDS = (Aggregate, PctChange, Slope, DaysSince, Latest)
_ADAPTER = TypeAdapter(list[Metric])


def _refs(m: _Metric) -> list[str]:
    if isinstance(m, Ratio):
        return [m.numerator, m.denominator]
    if isinstance(m, Difference):
        return [m.left, m.right]
    if isinstance(m, Flag):
        return [m.metric]
    return []


def _check_table_metric(m: _TableMetric, specs: dict[str, Table]) -> list[str]:
    if m.table not in specs:
        return [f"metric {m.name}: unknown table {m.table!r} (known: {', '.join(specs)})"]
    spec = specs[m.table]
    problems = []
    column = getattr(m, "column", None)
    needed = ([column] if column else []) + list(m.filter)
    for col in needed:
        if column_kind(spec, col) is None:
            known = [c.name for c in spec.columns] + [d.name for d in DERIVED.get(spec.name, ())]
            problems.append(
                f"metric {m.name}: unknown column {m.table}.{col} (known: {', '.join(known)})"
            )
    if problems:
        return problems
    if isinstance(m, DaysSince | Latest) and any(
        d.name in m.filter for d in DERIVED.get(spec.name, ())
    ):
        problems.append(f"metric {m.name}: {m.kind} filters may use only the table's own columns")
    agg = getattr(m, "agg", None)
    kind = column_kind(spec, column) if column else None
    if agg in NUMERIC_AGGS or isinstance(m, Slope):
        if kind not in ("int", "number", "bool"):
            problems.append(
                f"metric {m.name}: {agg or 'slope'} needs a numeric column, "
                f"{m.table}.{column} is {kind}"
            )
    elif agg in ("min", "max") and kind in ("string", "id"):
        problems.append(f"metric {m.name}: {agg} needs a numeric or date column")
    elif agg in ("sum", "mean", "median", "min", "max") and column is None:
        problems.append(f"metric {m.name}: {agg} needs a column")
    return problems


def order_metrics(metrics: list[_Metric]) -> list[_Metric]:
    """Metrics sorted so that every reference comes before its use; raises on cycles."""
    by_name = {m.name: m for m in metrics}
    done: dict[str, bool] = {}
    out: list[_Metric] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if done.get(name):
            return
        if name in path:
            raise ConfigError([f"metrics {' → '.join((*path, name))}: circular reference"])
        for ref in _refs(by_name[name]):
            if ref in by_name:
                visit(ref, (*path, name))
        done[name] = True
        out.append(by_name[name])

    for m in metrics:
        visit(m.name, ())
    return out


def load_metrics(path: Path | str, segments: list[str]) -> list[_Metric]:
    """Read and check metric definitions; problems are reported one line per metric."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: no such feature definitions file"])
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (UnicodeDecodeError, OSError, yaml.YAMLError):
        raise ConfigError([f"{path}: not a readable YAML file"]) from None
    items = raw.get("metrics") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise ConfigError([f"{path}: expected a top-level 'metrics:' list"])
    return check_metrics(items, segments, str(path))


def check_metrics(items: list[dict], segments: list[str], where: str = "features") -> list:
    problems: list[str] = []
    metrics: list[_Metric] = []
    for i, item in enumerate(items):
        name = item.get("name", f"#{i + 1}") if isinstance(item, dict) else f"#{i + 1}"
        try:
            metrics.append(_ADAPTER.validate_python([item])[0])
        except ValidationError as err:
            for e in err.errors():
                loc = ".".join(str(p) for p in e["loc"][2:]) or "kind"
                msg = e["msg"].removeprefix("Value error, ")
                problems.append(f"{where}: metric {name}: {loc}: {msg}")
    specs = contract(segments)
    names = [m.name for m in metrics]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}: metric {dup}: defined more than once")
    known = set(names) | set(GRID_COLUMNS)
    for m in metrics:
        if m.name in GRID_COLUMNS:
            problems.append(f"{where}: metric {m.name}: name is taken by a built-in column")
        if isinstance(m, TABLE_KINDS):
            problems += [f"{where}: {p}" for p in _check_table_metric(m, specs)]
        for ref in _refs(m):
            if ref not in known:
                problems.append(f"{where}: metric {m.name}: refers to unknown metric {ref!r}")
    if problems:
        raise ConfigError(problems)
    return order_metrics(metrics)


def directions(definitions: list[dict]) -> dict[str, int]:
    """Feature → +1 when higher values are healthier, -1 when lower are (declared signals
    only; context is never constrained)."""
    sign = {"higher": 1, "lower": -1}
    return {
        d["name"]: sign[d["healthier"]]
        for d in definitions
        if d.get("healthier") in sign and d.get("role", "signal") == "signal"
    }
