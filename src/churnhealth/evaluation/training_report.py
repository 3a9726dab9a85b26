"""metrics.json as a typed report: what `churnhealth train` measured, judged and decided.

The parts are built where they are computed: the test-window figures by `evaluation.holdout`,
the horizons judged and the skill gate by `evaluation.training.judge_skill`, the year-ahead test
by `evaluation.horizons`, the expansion figures by `evaluation.expansion`; the training job
puts them together once, with the run, the version and the alias, into a frozen
`TrainingReport`. It becomes JSON only where it is written or logged (`to_json`); the CLI, the
HTML report and the notebook read its attributes. Its JSON Schema is
docs/schemas/training-report.json (`make docs`).

Figures keyed by their metric's name (`Figures`) stay maps: the set of figures grows with the
evaluation, and a figure that could not be computed is NaN or None.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

FROZEN = ConfigDict(
    frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True
)


def _plain(v: Any) -> Any:
    """A NumPy scalar as the Python value it holds, so counts stay integers."""
    return v.item() if isinstance(v, np.generic) else v


Value = Annotated[bool | int | float | str | None, BeforeValidator(_plain)]
Figures = dict[str, Value]
"""Figure name → value: a float, a count, or a text (e.g. `too_small`'s reason)."""


class Span(BaseModel):
    """The as-of dates of a window and the rows (and monthly steps) in it."""

    model_config = FROZEN

    first: str | None
    last: str | None
    rows: int
    steps: int | None = None
    churned_steps: int | None = None


class Windows(BaseModel):
    """The training, validation and test windows as used."""

    model_config = FROZEN

    train: Span
    val: Span
    test: Span


class SplitDates(BaseModel):
    """Where the time splits fall (`models.split.Splits`)."""

    model_config = FROZEN

    train_end: str
    val_end: str
    test_end: str
    gap_days: str


class HorizonVerdict(BaseModel):
    """One horizon judged censoring-aware (`evaluation.judged`), or why it was not."""

    model_config = FROZEN

    days: int
    status: str
    """"judged" or "not judged" (then `reason` says why)."""
    reason: str | None = None
    rows: int | None = None
    accounts: int | None = None
    events: int | None = None
    """Accounts that churned within the horizon."""
    controls: int | None = None
    reach: float | None = None
    """The share of rows still followed at the horizon (the censoring curve there)."""
    longest_follow_up_days: int | None = None
    roc_auc: float | None = None
    roc_auc_lo: float | None = None
    roc_auc_hi: float | None = None
    brier: float | None = None
    brier_lo: float | None = None
    brier_hi: float | None = None
    brier_no_skill: float | None = None
    churn_rate: float | None = None
    mean_probability: float | None = None
    baselines: dict[str, float] | None = None
    """Each baseline's ROC-AUC on the same rows."""
    best_baseline: str | None = None
    vs_best_roc_auc_diff: float | None = None
    vs_best_roc_auc_diff_lo: float | None = None
    vs_best_roc_auc_diff_hi: float | None = None
    by: str | None = None
    """Which model's rows judged it: the test window, the year-ahead or an earlier-origin
    model."""
    from_: str | None = Field(None, alias="from")
    """The first as-of date judged."""

    def as_dict(self) -> dict[str, Any]:
        """The verdict as stored in a model bundle and read by predict."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class JudgedRows(BaseModel):
    """The rows one model was judged on and its verdict per horizon."""

    model_config = FROZEN

    from_: str | None = Field(alias="from")
    follow_up_end: str | None = None
    rows: int | None = None
    horizons: dict[str, HorizonVerdict]
    by: str | None = None
    skipped: dict[str, str] | None = None
    """Horizons an earlier origin could not judge, and why."""


class Judged(BaseModel):
    """Every horizon judged with the outcomes the data has."""

    model_config = FROZEN

    horizons: dict[str, HorizonVerdict]
    """Per horizon, the registered model's own verdict or an earlier model's (`by`)."""
    test_window: JudgedRows
    """The registered model's own rows after its validation window."""

    def as_dicts(self) -> dict[str, dict[str, Any]]:
        """The verdicts as a model bundle stores them."""
        return {label: v.as_dict() for label, v in self.horizons.items()}


class Gate(BaseModel):
    """The skill gate's verdict (`evaluation.gate`)."""

    model_config = FROZEN

    status: str
    """"passed" or "failed"."""
    horizon: str | None
    """The horizon it was decided on; None when none could be judged."""
    horizon_days: int | None = None
    why_horizon: str | None = None
    by: str | None = None
    roc_auc: float | None = None
    roc_auc_lo: float | None = None
    roc_auc_hi: float | None = None
    best_baseline: str | None = None
    vs_best_roc_auc_diff_lo: float | None = None
    reason: str
    causes: list[str]
    """What the data shows that could explain a model without skill (when it failed)."""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


class YearAheadBlock(BaseModel):
    """The year-ahead figures of one segment (or overall)."""

    model_config = FROZEN

    twelve_months: Figures = Field(alias="12m")
    ninety_days: Figures = Field(alias="90d")
    tiers_12m: Figures
    """The at-risk flag against 12-month churn: recall (with its target), precision."""
    health_100_share: float


class YearAhead(BaseModel):
    """The year-ahead test: a model fitted a year before the data ends, judged on outcomes a
    year on (`evaluation.horizons`), or why it did not run."""

    model_config = FROZEN

    status: str
    """"ok" or "skipped" (then `reason` says why)."""
    reason: str | None = None
    origin: str | None = None
    test_window: Span | None = None
    routes: dict[str, str] | None = None
    models: dict[str, dict[str, Any]] | None = None
    notes: list[str] | None = None
    overall: YearAheadBlock | None = None
    segments: dict[str, YearAheadBlock] | None = None
    early_warning: Figures | None = None
    judged: JudgedRows | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ExpansionFigures(BaseModel):
    """The expansion model on its test window (`evaluation.expansion`), or why there is
    none."""

    model_config = FROZEN

    status: str
    """"ok" or "skipped" (then `reason` says why)."""
    reason: str | None = None
    horizon_days: int | None = None
    threshold: float | None = None
    test_window: Span | None = None
    windows: dict[str, str] | None = None
    routes: dict[str, str] | None = None
    cutoffs: dict[str, dict[str, int]] | None = None
    models: dict[str, dict[str, Any]] | None = None
    overall: Figures | None = None
    segments: dict[str, Figures] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Cutoffs(BaseModel):
    """A segment's tier cut-offs in health points (`models.tiers`)."""

    model_config = FROZEN

    healthy: int
    at_risk: int
    critical: int
    source: str


class Scorecard(BaseModel):
    """The practitioners' scorecard baseline as fitted on the training rows."""

    model_config = FROZEN

    weights: dict[str, float]
    correlations: dict[str, float]


class TrainingReport(BaseModel):
    """metrics.json."""

    model_config = FROZEN

    overall: Figures
    """The test window's figures over all segments."""
    segments: dict[str, Figures]
    scorecard: Scorecard
    earlier_origin: JudgedRows | None = None
    """On a short history, the earlier-origin model that judged the longer horizons."""
    judged: Judged
    gate: Gate
    horizons: YearAhead | None = None
    """The year-ahead test (`train` only; the monitor's challenger has none)."""
    expansion: ExpansionFigures
    run_id: str | None
    splits: SplitDates
    windows: Windows
    routes: dict[str, str]
    """Which model scores each segment: its own or the global one."""
    cutoffs: dict[str, Cutoffs]
    models: dict[str, dict[str, Any]]
    """What was fitted per model: the candidates' validation losses, the chosen one, its
    calibration and tuned parameters."""
    notes: list[str]
    problems: list[str] | None = None
    """What limits this model's figures, printed before the notes (`train` only)."""
    model_version: str
    alias: str | None
    """@champion, @challenger, or None when the model failed the skill gate."""
    alias_reason: str
    champion_comparison: dict[str, Any] | None = None
    """The window on which the new model was compared with the champion."""
    churn_reasons: list[dict[str, Any]] | None = None
    """Why accounts left, per segment, when the data says."""

    def to_json(self) -> dict[str, Any]:
        """metrics.json: every part that was computed; parts of a step that did not run are
        left out."""
        return self.model_dump(by_alias=True, exclude_unset=True)
