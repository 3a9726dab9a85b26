"""PostgreSQL as a source (issue 2.5): a real, private server started for these tests.

The small demo company is loaded into a schema of a throw-away cluster (tests/servers.py); the
features computed there must equal DuckDB's, and the password, which only PGPASSWORD carries,
must appear in no output.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.data.mapping import load_mapping
from churnhealth.errors import DataError
from churnhealth.features import build_features
from tests.conftest import (
    assert_same_features,
    assert_same_tables,
    champion_or_forced,
    run_cli,
    workspace_config,
)
from tests.servers import PASSWORD, load_company, start_postgres

SEGMENTS = ["enterprise", "mid_market", "smb"]


@pytest.fixture(scope="module")
def pg(small_db):
    """The server, with the small company in schema `demo`; PGPASSWORD set while it runs."""
    try:
        server = start_postgres()
    except RuntimeError as err:
        pytest.fail(str(err))  # never skipped: CI installs PostgreSQL
    before = os.environ.get("PGPASSWORD")
    os.environ["PGPASSWORD"] = PASSWORD
    try:
        load_company(server, small_db, schema="demo")
        yield server
    finally:
        server.stop()
        if before is None:
            os.environ.pop("PGPASSWORD", None)
        else:
            os.environ["PGPASSWORD"] = before


def _frame(source) -> pd.DataFrame:
    fs = build_features(source, Config())
    return fs.frame.sort_values(["account_id", "as_of"]).reset_index(drop=True)


def test_features_on_postgres_equal_duckdb_s(pg, small_db):
    url = f"{pg.url}/demo"  # database postgres, schema demo
    got = _frame(open_validated(url, SEGMENTS))
    want = _frame(open_validated(small_db, SEGMENTS))
    assert_same_features(want, got)


def test_the_schema_can_be_a_query_parameter_and_a_wrong_one_says_what_is_missing(pg):
    source = open_validated(f"{pg.url}?schema=demo", SEGMENTS)
    assert {"accounts", "subscriptions", "usage"} <= set(source.tables)
    with pytest.raises(DataError) as err:
        open_validated(f"{pg.url}/nowhere", SEGMENTS)
    (line,) = err.value.problems
    assert line.endswith("/nowhere: no schema nowhere (the database has demo, public)")


@pytest.mark.parametrize(
    "form",
    [
        "churn:{pw}@127.0.0.1:{port}/postgres/demo",
        "churn@127.0.0.1:{port}/postgres/demo?password={pw}",
        "churn@127.0.0.1:{port}/postgres?schema=demo&sslpassword={pw}",
        "churn@127.0.0.1:{port}/postgres/demo?options=-c%20password%3D{pw}",
    ],
)
def test_a_password_in_any_part_of_the_url_is_refused_without_showing_it(pg, tmp_path, form):
    # on 3cb4c56 the query forms connected, printed the password and stored it in MLflow
    url = "postgresql://" + form.format(pw=PASSWORD, port=pg.port)
    r = run_cli("validate", "--data", url, cwd=tmp_path)
    assert r.returncode == 2 and PASSWORD not in r.stdout + r.stderr
    assert "holds a secret" in r.stderr and "PGPASSWORD" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "***" in r.stderr
    assert not list(Path(tmp_path).iterdir())


def test_a_password_is_refused_by_every_command_and_from_a_config_file(pg, tmp_path):
    """The same check guards every way a location reaches a command (the forms a secret can
    take are each tried above, and in tests/unit/test_secrets.py)."""
    url = f"postgresql://churn@127.0.0.1:{pg.port}/postgres/demo?password={PASSWORD}"
    cfg = workspace_config(tmp_path, data={"path": url}, train={"tuning": {"trials": 1}})
    for command in ("validate", "doctor", "train"):
        r = run_cli(command, "--config", str(cfg), cwd=tmp_path)
        assert r.returncode == 2 and PASSWORD not in r.stdout + r.stderr, r.stderr
        assert "***" in r.stderr
    clean = workspace_config(tmp_path, train={"tuning": {"trials": 1}})
    r = run_cli("train", "--data", url, "--config", str(clean), cwd=tmp_path)
    assert r.returncode == 2 and PASSWORD not in r.stdout + r.stderr
    for f in Path(tmp_path).rglob("*"):
        if f.is_file() and f.name != "config.yaml":
            assert PASSWORD.encode() not in f.read_bytes(), f


def test_a_wrong_password_is_one_line_without_a_traceback(pg):
    env = {**os.environ, "PGPASSWORD": "not-it"}
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "churnhealth", "validate", "--data", f"{pg.url}/demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"data error: {pg.url}/demo: cannot connect")


def test_train_and_predict_from_postgres_never_show_the_password(pg, tmp_path):
    cfg = workspace_config(
        tmp_path, data={"path": f"{pg.url}/demo"}, train={"tuning": {"trials": 1}}
    )
    outputs = []
    # a webhook URL carries its secret in the path; an unreachable one makes predict say so
    hook = f"http://127.0.0.1:9/services/T0/B0/{PASSWORD}"
    for command in ("validate", "doctor", "train", "predict"):
        r = run_cli(
            command, "--config", str(cfg), cwd=tmp_path, env={"CHURNHEALTH_WEBHOOK_URL": hook}
        )
        assert r.returncode == 0, r.stderr[-2000:]
        if command == "train":
            champion_or_forced(r, cfg, cwd=tmp_path, run=run_cli)
        outputs.append(r.stdout + r.stderr)
    assert all(PASSWORD not in o for o in outputs)
    assert "webhook delivery failed" in outputs[-1]
    assert list((tmp_path / "outputs").glob("scores-*.parquet"))
    # nothing written — MLflow's store and artifacts, reports, scores, history — holds it
    for f in Path(tmp_path).rglob("*"):
        if f.is_file():
            assert PASSWORD.encode() not in f.read_bytes(), f


CRM = {
    "tables": {
        "accounts": {
            "from": "customers",
            "columns": {"account_id": "customer_id", "created_at": "signup", "segment": "tier"},
            "values": {"segment": {"Enterprise": "enterprise", "Growth": "mid_market"}},
            "dates": {"created_at": "%d/%m/%Y"},
        },
        "subscriptions": {
            "from": "contracts",
            "dates": {"start_date": "%d/%m/%Y"},
            # computed on the server (issue 3.5): cents, Unix times, a term as interval × count
            "compute": {
                "arr": "round(arr_cents / 100, 2)",
                "end_date": "from_unix(ended)",
                "term_months": "every * (12 if period == 'year' else 1)",
            },
        },
        "tickets": {
            "from": "support",
            "dates": {"opened_at": "%Y-%m-%d %H:%M:%S", "closed_at": "%Y-%m-%d %H:%M:%S"},
            "timezones": {"opened_at": "Asia/Kolkata", "closed_at": "Asia/Kolkata"},
        },
        "usage": {
            "from": "usage_blocks",
            "lookup": {
                "from": "blocks",
                "on": {"block": "block_id"},
                "take": ["account_id"],
                "at": {"date": "since"},
            },
            "aggregate": {"events": "sum", "active_users": "max"},
        },
    }
}


def _crm_schema(pg) -> None:
    """Schema `crm`: the demo company as a CRM keeps it — other names, tiers, day-first text
    dates, ticket times as text in India's time (UTC+5:30: no daylight saving, so every local
    time names one instant); the other tables as they are."""
    local = "to_char((({c} AT TIME ZONE 'UTC') AT TIME ZONE 'Asia/Kolkata'), {f})"
    fmt = "'YYYY-MM-DD HH24:MI:SS'"
    with pg.connect() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS crm")
        for name in ("touchpoints", "surveys", "contacts", "invoices", "churn_events"):
            con.execute(f"CREATE OR REPLACE VIEW crm.{name} AS SELECT * FROM demo.{name}")
        # usage per seat block, two per account, events split between them (issue 3.5)
        con.execute(
            "CREATE OR REPLACE VIEW crm.usage_blocks AS SELECT date, feature, active_users, "
            "events / 2 AS events, account_id || '-a' AS block FROM demo.usage UNION ALL "
            "SELECT date, feature, active_users, events - events / 2, account_id || '-b' "
            "FROM demo.usage"
        )
        # blocks assigned since 2000; block A…-a passes to another account in 2099, a record
        # the lookup's `at` must leave out of force (issue 3.5)
        con.execute(
            "CREATE OR REPLACE VIEW crm.blocks AS SELECT account_id || '-a' AS block_id, "
            "account_id, DATE '2000-01-01' AS since FROM demo.accounts UNION ALL SELECT "
            "account_id || '-b', account_id, DATE '2000-01-01' FROM demo.accounts UNION ALL "
            "(SELECT min(account_id) || '-a', max(account_id), DATE '2099-01-01' "
            "FROM demo.accounts)"
        )
        con.execute(
            "CREATE OR REPLACE VIEW crm.customers AS SELECT account_id AS customer_id, name, "
            "CASE segment WHEN 'enterprise' THEN 'Enterprise' WHEN 'mid_market' THEN 'Growth' "
            "ELSE segment END AS tier, industry, to_char(created_at, 'DD/MM/YYYY') AS signup, "
            "licenses, arr, csm_owner FROM demo.accounts"
        )
        con.execute(
            "CREATE OR REPLACE VIEW crm.contracts AS SELECT subscription_id, account_id, "
            "to_char(start_date, 'DD/MM/YYYY') AS start_date, "
            "CAST(extract(epoch FROM end_date) AS BIGINT) AS ended, arr * 100 AS arr_cents, "
            "CASE WHEN term_months >= 12 THEN 'year' ELSE 'month' END AS period, "
            "CASE WHEN term_months >= 12 THEN term_months / 12 ELSE term_months END AS every, "
            "plan, licenses FROM demo.subscriptions"
        )
        cols = [
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'demo' "
                "AND table_name = 'tickets' ORDER BY ordinal_position"
            ).fetchall()
        ]
        select = ", ".join(
            f"{local.format(c=c, f=fmt)} AS {c}" if c in ("opened_at", "closed_at") else c
            for c in cols
        )
        con.execute(f"CREATE OR REPLACE VIEW crm.support AS SELECT {select} FROM demo.tickets")


def test_a_mapping_parses_text_dates_and_local_times_on_the_server(pg, small_db, tmp_path):
    """Renames, value maps, day-first text dates, ticket times in local time and usage per
    seat block with the account in another table: the server parses, joins and aggregates
    them back into the company's tables as they were generated."""
    _crm_schema(pg)
    m = tmp_path / "crm.yaml"
    m.write_text(yaml.safe_dump(CRM))
    got = open_validated(f"{pg.url}/crm", SEGMENTS, mapping=load_mapping(m))
    assert_same_tables(open_validated(small_db, SEGMENTS), got, CRM["tables"])


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("n/a", "%d/%m/%Y", "not a date in the format %d/%m/%Y in 1 row; e.g. n/a"),
        ("13/13/2024", "%d/%m/%Y", "not a date in the format %d/%m/%Y in 1 row; e.g. 13/13/2024"),
        ("31/02/2024", "%d/%m/%Y", "not a date in the format %d/%m/%Y (postgres:"),
        ("01/02/2024", "%d/%m/%Y %p", "uses %p, which only DuckDB reads; on postgres use"),
    ],
)
def test_a_text_date_the_server_cannot_read_is_one_line(pg, tmp_path, value, fmt, expected):
    """Values of the wrong shape are counted; one the shape lets through but PostgreSQL
    refuses (February 31st) is the server's message, in one line; a directive the server
    cannot translate is refused before any query."""
    with pg.connect() as con:
        con.execute(
            "CREATE OR REPLACE VIEW demo.customers AS SELECT account_id, name, segment, industry,"
            " CASE WHEN account_id = (SELECT min(account_id) FROM demo.accounts) "
            f"THEN '{value}' ELSE to_char(created_at, 'DD/MM/YYYY') END AS created_at, licenses,"
            " arr, csm_owner FROM demo.accounts"
        )
    m = tmp_path / "m.yaml"
    spec = {"from": "customers", "dates": {"created_at": fmt}}
    m.write_text(yaml.safe_dump({"tables": {"accounts": spec}}))
    with pytest.raises(DataError) as err:
        open_validated(f"{pg.url}/demo", SEGMENTS, mapping=load_mapping(m))
    (line,) = err.value.problems
    assert line.startswith("customers: created_at (accounts.created_at): ") and expected in line


