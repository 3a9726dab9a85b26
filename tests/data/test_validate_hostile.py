"""Hostile input (issue 3.8): numbers that are not finite, files without a contract column,
account ids that differ only in whitespace or case, stacked subscriptions, mapped paths out of
the data folder, and validation of clean data without a warning. Each is one line (an error,
exit code 2) or a counted note, never a traceback."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from churnhealth.data.load import check, open_validated
from churnhealth.data.mapping import load_mapping
from churnhealth.data.repair import find_logging_changes
from churnhealth.errors import DataError
from churnhealth.synth import generate
from tests.conftest import cli

SEGMENTS = ["enterprise", "mid_market", "smb"]


def defective(src: Path, tmp_path: Path, *sql: str, name: str = "bad") -> Path:
    """A copy of the company at `src` with `sql` run on it."""
    path = tmp_path / f"{name}.duckdb"
    shutil.copy(src, path)
    with duckdb.connect(str(path)) as con:
        for stmt in sql:
            con.execute(stmt)
    return path


def problems(path: Path, **kw) -> list[str]:
    with pytest.raises(DataError) as err:
        check(path, SEGMENTS, **kw)
    return err.value.problems


def first_rows(table: str, n: int, order: str = "account_id") -> str:
    return f"rowid IN (SELECT rowid FROM {table} ORDER BY {order} LIMIT {n})"


# -- numbers that are not finite -------------------------------------------------------------

NON_FINITE = [
    pytest.param(
        "usage",
        "events",
        "'nan'",
        "usage.events: not a finite number in 2 rows (expected a finite number); "
        "e.g. account_id=A00001 date=",
        "events=nan",
        id="usage-events-nan",
    ),
    pytest.param(
        "usage",
        "active_users",
        "'inf'",
        "usage.active_users: not a finite number in 2 rows (expected a finite number); e.g. "
        "account_id=A00001",
        "active_users=inf",
        id="usage-active-users-inf",
    ),
    pytest.param(
        "invoices",
        "amount",
        "'nan'",
        "invoices.amount: not a finite number in 2 rows (expected a finite number); "
        "e.g. invoice_id=",
        "amount=nan",
        id="invoices-amount-nan",
    ),
    pytest.param(
        "accounts",
        "arr",
        "'-inf'",
        "accounts.arr: not a finite number in 2 rows (expected a finite number); "
        "e.g. account_id=A00001 arr=-inf",
        "",
        id="accounts-arr-minus-inf",
    ),
    pytest.param(
        "subscriptions",
        "arr",
        "'inf'",
        "subscriptions.arr: not a finite number in 2 rows (expected a finite number); "
        "e.g. subscription_id=",
        "arr=inf",
        id="subscriptions-arr-inf",
    ),
    pytest.param(
        "accounts",
        "licenses",
        "'nan'",
        "accounts.licenses: not a finite number in 2 rows (expected a finite number); "
        "e.g. account_id=A00001 licenses=nan",
        "",
        id="accounts-licenses-nan",
    ),
]


@pytest.mark.parametrize(("table", "column", "value", "start", "shown"), NON_FINITE)
def test_non_finite_numbers_are_one_line_each(
    small_db, tmp_path, table, column, value, start, shown
):
    """NaN and ±inf in a DOUBLE column (as Parquet and DuckDB store them, apart from NULL):
    one line with the rows, an account id and the value; the column is not cast (it crashed
    the cast to an integer)."""
    path = defective(
        small_db,
        tmp_path,
        f"ALTER TABLE {table} ALTER {column} TYPE DOUBLE",
        f"UPDATE {table} SET {column} = {value}::DOUBLE WHERE {first_rows(table, 2)}",
    )
    (line,) = problems(path)
    assert line.startswith(start), line
    assert shown in line and "account_id=A00001" in line


def test_a_non_finite_number_stops_the_cli_in_one_line(small_db, tmp_path):
    path = defective(
        small_db,
        tmp_path,
        "ALTER TABLE usage ALTER events TYPE DOUBLE",
        f"UPDATE usage SET events = 'nan'::DOUBLE WHERE {first_rows('usage', 3)}",
    )
    res = cli("validate", "--data", str(path), cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == "" and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("data error: usage.events: not a finite number in 3 rows"), line


def test_nan_in_a_nullable_column_is_read_as_null_with_a_note(small_db, tmp_path):
    """A NaN where the contract allows a null (a ticket's CSAT, a subscription's seats) is how
    a dataframe writes "missing": read as null, with a counted note; never compared as a
    number (DuckDB ranks NaN above every number: it was "above 5")."""
    path = defective(
        small_db,
        tmp_path,
        "ALTER TABLE subscriptions ALTER licenses TYPE DOUBLE",
        f"UPDATE tickets SET csat = 'nan'::DOUBLE WHERE {first_rows('tickets', 4)}",
        f"UPDATE subscriptions SET licenses = 'nan'::DOUBLE WHERE {first_rows('subscriptions', 2)}",
    )
    notes = check(path, SEGMENTS).notes
    assert any(
        n.startswith("tickets.csat: NaN in 4 rows, read as null (expected a finite number or ")
        and "account_id=A00001" in n
        for n in notes
    ), notes
    assert any(n.startswith("subscriptions.licenses: NaN in 2 rows, read as null") for n in notes)
    source = open_validated(path, SEGMENTS)
    assert any(n.startswith("tickets.csat: NaN in 4 rows") for n in source.notes)
    csat = source.tables["tickets"].csat
    assert csat.isnan().sum().execute() == 0
    assert csat.isnull().sum().execute() >= 4


def test_numbers_beyond_an_integer_and_negative_doubles_are_reported(small_db, tmp_path):
    """A count stored as DOUBLE is checked like an integer one: 1e300 cannot be cast to int64
    (it crashed), -1.0 is negative (it passed unchecked)."""
    path = defective(
        small_db,
        tmp_path,
        "ALTER TABLE usage ALTER events TYPE DOUBLE",
        f"UPDATE usage SET events = 1e300 WHERE {first_rows('usage', 1)}",
    )
    (line,) = problems(path)
    assert line.startswith("usage.events: not whole numbers within ±9.2e18 in 1 row (expected int)")
    path = defective(
        small_db,
        tmp_path,
        "ALTER TABLE usage ALTER events TYPE DOUBLE",
        f"UPDATE usage SET events = -1 WHERE {first_rows('usage', 2)}",
        name="negative",
    )
    (line,) = problems(path)
    assert line.startswith("usage.events: negative in 2 rows (expected ≥ 0)"), line


# -- account ids ------------------------------------------------------------------------------


def test_account_ids_are_compared_trimmed(small_db, tmp_path):
    """'A00001 ' in usage is A00001 of accounts (it was an unknown account): trimmed in every
    table, with a note per table, and read trimmed by every command."""
    path = defective(
        small_db,
        tmp_path,
        "UPDATE usage SET account_id = account_id || ' ' WHERE account_id = 'A00001'",
        "UPDATE tickets SET account_id = '  ' || account_id || chr(9) WHERE account_id = 'A00001'",
    )
    with duckdb.connect(str(path), read_only=True) as con:
        (n,) = con.execute("SELECT count(*) FROM usage WHERE account_id = 'A00001 '").fetchone()
    notes = check(path, SEGMENTS).notes
    assert f"usage.account_id: surrounding whitespace trimmed in {n:,} rows" in " ".join(notes)
    assert "e.g. 'A00001 '" in " ".join(notes)
    assert any(n.startswith("tickets.account_id: surrounding whitespace trimmed") for n in notes)
    source = open_validated(path, SEGMENTS)
    usage = source.tables["usage"]
    assert usage.filter(usage.account_id == "A00001").count().execute() == n


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "UPDATE accounts SET account_id = '' WHERE account_id = 'A00300'",
            "accounts.account_id: empty in 1 row (expected a non-empty id); e.g. account_id=''",
        ),
        (
            f"UPDATE usage SET account_id = '   ' WHERE {first_rows('usage', 2)}",
            "usage.account_id: empty in 2 rows (expected a non-empty id)",
        ),
        (
            f"UPDATE tickets SET account_id = NULL WHERE {first_rows('tickets', 1)}",
            "tickets.account_id: null in 1 row (expected a value in every row)",
        ),
    ],
    ids=["empty-account", "blank-usage", "null-ticket"],
)
def test_empty_or_null_account_ids_are_rejected(small_db, tmp_path, sql, expected):
    path = defective(small_db, tmp_path, sql)
    assert any(p.startswith(expected) for p in problems(path)), problems(path)


def test_ids_that_differ_only_in_case_stay_apart_with_a_note(small_db, tmp_path):
    path = defective(
        small_db,
        tmp_path,
        "INSERT INTO accounts SELECT * REPLACE (lower(account_id) AS account_id) FROM accounts "
        "WHERE account_id IN ('A00001', 'A00002')",
    )
    report = check(path, SEGMENTS)
    assert report.rows["accounts"] == 302
    (note,) = [n for n in report.notes if n.startswith("accounts.account_id")]
    assert note == (
        "accounts.account_id: 4 ids differ from another only in case (ids are case-sensitive: "
        "kept as different accounts); e.g. A00001 and a00001"
    )


# -- overlapping subscriptions ----------------------------------------------------------------


def test_overlapping_subscriptions_are_counted_in_a_note(small_db, tmp_path):
    """10,000 open subscriptions stacked on one account: a note says so (its ARR adds them up,
    as before; an option for it is a later issue)."""
    path = defective(
        small_db,
        tmp_path,
        "INSERT INTO subscriptions SELECT s.* REPLACE ('X' || lpad(i::VARCHAR, 6, '0') AS "
        "subscription_id, NULL AS end_date) FROM (SELECT * FROM subscriptions WHERE account_id "
        "= 'A00002' ORDER BY start_date DESC LIMIT 1) s, range(10000) r(i)",
    )
    with duckdb.connect(str(path), read_only=True) as con:
        (subs,) = con.execute(
            "SELECT count(*) FROM subscriptions WHERE account_id = 'A00002'"
        ).fetchone()
    report = check(path, SEGMENTS)
    (note,) = [n for n in report.notes if n.startswith("subscriptions:")]
    assert note.startswith("subscriptions: 1 account has overlapping subscriptions (")
    assert "at most 10,001 in force on one day, account_id=A00002" in note
    assert "rows whose dates overlap another of the same account" in note
    assert subs >= 10_001
    assert not [n for n in check(small_db, SEGMENTS).notes if n.startswith("subscriptions:")]


# -- a mapped file without any contract column ------------------------------------------------


def two_tables(folder: Path) -> Path:
    """A data folder with a subscriptions file (accounts come from the mapping)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,term_months,end_date,arr\n"
        "S1,A1,2024-01-05,12,,5000\n"
    )
    return folder


