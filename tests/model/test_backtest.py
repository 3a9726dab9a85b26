"""`churnhealth backtest` and `churnhealth report`: out-of-time figures, no look-ahead, and a
report that renders in a real browser."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.load import open_validated
from churnhealth.evaluation.backtest import (
    BacktestResult,
    decision_window,
    fit_at,
    origins,
    parse_step,
    training_data,
)
from churnhealth.evaluation.metrics import lead_times
from churnhealth.jobs.backtest import run_backtest, save
from churnhealth.jobs.report import build_report
from churnhealth.scoring.forecast import forecast
from tests.conftest import chromium, cli
from tests.model.conftest import copy_workspace

ORIGINS = (dt.date(2025, 10, 1), dt.date(2026, 4, 1))
STEP = "6M"


def _backtest_config(cfg: Config) -> Config:
    bt = cfg.backtest.model_copy(
        update={"tuning": cfg.backtest.tuning.model_copy(update={"trials": 1})}
    )
    return cfg.model_copy(update={"backtest": bt})


@dataclass
class Backtested:
    cfg: Config
    data: Path
    result: BacktestResult
    run_id: str


@pytest.fixture(scope="module")
def backtested(trained) -> Backtested:
    cfg = _backtest_config(trained.cfg)
    result = run_backtest(cfg, trained.data, *ORIGINS, STEP)
    return Backtested(cfg, trained.data, result, save(cfg, result, trained.data))


def test_predictions_are_out_of_time(backtested):
    p = backtested.result.predictions
    assert [o.date() for o in backtested.result.origins] == list(ORIGINS)
    assert (p.as_of >= p.origin).all()
    assert (p.as_of < p.origin + pd.DateOffset(months=6)).all()
    assert not p.duplicated(["account_id", "as_of"]).any()
    known = p.churned.notna()
    assert p.churned[known].isin([0, 1]).all() and p.churned[known].sum() > 10
    # an outcome is known only once its year and the re-signup gap have passed
    end = pd.Timestamp("2026-11-01")
    assert (p.as_of[known] + pd.Timedelta(days=365 + 30) <= end).all()
    assert p.churned[p.as_of + pd.Timedelta(days=365 + 30) > end].isna().all()


def test_every_renewal_decision_is_judged_at_each_lead(backtested):
    r = backtested.result.report
    ren = r.renewals
    first, last = pd.Timestamp(ren.window.first), pd.Timestamp(ren.window.last)
    assert first == pd.Timestamp(ORIGINS[0]) + pd.Timedelta(days=180)
    assert last == pd.Timestamp("2026-11-01") - pd.Timedelta(days=30)  # outcomes known
    assert ren.decisions > 300 and 0 < ren.churned < ren.decisions
    assert set(ren.leads) == {"30", "60", "90", "180"}
    for lead, blocks in ren.leads.items():
        o = blocks.overall
        # every decision has a score that far ahead: its account was active then
        assert 0.9 * ren.decisions <= o.cases <= ren.decisions, lead
        for key in ("recall", "specificity", "accuracy", "precision", "f1", "roc_auc"):
            assert np.isfinite(getattr(o, key)), (lead, key)
        assert set(o.targets) == {"recall", "specificity", "accuracy", "precision", "f1"}
        assert o.targets["recall"].target == 0.75
        assert set(o.baselines) == {"scorecard", "login_rule"}
        for b in o.baselines.values():
            assert b["model_churners_caught"] + b["model_false_positives"] == b["flagged"]
            assert b["baseline_churners_caught"] + b["baseline_false_positives"] == b["flagged"]
        assert sum(g.cases for g in blocks.segments.values()) == o.cases
        assert set(blocks.terms) <= {"annual", "monthly"}
    # for an annual contract the year holds one decision: health ranks its outcome 90 days
    # ahead (over all decisions it does not: a monthly contract's year holds twelve)
    assert ren.leads["90"].terms["annual"].roc_auc > 0.55
    lead = r.lead_time
    assert lead.churn_events >= lead.caught > 0
    assert lead.median_lead_days >= 30


def test_the_save_list_is_judged_at_the_teams_capacity(backtested):
    """Each as-of date lists at most the team's capacity of flagged accounts, the most ARR at
    stake first; the baselines list as many; the figures are those of the listed cases."""
    p = backtested.result.predictions
    cap = backtested.cfg.predict.capacity
    assert p.at_risk_for[p.flagged].isin(["signals", "contract"]).all()
    assert p.at_risk_for[~p.flagged].isna().all()
    for _, day in p.groupby("as_of"):
        pool = (day.at_risk_for == "signals").to_numpy()  # flagged for what a CSM can change
        assert day.listed.sum() == min(pool.sum(), cap.limit(len(day)))
        assert not (day.listed & ~pool).any()
        assert (day.exposed == (day.at_risk_for == "contract")).all()
        stake = day.arr * day.p_churn_next_renewal.fillna(day.churn_probability)
        if day.listed.any() and (pool & ~day.listed).any():
            assert stake[day.listed].min() >= stake[pool & ~day.listed].max()
    for lead, blocks in backtested.result.report.renewals.leads.items():
        s = blocks.save_list
        assert s is not None and 0 < s.listed < s.cases, lead
        assert s.caught + s.false_positives == s.listed
        assert s.precision == pytest.approx(s.caught / s.listed)
        assert s.base_rate == pytest.approx(s.churned / s.cases)
        assert 0 <= s.churned_arr_share <= 1 and s.recall == pytest.approx(s.caught / s.churned)
        assert set(s.baselines) == {"scorecard", "login_rule"}
        assert all(b.listed == s.listed for b in s.baselines.values())
        fp = s.login_rule_false_positives_at_equal_recall
        assert fp is None or fp >= 0
        assert s.exposure is not None and s.exposure.caught + s.exposure.false_positives == (
            s.exposure.listed
        )


def test_retention_is_read_a_year_on(backtested):
    r, p = backtested.result.report, backtested.result.predictions
    bands = pd.DataFrame([b.model_dump() for b in r.retention_by_band])
    year = p[p.as_of + pd.DateOffset(years=1) <= pd.Timestamp("2026-11-01") - pd.Timedelta(days=30)]
    assert bands.rows.sum() == len(year) > 0
    top, low = bands.set_index("band").retention[["90–100", "below 50"]]
    assert top > low


def test_forecast_is_checked_against_what_happened(backtested):
    r, p = backtested.result.report, backtested.result.predictions
    first = r.forecast.origins[0]
    book = p[p.as_of == p.as_of.min()]
    q1 = first.quarters["portfolio"][0]
    end = pd.Timestamp(q1.end)
    churned = book.churn_after.notna() & (book.churn_after > book.as_of) & (book.churn_after <= end)
    assert q1.realised == pytest.approx(book.arr[churned].sum())
    assert q1.lo <= q1.forecast <= q1.hi
    assert q1.naive > 0
    segs = sum(first.quarters[f"segment:{s}"][0].forecast for s in book.segment.unique())
    assert segs == pytest.approx(q1.forecast)
    check = r.forecast.check
    assert set(check) == {
        "portfolio",
        *(f"segment:{s}" for s in ("enterprise", "mid_market", "smb")),
    }
    assert 0 < check["portfolio"].quarters <= 4 * len(ORIGINS)
    assert 0 <= check["portfolio"].coverage <= 1


def test_rows_report_discrimination_and_calibration(backtested):
    r = backtested.result.report
    o = r.overall
    assert o.rows == len(backtested.result.predictions)
    assert 0.6 < o.horizon.roc_auc <= 1 and 0 <= o.horizon.ece < 0.15
    assert 0.6 < o.ninety_days.roc_auc <= 1
    assert set(r.periods) == {str(d) for d in ORIGINS}
    assert set(r.segments) == {"enterprise", "mid_market", "smb"}
    for name, b in [("overall", o), *r.periods.items(), *r.segments.items()]:
        for k, m in (("horizon", b.horizon), ("90d", b.ninety_days)):
            if np.isfinite(m.roc_auc_lo):
                assert m.roc_auc_lo <= m.roc_auc <= m.roc_auc_hi, (name, k)
                assert m.ece_lo <= m.ece <= m.ece_hi, (name, k)
    # each origin's model judged on its own period: the demo's models rank above chance
    first = r.periods[str(ORIGINS[0])].skill
    assert first.status == "skill" and first.reason.endswith("above chance")


def test_an_origin_without_skill_is_named_in_the_headlines(backtested):
    from churnhealth.evaluation.backtest import period_skill
    from churnhealth.evaluation.backtest_report import Skill
    from churnhealth.evaluation.report import headlines

    small = {"90d": {"too_small": "12 churned accounts (judging needs 30)"}}
    assert period_skill(small)["status"] == "not judged"
    blind = {"90d": {"roc_auc": 0.54, "roc_auc_lo": 0.47, "roc_auc_hi": 0.61, "too_small": None}}
    assert period_skill(blind) == {
        "status": "no skill",
        "reason": "90-day ROC-AUC 0.540 [0.470, 0.610]: no better than chance beyond noise",
    }
    r = backtested.result.report
    assert not any("had no skill" in h for h in headlines(r))
    period = r.periods[str(ORIGINS[1])]
    blinded = period.model_copy(update={"skill": Skill(**period_skill(blind))})
    r = r.model_copy(update={"periods": {**r.periods, str(ORIGINS[1]): blinded}})
    [line] = [h for h in headlines(r) if "had no skill" in h]
    assert line.startswith("The model of 1 of 2 origins had no skill on the period it scored")
    assert f"{ORIGINS[1]}, 90-day ROC-AUC 0.540 [0.470, 0.610]" in line


def test_lead_time_counts_only_an_unbroken_run_of_flags():
    t = pd.Timestamp
    rows = pd.DataFrame(
        {
            "account_id": ["a"] * 4 + ["b"] * 2 + ["c"] * 2,
            "as_of": [t("2026-01-01"), t("2026-02-01"), t("2026-03-01"), t("2026-04-01")]
            + [t("2026-03-01"), t("2026-04-01")] * 2,
            "flagged": [True, False, True, True, True, False, False, False],
            "churn_date": [
                *[pd.NaT, pd.NaT, t("2026-04-20"), t("2026-04-20")],
                *[pd.NaT, t("2026-04-10")],
                *[pd.NaT, t("2026-04-15")],
            ],
        }
    )
    leads = lead_times(rows).set_index("account_id")
    assert leads.loc["a", "lead_days"] == (t("2026-04-20") - t("2026-03-01")).days
    assert np.isnan(leads.loc["b", "lead_days"])  # flagged once, then cleared before churn
    assert np.isnan(leads.loc["c", "lead_days"])


def test_backtest_is_logged_and_saved(backtested):
    cfg = backtested.cfg
    saved = json.loads((Path(cfg.paths.reports_dir) / "backtest.json").read_text())
    assert saved["run_id"] == backtested.run_id
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    run = mlflow.get_run(backtested.run_id)
    assert run.data.tags["churnhealth.kind"] == "backtest"
    at90 = saved["renewals"]["leads"]["90"]["overall"]
    assert run.data.metrics["renewal_90d_recall"] == pytest.approx(at90["recall"])
    assert run.data.metrics["lead_median_lead_days"] == pytest.approx(
        saved["lead_time"]["median_lead_days"]
    )
    client = mlflow.MlflowClient()
    tables = {Path(f.path).name for f in client.list_artifacts(backtested.run_id, "tables")}
    names = ("renewals", "save_list", "targets", "baselines", "bands", "periods", "segments")
    names += ("forecast",)
    assert tables == {f"{n}.csv" for n in (*names, "forecast_check")}
    pngs = {Path(f.path).name for f in client.list_artifacts(backtested.run_id)}
    assert {"forecast.png", "lead.png", "bands.png", "renewal_leads.png"} <= pngs


def _plant_churn_after(src: Path, dst: Path, day: dt.date) -> None:
    """Copy the company, then end a third of the subscriptions running on `day` five days
    later: outcomes nobody could know on `day`."""
    shutil.copy(src, dst)
    with duckdb.connect(str(dst)) as con:
        con.execute(
            """
            UPDATE subscriptions SET end_date = ?::DATE + 5
            WHERE start_date < ?::DATE AND (end_date IS NULL OR end_date > ?::DATE + 5)
              AND hash(subscription_id) % 3 = 0
            """,
            [day, day, day],
        )


def test_backtest_never_trains_on_data_from_its_origin_on(trained, tmp_path):
    cfg = _backtest_config(trained.cfg)
    bt_cfg = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"tuning": cfg.backtest.tuning})}
    )
    origin, later = pd.Timestamp("2026-02-01"), pd.Timestamp("2026-07-01")
    planted = tmp_path / "planted.duckdb"
    _plant_churn_after(trained.data, planted, origin.date())
    segments = cfg.data.segments
    clean_src = open_validated(trained.data, segments)
    planted_src = open_validated(planted, segments)

    clean = fit_at(bt_cfg, clean_src, origin)
    with_plant = fit_at(bt_cfg, planted_src, origin)
    assert with_plant.fingerprint == clean.fingerprint
    glob = clean.model.GLOBAL
    steps = clean.model.models[glob].background
    np.testing.assert_array_equal(
        with_plant.model.models[glob].predict_proba(steps),
        clean.model.models[glob].predict_proba(steps),
    )
    gap = pd.Timedelta(days=cfg.labels.resignup_gap_days)
    for fit in (clean, with_plant):
        assert pd.Timestamp(fit.data_end) <= origin
        assert pd.Timestamp(fit.last_labelled) + gap <= origin

    # the planted rows do change what a model trained after them learns from
    used = [training_data(bt_cfg, src, later)[2] for src in (planted_src, clean_src)]
    assert len({d.fingerprint(d.mask("train") | d.mask("val")) for d in used}) == 2


def test_every_origin_saw_only_data_before_it(backtested):
    cfg = backtested.cfg
    gap = pd.Timedelta(days=cfg.labels.resignup_gap_days)
    assert set(backtested.result.audit) == {str(d) for d in ORIGINS}
    for origin, seen in backtested.result.audit.items():
        assert pd.Timestamp(seen["data_end"]) <= pd.Timestamp(origin)
        assert pd.Timestamp(seen["last_labelled"]) + gap <= pd.Timestamp(origin)


def test_default_origins_judge_the_last_year_of_decisions(trained):
    cfg = trained.cfg
    source = open_validated(trained.data, cfg.data.segments)
    points = origins(cfg, source, None, None, cfg.backtest.step)
    step = parse_step(cfg.backtest.step)
    assert points == [points[0] + step * k for k in range(len(points))]
    assert all(p.day == 1 for p in points)
    known = pd.Timestamp("2026-11-01") - pd.Timedelta(days=cfg.labels.resignup_gap_days)
    first, last = decision_window(points, step, known)
    assert last == known
    # the first decision judged is a year before the last, and has a score 180 days ahead
    assert first <= known - pd.DateOffset(months=12) < first + pd.Timedelta(days=31)
    assert points[-1] < known - pd.Timedelta(days=30) <= points[-1] + step


def _with_forecast(cfg: Config, tmp_path: Path) -> Config:
    """`cfg` whose predict outputs hold a summary.json with a forecast (as `predict` writes)."""
    p = pd.read_parquet(Path(cfg.paths.reports_dir) / "backtest_predictions.parquet")
    book = p[p.as_of == p.as_of.max()]
    curve = np.linspace(0, 1, 13)[1:][None, :] * book.churn_probability.to_numpy()[:, None]
    summary = {"forecast": forecast(book, curve, draws=200).model_dump()}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    return cfg.model_copy(update={"predict": cfg.predict.model_copy(update={"out_dir": tmp_path})})


def test_report_renders_in_headless_chromium(backtested, trained, tmp_path):
    no_forecast = backtested.cfg.model_copy(
        update={"predict": backtested.cfg.predict.model_copy(update={"out_dir": tmp_path / "no"})}
    )
    assert "No forecast yet" in build_report(no_forecast).path.read_text()
    path = build_report(_with_forecast(backtested.cfg, tmp_path)).path
    page = path.read_text()
    assert "renewal decisions that ended in churn" in page and "days before they left" in page
    n_images = len(re.findall(r"<img ", page))
    # the year ahead, the flag by lead, lead time, retention by band, the forecast against what
    # happened, reliability, ROC/PR, and a SHAP summary per fitted model
    assert n_images == 7 + len(trained.result.model.models)
    assert "The year ahead" in page
    # 3.7 point 8: the first screen answers "how good is this score?", the targets follow
    # with the oracle's figures, and what is for data scientists sits below a divider
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles[0] == "How good is this score?"
    assert titles[1].startswith("The practitioners&#x27; targets")
    first = page.split("<h2>", 2)[1]
    assert "Skill gate passed" in first and "12-month health was checked" in first
    assert "still customers a year later" in first and "at the same budget" in first
    assert "scorecard, as many flagged" in first and "80% interval held" in first
    targets = page.split("<h2>", 3)[2]
    assert "the oracle itself misses" in targets and " / 0." in targets
    divider = page.index("class='divider'")
    assert page.index("<h2>Reliability") > divider > page.index("<h2>The customer-success loop")
    # every section says what data and which dates it reads
    assert page.count("<p class='where'>") == len(titles)
    assert "Backtest of " in page and "renewal decisions" in page
    for title in (
        "The practitioners",
        "Revenue-retention forecast against what happened",
        "Reliability",
        "Retention by health band",
        "Lead time",
        "SHAP",
        "Baselines",
        "Drift",
        "Segments",
        "Why accounts left: the churn records",
        "The expansion score",
        "The customer-success loop",
        "Horizons the champion&#x27;s training could judge",
    ):
        assert title in page, title
    judged = page.split("could judge</h2>", 1)[1].split("<h2>", 1)[0]
    assert all(f"<td>{h} months</td>" in judged for h in (3, 6, 9, 12))
    assert "low adoption" in page  # the demo's churn log, from the champion's training run
    browser = chromium()
    # count, in the browser, the images that decoded (naturalWidth > 0) into the page title
    probe = tmp_path / "probe.html"
    probe.write_text(
        page.replace(
            "</body>",
            "<script>const i=[...document.images];document.title="
            "i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;</script></body>",
        )
    )
    out = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    title = re.search(r"<title>(\d+)/(\d+)</title>", out.stdout)
    assert title, out.stderr[-2000:]
    assert title.group(1) == title.group(2) == str(n_images)
    assert "renewal decisions that ended in churn" in out.stdout


def test_the_report_judges_overrides_and_playbook_outcomes_by_what_happened(backtested, tmp_path):
    """Overrides and alert outcomes recorded through the stores, a year before the data ends:
    the report shows each against whether the account left."""
    from churnhealth.scoring import history, outcomes, overrides, playbooks

    cfg = backtested.cfg.model_copy(
        update={
            "predict": backtested.cfg.predict.model_copy(
                update={
                    "history": tmp_path / "history.duckdb",
                    "alerts": tmp_path / "alerts.jsonl",
                    "out_dir": tmp_path,
                }
            )
        }
    )
    p = backtested.result.predictions
    day = p.as_of.min()
    rows = p[p.as_of == day]
    left = rows[rows.churn_after <= day + pd.Timedelta(days=300)].iloc[0]
    stayed = rows[rows.churn_after.isna()].iloc[0]
    history.upsert(
        cfg.predict.history,
        rows.assign(model_version="1", tier="moderate")[history.COLUMNS],
    )
    store, log = cfg.predict.history, cfg.predict.alerts
    overrides.record(
        store,
        left.account_id,
        health=95,
        reason="sponsor says renew",
        by="csm",
        valid_from=day.date(),
    )
    alerts = [
        {
            "alert_id": playbooks.alert_id(a, "at_risk_intervention", str(day.date())),
            "account_id": a,
            "playbook": "at_risk_intervention",
            "as_of": str(day.date()),
        }
        for a in (left.account_id, stayed.account_id)
    ]
    playbooks.append(log, alerts)
    outcomes.record(store, log, alerts[1]["alert_id"], status="done", by="csm")
    page = build_report(cfg, backtested.data).path.read_text()
    from churnhealth.errors import ChurnhealthError

    report = Path(cfg.paths.reports_dir) / "report.html"
    before = report.read_bytes()
    with pytest.raises(ChurnhealthError, match=r"missing\.duckdb"):  # --data given by name
        build_report(cfg, tmp_path / "missing.duckdb")
    assert report.read_bytes() == before  # nothing written
    loop = page.split("<h2>The customer-success loop</h2>", 1)[1]
    assert "CSM overrides against the model" in loop and "CSM more hopeful" in loop
    assert left.account_id in loop and "sponsor says renew" in loop and "churned" in loop
    assert "Playbook outcomes" in loop and "Descriptive, not causal" in loop
    assert "at risk intervention" in loop


def test_a_report_whose_run_and_artifacts_are_gone_is_written_and_says_so(
    backtested, trained, tmp_path
):
    """backtest.json from another store (or a deleted mlflow.db) and a champion whose training
    artifacts were deleted: the report is still written, each loss said in one line, exit 0
    (was an MLflow traceback: "Run with id=… not found")."""
    config, cfg = copy_workspace(trained, tmp_path)
    reports = Path(cfg["paths"]["reports_dir"])
    reports.mkdir(parents=True)
    src = Path(backtested.cfg.paths.reports_dir)
    bt = json.loads((src / "backtest.json").read_text())
    elsewhere = uuid.uuid4().hex
    (reports / "backtest.json").write_text(json.dumps({**bt, "run_id": elsewhere}))
    shutil.copy(src / "backtest_predictions.parquet", reports)
    store = cfg["mlflow"]["tracking_uri"].removeprefix("sqlite:///")
    with sqlite3.connect(store) as con:  # the champion's artifact folder, deleted
        con.execute(
            "UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
            ((tmp_path / "deleted").as_uri(), trained.result.run_id),
        )
    res = cli("report", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    assert (reports / "report.html").stat().st_size > 10_000
    notes = " ".join(res.stdout.split()).split("note: ")[1:]  # one note may wrap over lines
    gone = [n for n in notes if elsewhere in n]
    assert len(gone) == 1 and "which this store" in gone[0] and "does not have" in gone[0]
    lost = [n for n in notes if trained.result.run_id in n]
    assert {n.split(" has no ")[1].split()[0] for n in lost} == {"metrics.json", "shap"}
    assert all("the report leaves out" in n for n in lost)


@pytest.mark.parametrize("years", [2, 1])
def test_a_short_history_moves_the_first_origin_or_says_it_is_too_short(tmp_path, years):
    """By default the first origin lies 180 days before a year of renewal decisions: on two
    years of data that leaves no year of data to fit a model on. The origin moves to the first
    date with enough history and a note says how much less is judged; one year of data is too
    short to backtest at all, which one line says."""
    from churnhealth.errors import ChurnhealthError
    from churnhealth.evaluation.backtest import ORIGIN_HISTORY_DAYS
    from churnhealth.features import data_window
    from churnhealth.synth import generate

    data = tmp_path / "co.duckdb"
    generate(data, accounts=150, years=years, seed=2)
    cfg = Config()
    source = open_validated(data, cfg.data.segments)
    start, _ = data_window(source)
    notes: list[str] = []
    if years == 1:
        with pytest.raises(ChurnhealthError, match="too short to backtest"):
            origins(cfg, source, None, None, "6M", notes)
        return
    points = origins(cfg, source, None, None, "6M", notes)
    assert (points[0] - start).days >= ORIGIN_HISTORY_DAYS
    [note] = notes
    assert note.startswith(f"backtest: first origin {points[0].date()} instead of ")
    assert "of the 12 months of renewal decisions" in note
    # the origin it chose can fit a model: the training rows are there
    _, _, d = training_data(cfg, source, points[0])
    assert d.mask("train").any()
