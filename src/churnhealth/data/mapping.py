"""Source mappings: a user's export described in YAML instead of reshaped in pandas.

A mapping says, per contract table, where its rows are and how the export's columns become the
contract's (`configs/examples/` has one per common export: Stripe, Salesforce, HubSpot,
Segment-style events, a CRM folder, a warehouse). Every step is an Ibis expression on the export
as it is read, so it runs where the data lives:

```yaml
tables:
  accounts:
    from: customers.csv              # a file in the --data folder (CSV, CSV.gz, Parquet; a glob
                                     # is fine), or a table of the --data DuckDB file
    allow_outside: false             # true: `from` may name a file outside the --data folder
    filter: {is_test: false}         # keep matching rows (the export's columns; feature syntax)
    columns: {account_id: customer_id, segment: plan}   # contract column: the export's column
    values:                          # per contract column, the export's value: the contract's
      segment: {Enterprise: enterprise, Growth: mid_market, Starter: smb}
    dates: {created_at: "%d/%m/%Y"}  # text dates and timestamps: their strptime format
    constants: {industry: unknown}   # a column the export does not have
    compute: {arr: "value_cents / 100"}   # an expression over the export's columns
    timezones: {}                    # zone of timestamps written in local time, no offset
  usage:
    from: feature_usage.csv          # keyed by subscription, not by account:
    lookup:                          # columns from another file or table, by key (many-to-one)
      - {from: subscriptions.csv, on: subscription_id, take: [account_id]}
    aggregate: {events: sum, active_users: max}  # rows that collide on the contract's key
```

A lookup's key must name at most one row of the other file (one line names a key that matches
twice); rows of the export whose key it lacks are dropped and counted in a note. `aggregate`
says how rows that share the contract table's key combine (the export finer than the contract:
usage per subscription, the contract's per account); every other column must be named.

A contract column that is not mapped is read under its own name, if the export has it. Values a
map does not name are kept as they are when the map's targets are text (validation then
reports them), and become null otherwise. Problems found on a mapped table are reported with
the export's file and column: `customers.csv: plan (accounts.segment): value outside the
allowed set in 2 rows (…)`.
"""

from __future__ import annotations

import dataclasses
import glob
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from churnhealth.data.contract import IBIS_TYPES, TEMPORAL, Problem, Table, contract
from churnhealth.data.dates import parse as parse_dates
from churnhealth.data.dates import to_utc
from churnhealth.data.expressions import compile_on, parse
from churnhealth.data.filters import FilterValue, predicate
from churnhealth.errors import ConfigError, DataError

Agg = Literal["sum", "max", "min", "mean", "any", "all"]


