"""The default demo company is realistic: segment churn, calibrated truth, weak login rule.

Builds the default company (5,000 accounts, 3 years) once; about 20 s.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.source import open_source
from churnhealth.data.validate import validate
from churnhealth.features.labels import churn_dates
from churnhealth.synth import generate
from tests.conftest import roc_auc

pytestmark = pytest.mark.slow

CHURN_RANGES = {"smb": (0.20, 0.40), "mid_market": (0.10, 0.20), "enterprise": (0.05, 0.12)}
END = pd.Timestamp("2026-11-01")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    cfg = Config().synth
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    result = generate(path, cfg.accounts, cfg.years, cfg.seed, cfg.start)
    return path, result


@pytest.fixture(scope="module")
def outcomes(demo) -> pd.DataFrame:
    """Truth rows with a mature horizon, their realised 90-day churn and simple signals."""
    path, _ = demo
    with duckdb.connect(str(path), read_only=True) as con:
        subs = con.sql("SELECT * FROM subscriptions").df()
        rows = con.sql(SIGNALS_SQL).df()
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    rows = rows[rows.as_of + pd.Timedelta(days=90) <= END]
    churn = churn_dates(subs)
    m = rows[["account_id", "as_of"]].merge(churn, on="account_id", how="left")
    hit = (m.churn_date > m.as_of) & (m.churn_date <= m.as_of + pd.Timedelta(days=90))
    y = hit.groupby([m.account_id, m.as_of]).any().rename("churned").reset_index()
    return rows.merge(y, on=["account_id", "as_of"])


SIGNALS_SQL = """
WITH t AS (SELECT t.account_id, t.as_of, t.p_churn_90d, a.segment, a.licenses
           FROM truth t JOIN accounts a USING (account_id)),
u AS (SELECT t.account_id, t.as_of, max(u.date) AS last_login,
             sum(CASE WHEN u.date >= t.as_of - 30 THEN u.active_users END) AS users_30d
      FROM t LEFT JOIN usage u ON u.account_id = t.account_id AND u.date < t.as_of
                              AND u.date >= t.as_of - 92
      GROUP BY ALL),
k AS (SELECT t.account_id, t.as_of, count(k.ticket_id) AS tickets_90d
      FROM t LEFT JOIN tickets k ON k.account_id = t.account_id AND k.opened_at < t.as_of
                                AND k.opened_at >= t.as_of - 90
      GROUP BY ALL),
c AS (SELECT t.account_id, t.as_of,
             count(c.contact_id) FILTER (WHERE c.is_champion) AS champions
      FROM t LEFT JOIN contacts c ON c.account_id = t.account_id AND c.started_at < t.as_of
                                 AND (c.ended_at IS NULL OR c.ended_at >= t.as_of)
      GROUP BY ALL),
s AS (SELECT t.account_id, t.as_of, avg(s.score) AS nps
      FROM t LEFT JOIN surveys s ON s.account_id = t.account_id AND s.kind = 'nps'
                                AND s.ts < t.as_of AND s.ts >= t.as_of - 365
      GROUP BY ALL),
