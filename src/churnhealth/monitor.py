"""`churnhealth monitor`: is the champion still fit for the data it scores?

At an as-of date: PSI and KS of every feature of the live accounts against the reference frozen
at training time, PSI of the scores, the share of drifting features among the most important
ones, expected churn and recall from the calibrated probabilities, and — once labels have
matured — performance against the training-time test figures. The retraining policy's triggers
are evaluated; with `retrain` a challenger is trained on recent data and promoted only if it
beats the champion on the same matured window. Writes monitor.json (see docs/monitoring.md)
with a PSI chart beside it, and logs a run to MLflow.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import write_json, write_with
from churnhealth.config import Config
from churnhealth.data.contract import contract
from churnhealth.data.source import truncate
from churnhealth.data.validate import open_validated
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluate import score_metrics
from churnhealth.features import build_features
from churnhealth.features.grid import schedule
from churnhealth.features.spec import check_metrics
from churnhealth.labels import last_labelled
from churnhealth.models.routed import HealthModel
from churnhealth.models.tiers import FLAGGED
from churnhealth.retrain import NOT_REQUESTED, log_decision, retrain_if_triggered

SCHEMA_VERSION = 1
LEVELS = ("ok", "warn", "alert")
FIGURES = (
    *("roc_auc", "roc_auc_se", "log_loss", "ece", "brier", "recall"),
    *("churn_rate", "mean_probability"),
)
Z_95 = 1.645
"""One-sided 95% normal quantile: the decay trigger needs the drop's lower bound past the
threshold, so sampling noise in a few hundred churners does not fire it."""


def _clean(value):
    """JSON-ready: numpy scalars to Python, NaN to None, recursively."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
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


def _frame(source, cfg: Config, hm: HealthModel, dates: list[pd.Timestamp]) -> pd.DataFrame:
    """Features (and labels, where matured) of the model's own spec at the given dates."""
    metrics = check_metrics(hm.metadata["definitions"], cfg.data.segments, "model")
    return build_features(source, cfg, metrics, dates=dates).frame.reset_index(drop=True)


def matured_dates(cfg: Config, after: pd.Timestamp, day: pd.Timestamp) -> list[pd.Timestamp]:
    """Scheduled as-of dates on or after `after` whose label window (horizon plus re-signup
    gap) has fully elapsed by `day`: the latest `monitor.performance_window_days` of them."""
    last = last_labelled(cfg.labels, day)
    first = max(after, last - pd.Timedelta(days=cfg.monitor.performance_window_days - 1))
    if first > last:
        return []
    return schedule(first.date(), last.date(), cfg.features.schedule)


def feature_drift(hm: HealthModel, live: pd.DataFrame, cfg: Config) -> pd.DataFrame:
    """PSI, KS and status per feature, with its dimension and importance."""
    m = cfg.monitor
    out = hm.reference.compare(live)
    out.insert(1, "dimension", out.feature.map(hm.dimensions))
    enough = len(live) >= m.min_sample
    out["status"] = [
        "expected" if f in m.expected_drift else (_level(p, cfg) if enough else "insufficient_data")
        for f, p in zip(out.feature, out.psi, strict=True)
    ]
    return out.sort_values("psi", ascending=False, kind="stable").reset_index(drop=True)


def expected_figures(hm: HealthModel, scored: pd.DataFrame) -> dict:
    """Churn and recall to expect from calibrated probabilities (`scored`: the model's scores of
    the live rows), before labels mature: the mean probability, and the share of expected
    churners in the at-risk and critical tiers."""
    p = scored.churn_probability.to_numpy()
    flagged = scored.tier.isin(FLAGGED).to_numpy()
    return {
        "churn_rate": float(p.mean()) if len(p) else None,
        "recall": float(p[flagged].sum() / p.sum()) if p.sum() > 0 else None,
        "flagged_share": float(flagged.mean()) if len(p) else None,
        "training_test": {
            k: hm.metadata.get("test_metrics", {}).get(k) for k in ("recall", "mean_probability")
        },
    }


