"""Reading and writing the raw tables: a DuckDB file, a folder of CSV/Parquet files, or a
database server by its connection URL (PostgreSQL; any other Ibis backend by its URL).

Raw data is immutable: sources are opened read-only, and writes go to a temporary path that
replaces the target only once complete. A connection URL never carries a secret: libpq takes
it from the environment (PGPASSWORD), a password file (~/.pgpass) or a service file
(`postgresql://?service=crm`), so it appears in no configuration, command line or log.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qsl

import duckdb
import ibis
import ibis.expr.types as ir
import pandas as pd

from churnhealth.data.contract import EXTRA_TABLES, IBIS_TYPES, TABLE_NAMES, Table, contract
from churnhealth.data.joins import looked_up
from churnhealth.data.mapping import (
    SourceMapping,
    apply,
    read_csv,
    read_raw,
    timestamp_columns,
)
from churnhealth.errors import DataError
from churnhealth.location import Location, location, redact, refuse_secrets, split

_SUFFIXES = (".parquet", ".csv", ".csv.gz")


def _whole_days_on_postgres() -> None:
    """Compile a date difference in days to PostgreSQL's own `date - date`, a whole number.

    Ibis 12 goes through numeric epoch seconds (`CAST(EXTRACT(epoch FROM …) / 86400 AS
    BIGINT)`), the same value computed in PostgreSQL's slow numeric type; the feature queries
    evaluate `days_ago` for every joined row, and the usage query took 3.7× as long (11.3 s
    against 3.1 s on 300 accounts × 2 years). Other parts (months, years) keep Ibis's rule.
    `tests/data/test_postgres.py` checks the features against DuckDB's."""
    import ibis.expr.operations as ops
    import sqlglot.expressions as sge
    from ibis.backends.sql.compilers.postgres import PostgresCompiler

    if getattr(PostgresCompiler, "_churnhealth_days", False):
        return
    general = PostgresCompiler.visit_DateDelta

    def visit_DateDelta(self, op, *, part, left, right):
        if isinstance(op.part, ops.Literal) and str(op.part.value).lower() == "day":
            return sge.Sub(this=left, expression=right)
        return general(self, op, part=part, left=left, right=right)

    PostgresCompiler.visit_DateDelta = visit_DateDelta
    PostgresCompiler._churnhealth_days = True


def connect(url: str) -> tuple[ibis.BaseBackend, str | None]:
    """A connection to the database at `url`; one line (never a secret) if it fails.

    `postgresql://user@host:port/database` (or `postgres://`) with the schema holding the
    tables as a path segment (`/database/schema`) or `?schema=`; other query parameters go to
    libpq (`sslmode`, `service`, …). `spark://local[2]?path=FOLDER` or
    `spark://host:7077/database`: a Spark session (`_spark`). Other URLs are handed to
    `ibis.connect`. Returns the
    connection and the schema named, if any.
    """
    parts = split(url)
    if (refusal := refuse_secrets(url)) is not None:
        raise DataError([refusal])
    try:
        if parts.scheme.lower() in ("postgres", "postgresql"):
            database, _, schema = parts.path.lstrip("/").partition("/")
            query = dict(parse_qsl(parts.query))
            schema = query.pop("schema", None) or schema.strip("/") or None
            kwargs = {
                "host": parts.hostname,
                "user": parts.username,
                "port": parts.port,  # None: PGPORT, the service file or 5432, as libpq says
                "database": database or None,
                "schema": schema,
            }
            # libpq's own spelling in the query (`?host=/run/postgresql`, `?user=`, `?port=`,
            # `?dbname=`) fills what the URL left empty; given in both places, it is refused
            for key in ("host", "user", "port"):
                if key in query:
                    if kwargs[key] is not None:
                        raise DataError(
                            [f"{redact(url)}: {key} is given twice (in the URL and as ?{key}=)"]
                        )
                    value = query.pop(key)
                    if key == "port" and not value.isdigit():
                        raise DataError([f"{redact(url)}: ?port={value} is not a port number"])
                    kwargs[key] = int(value) if key == "port" else value
            if "dbname" in query:
                if kwargs["database"] is not None:
                    raise DataError(
                        [f"{redact(url)}: the database is given twice (in the URL and as ?dbname=)"]
                    )
                kwargs["database"] = query.pop("dbname")
            _whole_days_on_postgres()
            con = ibis.postgres.connect(**kwargs, **query)
            if schema is not None and schema not in con.list_databases():
                found = [d for d in con.list_databases() if not d.startswith(("pg_", "info"))]
                raise DataError(
                    [f"{redact(url)}: no schema {schema} (the database has {', '.join(found)})"]
                )
            return con, schema
        if parts.scheme.lower() == "spark":
            return _spark(parts), parts.path.strip("/") or None
        return ibis.connect(url), None
    except DataError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError([f"{redact(url)}: cannot connect ({redact(first)})"]) from None


