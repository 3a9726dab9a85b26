"""The demo company's CS team: confounded choices, holdouts, plays that change only what they
claim, and a truth that knows each play's effect."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from churnhealth import calendar as cal
from churnhealth.data.source import open_source
from churnhealth.data.validate import validate
from churnhealth.synth import generate
from churnhealth.synth.params import Params
from churnhealth.synth.simulate import simulate
from churnhealth.synth.team import PLAYS, Team, apply
from churnhealth.synth.truth import play_effects
from tests.conftest import cli

SEGMENTS = ["enterprise", "mid_market", "smb"]
START = np.datetime64("2023-11-01", "D")
TEAM = Team(experiment_months=12)
"""Two years: a year of the team's own picks, then a year of the experiment."""


def run(team: Team | None, n: int = 600, months: int = 24, seed: int = 2):
    ss = np.random.SeedSequence(seed)
    seqs = ss.spawn(3)
    return simulate(n, START, months, seqs, Params(), team=team, team_seed=ss.spawn(1)[0])


@pytest.fixture(scope="module")
def pair():
    return run(None), run(TEAM)


def test_accounts_never_worked_keep_their_hidden_state(pair):
    alone, worked = pair
    touched = np.unique(worked.actions.account[worked.actions.source != "holdout"])
    assert 20 < len(touched) < len(alone.seg) / 2
    keep = np.setdiff1d(np.arange(len(alone.seg)), touched)
    for a, b in zip(alone.states, worked.states, strict=True):
        np.testing.assert_array_equal(a.take(keep).fit, b.take(keep).fit)
        np.testing.assert_array_equal(a.take(keep).champion, b.take(keep).champion)
        np.testing.assert_array_equal(a.take(keep).svc, b.take(keep).svc)
    # and their contracts: renewals, late renewals, expansion sizes, churn
    subs = [
        c.subscriptions[c.subscriptions.account.isin(keep)].reset_index(drop=True)
        for c in (alone, worked)
    ]
    pd.testing.assert_frame_equal(*subs)
    np.testing.assert_array_equal(alone.churn_date[keep], worked.churn_date[keep])
    # and the plays did something: some worked account's path differs
    assert not np.array_equal(alone.states[-1].fit[touched], worked.states[-1].fit[touched])


def test_team_works_covered_active_accounts_within_capacity_and_cooldown(pair):
    _, c = pair
    a = c.actions
    assert c.csm[a.account].all()  # only accounts with a CSM
    day = a.date.to_numpy().astype("datetime64[D]")
    assert (c.created[a.account] < cal.month_start(cal.month_index(day))).all()
    gone = c.churn_date[a.account]
    assert (np.isnat(gone) | (gone >= cal.month_start(cal.month_index(day)))).all()
    per_month = a.groupby(a.date.dt.to_period("M")).size()
    assert per_month.max() <= round(Team().capacity * c.csm.sum()) + 1
    months = a.date.dt.year * 12 + a.date.dt.month
    gaps = months.groupby(a.account).diff().dropna()
    assert (gaps >= Team().cooldown_months).all()


def test_holdouts_only_in_the_experiment_and_at_random(pair):
    _, c = pair
    a = c.actions
    begins = pd.Timestamp(cal.month_start(c.first + c.months - TEAM.experiment_months))
    before, during = a[a.date < begins], a[a.date >= begins]
    assert set(before.source) == {"manual"}
    assert set(during.source) == {"alert", "holdout"}
    share = (during.source == "holdout").mean()
    se = np.sqrt(0.25 * 0.75 / len(during))
    assert abs(share - TEAM.holdout_share) < 4 * se


