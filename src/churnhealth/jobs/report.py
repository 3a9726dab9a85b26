"""`churnhealth report`: reports/latest/report.html from the latest backtest, the champion's
training run, the latest monitor run and the customer-success loop (overrides, playbook
outcomes, judged against the data); attached to the backtest's MLflow run."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from churnhealth import tracking
from churnhealth.atomic import check_writable, write_with
from churnhealth.config import Config
from churnhealth.data.contract import contract
from churnhealth.data.load import open_configured
from churnhealth.errors import ChurnhealthError, first_problem
from churnhealth.evaluation import loop
from churnhealth.evaluation.backtest_report import BacktestReport
from churnhealth.evaluation.monitor_report import MonitorReport
from churnhealth.evaluation.report import ReportInputs, render
from churnhealth.features import data_window
from churnhealth.features.formats import readings
from churnhealth.features.labels import churn_dates
from churnhealth.features.spec import load_metrics
from churnhealth.scoring import history, outcomes, overrides, playbooks
from churnhealth.scoring.forecast import Forecast

BACKTEST_KEYS = (
    *("origins", "step", "rows", "renewals", "lead_time", "overall", "periods", "segments"),
    *("retention_by_band", "forecast"),
)
R = TypeVar("R", bound=BaseModel)
MONITOR_KEYS = ("status", "as_of", "features", "score", "performance", "triggers")
PREDICTION_COLUMNS = (
    *("account_id", "as_of", "segment", "term_months", "arr", "renewal_date", "churn_after"),
    *("churned", "churn_probability", "health_score", "flagged", "scorecard_health"),
)
"""What the report reads; the login rule's column is optional."""


