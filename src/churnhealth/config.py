"""Typed configuration, validated before any work starts.

`load_config` reads a YAML file into `Config`; unknown keys and bad values raise `ConfigError`
with one line per problem naming the key, the value and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pandas.tseries.frequencies import to_offset
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from churnhealth.errors import ConfigError
from churnhealth.location import is_url, location, redact, refuse_secrets

DEFAULT_CONFIG = Path("configs/default.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Section):
    """Where the tables are and what the contract allows in them."""

    path: Path | str = Field(
        Path("data/demo.duckdb"),
        description="DuckDB file, folder of CSV/Parquet files named after the tables, or a "
        "database URL such as postgresql://user@host:5432/database/schema (docs/engines.md; "
        "never with a password, token or key in it: libpq reads PGPASSWORD, ~/.pgpass or a "
        "service file).",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _location(cls, v: Any) -> Path | str:
        """A connection URL stays text (and holds no secret); anything else is a path."""
        if isinstance(v, str) and is_url(v) and (reason := refuse_secrets(v)) is not None:
            raise ValueError(reason.split(": ", 1)[1])
        return location(v) if isinstance(v, str | Path) else v

    segments: list[str] = Field(
        ["enterprise", "mid_market", "smb"],
        min_length=1,
        description="Allowed values of accounts.segment; each segment can get its own model.",
    )
    sources: Path | None = Field(
        None,
        description="YAML mapping of your export onto the data contract: files, column names, "
        "value maps, date formats, constants, filters (docs/mapping.md); none: tables and "
        "columns are named as in the contract.",
    )
    currency: str = Field(
        "USD",
        description="ISO 4217 code of the amounts in the data (ARR, invoices): how money reads "
        "wherever a person reads it ($, €, £, ¥… or the code, e.g. CHF 12k).",
    )
    overlapping_subscriptions: Literal["sum", "latest"] = Field(
        "sum",
        description="An account holding several subscriptions at once: sum their ARR, seats "
        "and renewals (add-ons), or read only the newest (an export that never closes the "
        "old contract). Either way a note counts such accounts.",
    )
    repair_usage: bool = Field(
        True,
        description="Fill logging outages and rescale logging changes found in usage, each "
        "with a counted note (docs/messy-data.md); false: notes only, rows read as they are.",
    )

    memory_limit: str | None = Field(
        "1GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="Most memory the embedded DuckDB (files, folders, .duckdb databases) may "
        "use before it spills to a temporary folder; it runs inside churnhealth, so this "
        "bounds most of a large run's peak (docs/engines.md). null: DuckDB's own default, "
        "80% of the machine's memory. Servers (PostgreSQL, Spark) manage their own.",
    )

    @field_validator("currency")
    @classmethod
    def _iso_code(cls, v: str) -> str:
        """Three capital letters (ISO 4217)."""
        if not re.fullmatch(r"[A-Z]{3}", v):
            raise ValueError("expected an ISO 4217 code in capitals, e.g. USD, EUR, GBP")
        return v

    @field_validator("segments")
    @classmethod
    def _unique_segments(cls, v: list[str]) -> list[str]:
        """Unique, non-empty names."""
        if len(set(v)) != len(v):
            raise ValueError("segments must be unique")
        if any(not s.strip() for s in v):
            raise ValueError("segments must be non-empty names")
        return v


class SynthConfig(_Section):
    """Defaults of `churnhealth synth`, the generator of the demo company."""

    accounts: int = Field(5000, ge=10, le=1_000_000, description="Accounts ever created.")
    years: int = Field(3, ge=1, le=10, description="Years of history.")
    seed: int = Field(0, ge=0, description="Random seed; same arguments give identical output.")
    start: dt.date = Field(dt.date(2023, 11, 1), description="First day of the history.")
    truth_paths: int = Field(
        200, ge=200, le=10_000, description="Monte Carlo paths per account for the truth table."
    )
    team: bool = Field(
        True,
        description="Give the company a customer-success team that runs plays on the accounts it "
        "finds worrying, holding out a random share in the last `experiment_months`: a "
        "cs_actions table and each play's true effect in truth (docs/demo-company.md). false: a "
        "company nobody works, otherwise the same where no play ran.",
    )
    experiment_months: int = Field(
        24,
        ge=0,
        le=120,
        description="With the team: it holds out a random share of its plays from this many "
        "months before the end of the history (0: never). A play's effect on churn within 12 "
        "months is judged only once holdouts have been followed for a year, so a shorter "
        "experiment leaves the randomized estimates refused.",
    )

    @field_validator("start")
    @classmethod
    def _first_of_month(cls, v: dt.date) -> dt.date:
        """The first day of a month."""
        if v.day != 1:
            raise ValueError("must be the first day of a month")
        return v


class FeaturesConfig(_Section):
    """The observation grid and where the declared metrics live."""

    definitions: Path = Field(
        Path("configs/features.yaml"), description="YAML file of declared metrics."
    )
    schedule: str = Field(
        "MS",
        description="As-of dates: a pandas offset alias, e.g. MS (first of each month), "
        "W-MON (Mondays), 14D.",
    )
    start: dt.date | None = Field(None, description="First as-of date (default: data start).")
    end: dt.date | None = Field(None, description="Last as-of date (default: data end).")

    @field_validator("schedule")
    @classmethod
    def _offset(cls, v: str) -> str:
        """A pandas offset alias."""
        try:
            to_offset(v)
        except ValueError:
            raise ValueError("must be a pandas offset alias such as MS, W-MON or 14D") from None
        return v


class LabelsConfig(_Section):
    """What counts as churn and expansion."""

    horizon_days: int = Field(
        90,
        ge=7,
        le=365,
        description="The label: churn within this many days. The test window, the backtest, "
        "the monitor and champion decisions judge the model's probability for it.",
    )
    health_horizon_days: int = Field(
        365,
        ge=7,
        le=365,
        description="Health = 100 × (1 − P(churn within this many days)); 365 holds one "
        "renewal decision of every annual contract, 90 gives the quarter's view.",
    )
    resignup_gap_days: int = Field(
        30, ge=0, le=365, description="A new subscription within this gap is not churn."
    )
    expansion_threshold: float = Field(
        0.10,
        gt=0,
        le=10,
        description="ARR growth over the expansion horizon that counts as expansion.",
    )
    expansion_horizon_days: int = Field(
        365,
        ge=7,
        le=730,
        description="The expansion label: ARR this many days later at least (1 + "
        "expansion_threshold) × today's, without churn. 365 holds one renewal of every annual "
        "contract, where expansions are signed.",
    )


class LifecycleConfig(_Section):
    """Lifecycle stages: onboarding, adoption, maturity, renewal period."""

    onboarding_days: int = Field(90, ge=1, description="Tenure below this is onboarding.")
    adoption_days: int = Field(365, ge=1, description="Tenure below this is adoption.")
    renewal_window_days: int = Field(
        60,
        ge=1,
        description="A renewal within this many days puts the account in its renewal "
        "period, which takes precedence.",
    )
    renewal_min_term_months: int = Field(
        12,
        ge=1,
        description="Only contracts with at least this term have a renewal period "
        "(a monthly contract is always within a month of renewal).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        """adoption_days must be greater than onboarding_days."""
        if self.adoption_days <= self.onboarding_days:
            raise ValueError("adoption_days must be greater than onboarding_days")
        return self


class TuningConfig(_Section):
    """Optuna search for LightGBM, per segment model."""

    trials: int = Field(15, ge=1, le=1000, description="Trials per model.")
    timeout_s: float | None = Field(
        None,
        gt=0,
        description="Optional time budget per model, in seconds. null (the default): every "
        "model runs all its trials, so the same data, configuration and seed give the same "
        "model on any machine. With a budget, a slow or busy machine completes fewer trials "
        "and trains a different model.",
    )


class TrainConfig(_Section):
    """Time splits, segment models, calibration."""

    test_days: int = Field(
        180, ge=28, description="Test window: the last as-of dates with mature labels."
    )
    val_days: int = Field(
        270, ge=28, description="Validation and calibration window before the test window."
    )
    min_churners: int = Field(
        100, ge=1, description="Churned rows in training a segment needs for its own model."
    )
    seed: int = Field(0, ge=0, description="Seed for tuning and models.")
    monotone: bool = Field(
        True,
        description="Hold the gradient-boosted models to each signal's declared direction "
        "(`healthier: higher | lower` in features.yaml) as monotone constraints, so that a "
        "worse value never raises health.",
    )
    calibration: Literal["auto", "sigmoid", "isotonic"] = Field(
        "auto", description="Calibration method; auto picks the better on validation data."
    )
    earlier_origin: bool = Field(
        True,
        description="On a history too short for the year-ahead test (under about 25 months), "
        "fit one more model at an earlier origin to judge the 9- and 12-month horizons; off, "
        "they are reported not judged.",
    )
    tuning: TuningConfig = TuningConfig()


class TiersConfig(_Section):
    """Health tiers: cut-offs learned per segment on the validation window, or fixed."""

    recall_at_risk: float = Field(
        0.75, gt=0, lt=1, description="Share of churners at risk or critical (at-risk cut-off)."
    )
    recall_critical: float = Field(
        0.35, gt=0, lt=1, description="Share of churners in the critical tier."
    )
    recall_healthy: float = Field(
        0.95, gt=0, lt=1, description="Share of churners below the healthy cut-off."
    )
    fixed: list[float] | None = Field(
        None,
        description="Fixed health cut-offs [healthy, at_risk, critical], e.g. [75, 50, 25]; "
        "override the learned ones.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> TiersConfig:
        """recall_critical < recall_at_risk < recall_healthy; `fixed`, when set, is three
        decreasing health values in 0..100."""
        if not self.recall_critical < self.recall_at_risk < self.recall_healthy:
            raise ValueError("need recall_critical < recall_at_risk < recall_healthy")
        if self.fixed is not None and (
            len(self.fixed) != 3 or not 100 >= self.fixed[0] > self.fixed[1] > self.fixed[2] >= 0
        ):
            raise ValueError("fixed must be three decreasing health values in 0..100")
        return self


class MlflowConfig(_Section):
    """Experiment tracking and the model registry (embedded SQLite store by default)."""

    tracking_uri: str = Field(
        "sqlite:///mlflow.db", description="Tracking store; MLFLOW_TRACKING_URI overrides it."
    )
    artifact_location: str = Field("./mlartifacts", description="Where run artifacts go.")
    experiment: str = Field("churnhealth", description="Experiment name.")
    registered_model: str = Field("churnhealth", description="Registered model name.")


class PathsConfig(_Section):
    """Where outputs are written."""

    champion_dir: Path = Field(
        Path("models/champion"), description="Export of the champion (an MLflow model)."
    )
    reports_dir: Path = Field(Path("reports/latest"), description="Latest reports.")


class TierOverride(_Section):
    """Health cut-offs replacing the model's for a segment or lifecycle stage."""

    healthy: float = Field(ge=0, le=100, description="Health at or above this is healthy.")
    at_risk: float = Field(
        ge=0, le=100, description="Health below this is at risk (moderate in between)."
    )
    critical: float = Field(ge=0, le=100, description="Health below this is critical.")

    @model_validator(mode="after")
    def _ordered(self) -> TierOverride:
        """healthy ≥ at_risk ≥ critical."""
        if not self.healthy >= self.at_risk >= self.critical:
            raise ValueError("need healthy ≥ at_risk ≥ critical")
        return self


