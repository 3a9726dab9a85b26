"""Rolling-origin backtest: the model evaluated the way it would have been used.

At each origin the data is cut to what was known on that day and a model is fitted with the
same fitter as `train`; it then scores every as-of date until the next origin. The first
origin's model is tuned (budget `backtest.tuning`); later origins reuse its parameters and only
choose their number of trees. Those features come from the full data but are point-in-time, so
each sees only what was known at its own date.

The out-of-time scores are then judged three ways:
- per renewal decision, the way practitioners validate (`evaluation.renewals`): the at-risk flag
  30, 60, 90 and 180 days before each decision against the targets, the lead time of every
  churn, retention by health band a year on;
- per scored row, discrimination and calibration of the probabilities at the health horizon and
  at 90 days, where those outcomes are known;
- the revenue forecast made at each origin against the quarters that followed, and against a
  naive forecast (`evaluation.forecast_check`).

By default the origins cover the renewal decisions of the last `backtest.decision_months` whose
outcomes are known, with every decision's health scored 180 days ahead. The job in
`churnhealth.jobs.backtest` runs the origins and saves the result.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnhealth.config import Capacity, Config
from churnhealth.data.contract import contract
from churnhealth.data.source import Source, truncate
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import forecast_check as fcheck
from churnhealth.evaluation import metrics as ev
from churnhealth.evaluation import renewals
from churnhealth.evaluation.backtest_report import BacktestReport
from churnhealth.evaluation.horizons import within
from churnhealth.features import CATEGORICAL, FeatureSet, build_features, data_window
from churnhealth.features.grid import schedule
from churnhealth.models.baselines import LOGIN_FEATURE, Scorecard, login_light
from churnhealth.models.fitter import HealthModelFitter, TrainingData, prepare
from churnhealth.models.routed import HealthModel
from churnhealth.models.split import MIN_SPAN_DAYS, Splits
from churnhealth.models.tiers import FLAGGED
from churnhealth.scoring import playbooks
from churnhealth.scoring.forecast import forecast, realised
from churnhealth.scoring.scorer import Scorer

FIRST_LEAD = max(renewals.LEADS)
LAST_LEAD = min(renewals.LEADS)
ORIGIN_HISTORY_DAYS = 90 + MIN_SPAN_DAYS
"""Data before an origin for a model to be fitted there: the feature windows before the first
as-of date (90 days), then as-of dates spanning `MIN_SPAN_DAYS`, whose earlier steps' outcomes
are known by the origin (training) and later ones validate."""


@dataclass
class BacktestResult:
    """Out-of-time predictions (one row per scored account and as-of date) and their report."""

    predictions: pd.DataFrame
    report: BacktestReport
    """backtest.json, typed."""
    origins: list[pd.Timestamp]
    audit: dict[str, dict] = field(default_factory=dict)
    """Origin → `OriginFit.audit()`: what the model fitted at that origin saw."""
    notes: list[str] = field(default_factory=list)
    """What the data changed about the backtest asked for (e.g. a later first origin)."""


def parse_step(step: str) -> pd.DateOffset:
    """'1M' → one month, '2W' → two weeks, '30D' → thirty days."""
    if not re.fullmatch(r"[1-9][0-9]*[DWM]", step):
        raise ChurnhealthError(f"--step {step!r}: expected a whole number and D, W or M, e.g. 1M")
    n, unit = int(step[:-1]), step[-1]
    return pd.DateOffset(**{{"D": "days", "W": "weeks", "M": "months"}[unit]: n})


def outcomes_known(cfg: Config, data_end: pd.Timestamp) -> pd.Timestamp:
    """The latest day whose churns are known: a coverage ending later could still turn out to be
    a renewal until the re-signup gap has passed."""
    return data_end - pd.Timedelta(days=cfg.labels.resignup_gap_days)


def origins(
    cfg: Config,
    source,
    start: dt.date | None,
    end: dt.date | None,
    step: str,
    notes: list[str] | None = None,
) -> list[pd.Timestamp]:
    """Origins every `step` from start to end. By default the first is the last scheduled
    as-of date at least 180 days before the first decision judged (the last
    `backtest.decision_months` of decisions with known outcomes), and the last is the latest
    that still scores a decision 30 days ahead.

    A default first origin with less than `ORIGIN_HISTORY_DAYS` of data before it, where no
    model could be fitted, moves to the first scheduled date that has them: fewer decisions
    are judged, and a line appended to `notes` says so (a short history gets a backtest of
    what it can support, not an error)."""
    offset = parse_step(step)
    data_start, data_end = data_window(source)
    known = outcomes_known(cfg, data_end)
    limit = pd.Timestamp(end) if end else known - pd.Timedelta(days=LAST_LEAD + 1)
    if start is None:
        first_decision = known - pd.DateOffset(months=cfg.backtest.decision_months)
        before = first_decision - pd.Timedelta(days=FIRST_LEAD)
        dates = schedule(data_start.date(), before.date(), cfg.features.schedule)
        first = dates[-1] if dates else data_start  # before the data: moved below
        trainable = data_start + pd.Timedelta(days=ORIGIN_HISTORY_DAYS)
        if first < trainable:
            later = schedule(trainable.date(), limit.date(), cfg.features.schedule)
            if not later:
                months = int(np.ceil((ORIGIN_HISTORY_DAYS + FIRST_LEAD + LAST_LEAD) / 30.44))
                raise ChurnhealthError(
                    f"backtest: the data ({data_start.date()} to {data_end.date()}) is too short "
                    f"to backtest: a model needs {ORIGIN_HISTORY_DAYS} days of data before an "
                    f"origin, and its scores must reach renewal decisions {FIRST_LEAD} days "
                    f"ahead whose outcomes are known (about {months} months in all)"
                )
            judged = (known - later[0] - pd.Timedelta(days=FIRST_LEAD)).days / 30.44
            if notes is not None:
                asked = first.date() if dates else f"{before.date()} (before the data)"
                notes.append(
                    f"backtest: first origin {later[0].date()} instead of {asked}: a "
                    f"model needs {ORIGIN_HISTORY_DAYS} days of data before its origin, and the "
                    f"data starts {data_start.date()}; about {max(judged, 0):.0f} of the "
                    f"{cfg.backtest.decision_months} months of renewal decisions "
                    "(backtest.decision_months) are judged"
                )
            first = later[0]
    else:
        first = pd.Timestamp(start)
    if not data_start < first <= limit:
        raise ChurnhealthError(
            f"backtest: origins {first.date()}..{limit.date()} must lie after the data start "
            f"({data_start.date()}) and in order"
        )
    if limit >= known:
        raise ChurnhealthError(
            f"--end {limit.date()}: no decision after it has a known outcome (outcomes are "
            f"known up to {known.date()}: the data ends {data_end.date()}, and a churn is "
            f"confirmed {cfg.labels.resignup_gap_days} days later)"
        )
    out, o = [], first
    while o <= limit:
        out.append(o)
        o = o + offset
    return out


def decision_window(
    points: list[pd.Timestamp], offset: pd.DateOffset, known: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The decisions judged: those with a score 180 days ahead (after the first origin) and 30
    days ahead (before the scores end), whose outcome is known."""
    first = points[0] + pd.Timedelta(days=FIRST_LEAD)
    last = min(points[-1] + offset + pd.Timedelta(days=LAST_LEAD), known)
    if last <= first:
        raise ChurnhealthError(
            f"backtest: origins {points[0].date()}..{points[-1].date()} score no renewal "
            f"decision {FIRST_LEAD} days ahead with a known outcome; start earlier or end later"
        )
    return first, last


