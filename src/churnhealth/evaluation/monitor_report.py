"""monitor.json as a typed report: what `churnhealth monitor` found and decided.

`evaluation.monitor.check` builds the `MonitorReport`, the job adds the retraining decision and
tracking the MLflow run ids (each a new copy: the report is frozen). It becomes JSON only where
it is written (`to_json`); the CLI and the HTML report read its attributes. Its JSON Schema is
docs/schemas/monitor-report.json (`make docs`). Figures that could not be computed are None.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from churnhealth.evaluation.training_report import Gate

FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class MonitoredModel(BaseModel):
    """The champion that was checked."""

    model_config = FROZEN

    version: str
    source: str
    """Registry URI or folder it was loaded from."""
    data_end: str
    """The last day of the data it was trained on."""
    trained_at: str | None
    age_days: int
    """Days from `data_end` to the as-of date."""
    reference_as_of: list[str]
    """The as-of dates its drift reference spans."""


class Thresholds(BaseModel):
    """The monitor's configuration the checks used (`monitor.*`)."""

    model_config = FROZEN

    psi_warn: float
    psi_alert: float
    min_sample: int
    min_churners: int
    top_features: int
    expected_drift: list[str]
    retrain: dict[str, float | int | None]
    """The retraining policy (`monitor.retrain`)."""


class Sample(BaseModel):
    model_config = FROZEN

    live_rows: int
    reference_rows: int
    sufficient: bool
    """At least `min_sample` live rows: below it drift is reported but raises no alarm."""


class FeatureDrift(BaseModel):
    """One feature's drift against the reference."""

    model_config = FROZEN

    feature: str
    dimension: str | None
    kind: str
    """"numeric" or "categorical"."""
    ks: float | None
    """Kolmogorov–Smirnov statistic (numeric features)."""
    psi: float | None
    importance: float | None
    """Mean |effect| in health points on the reference rows."""
    importance_rank: int | None
    missing_share_reference: float | None
    missing_share_live: float | None
    status: str
    """ok, warn, alert, expected (configured to drift) or insufficient_data."""


class DimensionDrift(BaseModel):
    model_config = FROZEN

    features: int
    warn: int
    alert: int
    expected: int
    max_psi: float | None
    """The highest PSI among the dimension's features not expected to drift."""


class ScoreDrift(BaseModel):
    """The model's scores on the live rows against those on the reference rows."""

    model_config = FROZEN

    psi: float | None
    ks: float | None
    mean_reference: float | None
    mean_live: float | None
    status: str


class TopFeatures(BaseModel):
    model_config = FROZEN

    features: list[str]
    """The most important features not expected to drift."""
    drifting: list[str]
    """Those of them in alert."""
    share: float


class Expected(BaseModel):
    """What the calibrated probabilities say before labels mature."""

    model_config = FROZEN

    churn_rate: float | None
    recall: float | None
    """Expected share of churners in the at-risk and critical tiers."""
    flagged_share: float | None
    training_test: dict[str, float | None]


class Window(BaseModel):
    """The matured as-of dates a comparison used."""

    model_config = FROZEN

    first: str | None
    last: str | None
    as_of_dates: int
    rows: int
    churners: int


class Performance(BaseModel):
    """The model on labels that matured after its data end, against its test window."""

    model_config = FROZEN

    window: Window
    training_test: dict[str, float | None]
    status: str
    """ok, warn, alert or insufficient_data (then `reason` says why)."""
    reason: str | None = None
    live: dict[str, float | None] | None = None
    roc_auc_decay: float | None = None
    roc_auc_decay_se: float | None = None
    roc_auc_decay_lower: float | None = None
    """The decay's one-sided 95% lower bound: the trigger fires on it, not on the decay."""
    log_loss_increase: float | None = None
    ece_change: float | None = None


class Trigger(BaseModel):
    """One trigger of the retraining policy."""

    model_config = FROZEN

    name: str
    value: float | None
    threshold: float | None
    fired: bool
    status: str
    reason: str


class Compared(BaseModel):
    """The champion or the challenger in a retraining decision."""

    model_config = FROZEN

    version: str
    metrics: dict[str, float | None] | None = None
    """On the matured window neither fitted."""
    run_id: str | None = None
    history_from: str | None = None
    gate: Gate | None = None
    """The challenger's skill-gate verdict."""


class Retrain(BaseModel):
    """The retraining decision (`--retrain`)."""

    model_config = FROZEN

    requested: bool
    status: str
    """not_requested, not_triggered, failed, kept or promoted."""
    reasons: list[str]
    triggers: list[str] | None = None
    champion: Compared | None = None
    challenger: Compared | None = None
    window: Window | None = None
    champion_after: str | None = None
    decision_run_id: str | None = None
    """The decision's own MLflow run (nested in the monitor's)."""


class MonitorReport(BaseModel):
    """monitor.json."""

    model_config = FROZEN

    schema_version: int
    as_of: str
    generated_at: str
    data_source: str | None = None
    """The data checked (a file, folder or database without credentials)."""
    model: MonitoredModel
    thresholds: Thresholds
    sample: Sample
    features: list[FeatureDrift]
    """Every feature, most drifted first."""
    dimensions: dict[str, DimensionDrift]
    score: ScoreDrift
    top_features: TopFeatures
    expected: Expected
    performance: Performance
    triggers: list[Trigger]
    status: str
    """The worst of the features', the score's and the performance's status."""
    notes: list[str]
    retrain: Retrain
    mlflow_run_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """monitor.json: every figure the checks set (None where one could not be computed);
        keys of a step that did not happen left out."""
        return self.model_dump(exclude_unset=True)