def mapping(tmp_path: Path, tables: dict) -> Path:
    """A source mapping file with `tables`."""
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"tables": tables}))
    return path


def test_a_mapped_file_with_no_contract_column_is_one_line(tmp_path):
    # on 3cb4c56: IbisTypeError "You must select at least one column for a valid projection"
    data = two_tables(tmp_path / "data")
    (data / "customers.csv").write_text("customer,tier\nA1,smb\n")
    m = load_mapping(mapping(tmp_path, {"accounts": {"from": "customers.csv"}}))
    assert problems(data, mapping=m) == [
        "customers.csv: no column account_id, segment, created_at, licenses (for accounts; "
        "it has customer, tier; name them under columns: in the source mapping)"
    ]


# -- mapped paths out of the data folder ------------------------------------------------------


@pytest.fixture
def outside(tmp_path) -> tuple[Path, Path]:
    """A data folder and, beside it, a folder with a customers file."""
    data = two_tables(tmp_path / "data")
    elsewhere = tmp_path / "outside"
    elsewhere.mkdir()
    (elsewhere / "customers.csv").write_text(
        "account_id,segment,created_at,licenses,arr\nA1,smb,2024-01-05,10,5000\n"
    )
    return data, elsewhere / "customers.csv"


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink", "glob"])
def test_a_mapped_path_outside_the_data_folder_is_refused(tmp_path, outside, how):
    data, file = outside
    source = {
        "dotdot": "../outside/customers.csv",
        "absolute": str(file),
        "symlink": "linked.csv",
        "glob": "../outside/*.csv",
    }[how]
    if how == "symlink":
        (data / "linked.csv").symlink_to(file)
    m = load_mapping(mapping(tmp_path, {"accounts": {"from": source}}))
    (line,) = problems(data, mapping=m)
    assert line == (
        f"accounts: {source} is outside the data folder {data} (expected a file in it; "
        "allow_outside: true on the table's mapping reads it)"
    )


