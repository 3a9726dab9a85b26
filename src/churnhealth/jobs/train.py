"""`churnhealth train`: fit, evaluate, track and register a health model; decide the champion.

Stages: validate the data, build features, fit and measure the year-ahead evaluation model (see
`evaluation.horizons`; its search's parameters are reused), prepare the time splits, fit (the
fitter), fit the expansion model on the same rows (`evaluation.training`), evaluate on the test
window (against the global model, the baselines and, on the demo company, the oracle), judge
every horizon censoring-aware (`evaluation.judged`), build the model bundle, log and register
it in MLflow, and make it champion if it passes the skill gate and beats the current one on the
test window, else challenger; a model that fails the gate is registered without an alias.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import check_folder_writable, write_json
from churnhealth.config import Config
from churnhealth.data.churn import churn_reasons
from churnhealth.data.load import open_configured
from churnhealth.data.source import Source
from churnhealth.evaluation import challenger, holdout, horizons
from churnhealth.evaluation.bundle import ModelBundle
from churnhealth.evaluation.training import SIGNAL_TABLES, built, fit_expansion, judge_skill
from churnhealth.evaluation.training_report import TrainingReport
from churnhealth.features import build_features
from churnhealth.models.fitter import HealthModelFitter, TrainingData, prepare
from churnhealth.models.routed import HealthModel
from churnhealth.models.split import Splits
from churnhealth.notes import absent_table, arrange
from churnhealth.progress import Stage, no_stage


@dataclass
class TrainResult:
    """What a training produced: the registered version, its alias and why, the report
    (metrics.json), the splits, the model bundle and the table `train` prints."""

    run_id: str
    version: str
    alias: str | None
    """@champion, @challenger, or None when the model failed the skill gate."""
    reason: str
    report: TrainingReport
    """metrics.json, typed."""
    splits: Splits
    bundle: ModelBundle
    summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What limits this model's figures (signal tables absent, the year-ahead test not run):
    printed before the notes."""

    @property
    def model(self) -> HealthModel:
        """The health model in the bundle."""
        return self.bundle.health


