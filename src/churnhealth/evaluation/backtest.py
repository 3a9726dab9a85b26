"""Rolling-origin backtest: the model evaluated the way it would have been used.

At each origin the data is cut to what was known on that day and a model is fitted with the
same fitter as `train` (the tuning budget comes from `backtest.tuning`); it then scores every
as-of date of the following period. Those features come from the full data but are
point-in-time, so each sees only what was known at its own date. The out-of-time predictions
are finally checked against what happened: discrimination, calibration, the at-risk flag against
the practitioners' targets, lead time, retention by health band, and the two baselines. The job
in `churnhealth.jobs.backtest` runs the origins and saves the result.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import pandas as pd

from churnhealth.config import Config
from churnhealth.data.contract import contract
from churnhealth.data.source import Source, truncate
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import metrics as ev
from churnhealth.features import CATEGORICAL, LABEL, FeatureSet, build_features, data_window
from churnhealth.features.grid import schedule
from churnhealth.features.labels import last_labelled
from churnhealth.models.baselines import LOGIN_FEATURE, Scorecard, login_light
from churnhealth.models.fitter import HealthModelFitter, prepare
from churnhealth.models.routed import HealthModel
from churnhealth.models.split import Splits
from churnhealth.models.tiers import FLAGGED
from churnhealth.scoring.scorer import Scorer

FLAG_METRICS = ("recall", "specificity", "accuracy", "precision", "f1")


@dataclass
class BacktestResult:
    """Out-of-time predictions (one row per scored account and as-of date) and their report."""

    predictions: pd.DataFrame
    report: dict
    origins: list[pd.Timestamp]
    audit: dict[str, dict] = field(default_factory=dict)
    """Origin → `OriginFit.audit()`: what the model fitted at that origin saw."""


def parse_step(step: str) -> pd.DateOffset:
    """'1M' → one month, '2W' → two weeks, '30D' → thirty days."""
    if not re.fullmatch(r"[1-9][0-9]*[DWM]", step):
        raise ChurnhealthError(f"--step {step!r}: expected a whole number and D, W or M, e.g. 1M")
    n, unit = int(step[:-1]), step[-1]
    return pd.DateOffset(**{{"D": "days", "W": "weeks", "M": "months"}[unit]: n})


def origins(
    cfg: Config, source, start: dt.date | None, end: dt.date | None, step: str
) -> list[pd.Timestamp]:
    """Origins from start to end; by default the last `periods` whose whole period has mature
    labels (as-of + horizon + re-signup gap before the end of the data)."""
    offset = parse_step(step)
    data_start, data_end = data_window(source)
    matured = last_labelled(cfg.labels, data_end)
    last = pd.Timestamp(end) if end else None
    if last is None:
        candidates = schedule(data_start.date(), matured.date(), cfg.features.schedule)
        last = next(
            (o for o in reversed(candidates) if o + offset <= matured + pd.Timedelta(1, "D")), None
        )
        if last is None:
            raise ChurnhealthError(
                "backtest: the data is too short for one period with mature labels"
            )
    first = pd.Timestamp(start) if start else last - offset * (cfg.backtest.periods - 1)
    if not data_start < first <= last:
        raise ChurnhealthError(
            f"backtest: origins {first.date()}..{last.date()} must lie after the data start "
            f"({data_start.date()}) and in order"
        )
    if last + offset > matured + pd.Timedelta(1, "D"):
        raise ChurnhealthError(
            f"--end {last.date()}: the period after it has no mature labels yet "
            f"(labels are known for as-of dates up to {matured.date()})"
        )
    out, o = [], first
    while o <= last:
        out.append(o)
        o = o + offset
    return out


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
    (`last_labelled`; known once the re-signup gap had passed too) and a hash of its rows."""

    model: HealthModel
    scorecard: Scorecard
    fingerprint: str
    data_end: str
    last_labelled: str

    def audit(self) -> dict[str, str]:
        return {k: self.__dict__[k] for k in ("fingerprint", "data_end", "last_labelled")}


def fit_at(cfg: Config, source: Source, origin: pd.Timestamp) -> OriginFit:
    """The model as `train --as-of origin` would have fitted it, plus the scorecard baseline."""
    known = truncate(source, origin.date(), contract(cfg.data.segments))
    fs = build_features(known, cfg)
    frame = fs.frame.reset_index(drop=True)
    try:
        d = prepare(cfg, known, fs, inner_splits(fs, cfg), windows=("train", "val"))
    except ChurnhealthError as err:
        raise ChurnhealthError(f"backtest origin {origin.date()}: {err}") from None
    model = HealthModelFitter(config=cfg).fit(d).model_
    used = d.mask("train") | d.mask("val")
    tr = d.mask("train") & frame.labelled.astype(bool).to_numpy()
    card = Scorecard({f: dim for f, dim in fs.features.items() if f not in CATEGORICAL})
    card.fit(frame[tr], d.y[tr])
    last = d.steps.end.max()
    return OriginFit(model, card, d.fingerprint(used), str(fs.data_end.date()), str(last.date()))


