"""The monitor's checks: is the champion still fit for the data it scores?

At an as-of date: PSI and KS of every feature of the live accounts against the reference frozen
at training time, PSI of the scores, the share of drifting features among the most important
ones, expected churn and recall from the calibrated probabilities, and — once labels have
matured — performance against the training-time test figures. The retraining policy's triggers
are evaluated on the result. `check` returns the report that `churnhealth monitor` writes as
monitor.json (see docs/monitoring.md); the job in `churnhealth.jobs.monitor` wires it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.evaluation.bundle import ModelBundle
from churnhealth.evaluation.challenger import NOT_REQUESTED
from churnhealth.evaluation.drift import Reference
from churnhealth.evaluation.metrics import score_metrics
from churnhealth.evaluation.monitor_report import MonitorReport
from churnhealth.features import LABEL
from churnhealth.features.grid import schedule
from churnhealth.features.labels import last_labelled
from churnhealth.models.tiers import FLAGGED
from churnhealth.scoring.scorer import Scorer

SCHEMA_VERSION = 1
LEVELS = ("ok", "warn", "alert")
FIGURES = (
    *("roc_auc", "roc_auc_se", "log_loss", "ece", "brier", "recall"),
    *("churn_rate", "mean_probability"),
)
Z_95 = 1.645
"""One-sided 95% normal quantile: the decay trigger needs the drop's lower bound past the
threshold, so sampling noise in a few hundred churners does not fire it."""


def clean(value):
    """JSON-ready: numpy scalars to Python, NaN to None, recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _level(psi: float, cfg: Config) -> str:
    m = cfg.monitor
    return "alert" if psi >= m.psi_alert else "warn" if psi >= m.psi_warn else "ok"


def _worst(statuses) -> str:
    found = [s for s in statuses if s in LEVELS]
    return max(found, key=LEVELS.index) if found else "ok"


def matured_dates(cfg: Config, after: pd.Timestamp, day: pd.Timestamp) -> list[pd.Timestamp]:
    """Scheduled as-of dates on or after `after` whose label window (horizon plus re-signup
    gap) has fully elapsed by `day`: the latest `monitor.performance_window_days` of them."""
    last = last_labelled(cfg.labels, day)
    first = max(after, last - pd.Timedelta(days=cfg.monitor.performance_window_days - 1))
    if first > last:
        return []
    return schedule(first.date(), last.date(), cfg.features.schedule)


def feature_drift(scorer: Scorer, reference: Reference, live: pd.DataFrame) -> pd.DataFrame:
    """PSI, KS and status per feature against the model's drift reference, with its dimension
    and importance."""
    hm, cfg = scorer.model, scorer.config
    m = cfg.monitor
    out = reference.compare(live)
    out.insert(1, "dimension", out.feature.map(hm.dimensions))
    enough = len(live) >= m.min_sample
    out["status"] = [
        "expected" if f in m.expected_drift else (_level(p, cfg) if enough else "insufficient_data")
        for f, p in zip(out.feature, out.psi, strict=True)
    ]
    return out.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def expected_figures(scored: pd.DataFrame, test_metrics: Mapping[str, float]) -> dict:
    """Churn and recall to expect from calibrated probabilities (`scored`: the model's scores of
    the live rows), before labels mature: the mean probability, and the share of expected
    churners in the at-risk and critical tiers; beside them, the model's test figures."""
    p = scored.churn_probability.to_numpy()
    flagged = scored.tier.isin(FLAGGED).to_numpy()
    return {
        "churn_rate": float(p.mean()) if len(p) else None,
        "recall": float(p[flagged].sum() / p.sum()) if p.sum() > 0 else None,
        "flagged_share": float(flagged.mean()) if len(p) else None,
        "training_test": {k: test_metrics.get(k) for k in ("recall", "mean_probability")},
    }


