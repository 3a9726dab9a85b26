"""`churnhealth report`: reports/latest/report.html from the latest backtest, the champion's
training run and the latest monitor run; attached to the backtest's MLflow run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import write_with
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation.report import ReportInputs, render


def _read_json(path: Path, hint: str) -> dict:
    if not path.is_file():
        raise ChurnhealthError(f"{path}: not found; {hint}")
    return json.loads(path.read_text())


def build_report(cfg: Config) -> Path:
    """Write reports/<latest>/report.html and log it to the backtest's MLflow run."""
    out_dir = Path(cfg.paths.reports_dir)
    bt = _read_json(out_dir / "backtest.json", "run `churnhealth backtest` first (make backtest)")
    pred_path = out_dir / "backtest_predictions.parquet"
    if not pred_path.is_file():
        raise ChurnhealthError(f"{pred_path}: not found; run `churnhealth backtest` first")
    predictions = pd.read_parquet(pred_path)
    mon_path = out_dir / "monitor.json"
    monitor = json.loads(mon_path.read_text()) if mon_path.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        version, training, shap_plots = tracking.champion_artifacts(cfg, tmp)
        inputs = ReportInputs(
            backtest=bt,
            predictions=predictions,
            champion_version=version,
            training=training,
            shap_plots=shap_plots,
            monitor=monitor,
            monitor_png=mon_path.with_name("monitor_psi.png"),
        )
        page = render(inputs, cfg.mlflow.registered_model, tmp)
        target = write_with(out_dir / "report.html", lambda f: Path(f).write_text(page))
    if bt.get("run_id"):
        tracking.attach(bt["run_id"], target)
    return target