def train(
    cfg: Config,
    data: Path | None = None,
    as_of: dt.date | None = None,
    stage: Stage = no_stage,
    decide: bool = True,
    say: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train, evaluate, log and register a model. With `decide=False` it is registered as
    @challenger without being compared with the champion (the monitor compares them). `say`
    receives the windows sized from the data as soon as they are known.

    Everything that could stop the run at its end is checked first: the outputs can be
    written and the registry can be read."""
    check_folder_writable(cfg.paths.reports_dir, "paths.reports_dir")
    check_folder_writable(Path(cfg.paths.champion_dir).parent, "paths.champion_dir")
    done = stage("validating data", 1)
    source = open_configured(cfg, data, truncate_at=as_of)
    tracking.configure(cfg)
    tracking.current_champion(cfg.mlflow.registered_model)
    done()
    fs = build_features(source, cfg, end=as_of, stage=stage)
    d = prepare(cfg, source, fs)
    if say is not None:
        say(describe_windows(d))
    with tracking.training_run(cfg, d, as_of) as run:
        year, searched = horizons.evaluate(cfg, source, fs, on_trial=run.log_trial, stage=stage)
        params = {k: v["lightgbm_params"] for k, v in searched.info_.items()} if searched else None
        fitter = HealthModelFitter(
            config=cfg, on_trial=run.log_trial, stage=stage, params=params
        ).fit(d)
        run.log_choices(fitter.info_)
        model = fitter.model_
        grown_model, grown, grown_notes = fit_expansion(cfg, d, run.log_trial, stage)
        run.log_expansion(grown)
        done = stage("evaluating", 1)
        result = holdout.evaluate(cfg, d, model)

        # a history too short for the year-ahead test: longer horizons judged from earlier on
        earlier = (
            partial(horizons.earlier_origin, cfg, source, fs, on_trial=run.log_trial, stage=stage)
            if cfg.train.earlier_origin
            else no_earlier_origin
        )
        skill = judge_skill(
            cfg,
            source,
            d,
            model,
            year.get("judged"),
            earlier if year["status"] != "ok" else None,
        )
        run.log_judged(skill.judged, skill.gate)
        run.log_horizons(year)
        done()
        done = stage("logging to MLflow", 1)
        bundle = built(model, result, skill, grown_model)
        version = run.log_model(bundle, result, d)
        if not decide:
            alias, reason = tracking.CHALLENGER, "challenger for the monitor to compare with it"
            compared = None
        elif not skill.gate.passed:
            alias, reason, compared = None, f"it failed the skill gate: {skill.gate.reason}", None
        else:
            alias, reason, compared = choose_alias(cfg, d, result.probabilities)
            reason = f"{reason} (skill gate passed on {skill.gate.horizon})"
        problems, notes = findings(source, fs.notes, year)
        notes = fitter.notes_ + grown_notes + notes
        reasons = churn_reasons(source, cfg.data.segments)
        report = result.report(
            d,
            model,
            **skill.report_parts(),
            horizons=year,
            expansion=grown,
            run_id=run.run_id,
            models=fitter.info_,
            notes=notes,
            problems=problems,
            model_version=version,
            alias=alias,
            alias_reason=reason,
            champion_comparison=compared,
            churn_reasons=None if reasons is None else reasons.to_dict("records"),
        )
        metrics = report.to_json()
        run.log_json("metrics.json", metrics)
        tracking.tag_gate(cfg, version, skill.gate)
        name = cfg.mlflow.registered_model
        if alias == tracking.CHAMPION:
            tracking.promote(cfg, version)
        elif alias is not None:
            tracking.set_alias(name, alias, version)
        restore = decide and alias != tracking.CHAMPION
        if (
            restore
            and not Path(cfg.paths.champion_dir).exists()
            and tracking.current_champion(name)
        ):
            tracking.export_champion(cfg)
        write_json(Path(cfg.paths.reports_dir) / "metrics.json", metrics)
        done()
    return TrainResult(
        run.run_id,
        version,
        alias,
        reason,
        report,
        d.splits,
        bundle,
        result.summary,
        notes,
        problems,
    )


def no_earlier_origin(needed: list[str]) -> dict:
    """What `train.earlier_origin: false` says of the horizons an earlier origin would judge."""
    why = "train.earlier_origin is false: no earlier-origin model judged it"
    return {"from": None, "horizons": {}, "skipped": dict.fromkeys(needed, why)}


def findings(source: Source, feature_notes: list[str], year: dict) -> tuple[list[str], list[str]]:
    """The problems and the notes of the data and features (`notes.arrange`): an absent signal
    table and a year-ahead test that could not run are problems; the rest are notes."""
    lines = feature_notes + source.notes
    problems = [n for n in lines if absent_table(n) in SIGNAL_TABLES]
    if year["status"] != "ok":
        problems.append(f"no year-ahead test: {year['reason']}")
    return arrange(problems, [n for n in lines if n not in problems])


def describe_windows(d: TrainingData) -> str:
    """One line on the windows sized from the data, printed when training starts."""
    s = d.splits
    return (
        f"windows from the data: training steps known by {s.t1.date()}, validation steps "
        f"known by {s.t2.date()}, test as-of dates {s.t2.date()} to {s.t3.date()}"
    )


def choose_alias(cfg: Config, d: TrainingData, p_all: np.ndarray) -> tuple[str, str, dict | None]:
    """Champion when there is none, or when the new model beats it on rows neither learned
    from (`evaluation.challenger.against_champion`); else challenger. Returns the alias, the
    reason and the comparison window."""
    name = cfg.mlflow.registered_model
    current = tracking.current_champion(name)
    if current is None:
        return tracking.CHAMPION, "no champion yet", None
    champ = tracking.load_model(cfg, f"models:/{name}@{tracking.CHAMPION}")
    scorer = champ.bundle.scorer(cfg, champ.version)
    verdict = challenger.against_champion(cfg, d, p_all, scorer, current)
    alias = tracking.CHAMPION if verdict.promote else tracking.CHALLENGER
    return alias, verdict.reason, verdict.window
