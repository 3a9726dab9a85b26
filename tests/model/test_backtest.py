"""`churnhealth backtest` and `churnhealth report`: out-of-time figures, no look-ahead, and a
report that renders in a real browser."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import mlflow
import numpy as np
import pandas as pd
import pytest

from churnhealth.config import Config
from churnhealth.data.validate import open_validated
from churnhealth.evaluation.backtest import BacktestResult, fit_at, origins
from churnhealth.evaluation.metrics import lead_times
from churnhealth.jobs.backtest import run_backtest, save
from churnhealth.jobs.report import build_report

ORIGINS = (dt.date(2026, 5, 1), dt.date(2026, 6, 1))


def _backtest_config(cfg: Config) -> Config:
    bt = cfg.backtest.model_copy(
        update={"tuning": cfg.backtest.tuning.model_copy(update={"trials": 1, "timeout_s": 5})}
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
    result = run_backtest(cfg, trained.data, *ORIGINS, "1M")
    return Backtested(cfg, trained.data, result, save(cfg, result, trained.data))


def test_predictions_are_out_of_time(backtested):
    p = backtested.result.predictions
    assert [o.date() for o in backtested.result.origins] == list(ORIGINS)
    assert (p.as_of >= p.origin).all()
    assert (p.as_of < p.origin + pd.DateOffset(months=1)).all()
    assert not p.duplicated(["account_id", "as_of"]).any()
    assert p.churned.isin([0, 1]).all() and p.churned.sum() > 10


def test_report_has_every_figure(backtested):
    r = backtested.result.report
    o = r["overall"]
    for key in ("roc_auc", "pr_auc", "brier", "ece", "recall", "specificity", "accuracy"):
        assert np.isfinite(o[key]), key
    assert 0.6 < o["roc_auc"] <= 1
    assert set(o["targets"]) == {"recall", "specificity", "accuracy", "precision", "f1"}
    assert o["targets"]["recall"]["target"] == 0.75
    assert o["top10"]["lift"] == pytest.approx(o["top10"]["captured"] / 0.10)
    assert 0 <= o["arr_weighted_recall"] <= 1
    assert set(o["baselines"]) == {"scorecard", "login_rule"}
    for b in o["baselines"].values():
        assert b["model_churners_caught"] + b["model_false_positives"] == b["flagged"]
        assert b["baseline_churners_caught"] + b["baseline_false_positives"] == b["flagged"]
    assert set(r["periods"]) == {str(d) for d in ORIGINS}
    assert set(r["segments"]) == {"enterprise", "mid_market", "smb"}
    bands = pd.DataFrame(r["retention_by_band"])
    assert bands.rows.sum() == r["rows"] == len(backtested.result.predictions)
    assert o["lead_time"]["churn_events"] >= o["lead_time"]["caught"] > 0


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
    assert run.data.metrics["roc_auc"] == pytest.approx(saved["overall"]["roc_auc"])
    client = mlflow.MlflowClient()
    tables = {Path(f.path).name for f in client.list_artifacts(backtested.run_id, "tables")}
    assert tables == {f"{n}.csv" for n in ("periods", "segments", "bands", "baselines", "targets")}


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

    # the planted rows do change what a model trained after them learns
    assert (
        fit_at(bt_cfg, planted_src, later).fingerprint
        != fit_at(bt_cfg, clean_src, later).fingerprint
    )


def test_every_origin_saw_only_data_before_it(backtested):
    cfg = backtested.cfg
    gap = pd.Timedelta(days=cfg.labels.resignup_gap_days)
    assert set(backtested.result.audit) == {str(d) for d in ORIGINS}
    for origin, seen in backtested.result.audit.items():
        assert pd.Timestamp(seen["data_end"]) <= pd.Timestamp(origin)
        assert pd.Timestamp(seen["last_labelled"]) + gap <= pd.Timestamp(origin)


def test_default_origins_end_with_mature_labels(trained):
    source = open_validated(trained.data, trained.cfg.data.segments)
    points = origins(trained.cfg, source, None, None, "1M")
    assert len(points) == trained.cfg.backtest.periods
    assert points == sorted(points) and all(p.day == 1 for p in points)
    # the period after the last origin is fully labelled: +1 month + horizon + gap ≤ data end
    from churnhealth.features import data_window

    _, end = data_window(source)
    assert points[-1] + pd.DateOffset(months=1) + pd.Timedelta(days=120) <= end + pd.Timedelta(
        1, "D"
    )


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(backtested, trained, tmp_path):
    path = build_report(backtested.cfg).path
    page = path.read_text()
    assert "The model flags" in page and "days ahead" in page
    n_images = len(re.findall(r"<img ", page))
    # reliability, ROC/PR, retention by band, lead time, and a SHAP summary per fitted model
    assert n_images == 4 + len(trained.result.model.models)
    for title in (
        "Reliability",
        "Retention by health band",
        "Lead time",
        "SHAP",
        "Baselines",
        "Drift",
        "Segments",
    ):
        assert title in page, title
    browser = _chromium()
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
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
    assert "The model flags" in out.stdout