def performance(hm: HealthModel, matured: pd.DataFrame, cfg: Config) -> dict:
    """ROC-AUC, log loss, ECE and recall on matured labels against the training-time test
    figures; "insufficient_data" below `min_sample` rows or `min_churners` churners."""
    m = cfg.monitor
    y = matured.churned_within_h.to_numpy(float) if len(matured) else np.array([])
    block = {
        "window": {
            "first": str(matured.as_of.min().date()) if len(matured) else None,
            "last": str(matured.as_of.max().date()) if len(matured) else None,
            "as_of_dates": int(matured.as_of.nunique()) if len(matured) else 0,
            "rows": len(matured),
            "churners": int(y.sum()),
        },
        "training_test": {k: hm.metadata.get("test_metrics", {}).get(k) for k in FIGURES},
    }
    if len(matured) < m.min_sample or y.sum() < m.min_churners:
        return {
            **block,
            "status": "insufficient_data",
            "reason": f"{len(matured)} matured rows with {int(y.sum())} churners after the "
            f"model's data end (need {m.min_sample} rows and {m.min_churners} churners)",
        }
    scored = hm.score(matured)
    flagged = scored.tier.isin(FLAGGED).to_numpy()
    live = score_metrics(y, scored.churn_probability.to_numpy())
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


