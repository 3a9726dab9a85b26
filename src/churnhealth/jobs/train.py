"""`churnhealth train`: fit, evaluate, track and register a health model; decide the champion.

Stages: validate the data, build features, prepare the time splits, fit (the fitter), evaluate
on the test window (against the global model, the baselines and, on the demo company, the
oracle), log and register the model in MLflow, and make it champion if it beats the current
one on the test window, else challenger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import write_json
from churnhealth.config import Config
from churnhealth.data.source import Source
from churnhealth.data.validate import open_validated
from churnhealth.evaluation import holdout
from churnhealth.features import build_features
from churnhealth.models.estimators import binary_log_loss
from churnhealth.models.fitter import HealthModelFitter, TrainingData, prepare
from churnhealth.models.routed import HealthModel
from churnhealth.models.split import Splits
from churnhealth.progress import Stage, no_stage
from churnhealth.scoring.scorer import Scorer


@dataclass
class TrainResult:
    """What a training produced: the registered version, its alias and why, the metrics
    (metrics.json), the splits, the model and the table `train` prints."""

    run_id: str
    version: str
    alias: str
    reason: str
    metrics: dict
    splits: Splits
    model: HealthModel
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def train(
    cfg: Config,
    data: Path | None = None,
    as_of: dt.date | None = None,
    stage: Stage = no_stage,
    decide: bool = True,
) -> TrainResult:
    """Train, evaluate, log and register a model. With `decide=False` it is registered as
    @challenger without being compared with the champion (the monitor compares them)."""
    done = stage("validating data", 1)
    source = open_validated(data or cfg.data.path, cfg.data.segments, truncate_at=as_of)
    done()
    fs = build_features(source, cfg, end=as_of, stage=stage)
    d = prepare(cfg, source, fs)
    with tracking.training_run(cfg, d, as_of) as run:
        fitter = HealthModelFitter(config=cfg, on_trial=run.log_trial, stage=stage).fit(d)
        run.log_choices(fitter.info_)
        model = fitter.model_
        done = stage("evaluating", 1)
        result = holdout.evaluate(cfg, d, model)
        done()
        done = stage("logging to MLflow", 1)
        version = run.log_model(model, result, d)
        alias, reason = (
            choose_alias(cfg, d, result.probabilities)
            if decide
            else (tracking.CHALLENGER, "challenger for the monitor to compare with the champion")
        )
        notes = fitter.notes_ + fs.notes
        metrics = result.record(
            d,
            model,
            fitter.info_,
            notes,
            run_id=run.run_id,
            model_version=version,
            alias=alias,
            alias_reason=reason,
        )
        run.log_json("metrics.json", metrics)
        tracking.set_alias(cfg.mlflow.registered_model, alias, version)
        if decide and (alias == tracking.CHAMPION or not Path(cfg.paths.champion_dir).exists()):
            tracking.export_champion(cfg.mlflow.registered_model, cfg.paths.champion_dir)
        write_json(Path(cfg.paths.reports_dir) / "metrics.json", metrics)
        done()
    return TrainResult(
        run.run_id, version, alias, reason, metrics, d.splits, model, result.summary, notes
    )


def choose_alias(cfg: Config, d: TrainingData, p_all: np.ndarray) -> tuple[str, str]:
    """Champion when there is none or the new model has a lower test log loss; else challenger."""
    te = d.mask("test")
    test, y = d.frame[te], d.y[te]
    name = cfg.mlflow.registered_model
    current = tracking.current_champion(name)
    new_loss = binary_log_loss(y, p_all[te])
    if current is None:
        return tracking.CHAMPION, "no champion yet"
    champ = tracking.load_model(cfg, f"models:/{name}@{tracking.CHAMPION}")
    scorer = Scorer(model=champ.model, config=cfg, version=champ.version)
    if not set(champ.model.input_columns) <= set(test.columns):
        test = _features_for(scorer, d.source, test)
    old_loss = binary_log_loss(y, champ.model.predict_proba(test))
    if new_loss < old_loss:
        return tracking.CHAMPION, (
            f"test log loss {new_loss:.4f} beats champion v{current} ({old_loss:.4f})"
        )
    return tracking.CHALLENGER, (
        f"test log loss {new_loss:.4f} does not beat champion v{current} ({old_loss:.4f})"
    )


def _features_for(scorer: Scorer, source: Source, rows: pd.DataFrame) -> pd.DataFrame:
    """The given (account, as-of) rows with the features the scorer's model was trained on."""
    frame = scorer.features(source, [pd.Timestamp(d) for d in sorted(rows.as_of.unique())])
    keys = rows[["account_id", "as_of"]]
    return keys.merge(frame, on=["account_id", "as_of"], how="left").set_index(rows.index)