r AS (SELECT t.account_id, t.as_of,
             bool_or(b.term_months = 1 OR (
                 date_diff('month', b.start_date, t.as_of + 90) // b.term_months
                 > date_diff('month', b.start_date, t.as_of) // b.term_months)) AS renewal_due
      FROM t JOIN subscriptions b ON b.account_id = t.account_id AND b.start_date <= t.as_of
                                 AND (b.end_date IS NULL OR b.end_date > t.as_of)
      GROUP BY ALL)
SELECT * FROM t JOIN u USING (account_id, as_of) JOIN k USING (account_id, as_of)
                JOIN c USING (account_id, as_of) JOIN s USING (account_id, as_of)
                JOIN r USING (account_id, as_of)
"""


def test_default_company_is_within_size_and_valid(demo):
    path, result = demo
    assert path.stat().st_size <= 300e6
    assert result.accounts_per_segment == {"enterprise": 765, "mid_market": 1479, "smb": 2756}
    report = validate(open_source(path), Config().data.segments)
    assert report.ok, report.problems
    assert report.rows["usage"] > 5_000_000


def test_yearly_churn_per_segment_is_in_the_practitioner_ranges(demo):
    _, result = demo
    for row in result.churn.itertuples():
        lo, hi = CHURN_RANGES[row.segment]
        assert lo <= row.churn_rate <= hi, row


def test_truth_is_calibrated_against_realised_churn(outcomes):
    assert abs(outcomes.p_churn_90d.mean() - outcomes.churned.mean()) < 0.02
    for _, g in outcomes.groupby("segment"):
        assert abs(g.p_churn_90d.mean() - g.churned.mean()) < 0.02
    deciles = pd.qcut(outcomes.p_churn_90d.rank(method="first"), 10, labels=False)
    by_decile = outcomes.groupby(deciles).agg(p=("p_churn_90d", "mean"), y=("churned", "mean"))
    assert (by_decile.p - by_decile.y).abs().max() < 0.03


def test_login_rule_is_weak_and_multidimensional_signals_are_strong(outcomes):
    days = (outcomes.as_of - pd.to_datetime(outcomes.last_login)).dt.days.fillna(999)
    light = np.select([days <= 31, days <= 62], [0, 1], 2)
    login_auc = roc_auc(outcomes.churned, light)
    assert login_auc <= 0.65

    def z(x: pd.Series) -> pd.Series:
        x = x.astype(float).fillna(x.astype(float).median())
        return (x - x.mean()) / x.std()

    usage = outcomes.users_30d.fillna(0) / outcomes.licenses
    risk = z(outcomes.tickets_90d) - z(usage) - z(outcomes.nps) - z(outcomes.champions)
    score = np.where(outcomes.renewal_due, 10, 0) + risk
    multi_auc = roc_auc(outcomes.churned, score)
    assert multi_auc >= login_auc + 0.2
    oracle_auc = roc_auc(outcomes.churned, outcomes.p_churn_90d)
    assert oracle_auc > multi_auc


def test_signals_lead_churn(demo):
    """Usage per license falls in the months before an account leaves."""
    path, _ = demo
    with duckdb.connect(str(path), read_only=True) as con:
        subs = con.sql("SELECT * FROM subscriptions").df()
        churn = churn_dates(subs)
        con.register("churn", churn)
        rel = con.sql("""
            SELECT date_diff('month', u.date, c.churn_date) AS months_before,
                   sum(u.active_users) / any_value(a.licenses) AS users_per_license
            FROM usage u JOIN churn c USING (account_id) JOIN accounts a USING (account_id)
            WHERE u.date < c.churn_date AND u.date >= c.churn_date - INTERVAL 7 MONTH
            GROUP BY u.account_id, months_before""").df()
    by_month = rel.groupby("months_before").users_per_license.median()
    assert by_month[0] < by_month[1] < by_month[5]


def test_features_on_the_demo_company_match_what_synth_reported(demo):
    from churnhealth.features import build_features
    from churnhealth.features.spec import DIMENSIONS

    path, result = demo
    fs = build_features(open_source(path), Config())
    dims = fs.by_dimension()
    assert all(len(dims[d]) >= 4 for d in DIMENSIONS), dims
    lab = fs.labelled
    assert len(lab) > 50_000 and lab.churned_within_h.notna().all()
    assert fs.frame[~fs.frame.labelled].churned_within_h.isna().all()
    rates = lab.groupby("segment").churned_within_h.mean()
    for segment, rate in result.churn_90d.items():
        assert rates[segment] == pytest.approx(rate, abs=1e-12)


def test_twelve_month_and_next_renewal_truth_are_calibrated(demo):
    """The longer horizons of the truth table mean what they say: on rows whose 12 months have
    passed, the true 12-month probability matches realised churn overall, per segment and per
    decile; the chance of leaving at the next renewal matches what happened at it."""
    path, _ = demo
    with duckdb.connect(str(path), read_only=True) as con:
        truth = con.sql("SELECT t.*, a.segment FROM truth t JOIN accounts a USING (account_id)")
        truth = truth.df()
        churn = churn_dates(con.sql("SELECT * FROM subscriptions").df())
    truth["as_of"] = pd.to_datetime(truth.as_of)
    # a year holds the quarter (up to Monte Carlo noise: 100 paths for the year, 200 for 90 days)
    assert (truth.p_churn_12m - truth.p_churn_90d).quantile(0.01) > -0.03
    rows = truth[truth.as_of + pd.Timedelta(days=365 + 30) <= END]
    m = rows[["account_id", "as_of", "next_renewal"]].merge(churn, on="account_id", how="left")
    after = m.churn_date > m.as_of
    m["year"] = after & (m.churn_date <= m.as_of + pd.Timedelta(days=365))
    m["at_next"] = after & (m.churn_date == pd.to_datetime(m.next_renewal))
    y = m.groupby(["account_id", "as_of"])[["year", "at_next"]].any().reset_index()
    rows = rows.merge(y, on=["account_id", "as_of"])
    assert len(rows) > 20_000
    assert abs(rows.p_churn_12m.mean() - rows.year.mean()) < 0.02
    for _, g in rows.groupby("segment"):
        assert abs(g.p_churn_12m.mean() - g.year.mean()) < 0.03
    deciles = pd.qcut(rows.p_churn_12m.rank(method="first"), 10, labels=False)
    by_decile = rows.groupby(deciles).agg(p=("p_churn_12m", "mean"), y=("year", "mean"))
    assert (by_decile.p - by_decile.y).abs().max() < 0.04
    nxt = rows.dropna(subset=["p_churn_next_renewal"])
    assert abs(nxt.p_churn_next_renewal.mean() - nxt.at_next.mean()) < 0.02