def test_team_picks_worrying_accounts(pair):
    """Confounding: the accounts it chooses are riskier than the covered accounts it leaves."""
    _, c = pair
    p = Params()
    a = c.actions
    k = (cal.month_index(a.date.to_numpy().astype("datetime64[D]")) - c.first).astype(int)
    picked = np.array(
        [
            Team().cues(c.state(j - 1).take([i]), c.seg[[i]], p).max()
            for i, j in zip(a.account, k, strict=True)
        ]
    )
    everyone = Team().cues(c.state(c.months // 2), c.seg, p).max(axis=0)[c.csm]
    assert np.median(picked) > np.quantile(everyone, 0.75)


def test_each_play_acts_only_on_its_own_cause():
    p = Params()
    c = run(None, n=300, months=6)
    s = c.state(3)
    seg = c.seg
    for k, play in enumerate(PLAYS):
        after = apply(k, s, seg, p)
        changed = np.zeros(len(seg), bool)
        for f in ("fit", "mu", "sponsor", "rel", "svc", "dunning", "relief"):
            changed |= getattr(after, f) != getattr(s, f)
        if play == "executive_call":
            assert not changed[s.champion == 1].any()
        if play == "payment_recovery":
            assert np.array_equal(changed, s.dunning > 0)
        if play == "support_escalation":
            assert np.array_equal(changed, s.svc > 0)
        if play == "discount":
            assert changed.all()


def test_true_effects_are_zero_without_a_cause_and_keep_accounts_with_one():
    c = run(Team(), n=300, months=8)
    eff = play_effects(c, 16, np.random.SeedSequence(9), Params())
    k = (cal.month_index(eff.as_of.to_numpy().astype("datetime64[D]")) - c.first).astype(int)
    champion = np.array([c.state(j - 1).champion[i] for i, j in zip(eff.account, k, strict=True)])
    card = c.states[0].card[eff.account]
    assert (eff.effect_executive_call_12m[champion == 1] == 0).all()
    assert (eff.effect_payment_recovery_12m[card == 0] == 0).all()
    for play in PLAYS:
        assert eff[f"effect_{play}_12m"].mean() < 0, play  # every play helps on average
        assert eff[f"effect_{play}_12m"].between(-1, 0.05).all()
    assert (eff.effect_discount_next_renewal.dropna() <= 0).all()  # NaN: no decision in 13 months


def test_generate_writes_valid_cs_actions_and_effects(tmp_path):
    path = tmp_path / "team.duckdb"
    res = generate(path, accounts=400, years=2, seed=7, truth_paths=20, team=Team())
    assert res.plays.run.sum() + res.plays.held_out.sum() == res.rows["cs_actions"]
    report = validate(open_source(path), SEGMENTS)
    assert report.ok, report.problems
    with duckdb.connect(str(path), read_only=True) as con:
        acts = con.sql("SELECT * FROM cs_actions").df()
        cols = [r[0] for r in con.sql("DESCRIBE truth").fetchall()]
    assert set(acts.source) <= {"alert", "holdout", "manual"}
    assert set(acts.playbook) <= set(PLAYS)
    assert {f"effect_{p}_{h}" for p in PLAYS for h in ("12m", "next_renewal")} <= set(cols)


def test_effects_computed_in_a_second_process_are_the_same(tmp_path):
    """The plays' true effects of a large company are computed alongside the truth table, in a
    spawned process: the written truth is the same as when computed here."""
    truths = {}
    for alongside in (False, True):
        path = tmp_path / f"{alongside}.duckdb"
        generate(
            path, accounts=200, years=1, seed=5, truth_paths=10, team=Team(), alongside=alongside
        )
        with duckdb.connect(str(path), read_only=True) as con:
            truths[alongside] = con.sql("SELECT * FROM truth ORDER BY account_id, as_of").df()
    assert np.nansum(truths[True].filter(like="effect_").abs().to_numpy()) > 0
    pd.testing.assert_frame_equal(truths[True], truths[False])


def _generate_in_a_pool_worker(path: str) -> int:
    res = generate(path, accounts=120, years=1, seed=5, truth_paths=5, team=Team(), alongside=True)
    return res.rows["truth"]


def test_a_pool_worker_computes_the_effects_itself(tmp_path):
    """A multiprocessing pool's worker is daemonic and may not start a process: asked to compute
    the effects alongside, it computes them itself instead of failing."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        rows = pool.apply(_generate_in_a_pool_worker, (str(tmp_path / "w.duckdb"),))
    assert rows > 0


def test_no_signal_team_plays_change_nothing(tmp_path):
    path = tmp_path / "null.duckdb"
    res = generate(path, accounts=300, years=1, seed=3, truth_paths=20, team=Team(), no_signal=True)
    assert res.rows["cs_actions"] > 0
    with duckdb.connect(str(path), read_only=True) as con:
        total = con.sql(
            "SELECT sum(abs(effect_training_12m) + abs(effect_discount_12m)) FROM truth"
        )
        assert total.fetchone()[0] == 0


def test_every_table_is_the_same_where_no_play_ran(tmp_path):
    """The team on or off, an account no play ran on has exactly the same rows in every table;
    only `truth` (a Monte Carlo estimate) and the new `cs_actions` differ, and the row numbers
    (ticket_id, contact_id, …) that count every account's rows."""
    paths = {on: tmp_path / f"team_{on}.duckdb" for on in (False, True)}
    for on, path in paths.items():
        generate(path, accounts=300, years=2, seed=11, truth_paths=5, team=Team() if on else None)
    with duckdb.connect(str(paths[True]), read_only=True) as con:
        acts = con.sql("SELECT * FROM cs_actions").df()
        tables = [r[0] for r in con.sql("SHOW TABLES").fetchall()]
    ran = set(acts.account_id[acts.source != "holdout"])
    assert 10 < len(ran) < 150
    for table in sorted(set(tables) - {"truth", "cs_actions"}):
        frames = []
        for path in paths.values():
            with duckdb.connect(str(path), read_only=True) as con:
                df = con.sql(f"SELECT * FROM {table}").df()
            df = df[~df.account_id.isin(ran)]
            df = df.drop(columns=[c for c in df.columns if c.endswith("_id") and c != "account_id"])
            frames.append(df.sort_values(list(df.columns)).reset_index(drop=True))
        assert len(frames[0]) > 0, table
        pd.testing.assert_frame_equal(*frames, obj=table)
    # and the accounts a play ran on do differ somewhere
    with duckdb.connect(str(paths[False]), read_only=True) as con:
        off = con.sql("SELECT account_id, count(*) AS n FROM usage GROUP BY 1").df()
    with duckdb.connect(str(paths[True]), read_only=True) as con:
        on = con.sql("SELECT account_id, count(*) AS n FROM usage GROUP BY 1").df()
    both = off.merge(on, on="account_id", suffixes=("_off", "_on"))
    worked = both[both.account_id.isin(ran)]
    assert (worked.n_off != worked.n_on).any()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--no-team", "--experiment-months", "6"],
            "--no-team (or synth.team: false) turns it off",
        ),
        (["--experiment-months", "-1"], "greater than or equal to 0"),
        (["--experiment-months", "121"], "less than or equal to 120"),
    ],
)
def test_an_experiment_without_a_team_or_out_of_range_is_refused(tmp_path, args, says):
    out = tmp_path / "company.duckdb"
    res = cli("synth", "--accounts", "50", "--years", "1", *args, "--out", str(out))
    assert res.returncode == 2
    assert says in " ".join(res.stderr.split()) and "Traceback" not in res.stderr
    assert not out.exists()
