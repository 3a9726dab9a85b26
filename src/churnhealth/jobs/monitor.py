"""`churnhealth monitor`: drift and decay checks of the champion, and retraining when the policy
fires.

The data is cut to what was known just before the as-of date, so labels count as matured only
if they were known by then. The checks are in `evaluation.monitor`; with `retrain`, a triggered
policy trains a challenger on recent data with the same fitter as `train`, puts it through the
same skill gate (a challenger that fails it is registered without an alias and the champion
stays), registers it as @challenger, and promotes it only if it beats the champion on matured
rows neither has learned from (`evaluation.challenger`). Writes monitor.json with a PSI chart
beside it and logs a run.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import check_writable, write_json, write_with
from churnhealth.config import Config
from churnhealth.data.contract import contract
from churnhealth.data.load import open_configured
from churnhealth.data.source import Source, truncate
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import challenger, holdout, plots
from churnhealth.evaluation import monitor as checks
from churnhealth.evaluation.bundle import ModelBundle
from churnhealth.evaluation.monitor_report import MonitorReport, Retrain, Trigger
from churnhealth.evaluation.training import built, fit_expansion, judge_skill
from churnhealth.evaluation.training_report import Gate
from churnhealth.features import build_features, run_dates
from churnhealth.location import source_label
from churnhealth.models.fitter import HealthModelFitter, prepare
from churnhealth.progress import Stage, no_stage
from churnhealth.scoring.scorer import Scorer


@dataclass
class MonitorResult:
    """The monitor report (monitor.json) and where it was written."""

    report: MonitorReport
    out: Path


def monitor(
    cfg: Config,
    data: Path | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    retrain: bool = False,
    out: Path | None = None,
    stage: Stage = no_stage,
) -> MonitorResult:
    """Run the checks, optionally retrain, write monitor.json and log to MLflow."""
    out = check_writable(out or cfg.paths.reports_dir / "monitor.json", "--out", (".json",))
    done = stage("loading model and data", 1)
    lm = tracking.load_model(cfg, model)
    if lm.bundle.reference is None:
        raise ChurnhealthError(
            f"model {lm.source} (v{lm.version}) has no drift reference: it was trained before "
            "monitoring existed; retrain it with `churnhealth train`"
        )
    scorer = lm.bundle.scorer(cfg, lm.version, overrides=False)
    source = open_configured(cfg, data)
    day = run_dates(cfg, source, as_of, 0).day
    source = truncate(source, day.date(), contract(cfg.data.segments))
    data_end = pd.Timestamp(lm.model.metadata["data_end"])
    dates = checks.matured_dates(cfg, data_end, day)
    done()
    frame = scorer.features(source, [*dates, day])
    done = stage("drift and performance", 1)
    live = frame[frame.as_of == day]
    matured = frame[(frame.as_of < day) & frame.labelled.astype(bool)]
    report, features = checks.check(
        scorer, lm.bundle, live, matured, day, {"version": lm.version, "source": lm.source}
    )
    report = report.model_copy(update={"data_source": source_label(source.path)})
    done()
    fired = [t for t in report.triggers if t.fired]
    decision = (
        retrain_if_triggered(cfg, data, source, day, scorer, fired, stage)
        if retrain
        else dict(challenger.NOT_REQUESTED)
    )
    report = report.model_copy(
        update={
            "notes": [*lm.notes, *report.notes],
            "retrain": Retrain.model_validate(checks.clean(decision)),
        }
    )
    done = stage("writing and logging", 1)
    with tempfile.TemporaryDirectory() as tmp:
        png = plots.plot_psi(
            features,
            cfg.monitor.psi_warn,
            cfg.monitor.psi_alert,
            f"Feature drift as of {report.as_of}, model v{report.model.version}",
            Path(tmp) / f"{out.stem}_psi.png",
        )
        report = tracking.log_monitor(cfg, report, checks.summary(report), png, out.name)
        write_json(out, report.to_json())
        write_with(out.with_name(png.name), lambda t: shutil.copyfile(png, t))
    done()
    return MonitorResult(report, out)


def retrain_if_triggered(
    cfg: Config,
    data: Path | None,
    source: Source,
    day: pd.Timestamp,
    champion: Scorer,
    fired: list[Trigger],
    stage: Stage,
) -> dict:
    """Train a challenger as of `day` when a trigger fired; compare and maybe promote it.

    `source` is the data truncated at `day`. A retraining that fails, or a challenger that
    does not win, leaves the champion untouched."""
    if not fired:
        return {"requested": True, "status": "not_triggered", "reasons": ["no trigger fired"]}
    reasons = [f"trigger: {t.reason}" for t in fired]
    out = {
        "requested": True,
        "triggers": [t.name for t in fired],
        "champion": {"version": champion.version},
    }
    rcfg = challenger.recent_config(cfg, day)
    try:
        version, run_id, bundle, skill = _train_challenger(rcfg, data, day, stage)
    except ChurnhealthError as exc:
        return {**out, "status": "failed", "reasons": [*reasons, f"retraining failed: {exc}"]}
    out["challenger"] = {
        "version": version,
        "run_id": run_id,
        "history_from": str(rcfg.features.start) if rcfg.features.start else None,
        "gate": skill,
    }
    if not skill.passed:
        reasons.append(
            f"kept champion v{champion.version}: challenger v{version} failed the skill gate: "
            f"{skill.reason}"
        )
        tracking.tag_version(cfg, version, "kept", reasons[-1])
        return {**out, "status": "kept", "reasons": reasons, "champion_after": champion.version}
    done = stage("champion vs challenger", 1)
    verdict = challenger.compare(
        cfg,
        source,
        day,
        champion,
        bundle.scorer(cfg, version),
    )
    done()
    out["champion"]["metrics"] = verdict["champion"]
    out["challenger"]["metrics"] = verdict["challenger"]
    out["window"] = verdict["window"]
    status = verdict["status"]
    reasons.append(verdict["reason"])
    if status == "promoted":
        try:
            tracking.promote(cfg, version)
        except (ChurnhealthError, OSError) as exc:
            status = "failed"
            reasons.append(f"promotion failed, champion v{champion.version} kept: {exc}")
    tracking.tag_version(cfg, version, status, reasons[-1])
    out["champion_after"] = version if status == "promoted" else champion.version
    return {**out, "status": status, "reasons": reasons}


def _train_challenger(
    cfg: Config, data: Path | None, day: pd.Timestamp, stage: Stage
) -> tuple[str, str, ModelBundle, Gate]:
    """Fit, evaluate, judge and register a model bundle on the data known before `day` (the
    expansion model too, so a promoted challenger scores everything the champion did), as
    @challenger if it passes the skill gate (else without an alias, like `train`); returns its
    version, run id, the bundle and the gate's verdict."""
    source = open_configured(cfg, data, truncate_at=day.date())
    fs = build_features(source, cfg, end=day.date(), stage=stage)
    d = prepare(cfg, source, fs)
    with tracking.training_run(cfg, d, day.date()) as run:
        fitter = HealthModelFitter(config=cfg, on_trial=run.log_trial, stage=stage).fit(d)
        run.log_choices(fitter.info_)
        grown_model, grown, grown_notes = fit_expansion(cfg, d, run.log_trial, stage)
        run.log_expansion(grown)
        result = holdout.evaluate(cfg, d, fitter.model_)
        skill = judge_skill(cfg, source, d, fitter.model_)
        run.log_judged(skill.judged, skill.gate)
        bundle = built(fitter.model_, result, skill, grown_model)
        version = run.log_model(bundle, result, d)
        passed = skill.gate.passed
        report = result.report(
            d,
            fitter.model_,
            **skill.report_parts(),
            expansion=grown,
            run_id=run.run_id,
            models=fitter.info_,
            notes=fitter.notes_ + grown_notes + fs.notes,
            model_version=version,
            alias=tracking.CHALLENGER if passed else None,
            alias_reason="challenger for the monitor to compare with the champion"
            if passed
            else f"it failed the skill gate: {skill.gate.reason}",
        )
        run.log_json("metrics.json", report.to_json())
        tracking.tag_gate(cfg, version, skill.gate)
        if passed:
            tracking.set_alias(cfg.mlflow.registered_model, tracking.CHALLENGER, version)
    return version, run.run_id, bundle, skill.gate
