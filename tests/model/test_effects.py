"""`churnhealth effects` on companies whose plays' true effects are known."""

from __future__ import annotations

import json

import duckdb
import pytest

from churnhealth.location import source_label
from churnhealth.scoring import history
from churnhealth.synth import generate
from churnhealth.synth.team import PLAYS, Team
from tests.conftest import cli, workspace_config


@pytest.fixture(scope="module")
def acting(tmp_path_factory):
    """A company whose team works accounts, and its estimates (run once)."""
    root = tmp_path_factory.mktemp("acting")
    data = root / "team.duckdb"
    generate(data, accounts=1000, years=3, seed=11, truth_paths=20, team=Team())
    cfg = str(workspace_config(root))
    # as after a `predict` on its last day: alerts on accounts without a CSM, no outcome yet
    with duckdb.connect(str(data), read_only=True) as con:
        unowned = con.sql("SELECT account_id FROM accounts WHERE csm_owner IS NULL").fetchall()
        (end,) = con.sql("SELECT max(date) FROM usage").fetchone()
    (root / "outputs").mkdir()
    lines = [{"account_id": a, "playbook": "rapid_decline", "as_of": str(end)} for (a,) in unowned]
    (root / "outputs" / "alerts.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    history.record_source(root / "outputs" / "history.duckdb", source_label(data))
    res = cli("effects", "--data", str(data), "--out", "effects.json", "--config", cfg, cwd=root)
    assert res.returncode == 0, res.stderr
    return root, res.stdout, json.loads((root / "effects.json").read_text())


def _get(est, play, method, outcome, group="all"):
    (e,) = [
        e
        for e in est["estimates"]
        if (e["play"], e["method"], e["outcome"], e["group"]) == (play, method, outcome, group)
    ]
    return e


def test_every_play_gets_every_method_and_says_why_when_it_cannot(acting):
    _, out, est = acting
    assert set(est["plays"]) == {*PLAYS, "rapid_decline"}  # the log's alerts: see the fixture
    for play in PLAYS:
        for method in ("randomized", "doubly_robust", "naive"):
            for outcome in ("12m", "next_renewal"):
                e = _get(est, play, method, outcome)
                assert (e["effect"] is None) == (e["refused"] is not None)
                if e["effect"] is not None:
                    assert e["low"] <= e["effect"] <= e["high"]
    assert "naive" in out and "randomized" in out and "doubly robust" in out
    assert "Who a play helps" in out
    # the play only alerted today: one line, not a row of refusals in each table
    flat = " ".join(out.split())
    assert f"Not judged yet: rapid decline ({est['plays']['rapid_decline']['run']} run)." in flat
    assert out.count("rapid") == 1


def test_estimates_go_to_mlflow_and_the_report_section(acting):
    root, _, est = acting
    import mlflow

    from churnhealth.evaluation import report_sections

    client = mlflow.tracking.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.get_run(est["run_id"])
    assert run.data.tags["churnhealth.kind"] == "effects"
    naive = _get(est, "discount", "naive", "12m")
    assert run.data.metrics["effect_discount_naive_12m"] == pytest.approx(naive["effect"])
    html = report_sections.effects(est)
    assert "naive (do not trust)" in html and "executive call" in html
    assert html.count("<h3>") == 2  # one table per outcome
    assert html.count("rapid decline") == 1 and "Not judged yet: rapid decline" in html
    assert "Not measured yet" in report_sections.effects(None)


def test_naive_comparison_gets_a_play_backwards_and_the_truth_says_so(acting):
    _, _, est = acting
    backwards = [
        p
        for p in PLAYS
        if (n := _get(est, p, "naive", "12m"))["effect"] is not None
        and n["effect"] > 0
        and n["truth"] < 0
    ]
    assert backwards  # worked accounts churn more, though every play keeps accounts


def test_small_companies_get_refusals_not_guesses(acting):
    """1,000 accounts: too few holdouts for most plays, or (where there are enough) a year not
    yet followed, yet the plays held out most often are judged (tests/unit/test_effects.py
    checks the refusal on its own)."""
    _, _, est = acting
    refused = [e["refused"] for e in est["estimates"] if e["method"] == "randomized"]
    assert any(r and r.startswith("too few:") for r in refused)
    reasons = ("too few:", "not judged: followed for at most", "no holdouts:")
    assert sum(bool(r) for r in refused) > len(refused) / 2, refused
    assert all(r is None or r.startswith(reasons) for r in refused), refused
    # two years of holdouts (synth's default experiment): the first year's are followed a year
    given = [_get(est, p, "randomized", "12m") for p in PLAYS]
    assert any(e["effect"] is not None for e in given), [e["refused"] for e in given]
    dr = [_get(est, p, "doubly_robust", "12m") for p in PLAYS]
    assert any(e["refused"] and e["refused"].startswith("too few:") for e in dr)
    for e in dr:
        if e["effect"] is not None:
            assert e["diagnostics"]["effective_controls"] >= 50


def test_no_signal_company_plays_show_no_effect(tmp_path):
    generate(
        tmp_path / "null.duckdb",
        accounts=1000,
        years=3,
        seed=12,
        truth_paths=20,
        team=Team(),
        no_signal=True,
    )
    cfg = str(workspace_config(tmp_path))
    res = cli("effects", "--data", "null.duckdb", "--json", "--config", cfg, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    est = json.loads(res.stdout)["estimates"]
    given = [
        e for e in est if e["method"] in ("randomized", "doubly_robust") and e["effect"] is not None
    ]
    assert given and all(e["truth"] == 0 for e in given if e["truth"] is not None)
    assert sum(e["low"] <= 0 <= e["high"] for e in given) >= 0.8 * len(given)


def test_data_without_plays_is_refused_in_one_line(small_db, tmp_path):
    cfg = str(workspace_config(tmp_path))
    res = cli("effects", "--data", str(small_db), "--out", "fx.json", "--config", cfg, cwd=tmp_path)
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert "has no cs_actions table and" in line and "holds no alerts raised on it" in line
    assert not (tmp_path / "fx.json").exists()
    # alerts raised on another data source are not this data's plays
    (tmp_path / "outputs").mkdir()
    alert = {"account_id": "A00001", "playbook": "rapid_decline", "as_of": "2024-06-01"}
    (tmp_path / "outputs" / "alerts.jsonl").write_text(json.dumps(alert) + "\n")
    history.record_source(tmp_path / "outputs" / "history.duckdb", "/elsewhere/other.duckdb")
    res = cli("effects", "--data", str(small_db), "--out", "fx.json", "--config", cfg, cwd=tmp_path)
    assert res.returncode == 2 and "holds no alerts raised on it" in res.stderr


def test_plays_without_holdouts_refuse_the_randomized_estimate(acting, tmp_path):
    root, _, _ = acting
    path = tmp_path / "manual.duckdb"
    with duckdb.connect(str(path)) as dst:
        dst.execute(f"ATTACH '{root / 'team.duckdb'}' AS src (READ_ONLY)")
        for (table,) in dst.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'"
        ).fetchall():
            dst.execute(f"CREATE TABLE {table} AS SELECT * FROM src.{table}")
        dst.execute("UPDATE cs_actions SET source = 'manual'")
    cfg = str(workspace_config(tmp_path))
    res = cli("effects", "--data", str(path), "--json", "--config", cfg, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    est = json.loads(res.stdout)
    for play in PLAYS:
        e = _get(est, play, "randomized", "12m")
        assert e["refused"] == "no holdouts: set holdout_share on the playbook"


def test_todays_alerts_on_accounts_without_a_csm_change_no_estimate(acting):
    """The comparison accounts are those with a CSM while every play an estimate reads ran on
    one. The fixture's log holds alerts raised on its last day on accounts without a CSM (as
    `predict` raises them): with no outcome yet they read into no estimate and must not widen
    the comparison to the whole book."""
    _, out, est = acting
    assert est["plays"]["rapid_decline"]["run"] > 0  # those still customers at the end
    e = _get(est, "rapid_decline", "doubly_robust", "12m")
    assert e["refused"].startswith("too few: 0 plays run with a known outcome")
    assert any(n.startswith("the comparison accounts are the ") for n in est["notes"])
    assert "with a CSM" in out