def _read_json(path: Path, keys: tuple[str, ...], hint: str) -> dict:
    """A report written by another command; one line when it is missing or not what it should
    be."""
    if not path.is_file():
        raise ChurnhealthError(f"{path}: not found; {hint}")
    try:
        payload = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ChurnhealthError(f"{path}: not valid JSON ({exc}); {hint}") from None
    missing = [k for k in keys if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise ChurnhealthError(
            f"{path}: not a churnhealth report (no {', '.join(missing)}); {hint}"
        )
    return payload


def _read_typed(path: Path, keys: tuple[str, ...], model: type[R], what: str, hint: str) -> R:
    """A report another command wrote, as its typed model; one line when it is missing, not
    JSON, or not one this version reads (the first field that does not fit, and where)."""
    payload = _read_json(path, keys, hint)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ChurnhealthError(
            f"{path}: not a {what} of this churnhealth version ({first_problem(exc)}); {hint}"
        ) from None


def _read_monitor(path: Path) -> MonitorReport:
    """monitor.json as its typed report."""
    hint = "run `churnhealth monitor` to write it again"
    return _read_typed(path, MONITOR_KEYS, MonitorReport, "monitor report", hint)


def _latest_forecast(cfg: Config) -> tuple[Forecast | None, str | None]:
    """The forecast of the latest `predict` run (its summary.json) and the data it scored, if
    there is a readable one of this version's shape; the report works without it."""
    path = Path(cfg.predict.out_dir) / "summary.json"
    try:
        summary = json.loads(path.read_text())
        return Forecast.model_validate(summary["forecast"]), summary.get("source") or None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # ValidationError too
        return None, None


def _labels(cfg: Config) -> dict[str, str]:
    """Feature → its label, from the configured definitions (none when they do not read)."""
    try:
        metrics = load_metrics(cfg.features.definitions, cfg.data.segments)
    except (ChurnhealthError, OSError):
        return {}
    return {f: r.label for f, r in readings(metrics).items()}


def _latest_effects(path: Path) -> dict | None:
    """The latest `churnhealth effects` (its effects.json in the reports folder) if readable;
    the report works without it."""
    try:
        fx = json.loads(path.read_text())
        return (
            fx if {"plays", "estimates", "source", "data_end", "horizon_days"} <= set(fx) else None
        )
    except (OSError, ValueError, TypeError):
        return None


@dataclass
class ReportResult:
    """Where the report was written, its size, the MLflow run it was attached to, and notes
    on what the store no longer had (a run or an artifact a file names)."""

    path: Path
    bytes: int
    run_id: str | None
    notes: list[str]


def _loop(cfg: Config, data: Path | None) -> dict:
    """The customer-success loop's tables (overrides and playbook outcomes against what
    happened), or why they cannot be shown."""
    store = cfg.predict.history
    alerts = playbooks.previous_alerts(cfg.predict.alerts)
    audit = overrides.audit(store)
    if alerts.empty and audit.empty:
        return {"empty": True}
    try:
        source = open_configured(cfg, data)
    except ChurnhealthError as err:
        if data is not None:  # asked for by name: a bad --data stops the report
            raise
        return {"error": str(err)}
    subs = source.typed(contract(cfg.data.segments)["subscriptions"]).to_pandas()
    _, end = data_window(source)
    source.close()
    lab = cfg.labels
    events = churn_dates(subs, lab.resignup_gap_days)
    scored = pd.concat(
        [history.read(store, account_id=a) for a in audit.account_id.unique()]
        or [history.read(store, account_id="")]
    )
    fates = loop.override_fates(
        audit, scored, events, end, lab.health_horizon_days, lab.resignup_gap_days
    )
    return {
        "data_end": str(end.date()),
        "override_days": lab.health_horizon_days,
        "overrides": fates,
        "override_summary": loop.override_summary(fates, lab.health_horizon_days),
        "playbook_days": lab.horizon_days,
        "playbooks": loop.playbook_outcomes(
            alerts, outcomes.latest(store), events, end, lab.horizon_days, lab.resignup_gap_days
        ),
    }


def build_report(cfg: Config, data: Path | None = None) -> ReportResult:
    """Write reports/<latest>/report.html and log it to the backtest's MLflow run. `data`
    (default `data.path`) gives the outcomes the customer-success loop is judged by."""
    out_dir = Path(cfg.paths.reports_dir)
    target = check_writable(out_dir / "report.html", "paths.reports_dir")
    rerun = "run `churnhealth backtest` (make backtest) to write it again"
    bt = _read_typed(out_dir / "backtest.json", BACKTEST_KEYS, BacktestReport, "backtest", rerun)
    pred_path = out_dir / "backtest_predictions.parquet"
    if not pred_path.is_file():
        raise ChurnhealthError(f"{pred_path}: not found; {rerun}")
    try:
        predictions = pd.read_parquet(pred_path)
        problem = ", ".join(c for c in PREDICTION_COLUMNS if c not in predictions) or None
        problem = problem and f"no {problem}"
    except Exception as exc:
        problem = str(exc).strip().splitlines()[0][:200]
    if problem:
        raise ChurnhealthError(f"{pred_path}: not the backtest's predictions ({problem}); {rerun}")
    mon_path = out_dir / "monitor.json"
    monitor = _read_monitor(mon_path) if mon_path.is_file() else None
    forecast, scored = _latest_forecast(cfg)
    effects = _latest_effects(out_dir / "effects.json")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        version, training, shap_plots, notes = tracking.champion_artifacts(cfg, tmp)
        inputs = ReportInputs(
            backtest=bt,
            predictions=predictions,
            champion_version=version,
            training=training,
            shap_plots=shap_plots,
            monitor=monitor,
            monitor_png=mon_path.with_name("monitor_psi.png"),
            forecast=forecast,
            loop=_loop(cfg, data),
            effects=effects,
            forecast_source=scored,
            currency=cfg.data.currency,
            health_days=cfg.labels.health_horizon_days,
            labels=_labels(cfg),
        )
        page = render(inputs, cfg.mlflow.registered_model, tmp)
        write_with(target, lambda f: Path(f).write_text(page))
    run_id = bt.run_id
    if run_id and (gone := tracking.attach(run_id, target, str(out_dir / "backtest.json"))):
        notes.append(gone)
        run_id = None
    return ReportResult(target, target.stat().st_size, run_id, notes)
