"""Issue 2.4's acceptance: a 2-year, 1,000-account company written as CSV exports shaped its own
way — other column names, day-first dates, tiers instead of segments, billing periods instead
of months, raw product events instead of daily usage, internal test accounts — is diagnosed,
trained and scored with the default configuration through a mapping file alone."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import yaml

from churnhealth.synth import generate
from tests.conftest import cli, workspace_config

ROOT = Path(__file__).resolve().parents[2]

EXPORTS = {
    "customers.csv": """
        SELECT account_id AS customer_id, name AS company,
               CASE segment WHEN 'enterprise' THEN 'Enterprise' WHEN 'mid_market' THEN 'Growth'
                            ELSE 'Starter' END AS tier,
               industry AS sector, strftime(created_at, '%d/%m/%Y') AS signup,
               licenses AS seats, arr AS annual_value, csm_owner AS owner, false AS is_test
        FROM accounts
        UNION ALL
        SELECT 'TEST' || i, 'Internal test', 'Internal', NULL, '01/01/2024', 5, 0, NULL, true
        FROM range(3) t(i)
    """,
    "contracts.csv": """
        SELECT subscription_id AS contract_id, account_id AS customer,
               strftime(start_date, '%d/%m/%Y') AS start,
               CASE term_months WHEN 1 THEN 'monthly' WHEN 12 THEN 'annual'
                                WHEN 24 THEN 'biennial' ELSE 'triennial' END AS billing_period,
               strftime(end_date, '%d/%m/%Y') AS "end", arr AS value, plan AS product,
               licenses AS seats
        FROM subscriptions
    """,
    "activities.csv": """
        SELECT account_id AS account, ts AS logged_at,
               CASE kind WHEN 'qbr' THEN 'QBR' ELSE upper(kind[1]) || kind[2:] END AS type,
               CASE WHEN attended THEN 'answered' ELSE 'no answer' END AS outcome
        FROM touchpoints
    """,
    # one row per event: each day's users (a fiftieth of the daily active users, at least
    # one, from a pool of 300 per account), each acting once, and sometimes one event more
    "product_events.csv": """
        WITH u AS (
            SELECT *, greatest(1, active_users // 50) AS n_users, events % 2 AS extra
            FROM usage
        ), e AS (SELECT *, unnest(range(n_users + extra)) AS k FROM u)
        SELECT account_id AS acct,
               strftime(date::TIMESTAMP + INTERVAL 9 HOUR + to_seconds(k * 61),
                        '%d/%m/%Y %H:%M:%S') AS occurred_at,
               feature AS module,
               'U' || ((datediff('day', DATE '2020-01-01', date) * 7
                        + CASE WHEN k < n_users THEN k ELSE 0 END) % 300) AS "user"
        FROM e
    """,
    **{f"{t}.csv": f"SELECT * FROM {t}" for t in ("surveys", "tickets", "contacts", "invoices")},
    "churn_events.csv": "SELECT * FROM churn_events",
}


def mapping(folder: Path) -> Path:
    """The shipped CRM example, with raw product events instead of the daily usage file."""
    m = yaml.safe_load((ROOT / "configs/examples/crm-export.yaml").read_text())
    del m["tables"]["usage"]
    m["tables"]["touchpoints"]["from"] = "activities.csv"
    m["tables"]["events"] = {
        "from": "product_events.csv",
        "columns": {
            "account_id": "acct",
            "ts": "occurred_at",
            "event": "module",
            "user_id": "user",
        },
        "dates": {"ts": "%d/%m/%Y %H:%M:%S"},
    }
    path = folder / "sources.yaml"
    path.write_text(yaml.safe_dump(m))
    return path


def test_a_two_year_export_trains_and_predicts_through_a_mapping_alone(tmp_path):
    company = tmp_path / "company.duckdb"
    generate(company, accounts=400, years=2, seed=4, truth_paths=5)
    exports = tmp_path / "exports"
    exports.mkdir()
    with duckdb.connect(str(company), read_only=True) as con:
        for name, sql in EXPORTS.items():
            con.execute(f"COPY ({sql}) TO '{exports / name}' (HEADER)")
        active = con.execute("SELECT count(*) FROM subscriptions WHERE end_date IS NULL")
        n_active = active.fetchone()[0]
    sources = mapping(tmp_path)
    config = workspace_config(tmp_path, data={"path": str(exports), "sources": str(sources)})
    res = cli("doctor", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    out = " ".join(res.stdout.split())
    assert out.startswith("ready to train") and "0 skipped" in out
    assert "note: usage: derived from" in out
    res = cli("train", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Registered churnhealth v1 as @champion" in " ".join(res.stdout.split())
    metrics = yaml.safe_load((tmp_path / "reports" / "metrics.json").read_text())
    assert metrics["overall"]["roc_auc"] > 0.75
    res = cli("predict", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    (written,) = (tmp_path / "outputs").glob("scores-*.parquet")
    scores = pd.read_parquet(written)
    assert abs(len(scores) - n_active) <= 0.05 * n_active
    assert not scores.account_id.str.startswith("TEST").any()
    assert scores.health_score.between(0, 100).all()