class Lookup(BaseModel):
    """Columns taken from another file or table by key."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", description="File (in the --data folder) or table name.")
    on: str | dict[str, str] = Field(
        description="The key: a column both have, or {this export's column: the other's}."
    )
    take: dict[str, str] = Field(
        min_length=1,
        description="The other's columns to add: a list, or {the other's column: its name "
        "here} when this export has a column of that name already.",
    )
    filter: dict[str, FilterValue] = Field(
        {}, description="Only the other's rows matching all of these (feature syntax)."
    )
    unmatched: Literal["drop", "keep"] = Field(
        "drop",
        description="Rows whose key the other lacks: dropped and counted in a note, or kept "
        "with the taken columns null (e.g. an end date only some rows have).",
    )
    at: dict[str, str] | None = Field(
        None,
        description="{this export's time column: the other's}: each row takes the other's row "
        "of its key in force at its time (the latest at or before it), for identify records "
        "that change over time.",
    )
    allow_outside: bool = Field(False, description="`from` may be outside the --data folder.")

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        """YAML 1.1 reads a bare `on:` key as the boolean true: it means `on`."""
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("take", mode="before")
    @classmethod
    def _named(cls, v: Any) -> Any:
        return {c: c for c in v} if isinstance(v, list | tuple) else v

    @field_validator("at")
    @classmethod
    def _one_time(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is not None and len(v) != 1:
            raise ValueError("at: one time column, e.g. {timestamp: since}")
        return v

    @field_validator("on")
    @classmethod
    def _one_key(cls, v: str | dict[str, str]) -> str | dict[str, str]:
        if isinstance(v, dict) and len(v) != 1:
            raise ValueError("on: one key column, e.g. {sub_id: subscription_id}")
        return v

    @property
    def keys(self) -> tuple[str, str]:
        """(this export's key column, the other's)."""
        return (self.on, self.on) if isinstance(self.on, str) else next(iter(self.on.items()))


class TableMapping(BaseModel):
    """Where one contract table comes from and how its columns are made."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", description="File (in the --data folder) or table name.")
    allow_outside: bool = Field(
        False, description="`from` may name a file outside the --data folder (said in a note)."
    )
    filter: dict[str, FilterValue] = Field({}, description="Keep rows matching all of these.")
    columns: dict[str, str] = Field({}, description="Contract column: the export's column.")
    values: dict[str, dict[Any, Any]] = Field({}, description="Value maps per contract column.")
    dates: dict[str, str] = Field({}, description="strptime formats of text date columns.")
    constants: dict[str, Any] = Field({}, description="Contract columns set to one value.")
    compute: dict[str, str] = Field(
        {},
        description="Contract column: an expression over the export's columns "
        "(`churnhealth.data.expressions`), e.g. arr: unit_amount * quantity * 12 / 100.",
    )
    timezones: dict[str, str] = Field(
        {}, description="IANA zone of timestamp columns written in local time without offset."
    )
    lookup: list[Lookup] = Field([], description="Columns from other files or tables, by key.")
    aggregate: dict[str, Agg] = Field(
        {}, description="How rows sharing the contract table's key combine, per column."
    )

    @field_validator("lookup", mode="before")
    @classmethod
    def _listed(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @field_validator("compute")
    @classmethod
    def _expressions(cls, v: dict[str, str]) -> dict[str, str]:
        bad = []
        for col, text in v.items():
            try:
                parse(str(text))
            except ValueError as exc:
                bad.append(f"{col}: {exc}")
        if bad:
            raise ValueError("; ".join(bad))
        return {col: str(text) for col, text in v.items()}

    @field_validator("timezones")
    @classmethod
    def _known_zones(cls, v: dict[str, str]) -> dict[str, str]:
        """IANA names such as America/New_York."""
        bad = []
        for col, zone in v.items():
            try:
                zoneinfo.ZoneInfo(zone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                bad.append(f"{col}: {zone!r} is not a time zone (expected e.g. America/New_York)")
        if bad:
            raise ValueError("; ".join(bad))
        return v


class SourceMapping(BaseModel):
    """The export: a `TableMapping` per contract table it provides."""

    model_config = ConfigDict(extra="forbid")

    tables: dict[str, TableMapping]

    @model_validator(mode="after")
    def _contract_names(self) -> SourceMapping:
        specs = contract(["_"])
        problems = []
        for name, tm in self.tables.items():
            if name not in specs:
                problems.append(f"tables.{name}: not a contract table ({', '.join(specs)})")
                continue
            known = set(specs[name].column_names)
            parts = ("columns", "values", "dates", "constants", "compute", "timezones", "aggregate")
            for part in parts:
                for col in getattr(tm, part):
                    if col not in known:
                        problems.append(
                            f"tables.{name}.{part}.{col}: not a column of {name} "
                            f"({', '.join(specs[name].column_names)})"
                        )
            pairs = (("columns", "constants"), ("columns", "compute"), ("compute", "constants"))
            for a, b in pairs:
                for col in sorted(set(getattr(tm, a)) & set(getattr(tm, b))):
                    problems.append(f"tables.{name}: {col} is under both {a} and {b}")
            for col in tm.timezones:
                if col in known and specs[name].column(col).kind != "timestamp":
                    problems.append(f"tables.{name}.timezones.{col}: not a timestamp column")
            if tm.aggregate and not specs[name].key:
                problems.append(
                    f"tables.{name}.aggregate: {name} has no key to combine rows by (tables "
                    f"with one: {', '.join(n for n, t in specs.items() if t.key)})"
                )
            for col in set(tm.aggregate) & set(specs[name].key):
                problems.append(
                    f"tables.{name}.aggregate.{col}: part of the key rows are combined by "
                    f"({', '.join(specs[name].key)})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_mapping(path: Path | str | None) -> SourceMapping | None:
    """Read and check a mapping file (None: no mapping); one line per problem."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: no such source mapping file"])
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (UnicodeDecodeError, OSError, yaml.YAMLError):
        raise ConfigError([f"{path}: not a readable YAML file"]) from None
    try:
        return SourceMapping.model_validate(raw)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            problems += [f"{path}: {loc + ': ' if loc else ''}{m}" for m in msg.split("; ")]
        raise ConfigError(problems) from None


def timestamp_columns(table: str, renamed: dict[str, str] | None = None) -> tuple[str, ...]:
    """The columns of contract table `table` read as timestamps, under their names in the
    export (`renamed`: contract column → export column)."""
    spec = contract(["x"]).get(table)
    if spec is None:
        return ()
    return tuple((renamed or {}).get(c.name, c.name) for c in spec.columns if c.kind == "timestamp")


def read_csv(
    con: ibis.BaseBackend,
    target: Path,
    table_name: str,
    types: dict[str, str] | None = None,
    times: tuple[str, ...] = (),
) -> ir.Table:
    """A CSV file, its `types` forced. DuckDB types a column from a sample of its first rows: a
    timestamp column (`times`) whose sampled values are all bare dates ("2025-01-03") is read
    as a DATE, and every later time of day is cut off without a word. Such a column is read
    again as text, to be cast to a timestamp where the table is typed (`Source.typed`)."""
    t = con.read_csv(target, table_name=table_name, types=types or None)
    cut = {c: "VARCHAR" for c in times if c in t.columns and t[c].type().is_date()}
    if not cut:
        return t
    return con.read_csv(target, table_name=table_name, types={**(types or {}), **cut})


def read_raw(
    con: ibis.BaseBackend,
    root: Path | str,
    tm: TableMapping | Lookup,
    name: str,
    also_text: tuple[str, ...] = (),
) -> ir.Table:
    """The export's rows for contract table `name` (or a lookup of it): a file under `root` (a
    folder), or a table of the connection `con` (when `root` is a DuckDB file or a URL).
    `also_text`: a lookup's columns to read from a CSV file as text (the table parses them with
    a date format)."""
    if isinstance(root, Path) and root.is_dir():
        target = _target(root, tm.source)
        if not tm.allow_outside and _outside(root, target):
            raise DataError(
                [
                    f"{name}: {tm.source} is outside the data folder {root} (expected a file in "
                    "it; allow_outside: true on the table's mapping reads it)"
                ]
            )
        suffix = "".join(target.suffixes[-2:]) if target.suffix == ".gz" else target.suffix
        try:
            if suffix == ".parquet":
                return con.read_parquet(target, table_name=f"raw_{_ident(name)}")
            if suffix in (".csv", ".csv.gz", ".tsv"):
                # columns with a declared date format or a value map are read as text: the
                # reader's own detection could take 03/04 for March 4th, or Yes for true
                if isinstance(tm, Lookup):  # its `since` as text, cast where it is compared:
                    # DuckDB's sniffer takes 2000-01-01 for a DATE and cuts later times off
                    text = {c: "VARCHAR" for c in [*(tm.at or {}).values(), *also_text]}
                else:  # a lookup's columns are read from its own file
                    taken = {here for lk in tm.lookup for here in lk.take.values()}
                    written = [*tm.dates, *tm.values]
                    read = {tm.columns.get(c, c) for c in written if c not in tm.compute}
                    text = {c: "VARCHAR" for c in sorted(read) if c not in taken}
                times = () if isinstance(tm, Lookup) else timestamp_columns(name, tm.columns)
                return read_csv(con, target, f"raw_{_ident(name)}", text, times)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError([f"{name}: cannot read {target} ({first})"]) from None
        raise DataError([f"{name}: {target}: expected a .csv, .csv.gz or .parquet file"])
    if tm.source not in con.list_tables():
        raise DataError([f"{name}: no table {tm.source!r} in {root}"])
    return con.table(tm.source)


def _ident(name: str) -> str:
    """`name` as part of a table name ("usage lookup 1" → "usage_lookup_1")."""
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def _aggregated(t: ir.Table, tm: TableMapping, spec: Table) -> ir.Table:
    """Rows sharing `spec`'s key combined as `tm.aggregate` says, on the engine; a column it
    does not name is one `DataError` line."""
    key = [c for c in spec.key if c in t.columns]
    rest = [c for c in t.columns if c not in key]
    unnamed = [c for c in rest if c not in tm.aggregate]
    if unnamed:
        raise DataError(
            [
                f"{tm.source}: aggregate: say how rows sharing {', '.join(spec.key)} combine "
                f"{', '.join(unnamed)} ({spec.name}; sum, max, min, mean, any or all)"
            ]
        )
    return t.group_by(key).aggregate(**{c: getattr(t[c], tm.aggregate[c])() for c in rest})


def _target(root: Path, source: str) -> Path:
    """The path `from` names: relative to the data folder unless absolute."""
    return Path(source) if Path(source).is_absolute() else root / source


def _outside(root: Path, target: Path) -> Path | None:
    """The first file `target` (a path or a glob) reaches outside `root`, once `..` and symlinks
    are resolved (a glob: the pattern itself, then each file it matches); None if none does."""
    base = root.resolve()
    paths = [target, *map(Path, sorted(glob.glob(str(target), recursive=True)))]
    return next((p.resolve() for p in paths if not p.resolve().is_relative_to(base)), None)


def outside_notes(mapping: SourceMapping, root: Path) -> list[str]:
    """One note per table read from outside the data folder `root` (with `allow_outside`)."""
    notes = []
    for name, tm in mapping.tables.items():
        if tm.allow_outside and (found := _outside(root, _target(root, tm.source))):
            notes.append(
                f"{name}: read from {found}, outside the data folder {root} (allow_outside: "
                "true in the source mapping)"
            )
    return notes


def apply(raw: ir.Table, tm: TableMapping, spec: Table) -> ir.Table:
    """The contract table made from the export's rows `raw` (its columns only)."""
    where = f"{tm.source}"
    missing = [c for c in tm.filter if c not in raw.columns]
    missing += [v for v in tm.columns.values() if v not in raw.columns]
    if missing:
        raise DataError(
            [
                f"{where}: no column {c} (for {spec.name}; it has {', '.join(raw.columns)})"
                for c in dict.fromkeys(missing)
            ]
        )
    engine = ibis.get_backend(raw).name
    t = raw.filter(predicate(raw, tm.filter)) if tm.filter else raw
    out: dict[str, ir.Value] = {}
    for col in spec.columns:
        target = IBIS_TYPES[col.kind]
        if col.name in tm.constants:
            value = tm.constants[col.name]
            out[col.name] = ibis.null(target) if value is None else ibis.literal(value).cast(target)
            continue
        name = tm.columns.get(col.name, col.name)
        if col.name in tm.compute:
            name = f"compute.{col.name}"
            c = compile_on(t, tm.compute[col.name], f"{where}: {name} ({spec.name}.{col.name})")
        elif name not in t.columns:
            continue
        else:
            c = t[name]
        if col.name in tm.values:
            c = _map_values(c, tm.values[col.name])
        if col.name in tm.dates and col.kind in TEMPORAL and c.type().is_string():
            label = f"{where}: {name} ({spec.name}.{col.name})"
            c = _parse_dates(t, c, tm.dates[col.name], label, engine)
            c = c.date() if col.kind == "date" else c
        if col.name in tm.timezones and c.type().is_timestamp():
            if c.type().timezone is not None:
                raise DataError(
                    [
                        f"{where}: {name} ({spec.name}.{col.name}): its values carry a time "
                        f"zone already; remove timezones.{col.name} from the mapping"
                    ]
                )
            c = to_utc(c, tm.timezones[col.name], engine)
        out[col.name] = c
    if spec.open:  # the user's own columns (features) pass through under their names
        used = set(tm.columns.values()) | set(out)
        out |= {c: t[c] for c in t.columns if c not in used}
    if not out:  # not one contract column: one line naming what is needed and what is there
        needed = [c.name for c in spec.columns if not c.nullable]
        raise DataError(
            [
                f"{where}: no column {', '.join(needed)} (for {spec.name}; it has "
                f"{', '.join(raw.columns)}; name them under columns: in the source mapping)"
            ]
        )
    made = t.select(**out)
    return _aggregated(made, tm, spec) if tm.aggregate else made


def _parse_dates(t: ir.Table, c: ir.Value, fmt: str, where: str, engine: str) -> ir.Value:
    """Text dates `c` (a column of `t`, or computed from them) in `fmt` as timestamps, parsed
    on the engine (`churnhealth.data.dates`); values that do not parse are one `DataError` line
    (counted now: a date silently read as null would be a wrong end date)."""
    text = c.cast("string").strip().nullif("")
    try:
        parsed = parse_dates(text, fmt, engine)
    except DataError as err:
        raise DataError([f"{where}: {p}" for p in err.problems]) from None
    bad = t.filter(text.notnull() & parsed.isnull())
    try:
        n = int(bad.count().execute())
    except Exception as exc:  # e.g. PostgreSQL's to_timestamp on 31/02: out of range
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError([f"{where}: not a date in the format {fmt} ({engine}: {first})"]) from None
    if n:
        examples = bad.select(v=text).limit(3).execute().v.tolist()
        raise DataError(
            [
                f"{where}: not a date in the format {fmt} in {n:,} row{'s' if n != 1 else ''}; "
                f"e.g. {', '.join(map(str, examples))}"
            ]
        )
    return parsed


def _map_values(c: ir.Value, mapping: dict) -> ir.Value:
    """The export's values mapped to the contract's; unnamed values kept (text targets) or
    null (other targets)."""
    targets = list(mapping.values())
    text = all(isinstance(v, str) for v in targets)
    key = c.cast("string")
    branches = [(key == str(k), ibis.literal(v)) for k, v in mapping.items()]
    if text:
        return ibis.cases(*branches, else_=key)
    if all(isinstance(v, bool) for v in targets):
        kind = "boolean"
    elif all(isinstance(v, int) and not isinstance(v, bool) for v in targets):
        kind = "int64"
    else:
        kind = "float64"
    return ibis.cases(*[(k, v.cast(kind)) for k, v in branches], else_=ibis.null(kind))


def origin(mapping: SourceMapping, problem: Problem) -> Problem:
    """The problem, said in the export's own names when its table is mapped."""
    tm = mapping.tables.get(problem.table)
    if tm is None:
        return problem
    col = problem.column
    if col is None:
        where = tm.source
    elif col in tm.constants:
        where = f"{tm.source}: constant {col}"
    elif col in tm.compute:
        where = f"{tm.source}: compute.{col} = {tm.compute[col]}"
    else:
        where = f"{tm.source}: {tm.columns.get(col, col)}"
    return dataclasses.replace(problem, origin=where)