def score_period(cfg: Config, fit: OriginFit, rows: pd.DataFrame, origin) -> pd.DataFrame:
    """The origin's model and scorecard on the rows of the period after it."""
    scored = Scorer(model=fit.model, config=cfg).score(rows)
    card = fit.scorecard
    out = rows[["account_id", "as_of", "segment", "lifecycle_stage", "arr", "churn_date"]].copy()
    out["origin"] = origin
    out["churned"] = rows[LABEL].to_numpy(int)
    out["churn_probability"] = fit.model.predict_proba(rows)  # the label's horizon
    out["health_score"] = scored.health_score.to_numpy()
    out["tier"] = scored.tier.to_numpy()
    out["flagged"] = out.tier.isin(FLAGGED)
    out["scorecard_health"] = card.health(rows).to_numpy()
    if LOGIN_FEATURE in rows:
        out["login_light"] = login_light(rows).to_numpy()
    return out


def _block(cfg: Config, p: pd.DataFrame) -> dict:
    """Every figure of the backtest for one group of out-of-time predictions."""
    y = p.churned.to_numpy()
    out = {
        **ev.score_metrics(y, p.churn_probability),
        **ev.flag_metrics(y, p.flagged),
        "top10": ev.top_share_capture(y, p.churn_probability),
        "arr_weighted_recall": ev.arr_weighted_recall(y, p.flagged, p.arr.to_numpy(float)),
        "lead_time": ev.lead_time_summary(ev.lead_times(p)),
        "churners": int(y.sum()),
    }
    targets = cfg.backtest.targets.model_dump()
    out["targets"] = {
        k: {"value": out[k], "target": targets[k], "passed": bool(out[k] > targets[k])}
        for k in FLAG_METRICS
    }
    groups = p.as_of.to_numpy()
    out["baselines"] = {
        "scorecard": {
            "roc_auc": ev.ranking_auc(y, 100 - p.scorecard_health),
            **ev.same_budget(y, p.flagged, 100 - p.scorecard_health, groups, cfg.train.seed),
        }
    }
    if "login_light" in p:
        out["baselines"]["login_rule"] = {
            "roc_auc": ev.ranking_auc(y, p.login_light),
            **ev.same_budget(y, p.flagged, p.login_light, groups, cfg.train.seed),
        }
    return out


def summarize(cfg: Config, p: pd.DataFrame, step: str) -> dict:
    """Overall, per period (origin) and per segment figures, retention by band, lead times."""
    bands = ev.retention_by_band(p.health_score, p.churned)
    return {
        "step": step,
        "origins": [str(o.date()) for o in sorted(p.origin.unique())],
        "rows": len(p),
        "overall": _block(cfg, p),
        "periods": {str(o.date()): _block(cfg, g) for o, g in p.groupby("origin")},
        "segments": {s: _block(cfg, g) for s, g in p.groupby("segment")},
        "retention_by_band": bands.to_dict(orient="records"),
    }


def _flat(report: dict, key: str) -> pd.DataFrame:
    """One row per period or segment with the headline figures."""
    rows = []
    for name, b in report[key].items():
        rows.append(
            {
                key[:-1]: name,
                "rows": int(b["rows"]),
                "churners": b["churners"],
                "roc_auc": b["roc_auc"],
                "pr_auc": b["pr_auc"],
                "brier": b["brier"],
                "ece": b["ece"],
                **{k: b[k] for k in FLAG_METRICS},
                "top10_captured": b["top10"]["captured"],
                "top10_lift": b["top10"]["lift"],
                "arr_weighted_recall": b["arr_weighted_recall"],
                "median_lead_days": b["lead_time"]["median_lead_days"],
            }
        )
    return pd.DataFrame(rows)


def tables(report: dict) -> dict[str, pd.DataFrame]:
    """The backtest's tables: periods, segments, health bands, baselines, targets."""
    base = []
    for group in ("overall", *[f"segment {s}" for s in report["segments"]]):
        b = report["overall"] if group == "overall" else report["segments"][group[8:]]
        for name, v in b["baselines"].items():
            base.append({"group": group, "baseline": name, **v})
    targets = [{"metric": k, **v} for k, v in report["overall"]["targets"].items()]
    return {
        "periods": _flat(report, "periods"),
        "segments": _flat(report, "segments"),
        "bands": pd.DataFrame(report["retention_by_band"]),
        "baselines": pd.DataFrame(base),
        "targets": pd.DataFrame(targets),
    }