def performance(scorer: Scorer, matured: pd.DataFrame, test_metrics: Mapping[str, float]) -> dict:
    """ROC-AUC, log loss, ECE and recall on matured labels against the training-time test
    figures; "insufficient_data" below `min_sample` rows or `min_churners` churners."""
    hm, m = scorer.model, scorer.config.monitor
    y = matured[LABEL].to_numpy(float) if len(matured) else np.array([])
    block = {
        "window": {
            "first": str(matured.as_of.min().date()) if len(matured) else None,
            "last": str(matured.as_of.max().date()) if len(matured) else None,
            "as_of_dates": int(matured.as_of.nunique()) if len(matured) else 0,
            "rows": len(matured),
            "churners": int(y.sum()),
        },
        "training_test": {k: test_metrics.get(k) for k in FIGURES},
    }
    if len(matured) < m.min_sample or y.sum() < m.min_churners:
        return {
            **block,
            "status": "insufficient_data",
            "reason": f"{len(matured)} matured rows with {int(y.sum())} churners after the "
            f"model's data end (need {m.min_sample} rows and {m.min_churners} churners)",
        }
    scored = scorer.score_batch(matured).scores
    flagged = scored.tier.isin(FLAGGED).to_numpy()
    live = score_metrics(y, hm.predict_proba(matured))
    live["recall"] = float(flagged[y == 1].mean())
    test = block["training_test"]
    decay = test["roc_auc"] - live["roc_auc"]
    se = math.hypot(live["roc_auc_se"], test["roc_auc_se"])
    lower = decay - Z_95 * se
    threshold = m.retrain.roc_auc_decay
    status = "alert" if lower >= threshold else "warn" if decay >= threshold else "ok"
    return {
        **block,
        "status": status,
        "live": {k: live[k] for k in FIGURES},
        "roc_auc_decay": decay,
        "roc_auc_decay_se": se,
        "roc_auc_decay_lower": lower,
        "log_loss_increase": live["log_loss"] - test["log_loss"] if test.get("log_loss") else None,
        "ece_change": live["ece"] - test["ece"] if test.get("ece") is not None else None,
    }


TRIGGERS = {
    "feature_drift_share": "share of the most important features in alert",
    "score_psi": "score PSI",
    "roc_auc_decay": "ROC-AUC decay (95% lower bound)",
    "model_age_days": "days since the model's data end",
}


def triggers(report: dict, cfg: Config) -> list[dict]:
    """The retraining policy's triggers: value, threshold, whether each fired and why."""
    r = cfg.monitor.retrain
    enough = report["sample"]["sufficient"]
    perf = report["performance"]
    rows = [
        ("feature_drift_share", report["top_features"]["share"], r.feature_drift_share, enough),
        ("score_psi", report["score"]["psi"], r.score_psi, enough),
        (
            "roc_auc_decay",
            perf.get("roc_auc_decay_lower"),
            r.roc_auc_decay,
            perf["status"] != "insufficient_data",
        ),
        ("model_age_days", report["model"]["age_days"], r.max_model_age_days, True),
    ]
    out = []
    for name, value, threshold, known in rows:
        fired = bool(known and value is not None and value >= threshold)
        status = "fired" if fired else "ok" if known else "insufficient_data"
        out.append(
            {
                "name": name,
                "value": value,
                "threshold": threshold,
                "fired": fired,
                "status": status,
                "reason": f"{TRIGGERS[name]} {value:.3g} {'≥' if fired else '<'} {threshold:g}"
                if known and value is not None
                else f"{TRIGGERS[name]}: insufficient data",
            }
        )
    return out


