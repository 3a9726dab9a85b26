"""backtest.json as a typed report: how the out-of-time backtest's scores held up.

`evaluation.backtest.summarize` builds the `BacktestReport` from the rows each origin's model
scored; tracking adds the MLflow run id (a new copy: the report is frozen). It becomes JSON only
where it is written (`to_json`); the CLI, the HTML report and MLflow read its attributes, and
`evaluation.backtest_tables` turns it into the tables they show. Its JSON Schema is
docs/schemas/backtest-report.json (`make docs`). A figure that could not be computed is NaN.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from churnhealth.evaluation.training_report import FROZEN, Figures


class DateRange(BaseModel):
    model_config = FROZEN

    first: str
    last: str


class Target(BaseModel):
    """A flag figure held against the practitioners' target (`backtest.targets`)."""

    model_config = FROZEN

    value: float
    target: float
    passed: bool
    oracle: float | None = None
    """The same figure of the true probabilities flagging as many accounts per as-of date
    (the demo company's truth table): what any model could reach at this budget; None
    where the data has no truth."""


class FlagFigures(BaseModel):
    """The at-risk flag on the renewal decisions of one group, read at one lead
    (`evaluation.renewals.flag_block`)."""

    model_config = FROZEN

    cases: int
    churned: int
    recall: float
    specificity: float
    precision: float
    f1: float
    accuracy: float
    flagged_share: float
    roc_auc: float
    """Of health against churn at the decision."""
    arr_weighted_recall: float
    roc_auc_lo: float | None = None
    roc_auc_hi: float | None = None
    recall_lo: float | None = None
    recall_hi: float | None = None
    precision_lo: float | None = None
    precision_hi: float | None = None
    too_small: str | None
    """Why the cases are too few to judge, or None."""
    targets: dict[str, Target]
    baselines: dict[str, Figures]
    """Each baseline given the model's flag budget (`metrics.same_budget`)."""


class Listed(BaseModel):
    """A list of accounts judged on the renewal decisions it covers."""

    model_config = FROZEN

    listed: int
    """Cases whose account was on the list when the case was read."""
    caught: int
    precision: float
    recall: float
    churned_arr_share: float
    """Of the churned decisions' ARR, the share inside the list."""
    false_positives: int


class SaveListFigures(Listed):
    """The save list at the team's capacity (predict.capacity), per renewal decision
    (`evaluation.renewals.list_block`)."""

    cases: int
    churned: int
    base_rate: float
    lift: float
    """Precision over the base rate."""
    baselines: dict[str, Listed]
    """The scorecard and the login rule listing as many accounts per as-of date."""
    login_rule_false_positives_at_equal_recall: int | None = None
    """False positives of the login rule when it catches as many churned decisions as the
    list (None: it never does; absent without login data)."""
    exposure: Listed | None = None
    """The renewal-exposure list at the same lead: every account flagged for its contract
    (term, renewal timing, size), not its signals (None in a backtest written before it)."""


class LeadFigures(BaseModel):
    """The flag at one lead: overall, per segment and per contract term; the save list."""

    model_config = FROZEN

    overall: FlagFigures
    segments: dict[str, FlagFigures]
    terms: dict[str, FlagFigures]
    save_list: SaveListFigures | None = None
    """None in a backtest written before save lists."""


class Renewals(BaseModel):
    """One case per renewal decision in the window (`evaluation.renewals`)."""

    model_config = FROZEN

    window: DateRange
    decisions: int
    churned: int
    leads: dict[str, LeadFigures]
    """Days before the decision ("30", "60", "90", "180") → the flag's figures."""


class LeadTime(BaseModel):
    """How long before a churn the flag went up (`renewals.lead_summary`)."""

    model_config = FROZEN

    churn_events: int
    caught: int
    caught_share: float
    median_lead_days: float
    median_lead_days_all: float
    """Missed churns counted as zero days."""
    censored: int
    """Runs of flags that reach back to the first scored date (their lead is longer)."""
    share_60d_ahead: float
    share_90d_ahead: float
    share_180d_ahead: float


class Band(BaseModel):
    """Retention a year on of the account-dates scored in one health band."""

    model_config = FROZEN

    band: str
    rows: int
    churned: int
    retention: float
    accounts: int


class TopShare(BaseModel):
    model_config = FROZEN

    captured: float
    """Share of churners among the riskiest 10% of rows."""
    lift: float


class Outcomes(BaseModel):
    """The scored rows whose outcome is known, at one horizon (`backtest.row_block`)."""

    model_config = FROZEN

    rows: int
    churners: int
    roc_auc: float
    pr_auc: float
    brier: float
    ece: float
    roc_auc_lo: float | None = None
    roc_auc_hi: float | None = None
    ece_lo: float | None = None
    ece_hi: float | None = None
    too_small: str | None
    mean_probability: float
    churn_rate: float
    top10: TopShare


class Skill(BaseModel):
    """Did an origin's model rank its own period better than chance (`period_skill`)?"""

    model_config = FROZEN

    status: str
    """"skill", "no skill" or "not judged"."""
    reason: str


class Rows(BaseModel):
    """The rows of one period, segment or all of them."""

    model_config = FROZEN

    rows: int
    horizon: Outcomes
    """At the health horizon."""
    ninety_days: Outcomes = Field(alias="90d")
    skill: Skill | None = None
    """A period's verdict on its own model."""


class ForecastCell(BaseModel):
    """One quarter of one origin's forecast of churned ARR."""

    model_config = FROZEN

    end: str
    forecast: float
    lo: float
    hi: float
    naive: float
    realised: float | None
    """None while the quarter's outcome is not known."""


class OriginForecast(BaseModel):
    model_config = FROZEN

    origin: str
    as_of: str
    quarters: dict[str, list[ForecastCell]]
    """"portfolio" and "segment:<name>" → the next four quarters."""


class ForecastCheck(BaseModel):
    """Coverage and error of a group's realised quarters (`forecast_check.check`)."""

    model_config = FROZEN

    quarters: int
    coverage: float
    coverage_passed: bool
    mae: float
    mae_naive: float
    beats_naive: bool
    bias: float
    realised_mean: float


class Forecasts(BaseModel):
    model_config = FROZEN

    origins: list[OriginForecast]
    check: dict[str, ForecastCheck]


class Audit(BaseModel):
    """What an origin's model could see: a fingerprint of its data and where it ended."""

    model_config = FROZEN

    fingerprint: str
    data_end: str
    last_labelled: str


class BacktestReport(BaseModel):
    """backtest.json."""

    model_config = FROZEN

    step: str
    """How often the model was refitted (e.g. "6M")."""
    source: str | None = None
    """The data backtested (a file, folder or database without credentials)."""
    origins: list[str]
    rows: int
    scored: DateRange
    renewals: Renewals
    lead_time: LeadTime
    retention_by_band: list[Band]
    overall: Rows
    periods: dict[str, Rows]
    """Per origin: the rows its model scored until the next one."""
    segments: dict[str, Rows]
    forecast: Forecasts
    audit: dict[str, Audit] | None = None
    run_id: str | None = None
    """The backtest's MLflow run."""

    def to_json(self) -> dict[str, Any]:
        """backtest.json: every figure computed (NaN where one could not be)."""
        return self.model_dump(by_alias=True, exclude_unset=True)
