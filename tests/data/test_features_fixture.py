"""Hand-made data with hand-computed features: every metric kind and every window edge.

As-of T = 2024-04-01. A row exactly at T − window is inside the window; a row exactly at T is
not seen at all; values revealed on or after T (closing time, payment, departure, ticket CSAT)
are unknown at T.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.source import open_source
from churnhealth.data.validate import validate
from churnhealth.features import build_features
from churnhealth.features.spec import check_metrics

T = dt.date(2024, 4, 1)
SEGMENTS = ["enterprise", "mid_market", "smb"]

TABLES = {
    "accounts": """account_id,segment,created_at,licenses,arr
A1,smb,2023-01-15,10,12000
A2,enterprise,2024-02-10,100,120000
A3,mid_market,2022-06-01,50,30000
""",
    "subscriptions": """subscription_id,account_id,start_date,term_months,end_date,arr,licenses
S1,A1,2023-01-15,12,,12000,10
S2,A2,2024-02-10,1,2024-05-10,120000,100
S3,A3,2022-06-01,1,2024-03-15,30000,50
""",
    "usage": """account_id,date,feature,active_users,events
A1,2024-01-20,dashboards,3,30
A1,2024-03-01,reports,9,80
A1,2024-03-02,dashboards,4,40
A1,2024-03-15,dashboards,5,50
A1,2024-03-31,api,2,10
A1,2024-04-01,dashboards,8,999
A3,2024-03-10,dashboards,1,1
""",
    "touchpoints": """account_id,ts,kind,attended
A1,2023-12-01 10:00:00,qbr,true
A1,2024-03-01 23:00:00,qbr,false
A1,2024-03-02 00:00:00,email,true
A1,2024-03-31 23:59:59,call,false
A1,2024-04-01 00:00:00,qbr,true
""",
    "surveys": """account_id,ts,kind,score
A1,2023-10-05 09:00:00,nps,6
A1,2024-02-10 09:00:00,nps,9
A1,2024-03-20 09:00:00,csat,4
A1,2024-04-01 08:00:00,nps,2
""",
    "tickets": """ticket_id,account_id,opened_at,closed_at,priority,escalated,csat
T1,A1,2024-03-10 09:00:00,2024-03-11 09:00:00,p1,true,2
T2,A1,2024-03-20 12:00:00,2024-04-02 12:00:00,p3,false,5
T3,A1,2024-04-01 10:00:00,2024-04-01 11:00:00,p1,true,1
""",
    "contacts": """contact_id,account_id,role,is_champion,is_exec_sponsor,department,\
started_at,ended_at
C1,A1,manager,true,false,ops,2023-02-01,2024-02-15
C2,A1,manager,true,false,ops,2024-03-01,2024-04-15
C3,A1,executive,false,true,exec,2023-01-20,
C4,A1,user,false,false,it,2024-04-05,
C5,A1,user,false,false,finance,2023-06-01,
""",
    "invoices": """invoice_id,account_id,issued_at,due_at,paid_at,amount