@dataclass
class Source:
    """The tables found at a path, as lazy Ibis expressions on one backend connection.

    `notes`: what was repaired on the way (e.g. churn records reconciled with subscriptions,
    `data.churn`); `churn_records`: the recorded churns that date a churn, with their reasons."""

    path: Location
    con: ibis.BaseBackend
    tables: dict[str, ir.Table]
    notes: list[str] = field(default_factory=list)
    churn_records: pd.DataFrame | None = None
    mapping: SourceMapping | None = None
    """The source mapping that made the tables, if any (problems are then said in its names)."""

    def __contains__(self, name: str) -> bool:
        return name in self.tables

    def close(self) -> None:
        """Let the engine go once everything is read: an embedded DuckDB frees its buffers
        (up to `data.memory_limit`) for the scoring that follows. Spark sessions are shared by
        the process and stay up."""
        if self.con.name != "pyspark":
            self.con.disconnect()

    def columns(self) -> dict[str, set[str]]:
        """Each table's columns."""
        return {name: set(t.columns) for name, t in self.tables.items()}

    def typed(self, spec: Table) -> ir.Table:
        """The table with every contract column cast to its canonical type (after validation).

        Columns already of that type are left as they are, so the backend can still use their
        statistics (min/max) and skip blocks when filtering on them."""
        t = self.tables[spec.name]
        casts = {}
        for col in spec.columns:
            if col.name not in t.columns:
                continue
            target = IBIS_TYPES[col.kind]
            if t[col.name].type().copy(nullable=True) == ibis.dtype(target):
                continue
            if col.kind == "date":
                casts[col.name] = t[col.name].cast("timestamp").cast("date")
            else:
                casts[col.name] = t[col.name].cast(target)
        return t.mutate(**casts) if casts else t


def temp_table(con: ibis.BaseBackend, name: str, obj) -> ir.Table:
    """`obj` (an expression or Arrow data) as a table of the session: a temporary table, or a
    temporary view on engines without them (Spark); dropped by `drop_temp` or at disconnect."""
    try:
        return con.create_table(name, obj, temp=True, overwrite=True)
    except NotImplementedError:
        expr = obj if isinstance(obj, ir.Table) else ibis.memtable(obj)
        return con.create_view(name, expr, overwrite=True)


def drop_temp(con: ibis.BaseBackend, name: str) -> None:
    try:
        con.drop_table(name, force=True)
    except Exception:
        con.drop_view(name, force=True)


def day_literal(column: ir.Value, day) -> ir.Value:
    """`day` as a literal comparable with `column`: the date, or its midnight for a timestamp."""
    day = pd.Timestamp(day)
    return ibis.literal(day.to_pydatetime() if column.type().is_timestamp() else day.date())


def truncate(source: Source, as_of, specs: dict[str, Table]) -> Source:
    """The source as it was before `as_of`: rows dated on or after it are gone, and values
    revealed on or after it (end dates, closing times, payments, ticket CSAT) read as null."""
    tables = {}
    for name, t in source.tables.items():
        spec = specs.get(name)
        if spec is None or spec.time is None or spec.time not in t.columns:
            tables[name] = t
            continue
        t = source.typed(spec)

        def before(col: str, t: ir.Table = t) -> ir.BooleanValue:
            return t[col] < day_literal(t[col], as_of)

        masked = {
            c.name: ibis.ifelse(before(c.known_at), t[c.name], ibis.null(t[c.name].type()))
            for c in spec.columns
            if c.known_at and c.name in t.columns and c.known_at in t.columns
        }
        t = t.filter(before(spec.time))
        tables[name] = t.mutate(**masked) if masked else t
    return replace(source, tables=tables)