def test_allow_outside_reads_it_with_a_note(tmp_path, outside):
    data, file = outside
    spec = {"from": "../outside/customers.csv", "allow_outside": True}
    m = mapping(tmp_path, {"accounts": spec})
    note = (
        f"accounts: read from {file.resolve()}, outside the data folder {data} "
        "(allow_outside: true in the source mapping)"
    )
    assert note in check(data, SEGMENTS, mapping=load_mapping(m)).notes
    assert note in open_validated(data, SEGMENTS, mapping=load_mapping(m)).notes
    shutil.copy(file, data / "customers.csv")
    m = mapping(tmp_path, {"accounts": {"from": "customers.csv", "allow_outside": True}})
    assert not any("outside" in n for n in check(data, SEGMENTS, mapping=load_mapping(m)).notes)


def test_an_outside_path_stops_the_cli_in_one_line(tmp_path, outside):
    data, _ = outside
    m = mapping(tmp_path, {"accounts": {"from": "../outside/customers.csv"}})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data": {"path": str(data), "sources": str(m)}}))
    res = cli("validate", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("data error: accounts: ../outside/customers.csv is outside the data")


# -- no warning on clean data -----------------------------------------------------------------


def test_validate_on_clean_data_warns_nothing(tmp_path):
    """A ten-account company has feature-days with active users and no events: the logging
    change search took log(0) (numpy's divide-by-zero warning on every validate)."""
    path = generate(tmp_path / "ten.duckdb", accounts=10, years=1, seed=0, truth_paths=20).path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # raised inside ibis 12 with duckdb 1.5 and pandas 3 (as in pyproject.toml)
        warnings.filterwarnings("ignore", "fetch_arrow_table", DeprecationWarning)
        warnings.filterwarnings("ignore", "The 'future.infer_string' option is deprecated")
        report = check(path, SEGMENTS)
    assert report.ok


def test_days_without_events_do_not_enter_the_log_scale():
    days = pd.date_range("2024-01-01", periods=80, freq="D")
    daily = pd.DataFrame(
        {"date": days, "feature": "reports", "events": 30, "active_users": 10}
    ).astype({"events": "int64"})
    daily.loc[[5, 40], "events"] = 0
    daily.loc[daily.date >= days[40], "events"] = np.where(daily.index[40:] == 40, 0, 90)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        (change,) = find_logging_changes(daily)
    assert change.feature == "reports" and change.factor == pytest.approx(3.0)