def inner_splits(fs: FeatureSet, cfg: Config) -> Splits:
    """Training and validation steps inside the data known at an origin (no test window: the
    following period is the test): validation = the steps known in the last `val_days` (at
    most a third of the as-of span), training = those known before."""
    end = fs.data_end
    span = (end - fs.frame.as_of.min()).days
    if span <= 0:
        raise ChurnhealthError("no as-of dates before this origin")
    lab = cfg.labels
    t1 = end - pd.Timedelta(days=min(cfg.train.val_days, span // 3))
    return Splits(t1, end, end, lab.horizon_days, lab.resignup_gap_days)


@dataclass
class OriginFit:
    """What was fitted at one origin, and the evidence that nothing from the origin on was
    read: the end of the data it saw, the end of the last month whose outcome it learned
    (known once the re-signup gap had passed too) and a hash of its rows. `params`: the
    LightGBM parameters per model (for the next origins); `rates`: each segment's trailing
    twelve-month churned-ARR rate as known then (the naive forecast)."""

    model: HealthModel
    scorecard: Scorecard
    fingerprint: str
    data_end: str
    last_labelled: str
    params: dict[str, dict] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)

    def audit(self) -> dict[str, str]:
        return {k: self.__dict__[k] for k in ("fingerprint", "data_end", "last_labelled")}


def training_data(
    cfg: Config, source: Source, origin: pd.Timestamp
) -> tuple[Source, FeatureSet, TrainingData]:
    """What a model fitted at `origin` learns from: the source cut at the origin, its features
    and the train and validation rows (`TrainingData.fingerprint` of them identifies the data)."""
    known = truncate(source, origin.date(), contract(cfg.data.segments))
    fs = build_features(known, cfg)
    try:
        d = prepare(cfg, known, fs, inner_splits(fs, cfg), windows=("train", "val"))
    except ChurnhealthError as err:
        raise ChurnhealthError(f"backtest origin {origin.date()}: {err}") from None
    return known, fs, d


def fit_at(
    cfg: Config, source: Source, origin: pd.Timestamp, params: dict[str, dict] | None = None
) -> OriginFit:
    """The model as `train --as-of origin` would have fitted it (with `params`: those LightGBM
    parameters, no search), the scorecard baseline and the naive forecast's rates."""
    known, fs, d = training_data(cfg, source, origin)
    frame = fs.frame.reset_index(drop=True)
    fitter = HealthModelFitter(config=cfg, params=params).fit(d)
    used = d.mask("train") | d.mask("val")
    tr = d.mask("train") & frame.labelled.astype(bool).to_numpy()
    card = Scorecard({f: dim for f, dim in fs.features.items() if f not in CATEGORICAL})
    card.fit(frame[tr], d.y[tr])
    accounts = known.tables["accounts"].to_pandas().set_index("account_id").segment
    rates = fcheck.trailing_rates(
        known.tables["subscriptions"].to_pandas(), accounts, origin, cfg.labels.resignup_gap_days
    )
    return OriginFit(
        fitter.model_,
        card,
        d.fingerprint(used),
        str(fs.data_end.date()),
        str(d.steps.end.max().date()),
        params={k: v["lightgbm_params"] for k, v in fitter.info_.items()},
        rates=rates,
    )


PREDICTION_COLUMNS = [
    *("account_id", "as_of", "origin", "segment", "lifecycle_stage", "term_months", "arr"),
    *("renewal_date", "churn_after", "churned", "churned_90d", "churn_probability"),
    *("p_churn_90d", "p_churn_next_renewal", "health_score", "tier", "flagged", "listed"),
    "scorecard_health",
]
"""The out-of-time predictions (plus `login_light` when the data has logins)."""


def save_list(scored: pd.DataFrame, capacity: Capacity) -> np.ndarray:
    """Which rows flagged for their signals (`at_risk_for`, as predict's at-risk intervention
    reads it) make the save list at each as-of date: the team's capacity (for the accounts
    scored that day) of them, the most ARR expected to be lost by the next renewal decision
    first (`playbooks.at_stake`). Scores are monthly and an alert is under way for
    the playbooks' cool-down (30 days by default), so each date's list is a fresh one."""
    stake = playbooks.at_stake(scored).to_numpy(float)
    flagged = (scored.at_risk_for == "signals").to_numpy(bool)  # no overrides in a backtest
    out = np.zeros(len(scored), bool)
    for rows in scored.groupby("as_of").indices.values():
        cand = rows[flagged[rows]]
        k = capacity.limit(len(rows))
        out[cand[np.argsort(-stake[cand], kind="stable")[:k]]] = True
    return out


def score_period(
    cfg: Config, fit: OriginFit, rows: pd.DataFrame, origin: pd.Timestamp, data_end: pd.Timestamp
) -> tuple[pd.DataFrame, dict]:
    """The origin's model and scorecard on the rows until the next origin, and its revenue
    forecast for the book of the period's first as-of date (with the naive forecast and, where
    known, what happened)."""
    scorer = Scorer(model=fit.model, config=cfg)
    batch = scorer.score_batch(rows, explain=True)  # why each flagged account is flagged
    scored, curve = batch.scores, batch.curve
    gap = pd.Timedelta(days=cfg.labels.resignup_gap_days)
    out = rows[["account_id", "as_of", "segment", "lifecycle_stage", "term_months", "arr"]].copy()
    out.insert(2, "origin", origin)
    out["renewal_date"] = rows.renewal_date.to_numpy()
    out["churn_after"] = rows.churn_after.to_numpy()
    for col, days in (("churned", cfg.labels.health_horizon_days), ("churned_90d", 90)):
        mature = (rows.as_of + pd.Timedelta(days=days) + gap <= data_end).to_numpy()
        out[col] = np.where(mature, within(rows, days), np.nan)
    out["churn_probability"] = scored.churn_probability.to_numpy()
    out["p_churn_90d"] = scored.p_churn_90d.to_numpy()
    out["health_score"] = scored.health_score.to_numpy()
    out["tier"] = scored.tier.to_numpy()
    out["p_churn_next_renewal"] = scored.p_churn_next_renewal.to_numpy()
    out["flagged"] = out.tier.isin(FLAGGED)
    out["at_risk_for"] = scored.at_risk_for.to_numpy()
    out["listed"] = save_list(out, cfg.predict.capacity)
    out["exposed"] = (out.at_risk_for == "contract").to_numpy()  # the renewal-exposure list
    out["scorecard_health"] = fit.scorecard.health(rows).to_numpy()
    if LOGIN_FEATURE in rows:
        out["login_light"] = login_light(rows).to_numpy()
    book = (rows.as_of == rows.as_of.min()).to_numpy()
    b = rows[book]
    f = cfg.forecast
    fc = forecast(b, curve[book], interval=f.interval, draws=f.draws, seed=f.seed)
    real = realised(b, b.churn_after, data_end - gap)
    naive = fcheck.naive_quarters(b.groupby("segment").arr.sum().to_dict(), fit.rates)
    return out, fcheck.origin_result(origin, fc, real, naive)


def row_block(p: pd.DataFrame) -> dict:
    """Discrimination and calibration of the scored rows whose outcome is known: at the health
    horizon (`churn_probability` against `churned`) and at 90 days, with 95% intervals from
    resampling accounts, and whether the rows are too few to judge (`metrics.too_small`)."""
    out = {"rows": len(p)}
    for name, y_col, p_col in (
        ("horizon", "churned", "churn_probability"),
        ("90d", "churned_90d", "p_churn_90d"),
    ):
        k = p[y_col].notna().to_numpy()
        y, q = p[y_col].to_numpy()[k], p[p_col].to_numpy()[k]
        m = ev.score_metrics(y, q) if k.any() else {}
        accounts = p.account_id.to_numpy()[k]
        out[name] = {
            "rows": int(k.sum()),
            "churners": int(y.sum()),
            **{c: m.get(c, float("nan")) for c in ("roc_auc", "pr_auc", "brier", "ece")},
            **ev.intervals(accounts, y, p=q),
            "too_small": ev.too_small(accounts, y),
            "mean_probability": float(q.mean()) if k.any() else float("nan"),
            "churn_rate": float(y.mean()) if k.any() else float("nan"),
            "top10": ev.top_share_capture(y, q)
            if k.any()
            else {"captured": float("nan"), "lift": float("nan")},
        }
    return out


def period_skill(block: dict) -> dict:
    """Did the origin's model rank its own period's accounts better than chance, beyond noise?
    Judged on the 90-day outcome (the one most periods have seen): "skill" when the ROC-AUC's
    95% interval lies above 0.5, "no skill" when it holds 0.5, "not judged" when the period
    has too few churned or retained accounts (`metrics.too_small`)."""
    b = block["90d"]
    if b.get("too_small"):
        return {"status": "not judged", "reason": f"too small to judge: {b['too_small']}"}
    if not np.isfinite(b.get("roc_auc_lo", np.nan)):
        return {"status": "not judged", "reason": "no interval: too few known 90-day outcomes"}
    figure = f"90-day ROC-AUC {b['roc_auc']:.3f} [{b['roc_auc_lo']:.3f}, {b['roc_auc_hi']:.3f}]"
    if b["roc_auc_lo"] > 0.5:
        return {"status": "skill", "reason": f"{figure}, above chance"}
    return {"status": "no skill", "reason": f"{figure}: no better than chance beyond noise"}


def summarize(
    cfg: Config,
    p: pd.DataFrame,
    step: str,
    window: tuple[pd.Timestamp, pd.Timestamp],
    forecasts: list[dict],
    data_end: pd.Timestamp,
    audit: dict[str, dict] | None = None,
) -> BacktestReport:
    """The renewal-level figures, the rows' figures (overall, per origin and per segment),
    lead time, retention by band a year on, the forecast's check and, when given, what each
    origin's model saw (`audit`)."""
    first, last = window
    targets = cfg.backtest.targets.model_dump()
    leads = ev.lead_times(p, renewals.churn_events(p, first, last))
    known = outcomes_known(cfg, data_end)
    report = {
        "step": step,
        "origins": [str(o.date()) for o in sorted(p.origin.unique())],
        "rows": len(p),
        "scored": {"first": str(p.as_of.min().date()), "last": str(p.as_of.max().date())},
        "renewals": renewals.renewal_outcomes(p, first, last, targets, cfg.train.seed),
        "lead_time": renewals.lead_summary(leads, p.as_of.min()),
        "retention_by_band": renewals.retention_a_year_on(p, known).to_dict(orient="records"),
        "overall": row_block(p),
        "periods": {
            str(o.date()): {**(b := row_block(g)), "skill": period_skill(b)}
            for o, g in p.groupby("origin")
        },
        "segments": {s: row_block(g) for s, g in p.groupby("segment")},
        "forecast": {"origins": forecasts, "check": fcheck.check(forecasts)},
    }
    if audit is not None:
        report["audit"] = audit
    return BacktestReport(**report)