class Capacity(_Section):
    """How many save plays the team can have under way at once: an alert of a playbook marked
    `capacity: true` (the default at-risk intervention) is under way for the playbooks'
    cooldown_days after it was raised. Each run alerts the matching accounts with the most ARR
    expected to be lost by their next renewal decision, up to the room left; the other
    matches are listed as waiting, not alerted."""

    accounts: int | None = Field(
        None,
        ge=0,
        description="Save plays under way at once for the whole team; unset: `share` of the "
        "active book.",
    )
    share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="When `accounts` is unset, the team's capacity as a share of the active "
        "accounts (rounded up).",
    )
    per_owner: int | None = Field(
        None,
        ge=0,
        description="Save plays under way at once per CSM (accounts.csm_owner); accounts "
        "without an owner share the team's capacity. Unset: one team-wide capacity.",
    )

    def limit(self, active: int) -> int:
        """The team's capacity for a book of `active` accounts."""
        if self.accounts is not None:
            return self.accounts
        return math.ceil(self.share * active)


BANDS = TierOverride(healthy=75, at_risk=50, critical=25)
"""The practitioners' bands: healthy 75–100, moderate 50–74, at risk 25–49, critical 0–24."""


class PredictConfig(_Section):
    """The batch scoring job: history, trend, tiers and the team's capacity."""

    history: Path = Field(
        Path("outputs/history.duckdb"), description="DuckDB store of the health_history table."
    )
    playbooks: Path = Field(
        Path("configs/playbooks.yaml"), description="Playbook definitions (alerts)."
    )
    alerts: Path = Field(Path("outputs/alerts.jsonl"), description="Alert log (appended).")
    out_dir: Path = Field(Path("outputs"), description="Where scores and summaries go.")
    chunk_accounts: int = Field(
        50_000,
        ge=100,
        description="Accounts scored and explained at a time (and feature rows per backfill "
        "pass): bounds predict's memory on large books without changing any score.",
    )
    backfill_days: int = Field(
        90,
        ge=0,
        description="Score first the scheduled as-of dates this far back that the history "
        "lacks (all of them into an empty history), so that trends read from scores that exist.",
    )
    stable_band: float = Field(
        5, ge=0, description="Momentum is stable while the 30-day change is within ± this."
    )
    playbook_warn_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="Warn when a playbook's conditions match more than this share of the "
        "active book: a team cannot act on most of its accounts at once.",
    )
    portfolio_accounts: int = Field(
        5000,
        ge=0,
        description="Accounts in the account table of outputs/portfolio.html (those with the "
        "most ARR at stake); 0: no page.",
    )
    override_wins: bool = Field(
        True,
        description="A CSM's health (churnhealth override) drives health_score, the tier and "
        "the playbooks while it is in force; false: scores show it beside the model's health, "
        "which drives. Either way the history keeps the model's health.",
    )
    tiers: Literal["bands", "learned"] = Field(
        "bands",
        description="bands: fixed cut-offs on the calibrated health (predict.bands), so a tier "
        "states a chance of leaving (at risk: 50–75% within the health horizon); learned: the "
        "model's per-segment cut-offs, set at training to flag tiers.recall_at_risk of "
        "next year's churners (many more accounts flagged, each less likely to leave).",
    )
    bands: TierOverride = Field(
        BANDS,
        description="The bands' cut-offs (health at or above healthy is healthy; below at_risk "
        "at risk; below critical critical).",
    )
    capacity: Capacity = Capacity()
    effects: Path | None = Field(
        None,
        description="The measured effects of the plays (effects.json of churnhealth effects) "
        "the save list ranks by: with a play shown to keep accounts, measured on the same data "
        "before the day scored, the capacity-bound list ranks by expected ARR saved and names "
        "each account's best play; otherwise by expected ARR lost, and says why. Unset: "
        "effects.json in paths.reports_dir.",
    )
    rank_by_effects: bool = Field(
        True,
        description="false: always rank the save list by expected ARR lost, whatever effects "
        "have been measured.",
    )
    actionable_points: float = Field(
        3.0,
        ge=0,
        description="An at-risk or critical account is at risk for its signals (at_risk_for: "
        "signals; the save list and the at-risk intervention) when the signals a CSM can act "
        "on pull its health down by at least this many points, else for its contract "
        "(at_risk_for: contract: term, renewal timing or size; the renewal-exposure list).",
    )
    crm_url: str | None = Field(
        None,
        description="Link to an account's record in your CRM, with {account_id} where its id "
        "goes, e.g. https://acme.lightning.force.com/lightning/r/Account/{account_id}/view: "
        "the page, explain and the alerts link each account to it. None: no link.",
    )

    @field_validator("crm_url")
    @classmethod
    def _link(cls, v: str | None) -> str | None:
        """An http(s) address with {account_id}, and nothing a page or a Slack link would
        read as markup (spaces, <, >, |, quotes)."""
        if v is not None and not re.fullmatch(
            r"https?://[^\s<>|\"'`]*\{account_id\}[^\s<>|\"'`]*", v
        ):
            raise ValueError(
                "expected an http(s) URL with {account_id} where the id goes and no spaces, "
                "quotes, <, > or |, e.g. https://crm.example.com/accounts/{account_id}"
            )
        return v

    segment_tiers: dict[str, TierOverride] = Field(
        {},
        description="Per-segment cut-offs overriding predict.tiers, e.g. enterprise: "
        "{healthy: 70, at_risk: 50, critical: 25}, smb: {healthy: 80, at_risk: 60, critical: 30}.",
    )
    lifecycle_tiers: dict[str, TierOverride] = Field(
        {},
        description="Per-lifecycle-stage cut-offs, e.g. renewal_period: {healthy: 90, "
        "at_risk: 80, critical: 60}; they win over the segment ones. None by default: health "
        "looks a year ahead, so it already holds the next renewal decision.",
    )


