"""Computed columns of a source mapping (issue 3.5): what an expression may say, what it gives
on the engine, and the one line a bad one gets."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest
import yaml

from churnhealth.data.expressions import columns, compile_on, parse
from churnhealth.data.joins import looked_up
from churnhealth.data.mapping import load_mapping, read_raw
from churnhealth.errors import ConfigError, DataError


@pytest.fixture
def table():
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'America/New_York'")  # from_unix must not read the session's zone
    frame = pd.DataFrame(
        {
            "cents": [1050, 2000, None],
            "seats": [2, 0, 4],
            "Close Date": ["2024-01-31", "2024-02-01", None],
            "interval": ["year", "month", "year"],
            "price.unit_amount": [100.0, 250.0, 80.0],
            "due": [None, 1_507_766_400, None],
            "created": [1_507_852_799, 1_507_766_400, None],
            "Industry": ["Financial Services", "Retail", None],
        }
    )
    return con.create_table("export", frame)


def values(t, **exprs) -> pd.DataFrame:
    return t.select(**{k: compile_on(t, v, "export.csv") for k, v in exprs.items()}).execute()


def test_arithmetic_conditions_and_functions_run_on_the_engine(table):
    got = values(
        table,
        arr=r"round(cents / 100 * 12, 2)",
        per_seat="cents / seats",  # a division by zero is null, not an error or infinity
        term="12 if interval == 'year' else 1",
        annual="interval in ['year']",
        price="price.unit_amount * seats",
        industry=r"replace(lower(Industry), ' ', '_')",
        closed="`Close Date`",
        either="coalesce(from_unix(due), from_unix(created))",
    )
    assert got.arr.tolist()[:2] == [126.0, 240.0] and pd.isna(got.arr[2])
    assert got.per_seat[0] == 525.0 and pd.isna(got.per_seat[1]) and pd.isna(got.per_seat[2])
    assert got.term.tolist() == [12, 1, 12]
    assert got.annual.tolist() == [True, False, True]
    assert got.price.tolist() == [200.0, 0.0, 320.0]
    assert got.industry.tolist()[:2] == ["financial_services", "retail"]
    assert got.closed.tolist()[:2] == ["2024-01-31", "2024-02-01"]
    # Unix seconds are UTC: 1507852799 is the last second of 2017-10-12 whatever the zone
    assert got.either[0] == pd.Timestamp("2017-10-12 23:59:59")
    assert got.either[1] == pd.Timestamp("2017-10-12") and pd.isna(got.either[2])


def test_the_columns_an_expression_reads():
    assert columns("round(a * `b c` / price.unit_amount, 2)") == ["a", "b c", "price.unit_amount"]
    assert columns("coalesce(from_unix(due), from_unix(created))") == ["due", "created"]
    assert sorted(columns("price * 2 if price.kind == 'x' else price")) == ["price", "price.kind"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("__import__('os').system('x')", "is not a function here"),
        ("open('f')", "open() is not a function here"),
        ("a.b()", "a.b() is not a function here"),
        ("a[0]", "Subscript is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("[x for x in a]", "ListComp is not allowed"),
        ("a ** 2", "** is not allowed"),
        ("a < b < c", "one comparison at a time"),
        ("round(a, b)", "must be a whole number of digits"),
        ("round(a, ndigits=2)", "takes 1 to 2 arguments, by position"),
        ("replace(a, b, 'x')", "must be text in quotes"),
        ("coalesce(a)", "takes 2 to 99 arguments"),
        ("a in [b]", "a list may hold values only"),
        ("(a + 1).b", "only a column name may have dots"),
        ("a +", "is not an expression"),
    ],
)
def test_anything_else_is_refused_in_one_line(text, said):
    with pytest.raises(ValueError) as err:
        parse(text)
    assert said in str(err.value) and "\n" not in str(err.value)


def test_a_column_the_export_lacks_is_one_line_naming_it(table):
    with pytest.raises(DataError) as err:
        compile_on(table, "cents + fees", "invoices.csv: compute.amount (invoices.amount)")
    (line,) = err.value.problems
    assert line.startswith("invoices.csv: compute.amount (invoices.amount): no column fees")
    assert "it has cents, seats" in line


def _mapping(tmp_path, tables: dict):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"tables": tables}))
    return path


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ({"from": "a.csv", "compute": {"arr": "open('x')"}}, "compute: arr: \"open('x')\": open()"),
        ({"from": "a.csv", "compute": {"revenue": "x"}}, "compute.revenue: not a column"),
        (
            {"from": "a.csv", "columns": {"arr": "value"}, "compute": {"arr": "x"}},
            "arr is under both columns and compute",
        ),
        (
            {
                "from": "a.csv",
                "lookup": {"from": "b.csv", "on": "k", "take": ["x"], "unmatched": "skip"},
            },
            "unmatched: Input should be 'drop' or 'keep'",
        ),
    ],
)
def test_a_bad_computed_column_or_lookup_is_refused_when_the_mapping_is_read(tmp_path, table, said):
    with pytest.raises(ConfigError) as err:
        load_mapping(_mapping(tmp_path, {"subscriptions": table}))
    assert said in str(err.value)


def test_lookups_filter_rename_and_keep_unmatched_rows(tmp_path):
    """A lookup that reads only some of the other file's rows, names a column it takes anew,
    and keeps rows without a match (an end date only some contracts have)."""
    (tmp_path / "opps.csv").write_text(
        "Id,Type,Stage,CloseDate,Renews\n"
        "o1,New,Won,2024-01-01,\n"
        "o2,New,Won,2024-02-01,\n"
        "o3,Renewal,Won,2025-01-01,o1\n"
        "o4,Renewal,Lost,2025-02-01,o2\n"
    )
    mapping = load_mapping(
        _mapping(
            tmp_path,
            {
                "subscriptions": {
                    "from": "opps.csv",
                    "filter": {"Type": "New"},
                    "lookup": {
                        "from": "opps.csv",
                        "on": {"Id": "Renews"},
                        "filter": {"Stage": "Lost"},
                        "take": {"CloseDate": "lost_on"},
                        "unmatched": "keep",
                    },
                }
            },
        )
    )
    tm = mapping.tables["subscriptions"]
    con = ibis.duckdb.connect()
    raw, notes = looked_up(con, tmp_path, read_raw(con, tmp_path, tm, "subscriptions"), tm, "s")
    got = raw.filter(raw.Type == "New").order_by("Id").execute()
    assert got.Id.tolist() == ["o1", "o2"] and notes == []
    assert pd.isna(got.lost_on[0]) and got.lost_on[1] == pd.Timestamp("2025-02-01")
    tm.lookup[0].take = {"CloseDate": "CloseDate"}  # the name is taken: one line says so
    with pytest.raises(DataError, match=r"already has a column CloseDate .*another_name"):
        looked_up(con, tmp_path, read_raw(con, tmp_path, tm, "subscriptions"), tm, "s")
