"""Every validation rule: a copy of valid data with one defect fails with one clear line."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from churnhealth.data.contract import contract
from churnhealth.data.source import open_source
from churnhealth.data.validate import validate
from tests.conftest import cli

SEGMENTS = ["enterprise", "mid_market", "smb"]


def defective(src: Path, tmp_path: Path, *sql: str) -> Path:
    path = tmp_path / "bad.duckdb"
    shutil.copy(src, path)
    with duckdb.connect(str(path)) as con:
        for stmt in sql:
            con.execute(stmt)
    return path


def problems(path: Path, as_of: dt.date | None = None) -> list[str]:
    return [str(p) for p in validate(open_source(path), SEGMENTS, as_of).problems]


def test_synth_then_validate_in_a_scratch_folder(tmp_path):
    res = cli(
        "synth",
        "--accounts",
        "300",
        "--years",
        "2",
        "--seed",
        "1",
        "--out",
        "x.duckdb",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    res = cli("validate", "--data", "x.duckdb", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (line,) = res.stdout.strip().splitlines()
    assert line.startswith("OK x.duckdb: accounts 300 · subscriptions ")
    for table in ("usage", "touchpoints", "surveys", "tickets", "contacts", "invoices"):
        assert f"· {table} " in line


def test_valid_data_has_no_problems_and_counts_rows(small_db):
    report = validate(open_source(small_db), SEGMENTS)
    assert report.ok, report.problems
    assert report.rows["accounts"] == 300 and report.notes == []


DEFECTS = [
    pytest.param(
        ["ALTER TABLE accounts DROP COLUMN segment"],
        "accounts.segment: column is missing (expected a string column)",
        id="missing-column",
    ),
    pytest.param(
        [
            "ALTER TABLE usage ALTER events TYPE VARCHAR",
            "UPDATE usage SET events = 'many' WHERE rowid IN (SELECT rowid FROM usage LIMIT 4)",
        ],
        "usage.events: not readable as int in 4 rows (expected int); e.g. account_id=",
        id="wrong-type",
    ),
    pytest.param(
        ["ALTER TABLE accounts ALTER created_at TYPE BOOLEAN USING true"],
        "accounts.created_at: type boolean in 300 rows (expected date)",
        id="wrong-type-column",
    ),
    pytest.param(
        [
            "INSERT INTO accounts SELECT * REPLACE (name || ' (copy)' AS name) FROM accounts "
            "WHERE account_id = 'A00007'"
        ],
        "accounts.account_id: duplicate id with different values in 2 rows (expected unique "
        "account_id); e.g. account_id=A00007 (2×)",
        id="duplicate-id",
    ),
    pytest.param(
        ["INSERT INTO usage SELECT * REPLACE (events + 1 AS events) FROM usage LIMIT 1"],
        "usage: duplicate key (account_id, date, feature) with different values in 2 rows",
        id="duplicate-key",
    ),
    pytest.param(
        [
            "UPDATE tickets SET account_id = 'Z999' WHERE ticket_id IN "
            "(SELECT ticket_id FROM tickets ORDER BY ticket_id LIMIT 3)"
        ],
        "tickets.account_id: unknown account_id in 3 rows "
        "(expected an account_id present in accounts); e.g. ticket_id=",
        id="unknown-account",
    ),
    pytest.param(
        [
            "UPDATE subscriptions SET end_date = start_date - INTERVAL 5 DAY "
            "WHERE subscription_id = 'S000001'"
        ],
        "subscriptions.end_date: before start_date in 1 row (expected end_date ≥ start_date); "
        "e.g. subscription_id=S000001",
        id="end-before-start",
    ),
    pytest.param(
        ["UPDATE usage SET active_users = -1 WHERE rowid IN (SELECT rowid FROM usage LIMIT 2)"],
        "usage.active_users: negative in 2 rows (expected ≥ 0)",
        id="negative-count",
    ),
    pytest.param(
        [
            "UPDATE surveys SET score = 11 WHERE rowid IN "
            "(SELECT rowid FROM surveys WHERE kind = 'nps' LIMIT 3)"
        ],
        "surveys.score: out of range for kind = nps in 3 rows "
        "(expected 0 ≤ score ≤ 10 when kind = nps)",
        id="nps-out-of-range",
    ),
    pytest.param(
        [
            "UPDATE surveys SET score = 0 WHERE rowid IN "
            "(SELECT rowid FROM surveys WHERE kind = 'csat' LIMIT 1)"
        ],
        "surveys.score: out of range for kind = csat in 1 row",
        id="csat-out-of-range",
    ),
    pytest.param(
        ["UPDATE accounts SET segment = 'government' WHERE account_id = 'A00003'"],
        "accounts.segment: value outside the allowed set in 1 row "
        "(expected one of enterprise, mid_market, smb); e.g. account_id=A00003 "
        "segment=government",
        id="unknown-segment",
    ),
    pytest.param(
        [
            "UPDATE touchpoints SET kind = 'lunch' WHERE rowid IN "
            "(SELECT rowid FROM touchpoints LIMIT 2)"
        ],
        "touchpoints.kind: value outside the allowed set in 2 rows",
        id="unknown-kind",
    ),
    pytest.param(
        [
            "CREATE TABLE cs_actions AS SELECT account_id, DATE '2025-01-06' AS date, "
            "'training' AS playbook, CASE WHEN account_id < 'A00004' THEN 'random' ELSE 'alert' "
            "END AS source FROM accounts"
        ],
        "cs_actions.source: value outside the allowed set in 3 rows "
        "(expected one of alert, holdout, manual)",
        id="unknown-action-source",
    ),
    pytest.param(
        ["UPDATE accounts SET licenses = NULL WHERE account_id = 'A00010'"],
        "accounts.licenses: null in 1 row (expected a value in every row)",
        id="null",
    ),
    pytest.param(
        ["DROP TABLE subscriptions"],
        "subscriptions: required table is missing (expected a table or file named subscriptions)",
        id="missing-table",
    ),
]


@pytest.mark.parametrize(("sql", "expected"), DEFECTS)
def test_each_defect_fails_with_one_clear_line_and_exit_code_2(small_db, tmp_path, sql, expected):
    path = defective(small_db, tmp_path, *sql)
    res = cli("validate", "--data", str(path), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stdout == ""
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("data error: " + expected), line
    assert problems(path) == [line.removeprefix("data error: ")]


def test_timestamps_on_or_after_as_of(small_db):
    end = dt.date(2025, 11, 1)
    assert problems(small_db, end) == []
    found = problems(small_db, dt.date(2025, 10, 1))
    tables = {line.split(".")[0] for line in found}
    assert {"usage", "touchpoints", "tickets", "invoices", "subscriptions"} <= tables
    usage = next(line for line in found if line.startswith("usage.date"))
    assert "dated on or after the as-of date in " in usage
    assert "rows (expected dates before 2025-10-01); e.g. account_id=" in usage


def test_optional_table_absent_is_a_note_not_an_error(small_db, tmp_path):
    path = defective(small_db, tmp_path, "DROP TABLE surveys", "DROP TABLE invoices")
    report = validate(open_source(path), SEGMENTS)
    assert report.ok
    assert report.notes == [
        "surveys: absent, its features will be skipped",
        "invoices: absent, its features will be skipped",
    ]


def test_csv_and_parquet_folders_validate_like_duckdb(small_db, tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    with duckdb.connect(str(small_db), read_only=True) as con:
        present = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        for i, name in enumerate(n for n in contract(SEGMENTS) if n in present):
            fmt = "CSV, HEADER" if i % 2 == 0 else "PARQUET"
            ext = "csv" if i % 2 == 0 else "parquet"
            con.execute(f"COPY {name} TO '{folder / f'{name}.{ext}'}' (FORMAT {fmt})")
    report = validate(open_source(folder), SEGMENTS)
    assert report.ok, report.problems
    assert report.rows == validate(open_source(small_db), SEGMENTS).rows


def test_csv_with_unparseable_dates(tmp_path):
    (tmp_path / "accounts.csv").write_text(
        "account_id,segment,created_at,licenses,arr\n"
        "A1,smb,2024-01-05,10,5000\nA2,smb,not a date,3,1200\n"
    )
    (tmp_path / "subscriptions.csv").write_text(
        "subscription_id,account_id,start_date,term_months,end_date,arr\n"
        "S1,A1,2024-01-05,12,,5000\nS2,A2,2024-02-01,1,,1200\n"
    )
    found = problems(tmp_path)
    assert found == [
        "accounts.created_at: not readable as date in 1 row (expected date); "
        "e.g. account_id=A2 created_at=not a date"
    ]


def test_unknown_path_is_one_line(tmp_path):
    res = cli("validate", "--data", str(tmp_path / "nothing.duckdb"), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"data error: {tmp_path / 'nothing.duckdb'}: no such DuckDB "
        "file or folder of CSV/Parquet tables"
    )


def test_bad_as_of_is_one_line(small_db, tmp_path):
    res = cli("validate", "--data", str(small_db), "--as-of", "yesterday", cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip() == "--as-of 'yesterday': expected a date as YYYY-MM-DD"