class ExpansionConfig(_Section):
    """The expansion score: its own model and 0–100 scale, never mixed into health."""

    enabled: bool = Field(
        True, description="Train the expansion model with the health model and score it."
    )
    trials: int = Field(
        10, ge=1, le=500, description="Optuna trials of the expansion model's LightGBM search."
    )
    max_depth: int = Field(
        3,
        ge=2,
        le=6,
        description="Deepest LightGBM trees the expansion search tries. Shallow trees ranked a "
        "later year better on the demo company, though deeper ones fitted the validation "
        "window closer, and they explain four times faster.",
    )
    ready_lift: float = Field(
        2.0,
        gt=1,
        description="Tier `ready`: P(expansion) at least this many times the segment's base rate.",
    )
    watch_lift: float = Field(
        1.25, gt=0, description="Tier `watch`: at least this many times the base rate."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ExpansionConfig:
        if self.watch_lift >= self.ready_lift:
            raise ValueError("watch_lift must be below ready_lift")
        return self


class ForecastConfig(_Section):
    """The revenue-retention forecast `predict` writes and the backtest checks."""

    interval: float = Field(
        0.8, gt=0, lt=1, description="Central probability of the forecast interval (0.8: 10–90%)."
    )
    draws: int = Field(1000, ge=100, le=100_000, description="Simulated years behind the interval.")
    seed: int = Field(0, description="Simulation seed: the same scores give the same interval.")


class TargetsConfig(_Section):
    """Practitioners' validation targets for the at-risk flag, shown as pass / miss."""

    recall: float = Field(0.75, ge=0, le=1, description="Share of churners flagged beforehand.")
    specificity: float = Field(0.85, ge=0, le=1, description="Share of stayers not flagged.")
    accuracy: float = Field(0.80, ge=0, le=1, description="Share of correct flags.")
    precision: float = Field(0.60, ge=0, le=1, description="Share of flagged that churned.")
    f1: float = Field(0.70, ge=0, le=1, description="Harmonic mean of precision and recall.")


class BacktestConfig(_Section):
    """Rolling-origin backtest: at each origin, train on what was known then and score until
    the next; judged on the renewal decisions of the last `decision_months` with known
    outcomes, and on the revenue forecast of each origin."""

    start: dt.date | None = Field(
        None,
        description="First origin (default: 180 days before the first decision judged, so every "
        "decision has its health 30, 60, 90 and 180 days ahead).",
    )
    end: dt.date | None = Field(
        None, description="Last origin (default: the last one that scores a judged decision)."
    )
    step: str = Field(
        "6M",
        pattern=r"^[1-9][0-9]*[DWM]$",
        description="Origin spacing, how often the model is refitted: e.g. 6M, 3M, 1M, 2W.",
    )
    decision_months: int = Field(
        12,
        ge=1,
        le=120,
        description="Months of renewal decisions judged, ending at the latest decision whose "
        "outcome is known (when start is not given).",
    )
    tuning: TuningConfig = Field(
        TuningConfig(trials=5),
        description="Optuna budget per model at the first origin; later origins reuse its "
        "parameters and only choose their number of trees.",
    )
    targets: TargetsConfig = TargetsConfig()


class RetrainPolicy(_Section):
    """When `churnhealth monitor --retrain` trains a challenger: any one trigger is enough."""

    feature_drift_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Share of the most important features (monitor.top_features) in alert.",
    )
    score_psi: float = Field(0.25, gt=0, description="PSI of the model's score distribution.")
    roc_auc_decay: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="ROC-AUC on matured labels this far below the training-time test figure, "
        "with 95% confidence (one-sided); a drop past it without that confidence only warns.",
    )
    max_model_age_days: int = Field(
        365, ge=1, description="Days from the end of the model's training data to the as-of."
    )
    history_days: int | None = Field(
        None,
        ge=180,
        description="The challenger learns from the as-of dates of the last N days only (recent "
        "data, e.g. after a change in what drives churn); null: all history.",
    )


