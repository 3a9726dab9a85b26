"""The test window: how a freshly fitted model does on rows it never saw, and what it freezes.

`evaluate` scores the test window (after the validation window and its embargo) with the
model, the global model alone, the practitioners' scorecard, the login-recency rule and, on the
demo company, the true probabilities (the oracle), overall and per segment. It also freezes what
the monitor later compares live data with: the test figures and the drift reference, which the
training job puts into the model's bundle (`evaluation.bundle`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.source import Source
from churnhealth.evaluation.drift import Reference
from churnhealth.evaluation.horizons import truth_for
from churnhealth.evaluation.metrics import (
    flag_metrics,
    intervals,
    paired_comparison,
    ranking_auc,
    score_metrics,
    too_small,
)
from churnhealth.evaluation.training_report import TrainingReport
from churnhealth.models.baselines import baseline_risks
from churnhealth.models.fitter import TrainingData
from churnhealth.models.routed import HealthModel
from churnhealth.models.tiers import FLAGGED, health_score
from churnhealth.scoring.scorer import Scorer

TEST_FIGURES = (
    *("roc_auc", "roc_auc_se", "pr_auc", "brier", "log_loss", "ece", "recall", "precision"),
    *("churn_rate", "mean_probability", "rows"),
)
"""Test-window figures stored with the model, which the monitor compares live ones with."""


@dataclass
class Holdout:
    """The test-window evaluation of one model."""

    metrics: dict
    """"overall", "segments" (figure → value each) and the scorecard's weights."""
    summary: pd.DataFrame
    """One row per segment and overall: the table `train` prints."""
    curves: dict[str, tuple[np.ndarray, np.ndarray]]
    """Label and risk per scorer on the test window, for ROC/PR plots."""
    probabilities: np.ndarray
    """The model's calibrated probability for every row of the training data."""
    test_figures: dict[str, float]
    """The overall figures of `TEST_FIGURES` that are finite: what the monitor compares with."""
    reference: Reference
    """The drift reference frozen from the last rows the model learned from."""

    def report(self, data: TrainingData, model: HealthModel, **parts) -> TrainingReport:
        """metrics.json: the test-window figures with the splits, windows, routes and cut-offs,
        plus the `parts` the training adds (what was fitted, the horizons judged and the
        gate, the expansion figures, the run, version and alias; see `TrainingReport`)."""
        return TrainingReport(
            **self.metrics,
            splits=data.splits.describe(),
            windows=data.windows(),
            routes=model.routes,
            cutoffs={k: v.as_dict() for k, v in model.cutoffs.items()},
            **parts,
        )


def oracle(source: Source, frame: pd.DataFrame) -> pd.Series | None:
    """The demo company's true 90-day probabilities for the given rows, when a truth table
    exists."""
    truth = truth_for(source, frame)
    return None if truth is None else truth.p_churn_90d


def evaluate(cfg: Config, data: TrainingData, model: HealthModel) -> Holdout:
    """Test-window figures of `model` against the global model, baselines and the oracle, and
    what the monitor will compare with (see module docstring); `model` is left as it is."""
    p_all = model.predict_proba(data.frame)
    metrics, summary, curves = _test_window(cfg, data, model, p_all)
    metrics["overall"]["health_100_share_latest"] = health_100_share(data, model)
    figures = {k: v for k, v in metrics["overall"].items() if k in TEST_FIGURES and np.isfinite(v)}
    reference = drift_reference(cfg, data, model, p_all)
    return Holdout(metrics, summary, curves, p_all, figures, reference)


