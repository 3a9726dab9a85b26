"""Point-in-time correctness: nothing dated on or after T changes any feature at T.

Hypothesis edits a small demo company only where the edit is invisible at T: rows dated on or
after T are deleted, moved later or rewritten, and values revealed on or after T (end dates,
closing times, payments, departures, ticket CSAT) are changed or removed. Every feature of
every account at T must stay exactly the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnhealth.config import Config
from churnhealth.data.churn import with_churn_records
from churnhealth.data.source import open_source
from churnhealth.features import build_features
from churnhealth.synth import generate

T = pd.Timestamp("2024-07-01")
ROOT = Path(__file__).resolve().parents[2]
REVEALED_FILTER = {
    "name": "sup_days_since_bad_csat",
    "dimension": "support",
    "kind": "days_since",
    "table": "tickets",
    "filter": {"csat": {"le": 2}},
    "description": "Days since the latest ticket rated 1 or 2 (a CSAT is known once closed).",
}
"""A metric whose filter reads a value revealed later: it must not see it early."""
TIME = {
    "usage": "date",
    "touchpoints": "ts",
    "surveys": "ts",
    "tickets": "opened_at",
    "contacts": "started_at",
    "invoices": "issued_at",
    "subscriptions": "start_date",
    "churn_events": "churn_date",
}
REWRITE = {
    "usage": "active_users = active_users * 3 + 1, events = 0, feature = 'api'",
    "touchpoints": "kind = 'qbr', attended = NOT attended",
    "surveys": "score = CASE WHEN kind = 'nps' THEN 0 ELSE 1 END",
    "tickets": "priority = 'p1', escalated = true, closed_at = NULL, csat = 1",
    "contacts": "is_champion = true, is_exec_sponsor = true, ended_at = NULL",
    "invoices": "paid_at = NULL, amount = amount * 10",
    "subscriptions": "arr = arr * 5, term_months = 1",
    "churn_events": "reason = 'other', kind = 'involuntary'",
}
REVEALED = {  # (table, column, its own time or the time revealing it, a different value)
    "end_date": ("subscriptions", "end_date", "end_date", "end_date + INTERVAL 40 DAY"),
    "closed_at": ("tickets", "closed_at", "closed_at", "closed_at + INTERVAL 3 DAY"),
    "csat": ("tickets", "csat", "closed_at", "6 - csat"),
    "paid_at": ("invoices", "paid_at", "paid_at", "paid_at + INTERVAL 20 DAY"),
    "ended_at": ("contacts", "ended_at", "ended_at", "ended_at + INTERVAL 15 DAY"),
}

edit = st.one_of(
    st.tuples(st.just("delete"), st.sampled_from(sorted(TIME)), st.integers(1, 100)),
    st.tuples(st.just("rewrite"), st.sampled_from(sorted(TIME)), st.integers(1, 100)),
    st.tuples(st.just("later"), st.sampled_from(sorted(TIME)), st.integers(1, 100)),
    st.tuples(st.just("reveal"), st.sampled_from(sorted(REVEALED)), st.integers(1, 100)),
    st.tuples(st.just("unreveal"), st.sampled_from(sorted(REVEALED)), st.integers(1, 100)),
)


def _sql(kind: str, target: str, pct: int) -> str:
    sample = f"hash(rowid) % 100 < {pct}"
    if kind in ("reveal", "unreveal"):
        table, column, when, other = REVEALED[target]
        # end dates decide who is covered on T itself, so only those after T are unknown there
        after = f"{when} > DATE '{T.date()}'" if column == "end_date" else f"{when} >= '{T}'"
        value = other if kind == "reveal" else "NULL"
        return f"UPDATE {table} SET {column} = {value} WHERE {after} AND {sample}"
    # a churn record ends a coverage like an end date: one on T decides who is covered on T
    time = f"{TIME[target]} {'>' if target == 'churn_events' else '>='} '{T}'"
    if kind == "delete":
        return f"DELETE FROM {target} WHERE {time} AND {sample}"
    if kind == "later":
        col = TIME[target]
        return f"UPDATE {target} SET {col} = {col} + INTERVAL 17 DAY WHERE {time} AND {sample}"
    return f"UPDATE {target} SET {REWRITE[target]} WHERE {time} AND {sample}"


def config(folder: Path) -> Config:
    """The default features plus one `days_since` whose filter reads a revealed value."""
    defs = yaml.safe_load((ROOT / "configs/features.yaml").read_text())
    defs["metrics"].append(REVEALED_FILTER)
    (folder / "features.yaml").write_text(yaml.safe_dump(defs))
    cfg = Config()
    return cfg.model_copy(
        update={
            "features": cfg.features.model_copy(update={"definitions": folder / "features.yaml"})
        }
    )


def features_at(path, cfg: Config) -> pd.DataFrame:
    """Features at T as every command reads the data: churn records applied."""
    source = with_churn_records(open_source(path), cfg.data.segments, 30)
    fs = build_features(source, cfg, dates=[T])
    return fs.frame.set_index("account_id")[list(fs.features)].sort_index()


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pit")
    path = folder / "base.duckdb"
    generate(path, accounts=80, years=1, seed=3)
    cfg = config(folder)
    return path, features_at(path, cfg), cfg


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(edit, min_size=1, max_size=3))
def test_rows_and_values_from_on_or_after_t_never_change_features_at_t(company, tmp_path, edits):
    base_path, expected, cfg = company
    path = tmp_path / "edited.duckdb"
    shutil.copy(base_path, path)
    with duckdb.connect(str(path)) as con:
        changed = sum(con.execute(_sql(*e)).fetchone()[0] for e in edits)
    got = features_at(path, cfg)
    pd.testing.assert_frame_equal(got, expected)
    assert changed >= 0


def test_the_edits_do_change_the_data(company, tmp_path):
    """Guard against a vacuous property: the edits above touch rows and change labels."""
    base_path, _, _ = company
    path = tmp_path / "edited.duckdb"
    shutil.copy(base_path, path)
    with duckdb.connect(str(path)) as con:
        counts = {e: con.execute(_sql("rewrite", e, 100)).fetchone()[0] for e in TIME}
        counts.update({c: con.execute(_sql("reveal", c, 100)).fetchone()[0] for c in REVEALED})
    assert all(n > 0 for n in counts.values()), counts
    cfg = Config()  # a quarter's expansion label: matured at T on this two-year company
    cfg = cfg.model_copy(
        update={"labels": cfg.labels.model_copy(update={"expansion_horizon_days": 90})}
    )
    before = build_features(open_source(base_path), cfg, dates=[T]).frame
    after = build_features(open_source(path), cfg, dates=[T]).frame
    assert before.expanded_within_h.notna().all()
    assert not before.expanded_within_h.equals(after.expanded_within_h)


def test_a_filter_on_a_revealed_value_sees_it_only_once_known(company, tmp_path):
    """days_since with a filter on CSAT: a ticket counts from the day its CSAT is known (when
    it closed). Tickets opened before T but closed, and rated badly, after it change nothing
    at T, and the feature equals a pandas computation over what was known at T."""
    base_path, expected, cfg = company
    path = tmp_path / "late_ratings.duckdb"
    shutil.copy(base_path, path)
    with duckdb.connect(str(path)) as con:
        planted = con.execute(
            f"UPDATE tickets SET csat = 1, closed_at = TIMESTAMP '{T}' + INTERVAL 3 DAY "
            f"WHERE opened_at < '{T}' AND (closed_at IS NULL OR closed_at >= '{T}')"
        ).fetchone()[0]
        tickets = con.execute("SELECT account_id, opened_at, closed_at, csat FROM tickets").df()
    assert planted > 0
    got = features_at(path, cfg)[REVEALED_FILTER["name"]]
    pd.testing.assert_series_equal(got, expected[REVEALED_FILTER["name"]])
    known = tickets[(tickets.opened_at < T) & (tickets.closed_at < T) & (tickets.csat <= 2)]
    last = known.groupby("account_id").opened_at.max()
    want = (T - last.dt.normalize()).dt.days.astype(float)
    assert got.notna().sum() > 5
    pd.testing.assert_series_equal(
        got.dropna().sort_index(), want.reindex(got.dropna().index).sort_index(), check_names=False
    )
    assert set(got.dropna().index) == set(want.index) & set(got.index)
