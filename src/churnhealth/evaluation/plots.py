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

from churnhealth.evaluation.metrics import (
    expected_calibration_error,
    ranking_auc,
    reliability_table,
)
from churnhealth.models.routed import FittedModel

matplotlib.use("Agg")  # files only, no screen


def plot_reliability(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    title: str = "Reliability on the test window",
) -> Path:
    """Predicted vs observed churn per decile of predicted probability, one line per group."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 0.0
    for name, (y, p) in curves.items():
        t = reliability_table(np.asarray(y, float), np.asarray(p, float))
        ece = expected_calibration_error(y, p)
        ax.plot(t.predicted, t.observed, marker="o", label=f"{name} (ECE {ece:.3f})")
        top = max(top, t.predicted.max(), t.observed.max())
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.set_xlabel("predicted 90-day churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roc_pr(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """ROC and precision-recall curves side by side, one line per model or baseline."""
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


def plot_bands(bands: pd.DataFrame, path: Path) -> Path:
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
    ax.set(
        xlabel="health band",
        ylabel="retained over the horizon (%)",
        title="Retention by health band (out-of-time)",
    )
    ax.set_ylim(0, 105)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_lead_times(leads: pd.DataFrame, path: Path) -> Path:
    """Histogram of days between the first at-risk flag and the churn date."""
    fig, ax = plt.subplots(figsize=(7, 4))
    days = leads.lead_days.dropna()
    ax.hist(
        days,
        bins=np.arange(0, max(days.max(), 30) + 31, 30) if len(days) else 10,
        color="#d8843b",
        edgecolor="white",
    )
    for mark in (30, 60):
        ax.axvline(mark, color="grey", linestyle="--", linewidth=1)
    missed = int(leads.lead_days.isna().sum())
    ax.set(
        xlabel="days between the first at-risk flag and the churn",
        ylabel="churn events",
        title=f"Lead time ({len(days)} caught, {missed} missed)",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
            values = shap.TreeExplainer(model.estimator).shap_values(X)
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