def _test_window(cfg: Config, data: TrainingData, hm: HealthModel, p_all: np.ndarray):
    frame, y_all = data.frame, data.y
    te, segments = data.mask("test"), list(cfg.data.segments)
    y, p = y_all[te], p_all[te]
    health = health_score(hm.predict_proba(frame[te], hm.horizon_days))
    seg = frame.segment.to_numpy()
    scorer = Scorer(model=hm, config=cfg, overrides=False)
    tiers_te = scorer.score_batch(frame[te]).scores.tier.to_numpy()
    flagged = np.isin(tiers_te, FLAGGED)
    risks, card = baseline_risks(data, te)
    card_risk = risks["scorecard"]
    has_login = "login rule" in risks
    login = risks.get("login rule", np.zeros(int(te.sum())))
    truth = oracle(data.source, frame[te])
    glob = hm.predict_proba(frame[te], only=HealthModel.GLOBAL)
    accounts = frame.account_id.to_numpy()[te]

    def block(rows: np.ndarray) -> dict:
        out = {**score_metrics(y[rows], p[rows]), **flag_metrics(y[rows], flagged[rows])}
        out.update(
            intervals(
                accounts[rows], y[rows], p=p[rows], flagged=flagged[rows], seed=cfg.train.seed
            )
        )
        out["churned_accounts"] = len(np.unique(accounts[rows][y[rows] == 1]))
        out["too_small"] = too_small(accounts[rows], y[rows])
        out["scorecard_roc_auc"] = ranking_auc(y[rows], card_risk[rows])
        out["login_rule_roc_auc"] = ranking_auc(y[rows], login[rows]) if has_login else np.nan
        out["global_model_roc_auc"] = ranking_auc(y[rows], glob[rows])
        out["global_model_log_loss"] = score_metrics(y[rows], glob[rows])["log_loss"]
        vs = paired_comparison(accounts[rows], y[rows], p[rows], glob[rows], seed=cfg.train.seed)
        out.update({f"vs_global_{k}": v for k, v in vs.items()})
        out["lift_over_scorecard_roc_auc"] = out["roc_auc"] - out["scorecard_roc_auc"]
        out["lift_over_login_rule_roc_auc"] = out["roc_auc"] - out["login_rule_roc_auc"]
        if truth is not None:
            out["oracle_roc_auc"] = ranking_auc(y[rows], truth.to_numpy()[rows])
            out["oracle_log_loss"] = score_metrics(y[rows], truth.to_numpy()[rows])["log_loss"]
        return out

    seg_te = seg[te]
    metrics = {
        "overall": block(np.ones(len(y), bool)),
        "segments": {s: block(seg_te == s) for s in segments if (seg_te == s).any()},
        "scorecard": {"weights": card.weights_, "correlations": card.correlations_},
    }
    rows = []
    for name, m in [("overall", metrics["overall"]), *metrics["segments"].items()]:
        rows.append(
            {
                "segment": name,
                "model": hm.routes.get(name, "routed"),
                "roc_auc": m["roc_auc"],
                "oracle": m.get("oracle_roc_auc", np.nan),
                "global_model": m["global_model_roc_auc"],
                "scorecard": m["scorecard_roc_auc"],
                "login": m["login_rule_roc_auc"],
                **{
                    f"{k}{e}": m[f"{k}{e}"]
                    for k in ("roc_auc", "ece", "recall", "precision")
                    for e in ("", "_lo", "_hi")
                    if k != "roc_auc" or e
                },
                "churned_accounts": m["churned_accounts"],
                "too_small": m["too_small"],
                **{k: v for k, v in m.items() if k.startswith("vs_global_")},
            }
        )
    curves = {"model": (y, p), "scorecard": (y, card_risk)}
    if has_login:
        curves["login rule"] = (y, login)
    if truth is not None:
        curves["oracle"] = (y, truth.to_numpy())
    metrics["overall"]["health_mean"] = float(health.mean())
    return metrics, pd.DataFrame(rows), curves


def health_100_share(d: TrainingData, model: HealthModel) -> float:
    """Share of the accounts at the latest as-of date that the model scores exactly 100."""
    last = d.frame[d.frame.as_of == d.frame.as_of.max()]
    p = model.predict_proba(last, model.horizon_days)
    return float((np.rint(100 * (1 - p)) == 100).mean())


def drift_reference(
    cfg: Config, data: TrainingData, model: HealthModel, p_all: np.ndarray
) -> Reference:
    """The drift reference, frozen now: the rows of the last `monitor.reference_days` of as-of
    dates (the portfolio as the model last saw it) and the model's scores on them; feature
    importance is the mean |effect| in health points on a sample of them."""
    frame = data.frame
    last = frame.as_of.max()
    rows = (frame.as_of >= last - pd.Timedelta(days=cfg.monitor.reference_days)).to_numpy()
    idx = np.flatnonzero(rows)
    rng = np.random.default_rng(cfg.train.seed)
    sample = np.sort(rng.choice(idx, min(len(idx), 1000), replace=False))
    effects, _ = Scorer(model=model, config=cfg).explain(frame.iloc[sample])
    return Reference(seed=cfg.train.seed).fit(
        frame[rows],
        data.numeric,
        list(data.categories),
        p_all[rows],
        effects.abs().mean().to_dict(),
    )
