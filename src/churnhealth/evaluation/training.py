"""What every training does once the health model is fitted, shared by `train` and the
monitor's retraining: the expansion model fitted on the same rows and measured on its test
window, every horizon judged and the skill gate, and the bundle that gets registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from churnhealth.config import Config
from churnhealth.data.source import Source
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import expansion, gate, holdout, judged
from churnhealth.evaluation.bundle import ModelBundle
from churnhealth.evaluation.training_report import Gate, Judged, JudgedRows
from churnhealth.models.expansion import ExpansionModel, ExpansionModelFitter, expansion_data
from churnhealth.models.fitter import TrainingData
from churnhealth.models.routed import HealthModel
from churnhealth.progress import Stage

SIGNAL_TABLES = ("usage", "touchpoints", "surveys", "tickets", "contacts", "invoices")
"""The tables whose signals the skill gate names as a cause when absent."""


def fit_expansion(
    cfg: Config, d: TrainingData, on_trial, stage: Stage
) -> tuple[ExpansionModel | None, dict, list[str]]:
    """Fit the expansion model on the health model's rows and measure it on its test window;
    returns the model (None when there is none), its figures (or why there are none) and the
    fitter's notes."""
    if not cfg.expansion.enabled:
        return None, {"status": "skipped", "reason": "expansion.enabled is false"}, []
    done = stage("expansion model", 1)
    try:
        data = expansion_data(cfg, d)
    except ChurnhealthError as err:
        done()
        return None, {"status": "skipped", "reason": str(err)}, [f"no expansion score: {err}"]
    fitter = ExpansionModelFitter(config=cfg, on_trial=on_trial).fit(data)
    figures = expansion.evaluate(data, fitter.model_)
    done()
    return fitter.model_, figures, fitter.notes_


@dataclass(frozen=True)
class Skill:
    """Every horizon judged and the skill gate's verdict on them."""

    judged: Judged
    gate: Gate
    earlier_origin: JudgedRows | None = None
    """On a short history, the earlier-origin model that judged the longer horizons."""

    def report_parts(self) -> dict:
        """Its parts of the training report (`Holdout.report`): the earlier origin only when
        there was one."""
        parts = {"judged": self.judged, "gate": self.gate}
        if self.earlier_origin is not None:
            parts["earlier_origin"] = self.earlier_origin
        return parts


def judge_skill(
    cfg: Config,
    source: Source,
    d: TrainingData,
    model: HealthModel,
    year_ahead: dict | None = None,
    earlier: Callable[[list[str]], dict] | None = None,
) -> Skill:
    """Judge every horizon of `model` (on its own test window, else by the year-ahead model's
    verdicts, else by those of `earlier`, called with the horizons still not judged: the
    earlier-origin model of a short history) and put it through the skill gate. The verdicts
    go into the training report and the model's bundle (what predict says of its horizons).
    The monitor's challenger passes the same gate on its own test window."""
    own = judged.evaluate(cfg, d, model)
    missing = [k for k, v in own["horizons"].items() if v["status"] != "judged"]
    earlier_origin = None
    if year_ahead is None and earlier is not None and missing:
        year_ahead = earlier_origin = earlier(missing)
    verdicts = judged.combine(own, year_ahead)
    skill = gate.gate(
        verdicts,
        cfg.labels.health_horizon_days,
        constant=[f for f in d.fs.features if d.frame[f].nunique(dropna=True) <= 1],
        absent=[t for t in SIGNAL_TABLES if t not in source.tables],
    )
    return Skill(
        Judged(horizons=verdicts, test_window=own),
        skill,
        None if earlier_origin is None else JudgedRows(**earlier_origin),
    )


def built(
    model: HealthModel,
    result: holdout.Holdout,
    skill: Skill,
    expansion_model: ExpansionModel | None,
) -> ModelBundle:
    """The bundle a training registers: the model as fitted, its expansion model, and what its
    test window froze (figures and drift reference) and judged."""
    return ModelBundle(
        health=model,
        expansion=expansion_model,
        reference=result.reference,
        test_metrics=result.test_figures,
        judged=skill.judged.as_dicts(),
    )