def check(
    scorer: Scorer,
    bundle: ModelBundle,
    live: pd.DataFrame,
    matured: pd.DataFrame,
    day: pd.Timestamp,
    model: dict,
) -> tuple[MonitorReport, pd.DataFrame]:
    """The monitor report for the live rows at `day` and the matured rows before it, and the
    per-feature drift table. `scorer` scores without tier overrides (the tiers the model's
    test figures were measured with); `bundle` holds the drift reference and test figures
    frozen with its model; `model` describes it (version, source)."""
    hm, cfg, reference = scorer.model, scorer.config, bundle.reference
    m = cfg.monitor
    data_end = pd.Timestamp(hm.metadata["data_end"])
    enough = len(live) >= m.min_sample
    features = feature_drift(scorer, reference, live)
    ranked = [f for f in reference.ranked() if f not in m.expected_drift][: m.top_features]
    status = dict(zip(features.feature, features.status, strict=True))
    drifting = [f for f in ranked if status[f] == "alert"]
    scored = scorer.score_batch(live).scores
    score = reference.compare_scores(hm.predict_proba(live))
    score["status"] = _level(score["psi"], cfg) if enough else "insufficient_data"
    perf = performance(scorer, matured, bundle.test_metrics)
    report = {
        "schema_version": SCHEMA_VERSION,
        "as_of": str(day.date()),
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
        "model": {
            **model,
            "data_end": str(data_end.date()),
            "trained_at": hm.metadata.get("trained_at"),
            "age_days": (day - data_end).days,
            "reference_as_of": list(reference.as_of_),
        },
        "thresholds": {
            "psi_warn": m.psi_warn,
            "psi_alert": m.psi_alert,
            "min_sample": m.min_sample,
            "min_churners": m.min_churners,
            "top_features": m.top_features,
            "expected_drift": list(m.expected_drift),
            "retrain": m.retrain.model_dump(),
        },
        "sample": {
            "live_rows": len(live),
            "reference_rows": reference.rows_,
            "sufficient": enough,
        },
        "features": features.to_dict("records"),
        "dimensions": by_dimension(features),
        "score": score,
        "top_features": {
            "features": ranked,
            "drifting": drifting,
            "share": len(drifting) / len(ranked) if ranked else 0.0,
        },
        "expected": expected_figures(scored, bundle.test_metrics),
        "performance": perf,
    }
    report["triggers"] = triggers(report, cfg)
    statuses = [*features.status, score["status"], perf["status"]]
    report["status"] = "insufficient_data" if not enough else _worst(statuses)
    report["notes"] = _notes(report, day, data_end)
    report["retrain"] = NOT_REQUESTED  # the job puts the decision of `--retrain` in its place
    return MonitorReport.model_validate(clean(report)), features


def by_dimension(features: pd.DataFrame) -> dict:
    """Per dimension: features, how many warn or alert, how many are expected to drift, and
    the highest PSI among the judged ones."""
    out = {}
    for dim, g in features.groupby("dimension", sort=True):
        judged = g[g.status != "expected"]
        out[dim] = {
            "features": len(g),
            "warn": int((g.status == "warn").sum()),
            "alert": int((g.status == "alert").sum()),
            "expected": len(g) - len(judged),
            "max_psi": float(judged.psi.max()) if len(judged) else None,
        }
    return out


def _notes(report: dict, day: pd.Timestamp, data_end: pd.Timestamp) -> list[str]:
    notes = []
    if not report["sample"]["sufficient"]:
        notes.append(
            f"insufficient data: {report['sample']['live_rows']} live rows "
            f"(< {report['thresholds']['min_sample']}); drift is reported but raises no alarm"
        )
    if day <= data_end:
        notes.append(
            f"as-of {day.date()} is not after the model's data end ({data_end.date()}): "
            "no live period to judge"
        )
    if report["performance"]["status"] == "insufficient_data":
        notes.append(f"performance: {report['performance']['reason']}")
    return notes


def summary(report: MonitorReport) -> str:
    """A few lines of Markdown for the MLflow run's description."""
    fired = [t.name for t in report.triggers if t.fired]
    alerts = [f.feature for f in report.features if f.status == "alert"]
    psi = "n/a" if report.score.psi is None else f"{report.score.psi:.3f}"
    lines = [
        f"Monitor as of {report.as_of}, model v{report.model.version}: **{report.status}**.",
        f"Features in alert: {', '.join(alerts) or 'none'}.",
        f"Score PSI {psi}.",
        f"Triggers fired: {', '.join(fired) or 'none'}.",
        f"Retraining: {report.retrain.status}.",
        *[f"- {r}" for r in report.retrain.reasons],
    ]
    return "\n\n".join(lines)