class MonitorConfig(_Section):
    """Drift and performance monitoring of the champion (`churnhealth monitor`)."""

    psi_warn: float = Field(0.1, gt=0, description="PSI from which a feature is flagged warn.")
    psi_alert: float = Field(0.25, gt=0, description="PSI from which a feature is in alert.")
    min_sample: int = Field(
        500,
        ge=50,
        description="Fewer live (or matured) rows than this: 'insufficient data', no alarm.",
    )
    min_churners: int = Field(
        30, ge=5, description="Churners the matured rows need before performance is judged."
    )
    top_features: int = Field(
        10, ge=1, description="The most important features, whose drifting share is tracked."
    )
    reference_days: int = Field(
        180,
        ge=1,
        description="Reference: the model's rows at as-of dates within this many days before "
        "the end of its training data (frozen at training time).",
    )
    performance_window_days: int = Field(
        90, ge=1, description="Matured labels: the latest as-of dates within this many days."
    )
    expected_drift: list[str] = Field(
        ["tenure_days", "usage_days_since_active"],
        description="Features that move by construction (tenure grows as the book ages; days "
        "since activity depends on the weekday of the as-of date): reported, never alarmed.",
    )
    retrain: RetrainPolicy = RetrainPolicy()

    @model_validator(mode="after")
    def _ordered(self) -> MonitorConfig:
        if self.psi_warn >= self.psi_alert:
            raise ValueError("need psi_warn < psi_alert")
        return self


