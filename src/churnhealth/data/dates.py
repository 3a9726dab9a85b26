"""Text dates and local times of an export, read on the engine that holds it.

A source mapping (`data.mapping`) can declare a column's strptime format (`dates:`) and the
zone of timestamps written in local time (`timezones:`). Both compile to the engine's own
functions, so a PostgreSQL or Spark source is parsed on its server like a DuckDB file:

- DuckDB: `try_strptime` and `timezone(zone, ts)`, any strptime format DuckDB knows;
- Spark: `try_to_timestamp` with the format in Spark's pattern letters, `to_utc_timestamp`;
- PostgreSQL and other engines: `to_timestamp` (through Ibis) on the values that match the
  format's shape (a regular expression made from it; other values count as not a date),
  PostgreSQL's `timezone(zone, ts)`. Off DuckDB the format may use `%Y %y %m %d %H %M %S %f
  %b %B` and literal characters, the directives every engine here translates the same way.

A value that does not parse is never read as null silently: the caller counts them (a date
read as null would be a wrong end date).
"""

from __future__ import annotations

import datetime as dt
import re

import ibis
import ibis.expr.types as ir
from sqlglot.dialects.dialect import Dialect
from sqlglot.time import format_time

from churnhealth.errors import DataError

UTC_TIMESTAMP = ibis.dtype("timestamp('UTC')")

# strptime directive: a regular expression for its text (field ranges included, so that
# PostgreSQL's to_timestamp never sees a month 13)
_SHAPES = {
    "Y": "[0-9]{4}",
    "y": "[0-9]{2}",
    "m": "(0?[1-9]|1[0-2])",
    "d": "(0?[1-9]|[12][0-9]|3[01])",
    "H": "([01]?[0-9]|2[0-3])",
    "M": "[0-5]?[0-9]",
    "S": "[0-5]?[0-9]",
    "f": "[0-9]{1,6}",
    "b": "[A-Za-z]{3}",
    "B": "[A-Za-z]{3,9}",
    "%": "%",
}


def portable(fmt: str) -> str | None:
    """The directive of `fmt` that engines other than DuckDB cannot read, if any."""
    for directive in re.findall(r"%(.)", fmt.replace("%%", "")):
        if directive not in _SHAPES:
            return f"%{directive}"
    return None


def shape(fmt: str) -> str:
    """A regular expression matching the whole of a value written in `fmt`."""
    parts, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            parts.append(_SHAPES[fmt[i + 1]])
            i += 2
        else:
            parts.append("[ ]" if fmt[i] == " " else re.escape(fmt[i]))
            i += 1
    return "^" + "".join(parts) + "$"


def spark_pattern(fmt: str) -> str:
    """`fmt` in Spark's datetime pattern letters (dd/MM/yyyy for %d/%m/%Y)."""
    spark = Dialect.get_or_raise("spark")
    return format_time(fmt, spark.INVERSE_TIME_MAPPING, spark.INVERSE_TIME_TRIE)


def parse(text: ir.StringValue, fmt: str, engine: str) -> ir.TimestampValue:
    """`text` in strptime format `fmt` as a timestamp; null where it does not parse."""
    if engine == "duckdb":
        return _try_strptime(text, fmt)
    bad = portable(fmt)
    if bad is not None:
        raise DataError(
            [
                f"the format {fmt} uses {bad}, which only DuckDB reads; on {engine} use "
                "%Y %y %m %d %H %M %S %f %b %B and literal characters"
            ]
        )
    if engine == "pyspark":
        return _try_to_timestamp(text, spark_pattern(fmt))
    parsed = text.as_timestamp(fmt).cast("timestamp")
    return ibis.ifelse(text.re_search(shape(fmt)), parsed, ibis.null("timestamp"))


def to_utc(value: ir.TimestampValue, zone: str, engine: str) -> ir.TimestampValue:
    """A wall-clock time in `zone` as the UTC instant it names (a naive timestamp)."""
    if engine == "pyspark":
        return _to_utc_timestamp(value, zone)
    return _timezone(zone, value).cast("timestamp")


@ibis.udf.scalar.builtin(name="timezone")
def _timezone(zone: str, value: dt.datetime) -> UTC_TIMESTAMP:
    """DuckDB's and PostgreSQL's timezone(zone, timestamp): local time in `zone` as an instant."""


@ibis.udf.scalar.builtin(name="to_utc_timestamp")
def _to_utc_timestamp(value: dt.datetime, zone: str) -> dt.datetime:
    """Spark's to_utc_timestamp(timestamp, zone)."""


@ibis.udf.scalar.builtin(name="try_strptime")
def _try_strptime(value: str, fmt: str) -> dt.datetime:
    """DuckDB's strptime that gives null instead of failing."""


@ibis.udf.scalar.builtin(name="try_to_timestamp")
def _try_to_timestamp(value: str, fmt: str) -> dt.datetime:
    """Spark's to_timestamp that gives null instead of failing (Spark 3.5 and later)."""