def test_rows_dated_on_or_after_t_change_nothing_at_t_on_postgres(pg, tmp_path):
    """The point-in-time property on the server: every table's rows dated on or after T
    rewritten, every value revealed on or after T changed, then half of those rows deleted —
    the features at T computed by PostgreSQL stay exactly those of the untouched company."""
    from churnhealth.synth import generate
    from tests.data.test_point_in_time import REVEALED, TIME, _sql, config, features_at

    base = tmp_path / "base.duckdb"
    generate(base, accounts=80, years=1, seed=3)
    edited = tmp_path / "edited.duckdb"
    shutil.copy(base, edited)
    with duckdb.connect(str(edited)) as con:
        changed = sum(con.execute(_sql("rewrite", t, 100)).fetchone()[0] for t in TIME)
        changed += sum(con.execute(_sql("reveal", c, 100)).fetchone()[0] for c in REVEALED)
        changed += sum(con.execute(_sql("delete", t, 50)).fetchone()[0] for t in TIME)
    assert changed > 1000
    load_company(pg, base, schema="pit_base")
    load_company(pg, edited, schema="pit_edited")
    cfg = config(tmp_path)
    want = features_at(f"{pg.url}/pit_base", cfg)
    pd.testing.assert_frame_equal(features_at(f"{pg.url}/pit_edited", cfg), want)
    pd.testing.assert_frame_equal(want, features_at(base, cfg), check_dtype=False)