def _spark(parts) -> ibis.BaseBackend:
    """A Spark session for `spark://MASTER[/database][?path=FOLDER&spark.conf=value…]`:
    MASTER is `local[N]` (this machine) or a standalone master's host:port. With `path`, the
    folder's `<name>.parquet` files are tables of that name (temporary views); otherwise the
    tables of the database in the session's catalog."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise DataError(
            ["spark: PySpark is not installed (pip install 'pyspark>=3.5,<4.1'; it needs Java 17)"]
        ) from None
    master = parts.netloc or "local[*]"
    query = dict(parse_qsl(parts.query))
    folder = query.pop("path", None)
    if folder and not Path(folder).is_dir():  # before a JVM is started for nothing
        raise DataError([f"spark://{master}: path {folder} is not a folder"])
    builder = (
        SparkSession.builder.master(master if master.startswith("local") else f"spark://{master}")
        .appName("churnhealth")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    logging = Path(__file__).with_name("log4j2.properties")  # errors only on stderr
    query.setdefault("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={logging}")
    for key, value in query.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        hint = " (is Java 17 installed?)" if "JAVA" in str(exc).upper() else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError([f"spark://{master}: cannot start Spark{hint} ({first})"]) from None
    session.sparkContext.setLogLevel("ERROR")
    if folder:  # every Parquet file, so that a source mapping can name an export's own
        for f in sorted(Path(folder).glob("*.parquet")):
            if f.stem.isidentifier():
                session.read.parquet(str(f)).createOrReplaceTempView(f.stem)
    return ibis.pyspark.connect(session)


_SPILL: list[str] = []
"""The temporary folder DuckDB spills to in this process (made on first use)."""


def configure_duckdb(con: ibis.BaseBackend, limit: str | None) -> None:
    """Settings of an embedded DuckDB: its own progress bar off (it writes to stdout, which
    commands keep for their results), and at most `limit` of memory (`data.memory_limit`),
    beyond which it spills to a temporary folder of its own, removed when the process exits.
    DuckDB runs inside the churnhealth process, so the limit bounds most of its peak on large
    books. Other engines manage their memory on their own side: nothing to do."""
    if con.name != "duckdb":
        return
    with contextlib.suppress(Exception):  # in Jupyter DuckDB draws it as a widget instead
        con.raw_sql("SET enable_progress_bar = false")
    if limit is None:
        return
    if not _SPILL:
        _SPILL.append(tempfile.mkdtemp(prefix="churnhealth-spill-"))
        atexit.register(shutil.rmtree, _SPILL[0], ignore_errors=True)
    con.raw_sql(f"SET memory_limit = '{limit}'")
    con.raw_sql(f"SET temp_directory = '{_SPILL[0]}'")


def open_source(
    path: Location, mapping: SourceMapping | None = None, memory_limit: str | None = None
) -> Source:
    """Open a DuckDB database file (read-only), a folder of `<table>.csv|.parquet` files, or
    the database at a connection URL (`connect`).

    With a source `mapping` (`data.mapping`), the tables it names are made from the export as
    it describes; the others are still read under their contract names. `memory_limit`: the
    most memory an embedded DuckDB may use (`configure_duckdb`)."""
    path = location(path)
    known = set(TABLE_NAMES) | set(EXTRA_TABLES)
    mapped = set(mapping.tables) if mapping else set()
    if isinstance(path, str):
        con, schema = connect(path)
        names = set(con.list_tables(database=schema))
        tables = {n: con.table(n, database=schema) for n in sorted((known - mapped) & names)}
    elif path.is_dir():
        con = ibis.duckdb.connect()
        tables: dict[str, ir.Table] = {}
        for name in sorted(known - mapped):
            files = [path / f"{name}{s}" for s in _SUFFIXES if (path / f"{name}{s}").is_file()]
            if len(files) > 1:
                raise DataError(
                    [
                        f"{name}: found {', '.join(f.name for f in files)} in {path} "
                        "(expected exactly one file per table)"
                    ]
                )
            if not files:
                continue
            f = files[0]
            try:
                if f.suffix == ".parquet":
                    tables[name] = con.read_parquet(f, table_name=name)
                else:
                    tables[name] = read_csv(con, f, name, times=timestamp_columns(name))
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise DataError([f"{name}: cannot read {f} ({first})"]) from None
    elif path.is_file():
        try:
            con = ibis.duckdb.connect(str(path), read_only=True)
            names = set(con.list_tables())
        except Exception as exc:
            first = str(exc).strip().splitlines()[0]
            raise DataError([f"{path}: not a readable DuckDB database ({first})"]) from None
        tables = {n: con.table(n) for n in sorted((known - mapped) & names)}
    else:
        raise DataError([f"{path}: no such DuckDB file or folder of CSV/Parquet tables"])
    configure_duckdb(con, memory_limit)
    notes: list[str] = []
    if mapping:
        specs = contract(["_"])
        for name, tm in mapping.tables.items():
            raw, said = looked_up(con, path, read_raw(con, path, tm, name), tm, name)
            tables[name] = apply(raw, tm, specs[name])
            notes += said
    return Source(path, con, dict(sorted(tables.items())), notes=notes, mapping=mapping)


def write_tables(path: Path | str, frames: Mapping[str, pd.DataFrame]) -> Path:
    """Write tables atomically: to a `.duckdb` file, or else to a folder of Parquet files.

    The target is replaced only once everything is written, so a failure leaves what was
    there before untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    is_db = path.suffix == ".duckdb"
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        if is_db:
            db = tmp / path.name
            with duckdb.connect(str(db)) as con:
                for name, df in frames.items():
                    cols = ", ".join(
                        f'CAST("{c}" AS VARCHAR) AS "{c}"'
                        if isinstance(df[c].dtype, pd.CategoricalDtype)
                        else f'"{c}"'
                        for c in df.columns
                    )
                    con.register("_frame", df)
                    con.execute(f'CREATE TABLE "{name}" AS SELECT {cols} FROM _frame')
                    con.unregister("_frame")
                con.execute("CHECKPOINT")
            os.replace(db, path)
        else:
            for name, df in frames.items():
                df.to_parquet(tmp / f"{name}.parquet", index=False)
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
