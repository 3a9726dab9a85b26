"""`churnhealth predict`: scores, history, trend, explanations, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap
import yaml

from churnhealth.data.source import open_source
from churnhealth.errors import ChurnhealthError
from churnhealth.features import build_features, data_window
from churnhealth.features.spec import DIMENSIONS
from churnhealth.jobs.predict import explain, predict
from churnhealth.models import hazard
from churnhealth.models.calibrate import calibrate
from churnhealth.models.estimators import logistic
from churnhealth.models.routed import FittedModel
from churnhealth.scoring import history
from churnhealth.scoring.explain import (
    dimension_effects,
    explained_hazards,
    health_effects,
    raw_contributions,
)
from churnhealth.scoring.explanation import Explanation
from churnhealth.scoring.scorer import SCORE_COLUMNS
from churnhealth.synth import generate
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[2]


def _outputs_in(cfg, folder: Path, **predict):
    """`cfg` with its history, scores and alert log in `folder` (and `predict` settings)."""
    paths = {
        "history": folder / "history.duckdb",
        "out_dir": folder,
        "alerts": folder / "alerts.jsonl",
    }
    return cfg.model_copy(update={"predict": cfg.predict.model_copy(update={**paths, **predict})})


@pytest.fixture(scope="module")
def cfg(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict")
    return trained.cfg.model_copy(
        update={
            "predict": trained.cfg.predict.model_copy(
                update={
                    "history": out / "history.duckdb",
                    "out_dir": out,
                    "playbooks": ROOT / "configs/playbooks.yaml",
                    "alerts": out / "alerts.jsonl",
                }
            )
        }
    )


@pytest.fixture(scope="module")
def first(cfg, trained):
    res = predict(cfg, trained.data)
    return {"scores": res.scores, "summary": res.summary, "out": res.out, "data": trained.data}


def test_scores_every_active_account_with_every_column(first, trained):
    scores = first["scores"]
    assert list(scores.columns) == SCORE_COLUMNS
    _, end = data_window(open_source(trained.data))
    active = build_features(open_source(trained.data), trained.cfg, dates=[end]).frame
    assert sorted(scores.account_id) == sorted(active.account_id)
    assert (scores.as_of == end).all()
    assert scores.health_score.between(0, 100).all()
    assert set(scores.momentum) <= {"improving", "stable", "declining", "new"}
    assert ((scores.momentum == "new") == scores.health_change_30d.isna()).all()
    assert scores.projected_health_90d.between(0, 100).all()
    assert scores.health_change_30d.notna().mean() > 0.9  # backfilled history
    assert scores.health_change_90d.notna().mean() > 0.9
    on_disk = pd.read_parquet(first["out"])
    assert len(on_disk) == len(scores) and list(on_disk.columns) == SCORE_COLUMNS
    assert first["summary"].portfolio.accounts == len(scores)


def test_the_save_list_alerts_no_more_than_the_team_can_work(first, cfg, tmp_path):
    """The at-risk intervention (a save play) alerts the at-risk and critical accounts with the
    most ARR at stake up to the team's capacity; the others wait, listed, not alerted; a
    second run of the day finds the room taken. An account at risk for its contract alone
    gets the renewal-exposure play instead, never the save list."""
    scores, summary = first["scores"], first["summary"]
    at_risk = scores.tier.isin(["at_risk", "critical"])
    flagged = at_risk & scores.at_risk_for.isin(["signals", "csm"])
    contract = scores[at_risk & (scores.at_risk_for == "contract")]
    assert contract.playbooks.str.contains("renewal_exposure").all()
    from churnhealth.config import Capacity

    local = _outputs_in(cfg, tmp_path, capacity=Capacity(accounts=5))
    res = predict(local, first["data"])
    s = res.scores
    assert flagged.sum() > 5  # enough to fill the room
    assert (s.save_list == "new").sum() == 5 and (
        s.save_list == "waiting"
    ).sum() == flagged.sum() - 5
    assert (
        set(s.save_list.dropna()) <= {"new", "waiting"} and (s.save_list.notna() == flagged).all()
    )
    alerts = [json.loads(x) for x in local.predict.alerts.read_text().splitlines()]
    saved = [a for a in alerts if a["playbook"] == "at_risk_intervention"]
    assert {a["account_id"] for a in saved} == set(s.account_id[s.save_list == "new"])
    waiting = s[s.save_list == "waiting"]
    stake = waiting.arr * waiting.p_churn_next_renewal.fillna(waiting.churn_probability)
    assert min(a["arr_at_stake"] for a in saved) >= stake.max() - 1e-6
    room = res.summary.rooms["capacity"]
    assert (room.limit, room.new, room.under_way, room.waiting) == (5, 5, 0, flagged.sum() - 5)
    assert res.summary.waiting == {"at_risk_intervention": flagged.sum() - 5}
    again = predict(local, first["data"]).summary.rooms["capacity"]
    assert (again.new, again.under_way) == (0, 5)
    # the default: 5% of the active book, the bands' tiers with what they mean
    assert summary.rooms["capacity"].limit == -(-len(scores) // 20)
    assert all(t.source == "bands" for t in summary.tiered_by.values())


def _effects(path: Path, data: Path, end: str) -> Path:
    """An effects file as `churnhealth effects` writes it: training shown to keep accounts,
    discount not shown."""
    from churnhealth.location import source_label

    def est(play, e, half, untreated=0.4):
        return {
            "play": play, "method": "doubly_robust", "outcome": "12m", "group": "all",
            "effect": e, "low": e - half, "high": e + half, "treated": 150,
            "untreated": untreated,
        }  # fmt: skip

    path.write_text(
        json.dumps(
            {
                "source": source_label(data),
                "data_end": end,
                "horizon_days": 365,
                "estimates": [est("training", -0.12, 0.08), est("discount", -0.03, 0.05)],
            }
        )
    )
    return path


def test_the_save_list_ranks_by_expected_arr_saved_once_a_play_is_shown_to_work(
    first, cfg, tmp_path
):
    """With trusted effects every account competes by the ARR its best play is expected to
    save; the alerts name the play and why; accounts that competed only by their saving never
    wait; without them, or with effects measured after the day scored, it ranks by ARR lost
    and says why."""
    from churnhealth.config import Capacity

    assert not first["summary"].ranked_by_saving
    assert first["summary"].ranked_by.startswith("ranked by expected ARR lost: no effects")
    assert first["scores"].best_play.isna().all()
    day = first["summary"].as_of
    effects = _effects(tmp_path / "effects.json", first["data"], day)
    local = _outputs_in(cfg, tmp_path / "out", capacity=Capacity(accounts=5), effects=effects)
    res = predict(local, first["data"])
    s, summary = res.scores, res.summary
    assert summary.ranked_by_saving and "with training" in summary.ranked_by
    assert "discount: not shown" in summary.ranked_by
    assert set(s.best_play.dropna()) == {"training"}
    assert np.allclose(s.arr_saved, s.arr * s.churn_probability * 0.3, rtol=1e-6, atol=0.01)
    assert np.allclose(s.p_saved, s.churn_probability * 0.3, atol=1e-4)  # 12 of 40 points
    new = s[s.save_list == "new"]
    assert len(new) == 5 and new.arr_saved.min() >= s.arr_saved[s.save_list != "new"].max()
    alerts = [json.loads(x) for x in local.predict.alerts.read_text().splitlines()]
    saved = [a for a in alerts if a["playbook"] == "at_risk_intervention"]
    assert {a["account_id"] for a in saved} == set(new.account_id)
    assert all(a["play"] == "training" and "Best play: training" in a["reason"] for a in saved)
    assert all("doubly robust, 150 plays" in a["play_reason"] for a in saved)
    others = [a for a in alerts if a["playbook"] != "at_risk_intervention"]
    assert not any("play" in a or "Best play" in a["reason"] for a in others)
    flagged = s.at_risk_for.isin(["signals", "csm"])
    room = summary.rooms["capacity"]
    assert room.waiting == (flagged & (s.save_list != "new")).sum()
    assert set(s.account_id[s.save_list == "waiting"]) <= set(s.account_id[flagged])
    outsiders = sum(a.get("by_saving", False) for a in saved)
    for a in saved:  # an account chosen for its saving is not told to find why it is at risk
        said = "Not flagged for its signals" if a.get("by_saving") else "Find the root cause"
        assert said in a["reason"]
    assert summary.by_saving == ({"at_risk_intervention": outsiders} if outsiders else {})
    assert summary.cooling_down["at_risk_intervention"] == 0  # a first run: none cooling down
    top = new.nlargest(1, "arr_saved").iloc[0]
    e = explain(local, top.account_id, first["data"])
    assert e.best_play.play == "training" and "with training" in e.ranked_by
    assert e.best_play.arr_saved == pytest.approx(top.arr_saved, abs=0.01)
    # effects that saw data after the day scored: ARR lost, said (the other cases of
    # `saving.load` are unit tests)
    later = str((pd.Timestamp(day) + pd.Timedelta(days=1)).date())
    path = _effects(tmp_path / "later.json", first["data"], later)
    res = predict(_outputs_in(cfg, tmp_path / "later", effects=path), first["data"])
    assert not res.summary.ranked_by_saving and f"saw data to {later}" in res.summary.ranked_by
    assert res.scores.best_play.isna().all()


def test_a_history_with_a_gap_is_backfilled_and_no_trend_is_claimed_without_one(trained, tmp_path):
    """A history holding an earlier run's scores only (a run `--as-of` a year back) is not
    empty, yet the 90 days before today are missing: they are scored first, so today's trend
    reads from scores that exist; an account without a score 25 days back is "new", never
    "stable"."""
    cfg = _outputs_in(trained.cfg, tmp_path, playbooks=ROOT / "configs/playbooks.yaml")
    _, end = data_window(open_source(trained.data))
    earlier = predict(cfg, trained.data, as_of=(end - pd.DateOffset(years=1)).date())
    assert earlier.scores.health_change_30d.notna().mean() > 0.9  # its own backfill
    res = predict(cfg, trained.data)
    scores = res.scores
    assert scores.health_change_30d.notna().mean() > 0.9  # the gap was backfilled
    assert ((scores.momentum == "new") == scores.health_change_30d.isna()).all()
    version = str(scores.model_version.iloc[0])
    held = history.as_of_dates(cfg.predict.history, version)
    gap = [d for d in held if end - pd.Timedelta(days=95) < d < end]
    assert len(gap) >= 2  # the scheduled dates of the last 90 days are in the store now
    # a daily re-run finds nothing missing: it scores today only
    again = predict(cfg, trained.data)
    assert len(again.scores) == len(scores)
    assert history.as_of_dates(cfg.predict.history, version) == held | {end}


def test_summary_forecasts_the_books_revenue_retention(first):
    """The forecast's year agrees with the scores: expected churned ARR is Σ ARR × P(churn
    within 12 months) (health's horizon), and it is saved in summary.json."""
    s, f = first["scores"], first["summary"].forecast
    year = f.portfolio.year
    assert year.churned_arr == pytest.approx((s.arr * s.churn_probability).sum(), rel=0.01)
    assert year.churned_arr_lo < year.churned_arr < year.churned_arr_hi
    assert f.portfolio.arr == pytest.approx(s.arr.sum())
    assert len(f.portfolio.months) == 12 and len(f.portfolio.quarters) == 4
    assert set(f.segments) == set(s.segment)
    saved = json.loads(first["out"].with_name("summary.json").read_text())
    assert saved["forecast"]["portfolio"]["year"]["grr"] == pytest.approx(year.grr)


def test_rerunning_the_same_as_of_replaces_history_rows(first, cfg, trained):
    before = history.count(cfg.predict.history)
    again = predict(cfg, trained.data)
    assert history.count(cfg.predict.history) == before
    pd.testing.assert_series_equal(again.scores.health_score, first["scores"].health_score)


def test_dimension_effects_add_up_to_health_minus_baseline(first):
    s = first["scores"]
    dims = s[[f"effect_{d}" for d in DIMENSIONS]].sum(axis=1)
    total = dims + s.effect_context
    assert ((s.health_score - s.baseline_health) - total).abs().max() <= 1.0
    # the signals' part is the dimensions' sum (each rounded to 0.1 points)
    assert (s.effect_signals - dims).abs().max() <= 0.35
    flagged = s.tier.isin(["at_risk", "critical"])
    assert s.at_risk_for[flagged].isin(["signals", "contract"]).all()  # no override here
    assert s.at_risk_for[~flagged].isna().all()
    assert (s.at_risk_for[flagged] == "signals").eq(s.effect_signals[flagged] <= -3).all()


@pytest.fixture(scope="module")
def months(trained, first):
    """The latest as-of rows, a LightGBM model of the champion and every month of each row."""
    hm = trained.result.model
    frame = build_features(
        open_source(trained.data), trained.cfg, dates=[first["scores"].as_of.iloc[0]]
    ).frame
    fm = next(m for m in hm.models.values() if m.kind == "lightgbm")
    inside, before = hazard.decisions(frame, hm.steps)
    steps = hazard.step_design(hm.design(frame), hm.steps, inside, before)
    return hm, frame, fm, steps


def test_tree_shap_values_equal_the_shap_package(months):
    """Exact TreeSHAP of the monthly hazard's raw score (what LightGBM computes for us equals
    the shap package), and the effects carried to health add up to health − baseline."""
    hm, frame, fm, steps = months
    steps = steps.iloc[::7]
    ours, expected = raw_contributions(fm, steps)
    explainer = shap.TreeExplainer(fm.estimator.booster_)
    theirs = explainer.shap_values(fm.raw_input(steps))
    np.testing.assert_allclose(ours.to_numpy(), theirs, atol=1e-9)
    assert expected == pytest.approx(float(np.ravel(explainer.expected_value)[-1]))
    effects, baseline = health_effects(hm, frame)
    dims = dimension_effects(hm, effects)
    health = 100 * (1 - hm.predict_proba(frame, hm.horizon_days))
    np.testing.assert_allclose(dims.sum(axis=1), health - baseline, atol=1e-6)
    # the same walk gives the hazards predict scores with: LightGBM's own, to rounding
    _, _, hazards = explained_hazards(hm, frame)
    np.testing.assert_allclose(hazards, hm.hazards(frame), rtol=0, atol=1e-12)


def test_tree_shap_once_per_distinct_month_equals_every_month(months):
    """Months that every tree sends down the same branches share their hazard and SHAP values:
    computing them once per distinct month gives each month's exact values, with far fewer
    rows."""
    _, frame, fm, steps = months
    rows, copies = fm.distinct_steps(steps, len(frame))
    every, _ = raw_contributions(fm, steps)
    once, _ = raw_contributions(fm, steps.iloc[rows])
    np.testing.assert_array_equal(once.to_numpy()[copies], every.to_numpy())
    np.testing.assert_array_equal(
        fm.predict_proba(steps.iloc[rows])[copies], fm.predict_proba(steps)
    )
    assert len(rows) < len(steps) / 2
    n = len(frame)
    assert (rows[copies] % n == np.arange(len(steps)) % n).all()  # the same account's month


def test_linear_shap_values_equal_the_shap_package(trained):
    hm = trained.result.model
    frame = build_features(open_source(trained.data), trained.cfg).labelled
    X = hm.design(frame).drop(columns=["segment"])
    y = frame.churned_within_h.to_numpy(int)
    numeric = [c for c in X.columns if c != "lifecycle_stage"]
    lr = logistic(numeric, ["lifecycle_stage"]).fit(X, y)
    cal, _ = calibrate(lr, X, y, frame.as_of)
    fm = FittedModel(
        kind="logistic",
        estimator=lr,
        calibrator=cal,
        calibration="sigmoid",
        uses_segment=False,
        background=X.iloc[:100],
    )
    ours, expected = raw_contributions(fm, X.iloc[-200:])
    pre = lr[:-1]
    explainer = shap.LinearExplainer(lr[-1], pre.transform(X.iloc[:100]))  # ≤ 100: all kept
    theirs = pd.DataFrame(
        explainer.shap_values(pre.transform(X.iloc[-200:])),
        columns=pre.get_feature_names_out(),
        index=X.index[-200:],
    )
    for col in numeric:
        related = [c for c in theirs.columns if c in (col, f"missingindicator_{col}")]
        np.testing.assert_allclose(ours[col], theirs[related].sum(axis=1), atol=1e-9)
    onehot = [c for c in theirs.columns if c.startswith("lifecycle_stage_")]
    np.testing.assert_allclose(ours["lifecycle_stage"], theirs[onehot].sum(axis=1), atol=1e-9)
    assert expected == pytest.approx(float(np.ravel(explainer.expected_value)[0]))


# Bad options and paths (unknown model, as-of outside the data, unwritable or mistyped --out):
# tests/model/test_bad_input.py runs them with every other command's.


def test_a_model_whose_features_the_data_cannot_provide_is_rejected(cfg, trained, tmp_path):
    import shutil

    import duckdb

    data = tmp_path / "no_tickets.duckdb"
    shutil.copy(trained.data, data)
    with duckdb.connect(str(data)) as con:
        con.execute("DROP TABLE tickets")
    before = history.count(cfg.predict.history)
    with pytest.raises(ChurnhealthError, match="missing feature columns sup_tickets_30d"):
        predict(cfg, data)
    assert history.count(cfg.predict.history) == before


def test_explain_any_scored_account(cfg, first, tmp_path):
    path = tmp_path / "c.yaml"
    crm = "https://crm.example.com/r/Account/{account_id}/view"
    with_crm = cfg.model_dump(mode="json")
    with_crm["predict"]["crm_url"] = crm
    path.write_text(yaml.safe_dump(with_crm))
    scores = first["scores"]
    account = scores.sort_values("health_score").account_id.iloc[0]
    res = cli("explain", account, "--data", str(first["data"]), "--config", str(path), cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-1500:]
    row = scores[scores.account_id == account].iloc[0]
    assert f"health {row.health_score}" in res.stdout
    assert "Effect of each dimension" in res.stdout and "segment median" in res.stdout
    # its plays with their alert ids, owners and due dates (issue 3.7 point 5)
    logged = [json.loads(x) for x in cfg.predict.alerts.read_text().splitlines()]
    mine = [a for a in logged if a["account_id"] == account]
    assert mine and all(f"Alert {a['alert_id']}: " in res.stdout for a in mine)
    e0 = explain(cfg, account, first["data"])
    assert {a.alert_id for a in e0.alerts} == {a["alert_id"] for a in mine}
    assert all(a.due is not None and a.due > a.as_of for a in e0.alerts)
    import duckdb

    with duckdb.connect(str(first["data"]), read_only=True) as con:
        name, owner = con.execute(
            "SELECT name, csm_owner FROM accounts WHERE account_id = ?", [account]
        ).fetchone()
    assert e0.name == name and e0.owner == owner
    assert f"{name} — owner {owner or 'none'} — {crm.format(account_id=account)}" in res.stdout
    # drivers by their labels, values as a CSM reads them (issue 3.7 point 3)
    assert all(d.label and "_" not in d.label for d in e0.drivers)
    assert not any(d.feature in res.stdout for d in e0.drivers)
    assert all(d.label in " ".join(res.stdout.split()) for d in e0.drivers[:2])
    healthiest = scores.sort_values("health_score").account_id.iloc[-1]
    e = explain(cfg, healthiest, first["data"])
    # one scoring chain: explain's row is predict's row for the account
    same = scores.set_index("account_id").loc[healthiest]
    for c in ("churn_probability", "p_churn_90d", "health_score", "tier", "momentum"):
        assert getattr(e, c) == same[c], c
    for c in ("health_change_30d", "projected_health_90d"):
        assert getattr(e, c) == same[c] or (getattr(e, c) is None and pd.isna(same[c])), c
    assert e.expansion is not None and e.expansion.score == same.expansion_score
    assert e.playbooks == [p for p in str(same.playbooks).split(",") if p]
    explained = sum(e.dimensions.values()) + e.context_effect
    assert abs(explained - (e.health_score - e.baseline_health)) <= 1
    assert all(d.effect < 0 for d in e.pulling_down) and all(d.effect >= 0 for d in e.holding_up)
    # --json prints the same explanation, in the shape of docs/schemas/explanation.json
    res = cli(
        "explain",
        healthiest,
        "--json",
        "--data",
        str(first["data"]),
        "--config",
        str(path),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-1500:]
    linked = e.model_copy(update={"crm": crm.format(account_id=healthiest)})  # crm_url set
    assert Explanation.model_validate_json(res.stdout) == linked
    # an unknown account: tests/model/test_bad_input.py


def _predict_posting(status: int, monkeypatch, cfg, data):
    """`predict` with its webhook a real local server answering `status`; returns the
    server's handler (its `received` messages) and the result."""
    import threading
    from http.server import ThreadingHTTPServer

    from tests.unit.test_playbooks import Recorder

    handler = type("Hook", (Recorder,), {"status": status, "received": []})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
        monkeypatch.setenv("CHURNHEALTH_WEBHOOK_URL", url)
        return handler, predict(cfg, data)
    finally:
        srv.shutdown()
        srv.server_close()


def test_failed_webhook_delivery_is_reported_and_the_alert_file_complete(
    cfg, trained, tmp_path, monkeypatch
):
    handler, res = _predict_posting(503, monkeypatch, _outputs_in(cfg, tmp_path), trained.data)
    fired = sum(res.summary.alerts.values())
    lines = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert fired > 0 and len(lines) == fired
    hook = res.summary.webhook
    assert hook.delivered == 0 and len(hook.failed) == len(handler.received) // 3
    assert res.scores.playbooks.str.len().gt(0).sum() >= fired // 4


def test_predict_validates_the_rows_it_reads_and_only_those(cfg, trained, tmp_path):
    """A bad usage row older than the features' longest usage window (90 days) is not read by
    predict, so it does not stop scoring; `validate` still reports it; a bad recent row stops
    predict with one line."""
    import shutil

    import duckdb

    from churnhealth.data.validate import validate
    from churnhealth.errors import DataError

    run = _outputs_in(cfg, tmp_path, backfill_days=0)
    _, end = data_window(open_source(trained.data))
    for when, fails in ((end - pd.Timedelta(days=3), True), (end - pd.Timedelta(days=200), False)):
        data = tmp_path / f"bad-{when.date()}.duckdb"
        shutil.copy(trained.data, data)
        with duckdb.connect(str(data)) as con:
            con.execute(
                "UPDATE usage SET active_users = -1 WHERE rowid IN (SELECT rowid FROM usage "
                f"WHERE date = DATE '{when.date()}' LIMIT 2)"
            )
        found = [str(p) for p in validate(open_source(data), run.data.segments).problems]
        assert found and found[0].startswith("usage.active_users: negative in 2 rows")
        if fails:
            with pytest.raises(DataError, match=r"usage\.active_users: negative in 2 rows"):
                predict(run, data)
            assert not (tmp_path / f"scores-{end.date()}.parquet").exists()
            assert history.count(run.predict.history) == 0
        else:
            assert len(predict(run, data).scores) > 0


def _store_without_artifacts(cfg, tmp_path: Path):
    """A copy of the store whose registered versions point at artifacts that are gone, and
    a copy of the champion's export: the registry's champion cannot be loaded."""
    import shutil
    import sqlite3

    store = tmp_path / "mlflow.db"
    shutil.copy(Path(cfg.mlflow.tracking_uri.removeprefix("sqlite:///")), store)
    with sqlite3.connect(store) as con:
        con.execute(
            f"UPDATE model_versions SET storage_location = '{(tmp_path / 'gone').as_uri()}'"
        )
    export = tmp_path / "champion"
    shutil.copytree(cfg.paths.champion_dir, export)
    return _outputs_in(cfg, tmp_path, backfill_days=0).model_copy(
        update={
            "mlflow": cfg.mlflow.model_copy(update={"tracking_uri": f"sqlite:///{store}"}),
            "paths": cfg.paths.model_copy(update={"champion_dir": export}),
        }
    )


def test_a_champion_the_registry_cannot_load_is_said_not_silently_replaced(cfg, trained, tmp_path):
    """The registry's champion fails to load: its export is used only when it holds the same
    version, and the run says so; with another version in the export, one line and exit 2."""
    local = _store_without_artifacts(cfg, tmp_path)
    res = predict(local, trained.data)
    assert res.summary.model_version == "1"
    assert res.summary.model == str(local.paths.champion_dir)
    [note] = res.summary.notes
    assert note.startswith("the registry's champion v1 could not be loaded")
    assert note.endswith(f"scored with its export {local.paths.champion_dir}")

    marker = local.paths.champion_dir / "registered_model.json"
    marker.write_text(marker.read_text().replace('"version": "1"', '"version": "7"'))
    before = history.count(local.predict.history)
    with pytest.raises(ChurnhealthError, match=r"model: the registry's champion v1 could not"):
        predict(local, trained.data)
    assert history.count(local.predict.history) == before


def test_drivers_and_alert_reasons_name_signals_never_context(first, cfg):
    """Context (renewal timing, term, tenure, stage, segment, size) changes the score but is no
    lever: it never appears among the drivers or in an alert's reason, and is reported apart."""
    import json

    from churnhealth.features import GRID_FEATURES

    s = first["scores"]
    named = pd.concat(
        [s[f"{k}_{i}_feature"] for k in ("risk", "protective") for i in (1, 2, 3)]
    ).dropna()
    assert len(named) > 0 and not set(named) & set(GRID_FEATURES)
    reasons = [json.loads(line)["reason"] for line in cfg.predict.alerts.read_text().splitlines()]
    from churnhealth.features.formats import CONTEXT, in_sentence

    # a driver reads "label (value)": no reason names a context feature's label so
    words = [in_sentence(CONTEXT[f].label) + " (" for f in GRID_FEATURES if f in CONTEXT]
    assert reasons and not [r for r in reasons for w in words if f"by {w}" in r or f"and {w}" in r]
    assert (s.context.str.len() > 0).mean() > 0.5 and s.effect_context.abs().max() > 1
    frame = build_features(open_source(first["data"]), cfg, dates=[s.as_of.iloc[0]]).frame
    annual = set(frame.account_id[frame.term_months >= 12])
    renewal_soon = s[(s.days_to_renewal <= 30) & s.account_id.isin(annual)]
    assert len(renewal_soon) > 10
    # a year ahead, the renewal weighs less than it did on a 90-day score, but it still leads
    assert renewal_soon.context.str.contains("renewal in").mean() > 0.8


def test_scoring_in_chunks_changes_nothing(cfg, first, tmp_path):
    """A small `predict.chunk_accounts` (several chunks, backfill one date per pass) writes the
    same scores, alerts and history as one chunk."""
    small = _outputs_in(cfg, tmp_path, chunk_accounts=100)
    assert len(first["scores"]) > 2 * 100
    res = predict(small, first["data"])
    pd.testing.assert_frame_equal(res.scores, first["scores"])
    assert res.summary.forecast == first["summary"].forecast
    assert res.summary.alerts == first["summary"].alerts
    one = history.read(cfg.predict.history)
    one = one[one.as_of <= first["scores"].as_of.iloc[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(history.read(small.predict.history), one)
    alerts = [json.loads(line) for line in small.predict.alerts.read_text().splitlines()]
    before = [json.loads(line) for line in cfg.predict.alerts.read_text().splitlines()]
    assert alerts == before[: len(alerts)]
    assert len(alerts) == sum(first["summary"].alerts.values())


def test_a_csm_override_drives_tiers_and_playbooks_and_the_history_keeps_the_model(
    cfg, first, tmp_path
):
    import shutil

    from churnhealth.scoring import overrides

    local = _outputs_in(cfg, tmp_path)
    shutil.copy(cfg.predict.history, local.predict.history)
    scores = first["scores"].set_index("account_id")
    day = scores.as_of.iloc[0]
    weak = scores[scores.tier == "critical"].index[0]
    strong = scores[scores.tier == "healthy"].index[0]
    for account, health in ((weak, 95), (strong, 5)):
        overrides.record(
            local.predict.history,
            account,
            health=health,
            reason="the CSM knows",
            by="tester",
            valid_from=day.date(),
            valid_until=(day + pd.Timedelta(days=30)).date(),
        )
    res = predict(local, first["data"])
    got = res.scores.set_index("account_id")
    for account, health in ((weak, 95), (strong, 5)):
        row = got.loc[account]
        assert row.health_score == health and row.csm_health == health
        assert row.model_health == scores.health_score[account]
        assert row.model_tier == scores.tier[account] and row.health_source == "csm"
        assert row.override_by == "tester" and row.override_reason == "the CSM knows"
    assert got.tier[weak] == "healthy" and "at_risk_intervention" not in got.playbooks[weak]
    assert got.tier[strong] in ("at_risk", "critical")
    assert "at_risk_intervention" in got.playbooks[strong] and got.at_risk_for[strong] == "csm"
    others = got.drop(index=[weak, strong])
    assert others.csm_health.isna().all() and (others.health_source == "model").all()
    assert (others.health_score == others.model_health).all()
    assert res.summary.overrides_in_force == 2
    alerts = [json.loads(line) for line in local.predict.alerts.read_text().splitlines()]
    fired = [a for a in alerts if a["account_id"] == strong and a["as_of"] == str(day.date())]
    assert fired and fired[0]["health_score"] == 5 and len(fired[0]["alert_id"]) == 12
    # the history keeps the model's health: the trend and the monitor never see an override
    kept = history.read(local.predict.history)
    kept = kept[kept.as_of == day].set_index("account_id")
    assert kept.health_score[weak] == scores.health_score[weak]
    assert kept.health_score[strong] == scores.health_score[strong]
    # with predict.override_wins off the model drives and the CSM's health is shown beside it
    shown = predict(_outputs_in(cfg, tmp_path, override_wins=False), first["data"]).scores
    shown = shown.set_index("account_id")
    assert shown.health_score[weak] == scores.health_score[weak] and shown.csm_health[weak] == 95
    assert shown.tier[weak] == scores.tier[weak] and shown.health_source[weak] == "model"


def test_the_expansion_playbook_fires_from_the_expansion_score(first, cfg):
    scores = first["scores"]
    assert scores.expansion_score.between(0, 100).all()
    assert scores.expansion_tier.notna().all()
    grow = scores[scores.playbooks.str.contains("expansion_opportunity")]
    assert len(grow) > 0
    assert (grow.expansion_tier == "ready").all() and (grow.tier == "healthy").all()
    alerts = [json.loads(line) for line in cfg.predict.alerts.read_text().splitlines()]
    fired = {a["account_id"]: a for a in alerts if a["playbook"] == "expansion_opportunity"}
    assert set(fired) <= set(grow.account_id)
    from churnhealth.features.formats import reading, readings
    from churnhealth.features.spec import load_metrics

    labels = readings(load_metrics(cfg.features.definitions, cfg.data.segments))
    for row in grow[grow.account_id.isin(fired)].itertuples():
        reason = fired[row.account_id]["reason"]
        assert reason.startswith(f"Expansion score {row.expansion_score} (ready), health")
        if isinstance(row.expansion_1_feature, str):  # by its label, its value as read
            read = reading(labels, row.expansion_1_feature)
            assert read.said(row.expansion_1_value) in reason


PROBE = """<script>
window.addEventListener("load", () => {
  const out = {}, body = () => document.querySelectorAll("#accounts tbody tr");
  out.sections = ["summary", "bridge", "checked", "forecast", "tiers", "movers", "book"].filter(
    (id) => (document.getElementById(id)?.textContent.length ?? 0) > 40);
  out.where = [...document.querySelectorAll("section > .where")].map((p) => p.parentNode.id);
  out.bridge = [...document.querySelectorAll("#bridge-table tbody tr")].map(
    (r) => r.cells[0].textContent);
  out.chart = document.querySelectorAll("#forecast-chart svg polyline").length;
  out.checked = [...document.querySelectorAll("#checked-table tbody tr")].map(
    (r) => r.cells[0].textContent);
  out.checked_line = document.getElementById("checked-line").className;
  out.tier_rows = document.querySelectorAll("#tiers-table tbody tr").length;
  out.movers = document.querySelectorAll(".movers tbody tr").length;
  out.rows = body().length;
  const tier = document.getElementById("f-tier");
  tier.value = "critical"; tier.dispatchEvent(new Event("input"));
  out.critical = body().length;
  out.only_critical = [...document.querySelectorAll("#accounts tbody .tier")].every(
    (x) => x.classList.contains("critical"));
  tier.value = ""; tier.dispatchEvent(new Event("input"));
  document.querySelector("#accounts th[data-key=health]").click();
  const h = [...document.querySelectorAll("#accounts tbody td:nth-child(5)")]
    .map((x) => parseInt(x.textContent));
  out.descending = h.every((v, i) => i === 0 || h[i - 1] >= v);
  const row = body()[0]; row.click();
  out.clicked = row.dataset.id;
  out.opened = document.getElementById("detail").classList.contains("open")
    ? document.getElementById("detail-account").textContent : null;
  out.panel = ["Trend", "Effect of each dimension", "Pulling health down", "Expansion score",
    "Playbooks"].filter((s) => document.getElementById("detail").textContent.includes(s));
  out.trend = document.querySelectorAll("#detail svg polyline").length;
  out.crm = document.getElementById("detail-crm")?.getAttribute("href") ?? null;
  out.driver_cells = [...document.querySelectorAll("#detail td[title]")].map(
    (td) => [td.title, td.textContent]);
  // my book: an owner's accounts, and the CSV of what is shown (issue 3.7 point 4)
  const owner = document.getElementById("f-owner");
  out.owner = [...owner.options].map((o) => o.value).find((v) => v && v !== "__none__");
  owner.value = out.owner; owner.dispatchEvent(new Event("input"));
  out.owner_rows = body().length;
  out.csv = csvText(visible()).split("\\r\\n").filter(Boolean);
  owner.value = ""; owner.dispatchEvent(new Event("input"));
  const text = document.getElementById("f-text"), named = D.accounts.find((a) => a.name);
  text.value = named.name.toLowerCase(); text.dispatchEvent(new Event("input"));
  out.name = named.name; out.name_id = named.id;
  out.by_name = [...body()].map((r) => r.dataset.id);
  const pre = document.createElement("pre"); pre.id = "probe";
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def probe_page(page: str, folder: Path) -> dict:
    """What `PROBE` finds when headless Chromium loads `page` (written into `folder`) and
    clicks through it: sections, rows, filters, sorting, an opened account."""
    from tests.conftest import in_chromium

    return in_chromium(page, PROBE, folder)


def _page_data(page: str) -> dict:
    raw = page.split("<script type='application/json' id='data'>", 1)[1].split("</script>", 1)[0]
    return json.loads(raw)  # "<\/" in the page is JSON's escaped "/"


def test_the_portfolio_page_renders_filters_and_opens_an_account_in_chromium(first, cfg, tmp_path):
    import re
    import subprocess

    from churnhealth.scoring import portfolio
    from tests.conftest import chromium

    path = first["out"].with_name("portfolio.html")
    assert first["summary"].portfolio_page == str(path)
    page = path.read_text()
    # self-contained: nothing fetched from anywhere
    external = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""")
    assert external.search('<img src="https://x/y.png">')  # what it looks for
    assert not external.search(page)
    data = _page_data(page)
    scores = first["scores"]
    assert data["total"] == data["shown"] == len(scores) and data["as_of"] == str(
        scores.as_of.iloc[0].date()
    )
    ids = {a["id"] for a in data["accounts"]}
    logged = {json.loads(x)["alert_id"] for x in cfg.predict.alerts.read_text().splitlines()}
    # the page lists the alerts still cooling down, whichever run raised them
    shown_alerts = {x["id"] for a in data["accounts"] for x in a["alerts"]}
    assert shown_alerts and shown_alerts <= logged
    assert ids == set(scores.account_id)
    small = portfolio.page_data(
        scores,
        first["summary"],
        pd.DataFrame({"account_id": [], "as_of": [], "health_score": []}),
        [],
        50,
    )
    at_stake = scores.arr * scores.churn_probability
    assert small["shown"] == 50 and small["total"] == len(scores)
    assert {a["id"] for a in small["accounts"]} == set(
        scores.account_id[at_stake.sort_values(ascending=False).index[:50]]
    )
    out = probe_page(page, tmp_path)
    browser = chromium()
    sections = ["summary", "bridge", "checked", "forecast", "tiers", "movers", "book"]
    assert out["sections"] == sections
    assert sorted(out["where"]) == sorted(sections)  # each says what data and which date
    assert out["bridge"] == ["next 90 days", f"next {cfg.labels.health_horizon_days} days"]
    b90 = first["summary"].bridge[0]
    assert b90.flagged.arr <= b90.renewing.arr <= b90.book_arr
    assert b90.expected_loss_flagged <= b90.expected_loss_renewing <= b90.expected_loss
    assert b90.expected_loss == pytest.approx(first["summary"].portfolio.expected_churned_arr_90d)
    # drivers: the label shown, the feature's name kept for the curious (a tooltip)
    assert out["driver_cells"] and all(
        "_" in name and "_" not in label for name, label in out["driver_cells"]
    )
    assert out["crm"] is None  # no crm_url configured: no link
    assert out["chart"] == 1 and out["tier_rows"] == 1 + scores.segment.nunique()
    # how far the health was checked: every horizon's row, the health horizon judged
    assert out["checked"] == ["3 months", "6 months", "9 months", "12 months"]
    h = first["summary"].health_checked
    assert h.judged is True and h.text.startswith("the 12-month health was checked")
    assert out["checked_line"] == ""  # a judged health is not shown as a problem
    assert out["movers"] > 0 and out["rows"] == len(scores)
    assert out["critical"] == (scores.tier == "critical").sum() and out["only_critical"]
    assert out["descending"]
    assert out["opened"] == out["clicked"] and out["trend"] == 1
    mine = [a for a in data["accounts"] if a["owner"] == out["owner"]]
    assert out["owner"] and out["owner_rows"] == len(mine) > 0
    assert out["csv"][0].startswith("account_id,name,owner,segment,arr,health_score,tier")
    assert len(out["csv"]) == len(mine) + 1
    assert {line.split(",")[0] for line in out["csv"][1:]} == {a["id"] for a in mine}
    assert out["name_id"] in out["by_name"]  # search by name
    assert out["panel"] == [
        "Trend",
        "Effect of each dimension",
        "Pulling health down",
        "Expansion score",
        "Playbooks",
    ]
    shot = tmp_path / "portfolio.png"
    subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,1000",
            f"--screenshot={shot}",
            path.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000
    # with predict.crm_url, each account's panel links to its record (issue 3.7 point 4)
    from churnhealth.scoring.people import People

    linked = portfolio.render(
        portfolio.page_data(
            scores,
            first["summary"],
            pd.DataFrame({"account_id": [], "as_of": [], "health_score": []}),
            [],
            50,
            People(
                names={a: f"Account {a}" for a in scores.account_id},  # the probe searches them
                crm_url="https://crm.example.com/r/{account_id}?tab=1",
            ),
        )
    )
    (tmp_path / "linked").mkdir()
    out = probe_page(linked, tmp_path / "linked")
    assert out["crm"] == f"https://crm.example.com/r/{out['clicked']}?tab=1"
    assert out["csv"][0].endswith(",crm_url")


def test_an_outcome_is_recorded_against_a_real_alert_through_the_cli(first, cfg, tmp_path):
    from churnhealth.scoring import outcomes

    local = _outputs_in(cfg, tmp_path)
    local.predict.alerts.write_text(cfg.predict.alerts.read_text())
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(local.model_dump(mode="json")))
    alert = json.loads(local.predict.alerts.read_text().splitlines()[0])
    res = cli(
        "outcome",
        alert["alert_id"],
        "--status",
        "done",
        "--note",
        "save plan agreed",
        "--by",
        "csm",
        "--config",
        str(config),
    )
    assert res.returncode == 0, res.stderr
    assert f"alert {alert['alert_id']}" in res.stdout and alert["account_id"] in res.stdout
    row = outcomes.audit(local.predict.history).iloc[0]
    assert (row.alert_id, row.account_id, row.playbook, row.status) == (
        alert["alert_id"],
        alert["account_id"],
        alert["playbook"],
        "done",
    )
    assert str(row.alert_as_of)[:10] == alert["as_of"]


def _saved_before_bundles(export: Path, folder: Path) -> Path:
    """A copy of the champion export laid out as models were registered before bundles: the
    bare health model, carrying its reference, expansion model, test figures and verdicts, as
    the artifact "health_model"."""
    import shutil

    import joblib

    old = folder / "old_model"
    shutil.copytree(export, old)
    bundle = joblib.load(old / "artifacts" / "bundle.joblib")
    hm = bundle.health
    hm.__dict__.update(reference=bundle.reference, expansion=bundle.expansion)
    hm.metadata.update(test_metrics=dict(bundle.test_metrics), judged=dict(bundle.judged))
    joblib.dump(hm, old / "artifacts" / "health_model.joblib")
    (old / "artifacts" / "bundle.joblib").unlink()
    mlmodel = yaml.safe_load((old / "MLmodel").read_text())
    artifacts = mlmodel["flavors"]["python_function"]["artifacts"]
    artifacts["health_model"] = {"path": "artifacts/health_model.joblib"}
    del artifacts["bundle"]
    (old / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return old


def test_a_model_registered_before_bundles_still_scores_the_same(cfg, trained, first, tmp_path):
    """Registered models from before the model bundle load (read into a bundle) and give the
    same scores, expansion scores and verdicts as today's."""
    old = _saved_before_bundles(Path(cfg.paths.champion_dir), tmp_path)
    res = predict(_outputs_in(cfg, tmp_path), trained.data, model=str(old))
    new = first["scores"].drop(columns=["model_version"])
    pd.testing.assert_frame_equal(res.scores.drop(columns=["model_version"]), new)
    assert res.scores.expansion_score.notna().all()
    assert res.summary.health_checked == first["summary"].health_checked


def test_the_history_refuses_another_data_source(first, cfg, trained, tmp_path):
    """Issue 3.7 point 7: a history holds one data source's scores. The same data under another
    path is taken (with a note) and recorded; another company, even one numbered alike, is
    refused in one line with the history untouched; it gets a store of its own by config."""
    local = _outputs_in(cfg, tmp_path / "out")
    local.predict.history.parent.mkdir()
    shutil.copy(cfg.predict.history, local.predict.history)
    moved = tmp_path / "moved.duckdb"
    shutil.copy(trained.data, moved)
    res = predict(local, moved)
    assert any("taken for the same data, now recorded" in n for n in res.summary.notes)
    assert not any("taken for the same data" in n for n in predict(local, moved).summary.notes)
    other = tmp_path / "other.duckdb"
    generate(other, accounts=300, years=2, seed=11, truth_paths=5)
    before = history.count(local.predict.history)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(local.model_dump(mode="json")))
    r = cli("predict", "--data", str(other), "--config", str(config), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.strip()]
    assert "holds the scores of another data source" in line and str(moved.resolve()) in line
    assert "point predict.history at a store of this source's own" in line
    assert history.count(local.predict.history) == before
    own = _outputs_in(cfg, tmp_path / "other-out")
    assert len(predict(own, other).scores) > 0


def test_no_driver_calls_a_worse_value_a_help(first, trained):
    """Issue 3.7 point 2: over the whole book, no declared signal named as a driver pulls
    health down while better than its segment's median, or holds it up while worse."""
    from churnhealth.features.spec import directions

    s = first["scores"].reset_index(drop=True)
    healthier = directions(trained.result.model.metadata["definitions"])
    assert len(healthier) >= 20  # the shipped features declare their direction
    frame = build_features(open_source(trained.data), trained.cfg, dates=[s.as_of.iloc[0]]).frame
    frame = frame.set_index("account_id").loc[s.account_id].reset_index()
    cols = list(healthier)
    typical = frame.groupby("segment")[cols].transform("median")
    named = 0
    for kind, sign in (("risk", -1), ("protective", 1)):
        for k in range(1, 4):
            feature = s[f"{kind}_{k}_feature"]
            for f in set(feature.dropna()) & set(cols):
                rows = (feature == f).to_numpy()
                better = (frame.loc[rows, f] - typical.loc[rows, f]) * healthier[f]
                assert ((better * sign >= 0) | better.isna()).all(), (kind, f)  # null: its words
                named += int(rows.sum())
    assert named > len(s)  # drivers with a declared direction were checked, not skipped


def test_a_playbook_holds_out_a_random_share_of_its_alerts(cfg, trained, tmp_path, monkeypatch):
    """Issue 3.6 point 2: with holdout_share, a share of the at-risk intervention's alerts is
    held out after the capacity chose them: logged with held_out, counted in the summary, on
    the save list as "held out", on the page as "held out (measuring)", never posted."""
    plays = yaml.safe_load((ROOT / "configs/playbooks.yaml").read_text())
    for pb in plays["playbooks"]:
        if pb["name"] == "at_risk_intervention":
            pb["holdout_share"] = 0.3
    (tmp_path / "playbooks.yaml").write_text(yaml.safe_dump(plays))
    local = _outputs_in(cfg, tmp_path, playbooks=tmp_path / "playbooks.yaml")
    handler, res = _predict_posting(200, monkeypatch, local, trained.data)
    logged = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    save = [a for a in logged if a["playbook"] == "at_risk_intervention"]
    out = [a for a in save if a["held_out"]]
    assert len(save) >= 20 and 0 < len(out) < len(save)
    assert not any(a["held_out"] for a in logged if a["playbook"] != "at_risk_intervention")
    assert res.summary.held_out == {"at_risk_intervention": len(out)}
    assert (res.scores.save_list == "held out").sum() == len(out)
    assert set(res.scores.account_id[res.scores.save_list == "held out"]) == {
        a["account_id"] for a in out
    }
    posted = " ".join(m["blocks"][1]["text"]["text"] for m in handler.received)
    assert out and not any(a["alert_id"] in posted for a in out)
    (title,) = [m["text"] for m in handler.received if m["text"].startswith("At-risk")]
    assert title == f"At-risk intervention: {len(save) - len(out)} accounts"  # the rest, sent
    page = (tmp_path / "portfolio.html").read_text()
    assert '"held_out": true' in page.replace('"held_out":true', '"held_out": true')