def plot_psi(features: pd.DataFrame, cfg: Config, title: str, path: Path) -> Path:
    """Horizontal bars of PSI per feature, coloured by status, with the warn and alert lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = features.sort_values("psi")
    colours = {"ok": "#4c9a5b", "warn": "#e0a030", "alert": "#c8413b"}
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(f) + 1.5))
    ax.barh(f.feature, f.psi, color=[colours.get(s, "#9a9a9a") for s in f.status])
    for x, name in ((cfg.monitor.psi_warn, "warn"), (cfg.monitor.psi_alert, "alert")):
        ax.axvline(x, color=colours[name], linestyle="--", linewidth=1, label=f"{name} {x:g}")
    ax.set_xlabel("PSI against the training reference (grey: expected drift or too few rows)")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _open(cfg: Config, data: Path | None, as_of: dt.date | None):
    """The data as known just before the as-of date, so labels count as matured only if they
    were known by then."""
    from churnhealth.predict import run_dates

    source = open_validated(data or cfg.data.path, cfg.data.segments)
    day = run_dates(cfg, source, as_of, 0).day
    return truncate(source, day.date(), contract(cfg.data.segments)), day


def monitor(
    cfg: Config,
    data: Path | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    retrain: bool = False,
    out: Path | None = None,
    stage=None,
) -> dict:
    """Run the checks, optionally retrain, write monitor.json and log to MLflow."""
    from churnhealth.predict import load_model

    stage = stage or (lambda name, steps=1: lambda: None)
    out = Path(out or cfg.paths.reports_dir / "monitor.json")
    if out.suffix != ".json":
        raise ChurnhealthError(f"--out {out}: expected a .json file")
    done = stage("loading model and data", 1)
    lm = load_model(cfg, model)
    hm = lm.model
    if hm.reference is None:
        raise ChurnhealthError(
            f"model {lm.source} (v{lm.version}) has no drift reference: it was trained before "
            "monitoring existed; retrain it with `churnhealth train`"
        )
    source, day = _open(cfg, data, as_of)
    data_end = pd.Timestamp(hm.metadata["data_end"])
    dates = matured_dates(cfg, data_end, day)
    done()
    frame = _frame(source, cfg, hm, [*dates, day])
    done = stage("drift and performance", 1)
    live = frame[frame.as_of == day]
    matured = frame[(frame.as_of < day) & frame.labelled.astype(bool)]
    m = cfg.monitor
    enough = len(live) >= m.min_sample
    features = feature_drift(hm, live, cfg)
    ranked = [f for f in hm.reference.ranked() if f not in m.expected_drift][: m.top_features]
    status = dict(zip(features.feature, features.status, strict=True))
    drifting = [f for f in ranked if status[f] == "alert"]
    scored = hm.score(live)
    score = hm.reference.compare_scores(scored.churn_probability.to_numpy())
    score["status"] = _level(score["psi"], cfg) if enough else "insufficient_data"
    perf = performance(hm, matured, cfg)
    report = {
        "schema_version": SCHEMA_VERSION,
        "as_of": str(day.date()),
        "generated_at": dt.datetime.now().isoformat(timespec="seconds"),
        "model": {
            "version": lm.version,
            "source": lm.source,
            "data_end": str(data_end.date()),
            "trained_at": hm.metadata.get("trained_at"),
            "age_days": (day - data_end).days,
            "reference_as_of": list(hm.reference.as_of_),
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
            "reference_rows": hm.reference.rows_,
            "sufficient": enough,
        },
        "features": features.to_dict("records"),
        "dimensions": _by_dimension(features),
        "score": score,
        "top_features": {
            "features": ranked,
            "drifting": drifting,
            "share": len(drifting) / len(ranked) if ranked else 0.0,
        },
        "expected": expected_figures(hm, scored),
        "performance": perf,
    }
    report["triggers"] = triggers(report, cfg)
    statuses = [*features.status, score["status"], perf["status"]]
    report["status"] = "insufficient_data" if not enough else _worst(statuses)
    report["notes"] = _notes(report, day, data_end)
    done()
    fired = [t for t in report["triggers"] if t["fired"]]
    report["retrain"] = (
        retrain_if_triggered(cfg, data, source, day, lm, fired, stage)
        if retrain
        else dict(NOT_REQUESTED)
    )
    done = stage("writing and logging", 1)
    report = _clean(report)
    _write(cfg, report, features, out)
    done()
    return report


def _by_dimension(features: pd.DataFrame) -> dict:
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


def _write(cfg: Config, report: dict, features: pd.DataFrame, out: Path) -> None:
    """Log the monitor run (and the retraining decision) to MLflow, then write monitor.json and
    the PSI chart atomically."""
    with tempfile.TemporaryDirectory() as tmp:
        png = plot_psi(
            features,
            cfg,
            f"Feature drift as of {report['as_of']}, model v{report['model']['version']}",
            Path(tmp) / f"{out.stem}_psi.png",
        )
        log_run(cfg, report, png, Path(tmp) / out.name)
        write_json(out, report)
        write_with(out.with_name(png.name), lambda t: shutil.copyfile(png, t))


def log_run(cfg: Config, report: dict, png: Path, json_path: Path) -> str:
    """An MLflow run of kind "monitor": thresholds as params, PSI/KS and performance as
    metrics, status and fired triggers as tags, monitor.json and the chart as artifacts; the
    retraining decision, when there is one, as a nested run of its own."""
    import mlflow

    tracking.configure(cfg)
    perf, score = report["performance"], report["score"]
    fired = [t["name"] for t in report["triggers"] if t["fired"]]
    with mlflow.start_run(run_name=f"monitor {report['as_of']}") as run:
        report["mlflow_run_id"] = run.info.run_id
        mlflow.set_tags(
            {
                "churnhealth.kind": "monitor",
                "churnhealth.status": report["status"],
                "churnhealth.model_version": report["model"]["version"],
                "churnhealth.triggers_fired": ",".join(fired) or "none",
                "churnhealth.retrain": report["retrain"]["status"],
                "mlflow.note.content": _summary(report, fired),
            }
        )
        mlflow.log_params(
            {
                "as_of": report["as_of"],
                "model_version": report["model"]["version"],
                "model_source": report["model"]["source"],
                "live_rows": report["sample"]["live_rows"],
                "reference_rows": report["sample"]["reference_rows"],
                "retrain_requested": report["retrain"]["requested"],
                **tracking.flatten(report["thresholds"], "threshold."),
            }
        )
        values = {
            "score_psi": score["psi"],
            "score_ks": score["ks"],
            "top_feature_drift_share": report["top_features"]["share"],
            "features_alert": sum(f["status"] == "alert" for f in report["features"]),
            "features_warn": sum(f["status"] == "warn" for f in report["features"]),
            "expected_churn_rate": report["expected"]["churn_rate"],
            "expected_recall": report["expected"]["recall"],
            "model_age_days": report["model"]["age_days"],
            "roc_auc_decay": perf.get("roc_auc_decay"),
            **{f"live_{k}": v for k, v in perf.get("live", {}).items()},
            **{f"psi.{f['feature']}": f["psi"] for f in report["features"]},
            **{f"ks.{f['feature']}": f["ks"] for f in report["features"]},
        }
        mlflow.log_metrics({k: float(v) for k, v in values.items() if v is not None})
        if report["retrain"]["status"] not in ("not_requested", "not_triggered"):
            log_decision(report["retrain"], report["as_of"])
        mlflow.log_artifact(str(write_json(json_path, report)))
        mlflow.log_artifact(str(png))
    return run.info.run_id


def _summary(report: dict, fired: list[str]) -> str:
    alerts = [f["feature"] for f in report["features"] if f["status"] == "alert"]
    lines = [
        f"Monitor as of {report['as_of']}, model v{report['model']['version']}: "
        f"**{report['status']}**.",
        f"Features in alert: {', '.join(alerts) or 'none'}.",
        f"Score PSI {report['score']['psi']:.3f}.",
        f"Triggers fired: {', '.join(fired) or 'none'}.",
        f"Retraining: {report['retrain']['status']}.",
        *[f"- {r}" for r in report["retrain"]["reasons"]],
    ]
    return "\n\n".join(lines)