I1,A1,2024-01-15,2024-02-14,2024-02-20,1000
I2,A1,2024-02-15,2024-03-16,2024-04-10,1000
I3,A1,2024-03-15,2024-04-14,,1000
I4,A1,2024-04-01,2024-05-01,2024-04-02,1000
""",
}


def m(name, kind, **kw):
    return {"name": name, "kind": kind, "dimension": kw.pop("dimension", "usage"), **kw}


METRICS = [
    m("u_rows_30d", "aggregate", table="usage", window="30d"),
    m("u_events_30d", "aggregate", table="usage", column="events", agg="sum", window="30d"),
    m(
        "u_max_users_30d",
        "aggregate",
        table="usage",
        column="active_users",
        agg="max",
        window="30d",
    ),
    m(
        "u_mean_users_30d",
        "aggregate",
        table="usage",
        column="active_users",
        agg="mean",
        window="30d",
    ),
    m("u_features_30d", "aggregate", table="usage", column="feature", agg="nunique", window="30d"),
    m(
        "u_any_api_30d",
        "aggregate",
        table="usage",
        agg="any",
        window="30d",
        filter={"feature": "api"},
    ),
    m(
        "u_core_rows_4w",
        "aggregate",
        table="usage",
        window="4w",
        filter={"feature": ["dashboards", "reports"]},
    ),
    m("u_big_rows_30d", "aggregate", table="usage", window="30d", filter={"events": {"ge": 50}}),
    m("u_events_mom", "pct_change", table="usage", column="events", window="30d"),
    m("u_slope_abs", "slope", table="usage", column="events", window="90d", relative=False),
    m("u_slope_rel", "slope", table="usage", column="events", window="90d"),
    m("u_days_since", "days_since", table="usage"),
    m("u_days_since_reports", "days_since", table="usage", filter={"feature": "reports"}),
    m("u_share", "ratio", numerator="u_max_users_30d", denominator="licenses"),
    m("e_touch_30d", "aggregate", table="touchpoints", window="30d"),
    m("e_engaged_30d", "aggregate", table="touchpoints", window="30d", filter={"attended": True}),
    m(
        "e_last_qbr",
        "latest",
        table="touchpoints",
        column="attended",
        window="365d",
        filter={"kind": "qbr"},
    ),
    m(
        "e_prev_qbr",
        "latest",
        table="touchpoints",
        column="attended",
        window="365d",
        filter={"kind": "qbr"},
        offset=1,
    ),
    m("e_days_since_engaged", "days_since", table="touchpoints", filter={"attended": True}),
    m("e_days_since_any", "days_since", table="touchpoints"),
    m("s_nps", "latest", table="surveys", column="score", filter={"kind": "nps"}),
    m(
        "s_nps_prev",
        "latest",
        table="surveys",
        column="score",
        filter={"kind": "nps"},
        offset=1,
        output=False,
    ),
    m("s_nps_change", "difference", left="s_nps", right="s_nps_prev"),
    m(
        "s_csat_90d",
        "aggregate",
        table="surveys",
        column="score",
        agg="mean",
        window="90d",
        filter={"kind": "csat"},
    ),
    m("t_tickets_90d", "aggregate", table="tickets", window="90d"),
    m("t_open", "aggregate", table="tickets", filter={"open": True}),
    m(
        "t_resolution",
        "aggregate",
        table="tickets",
        column="resolution_hours",
        agg="median",
        window="90d",
    ),
    m("t_csat", "aggregate", table="tickets", column="csat", agg="mean", window="90d"),
    m("t_p1", "aggregate", table="tickets", window="90d", filter={"priority": "p1"}),
    m("t_escalated", "aggregate", table="tickets", window="90d", filter={"escalated": True}),
    m("r_active", "aggregate", table="contacts", filter={"active": True}),
    m(
        "r_departments",
        "aggregate",
        table="contacts",
        column="department",
        agg="nunique",
        filter={"active": True},
    ),
    m(
        "r_champions",
        "aggregate",
        table="contacts",
        filter={"is_champion": True, "active": True},
        output=False,
    ),
    m("r_has_champion", "flag", metric="r_champions"),
    m(
        "r_champion_left",
        "aggregate",
        table="contacts",
        filter={"is_champion": True, "ended_days_ago": {"le": 90}},
    ),
    m("f_late", "aggregate", table="invoices", window="365d", filter={"late": True}),
    m(
        "f_days_late",
        "aggregate",
        table="invoices",
        column="days_late",
        agg="max",
        window="365d",
        fill=0,
    ),
]

# Daily events of A1 over the 90 days before T (index 0 = T − 90 days), for the slope check.
_daily = np.zeros(90)
for day, events in [
    ("2024-01-20", 30),
    ("2024-03-01", 80),
    ("2024-03-02", 40),
    ("2024-03-15", 50),
    ("2024-03-31", 10),
]:
    _daily[90 - (T - dt.date.fromisoformat(day)).days] = events
SLOPE = np.polyfit(np.arange(90), _daily, 1)[0]

EXPECTED_A1 = {
    "segment": "smb",
    "lifecycle_stage": "maturity",
    "tenure_days": 442,
    "days_to_renewal": 289,
    "term_months": 12,
    "arr": 12000,
    "licenses": 10,
    "u_rows_30d": 3,
    "u_events_30d": 100,
    "u_max_users_30d": 5,
    "u_mean_users_30d": 11 / 3,
    "u_features_30d": 2,
    "u_any_api_30d": 1,
    "u_core_rows_4w": 1,
    "u_big_rows_30d": 1,
    "u_events_mom": (100 - 80) / 80,
    "u_slope_abs": SLOPE,
    "u_slope_rel": SLOPE / (210 / 90) * 30,
    "u_days_since": 1,
    "u_days_since_reports": 31,
    "u_share": 0.5,
    "e_touch_30d": 2,
    "e_engaged_30d": 1,
    "e_last_qbr": 0,
    "e_prev_qbr": 1,
    "e_days_since_engaged": 30,
    "e_days_since_any": 1,
    "s_nps": 9,
    "s_nps_change": 3,
    "s_csat_90d": 4,
    "t_tickets_90d": 2,
    "t_open": 1,
    "t_resolution": 24,
    "t_csat": 2,
    "t_p1": 1,
    "t_escalated": 1,
    "r_active": 3,
    "r_departments": 3,
    "r_has_champion": 1,
    "r_champion_left": 1,
    "f_late": 2,
    "f_days_late": 16,
}
EXPECTED_A2 = {
    "segment": "enterprise",
    "lifecycle_stage": "onboarding",
    "tenure_days": 51,
    "days_to_renewal": 9,
    "term_months": 1,
    "arr": 120000,
    "licenses": 100,
    "u_rows_30d": 0,
    "u_events_30d": 0,
    "u_max_users_30d": None,
    "u_mean_users_30d": None,
    "u_features_30d": 0,
    "u_any_api_30d": 0,
    "u_core_rows_4w": 0,
    "u_big_rows_30d": 0,
    "u_events_mom": None,
    "u_slope_abs": 0,
    "u_slope_rel": None,
    "u_days_since": None,
    "u_days_since_reports": None,
    "u_share": None,
    "e_touch_30d": 0,
    "e_engaged_30d": 0,
    "e_last_qbr": None,
    "e_prev_qbr": None,
    "e_days_since_engaged": None,
    "e_days_since_any": None,
    "s_nps": None,
    "s_nps_change": None,
    "s_csat_90d": None,
    "t_tickets_90d": 0,
    "t_open": 0,
    "t_resolution": None,
    "t_csat": None,
    "t_p1": 0,
    "t_escalated": 0,
    "r_active": 0,
    "r_departments": 0,
    "r_has_champion": 0,
    "r_champion_left": 0,
    "f_late": 0,
    "f_days_late": 0,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fixture")
    for name, text in TABLES.items():
        (path / f"{name}.csv").write_text(text)
    return path


@pytest.fixture(scope="module")
def duckdb_file(folder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fixture_db") / "fixture.duckdb"
    with duckdb.connect(str(path)) as con:
        for name in TABLES:
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{folder / name}.csv')")
    return path


def features_at_t(path: Path) -> pd.DataFrame:
    source = open_source(path)
    assert validate(source, SEGMENTS).ok
    metrics = check_metrics(METRICS, SEGMENTS)
    fs = build_features(source, Config(), metrics, start=T, end=T)
    return fs.frame.set_index("account_id")


def assert_row(row: pd.Series, expected: dict) -> None:
    for name, want in expected.items():
        got = row[name]
        if want is None:
            assert pd.isna(got), f"{name}: expected null, got {got}"
        elif isinstance(want, str):
            assert got == want, name
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{name}: {got} != {want}"


def test_every_metric_kind_and_window_edge_by_hand(folder):
    frame = features_at_t(folder)
    assert sorted(frame.index) == ["A1", "A2"]  # A3's coverage ended before T
    assert_row(frame.loc["A1"], EXPECTED_A1)


def test_accounts_without_rows_get_the_documented_values(folder):
    assert_row(features_at_t(folder).loc["A2"], EXPECTED_A2)


def test_duckdb_and_csv_give_the_same_features(folder, duckdb_file):
    a, b = features_at_t(folder), features_at_t(duckdb_file)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