class Config(_Section):
    """The whole configuration of a churnhealth project."""

    data: DataConfig = DataConfig()
    synth: SynthConfig = SynthConfig()
    features: FeaturesConfig = FeaturesConfig()
    labels: LabelsConfig = LabelsConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    train: TrainConfig = TrainConfig()
    tiers: TiersConfig = TiersConfig()
    mlflow: MlflowConfig = MlflowConfig()
    paths: PathsConfig = PathsConfig()
    predict: PredictConfig = PredictConfig()
    expansion: ExpansionConfig = ExpansionConfig()
    forecast: ForecastConfig = ForecastConfig()
    backtest: BacktestConfig = BacktestConfig()
    monitor: MonitorConfig = MonitorConfig()

    def rooted(self, root: Path | str) -> Config:
        """The same configuration with the data, MLflow store and every output under `root`:
        a self-contained workspace (notebooks, experiments, tests)."""
        root = Path(root).resolve()
        return self.model_copy(
            update={
                "data": self.data.model_copy(update={"path": root / "data" / "company.duckdb"}),
                "mlflow": self.mlflow.model_copy(
                    update={
                        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
                        "artifact_location": str(root / "mlartifacts"),
                    }
                ),
                "paths": self.paths.model_copy(
                    update={
                        "champion_dir": root / "models" / "champion",
                        "reports_dir": root / "reports" / "latest",
                    }
                ),
                "predict": self.predict.model_copy(
                    update={
                        "history": root / "outputs" / "history.duckdb",
                        "alerts": root / "outputs" / "alerts.jsonl",
                        "out_dir": root / "outputs",
                    }
                ),
            }
        )


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        in_dict = isinstance(raw, dict) and part in raw
        in_list = isinstance(raw, list) and isinstance(part, int) and part < len(raw)
        if in_dict or in_list:
            raw = raw[part]
        else:
            return None
    return raw


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return []
        model = field.annotation
    return list(model.model_fields)


def format_validation_error(err: ValidationError, raw: dict[str, Any]) -> list[str]:
    """One line per problem: key, offending value, what is allowed."""
    lines = []
    for e in err.errors():
        loc = e["loc"]
        key = _key(loc)
        if e["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(Config, loc))
            lines.append(f"{key} = {e['input']!r}: unknown key (allowed: {allowed})")
        else:
            value = _lookup(raw, loc)
            if isinstance(value, str):
                value = redact(value)  # a secret never reaches a message
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{key} = {value!r}: {msg}")
    return lines


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a YAML configuration; `None` means configs/default.yaml or built-ins."""
    if path is None:
        if not DEFAULT_CONFIG.exists():
            return Config()
        path = DEFAULT_CONFIG
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}: no such configuration file"])
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (UnicodeDecodeError, OSError) as exc:
        reason = "not text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise ConfigError([f"{path}: unreadable ({reason})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError([f"{path}: not valid YAML{where}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: expected a mapping of sections, got {type(raw).__name__}"])
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, raw)) from None
