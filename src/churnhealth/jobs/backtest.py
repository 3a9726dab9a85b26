"""`churnhealth backtest`: retrain at each origin on what was known then, score the period after
it, and check the out-of-time predictions against what happened (see `evaluation.backtest`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import check_folder_writable, write_frame, write_json
from churnhealth.config import Config
from churnhealth.data.load import open_configured
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation.backtest import (
    BacktestResult,
    decision_window,
    fit_at,
    origins,
    outcomes_known,
    parse_step,
    score_period,
    summarize,
)
from churnhealth.evaluation.horizons import truth_for
from churnhealth.features import build_features, data_window
from churnhealth.features.grid import schedule
from churnhealth.location import source_label
from churnhealth.progress import Stage, no_stage


def run_backtest(
    cfg: Config,
    data: Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    step: str | None = None,
    stage: Stage = no_stage,
) -> BacktestResult:
    """Train at each origin, score until the next, collect the out-of-time predictions and
    forecasts, and judge them (see `evaluation.backtest`)."""
    step = step or cfg.backtest.step
    offset = parse_step(step)
    check_folder_writable(cfg.paths.reports_dir, "paths.reports_dir")
    bt_cfg = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"tuning": cfg.backtest.tuning})}
    )
    done = stage("validating data", 1)
    source = open_configured(cfg, data)
    done()
    notes: list[str] = []
    points = origins(cfg, source, start, end, step, notes)
    _, data_end = data_window(source)
    known = outcomes_known(cfg, data_end)
    window = decision_window(points, offset, known)
    stop = min(points[-1] + offset, known)
    dates = [d for d in schedule(points[0].date(), stop.date(), cfg.features.schedule) if d < stop]
    done = stage("features to score", 1)
    full = build_features(source, cfg, dates=dates).frame.reset_index(drop=True)
    done()
    advance = stage(f"origins ({step} steps)", len(points))
    parts, forecasts, audit, params = [], [], {}, None
    for origin in points:
        fit = fit_at(bt_cfg, source, origin, params)
        params = params or fit.params  # the first origin's search serves the later ones
        audit[str(origin.date())] = fit.audit()
        rows = full[(full.as_of >= origin) & (full.as_of < origin + offset)]
        if len(rows):
            scored, fc = score_period(cfg, fit, rows, origin, data_end)
            parts.append(scored)
            forecasts.append(fc)
        advance()
    if not parts:
        raise ChurnhealthError("backtest: no active account to score after any origin")
    predictions = pd.concat(parts, ignore_index=True)
    truth = truth_for(source, predictions)  # the demo company's: the targets' oracle
    if truth is not None and "p_churn_next_renewal" in truth:
        predictions["oracle_risk"] = truth.p_churn_next_renewal.to_numpy(float)
    report = summarize(cfg, predictions, step, window, forecasts, data_end, audit)
    report = report.model_copy(update={"source": source_label(source.path)})
    return BacktestResult(predictions, report, points, audit, notes)


def save(cfg: Config, result: BacktestResult, data: Path | None) -> str:
    """Log the backtest to MLflow as a run of its own, then write backtest.json and the
    predictions to the reports folder (atomically); returns the run id."""
    out = Path(cfg.paths.reports_dir)
    report = tracking.log_backtest(cfg, result.report, result.predictions, data)
    write_frame(out / "backtest_predictions.parquet", result.predictions)
    write_json(out / "backtest.json", report.to_json())
    return report.run_id
