"""Plots for the MLflow runs and the report: reliability, ROC/PR, retention by health band,
lead time, feature drift (PSI) and SHAP summaries. Every function writes a PNG and returns its
path."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

from churnhealth.evaluation import renewals
from churnhealth.evaluation.backtest_report import BacktestReport, LeadFigures, OriginForecast
from churnhealth.evaluation.metrics import (
    expected_calibration_error,
    ranking_auc,
    reliability_table,
)
from churnhealth.models.routed import FittedModel
from churnhealth.scoring.forecast import Forecast

matplotlib.use("Agg")  # files only, no screen


def _nothing_to_show(path: Path, title: str, text: str) -> Path:
    """A chart that says why it has nothing to draw, where a drawing would mislead."""
    fig, ax = plt.subplots(figsize=(5.5, 2.5))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#555")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    title: str = "Reliability on the test window",
) -> Path:
    """Predicted vs observed churn per decile of predicted probability, one line per group
    (a group without a known outcome is left out; with none, the chart says so)."""
    curves = {k: (y, p) for k, (y, p) in curves.items() if len(y)}
    if not curves:
        return _nothing_to_show(path, title, "No outcome is known yet for these rows")
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for name, (y, p) in curves.items():
        t = reliability_table(np.asarray(y, float), np.asarray(p, float))
        ece = expected_calibration_error(y, p)
        ax.plot(t.predicted, t.observed, marker="o", label=f"{name} (ECE {ece:.3f})")
        top = max(top, t.predicted.max(), t.observed.max())
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """ROC and precision-recall curves side by side, one line per model or baseline (the
    chart says so when the outcomes are not of both kinds)."""
    if not curves or any(len(np.unique(y)) < 2 for y, _ in curves.values()):
        return _nothing_to_show(
            path, "ROC and precision-recall", "No decision with both outcomes known yet"
        )
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.5))
    for name, (y, risk) in curves.items():
        fpr, tpr, _ = roc_curve(y, risk)
        prec, rec, _ = precision_recall_curve(y, risk)
        a.plot(fpr, tpr, label=f"{name} ({ranking_auc(y, risk):.3f})")
        b.plot(rec, prec, label=f"{name} ({average_precision_score(y, risk):.3f})")
    a.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    a.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC (AUC)")
    b.set(xlabel="recall", ylabel="precision", title="Precision-recall (AP)")
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bands(bands: pd.DataFrame, path: Path, ylabel: str = "retained a year on (%)") -> Path:
    """Retention rate per health band, sample sizes on the bars."""
    fig, ax = plt.subplots(figsize=(7, 4))
    bars = ax.bar(bands.band, 100 * bands.retention, color="#3b7dd8")
    for bar, n in zip(bars, bands.rows, strict=True):
        ax.annotate(
            f"n={n:,}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set(xlabel="health band", ylabel=ylabel, title="Retention by health band (out-of-time)")
    ax.set_ylim(0, 105)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_lead_times(leads: pd.DataFrame, path: Path) -> Path:
    """Histogram of days between the start of the at-risk run and the churn date."""
    fig, ax = plt.subplots(figsize=(7, 4))
    days = leads.lead_days.dropna()
    ax.hist(
        days,
        bins=np.arange(0, max(days.max(), 30) + 31, 30) if len(days) else 10,
        color="#d8843b",
        edgecolor="white",
    )
    for mark in (60, 90, 180):
        ax.axvline(mark, color="grey", linestyle="--", linewidth=1)
    missed = int(leads.lead_days.isna().sum())
    ax.set(
        xlabel="days between the start of the unbroken at-risk run and the churn",
        ylabel="churned accounts",
        title=f"Lead time ({len(days)} warned, {missed} missed)",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_renewal_leads(leads: dict[str, LeadFigures], path: Path) -> Path:
    """Recall, specificity and precision of the at-risk flag against how many days before the
    renewal decision it is read (the backtest report's `renewals.leads`)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    days = sorted(int(k) for k in leads)
    for metric, colour in (
        ("recall", "#c62828"),
        ("specificity", "#1a7f37"),
        ("precision", "#3b7dd8"),
    ):
        ax.plot(
            days,
            [100 * getattr(leads[str(d)].overall, metric) for d in days],
            marker="o",
            color=colour,
            label=metric,
        )
    ax.set(
        xlabel="days before the renewal decision",
        ylabel="%",
        title="The at-risk flag per renewal decision",
        xticks=days,
    )
    ax.invert_xaxis()
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_forecast(origins: list[OriginForecast], path: Path) -> Path:
    """Fan chart: each origin's forecast of churned ARR per quarter (expected and interval),
    the naive forecast, and what was realised; one panel per group (portfolio, segments)."""
    groups = list(origins[0].quarters) if origins else []
    cols = min(2, max(len(groups), 1))
    rows = (len(groups) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), squeeze=False)
    colours = plt.cm.viridis(np.linspace(0, 0.85, max(len(origins), 1)))
    for ax, group in zip(axes.ravel(), groups, strict=False):
        for o, colour in zip(origins, colours, strict=True):
            q = pd.DataFrame([c.model_dump() for c in o.quarters[group]])
            end = pd.to_datetime(q.end)
            ax.fill_between(end, q.lo / 1e6, q.hi / 1e6, color=colour, alpha=0.18, linewidth=0)
            ax.plot(end, q.forecast / 1e6, color=colour, linewidth=1.5)
            ax.plot(end, q.naive / 1e6, color=colour, linewidth=1, linestyle=":")
            known = q.realised.notna()
            ax.scatter(
                end[known], q.realised[known] / 1e6, color=colour, edgecolor="black", s=22, zorder=3
            )
        ax.set_title(group.replace("segment:", "segment "), fontsize=10)
        ax.set_ylabel("churned ARR per quarter (M)")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for ax in axes.ravel()[len(groups) :]:
        ax.axis("off")
    fig.suptitle(
        "Forecast (line, 80% band), naive forecast (dotted) and realised (dots), per origin",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_year_ahead(fc: Forecast, path: Path) -> Path:
    """Fan chart of the latest forecast (`predict`'s summary.json): cumulative churned ARR over
    the next twelve months with its interval, for the portfolio and each segment."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    groups = [("portfolio", fc.portfolio), *fc.segments.items()]
    for (name, b), colour in zip(groups, plt.cm.tab10.colors, strict=False):
        m = pd.DataFrame([month.model_dump() for month in b.months])
        end = pd.to_datetime(m.end)
        cum = m.churned_arr.cumsum() / 1e6
        lo, hi = (1 - m.grr_hi) * b.arr / 1e6, (1 - m.grr_lo) * b.arr / 1e6
        ax.fill_between(end, lo, hi, color=colour, alpha=0.2, linewidth=0)
        ax.plot(end, cum, color=colour, label=f"{name} (GRR {b.year.grr:.1%})")
    ax.set(
        ylabel="churned ARR since the as-of date (M)",
        title=f"The year ahead from {fc.as_of}: expected churned ARR, {fc.interval:.0%} interval",
    )
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def backtest_plots(
    report: BacktestReport, p: pd.DataFrame, leads: pd.DataFrame, out: Path
) -> dict[str, Path]:
    """Every plot of a backtest, written into `out`: reliability of the rows whose outcome is
    known (per segment), ROC/PR per renewal decision 90 days ahead with the baselines, the flag
    by lead, retention by band a year on, lead time, the forecast's fan chart."""
    known = p[p.churned.notna()]
    curves = {"all": (known.churned.to_numpy(), known.churn_probability.to_numpy())}
    for s, g in known.groupby("segment"):
        curves[s] = (g.churned.to_numpy(), g.churn_probability.to_numpy())
    w = report.renewals.window
    cases = renewals.decision_cases(p, pd.Timestamp(w.first), pd.Timestamp(w.last))
    m = renewals.at_lead(cases, p, 90)
    y = m.churned.to_numpy()
    ranking = {"model": (y, 100 - m.health_score.to_numpy())}
    ranking["scorecard"] = (y, 100 - m.scorecard_health.to_numpy())
    if "login_light" in m:
        ranking["login rule"] = (y, m.login_light.to_numpy())
    paths = {
        "reliability": plot_reliability(
            curves, out / "reliability.png", "Reliability at the health horizon (out-of-time)"
        ),
        "roc_pr": plot_roc_pr(ranking, out / "roc_pr.png"),
        "renewal_leads": plot_renewal_leads(report.renewals.leads, out / "renewal_leads.png"),
        "bands": plot_bands(
            pd.DataFrame([b.model_dump() for b in report.retention_by_band]), out / "bands.png"
        ),
        "lead": plot_lead_times(leads, out / "lead.png"),
        "forecast": plot_forecast(report.forecast.origins, out / "forecast.png"),
    }
    return paths


def plot_psi(features: pd.DataFrame, warn: float, alert: float, title: str, path: Path) -> Path:
    """Horizontal bars of PSI per feature, coloured by status, with the warn and alert lines."""
    f = features.sort_values("psi")
    colours = {"ok": "#4c9a5b", "warn": "#e0a030", "alert": "#c8413b"}
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(f) + 1.5))
    ax.barh(f.feature, f.psi, color=[colours.get(s, "#9a9a9a") for s in f.status])
    for x, name in ((warn, "warn"), (alert, "alert")):
        ax.axvline(x, color=colours[name], linestyle="--", linewidth=1, label=f"{name} {x:g}")
    ax.set_xlabel("PSI against the training reference (grey: expected drift or too few rows)")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_shap_summary(
    model: FittedModel, X: pd.DataFrame, background: pd.DataFrame, title: str, path: Path
) -> Path:
    """SHAP summary (beeswarm) of a fitted model's raw score: TreeExplainer for LightGBM,
    LinearExplainer (against `background`) for the logistic model."""
    import shap  # 1.5 s to import (measured), and only training draws these plots

    X, background = model.raw_input(X), model.raw_input(background)
    if model.kind == "lightgbm":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            values = shap.TreeExplainer(model.estimator.booster_).shap_values(X)
        shown = X.apply(lambda c: c.cat.codes if isinstance(c.dtype, pd.CategoricalDtype) else c)
    else:
        pre, lr = model.estimator[:-1], model.estimator[-1]
        shown = pd.DataFrame(pre.transform(X), columns=pre.get_feature_names_out())
        bg = pre.transform(background)
        values = shap.LinearExplainer(lr, bg).shap_values(shown.to_numpy())
    plt.figure()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        shap.summary_plot(values, shown, show=False, max_display=15, plot_size=(8, 6))
    plt.title(title)
    plt.tight_layout()
    plt.savefig(path, dpi=100)
    plt.close("all")
    return path
