"""The scorer: from a model and point-in-time features to what a CSM reads.

Probability → health, tiers with the configured overrides, dimension effects and drivers in
health points, trend and momentum against the health history, and the portfolio summary.
`predict`, `explain`, the backtest and the monitor all score through it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth.config import Config, TierOverride
from churnhealth.data.load import open_configured
from churnhealth.data.source import Source
from churnhealth.features import GRID_FEATURES, RunDates, build_features, run_dates
from churnhealth.features.build import lookback
from churnhealth.features.spec import DIMENSIONS
from churnhealth.models.expansion import ExpansionModel, expansion_score
from churnhealth.models.routed import HealthModel
from churnhealth.models.tiers import FLAGGED, TIERS, Cutoffs, health_score
from churnhealth.scoring import overrides
from churnhealth.scoring.explain import dimension_effects, expansion_effects, health_effects

TOP = 3
"""Drivers shown per account and direction."""
MIN_EFFECT = 0.05
"""Effects smaller than this (in health points) are not named as drivers."""
ID_COLUMNS = [
    "account_id",
    "as_of",
    "segment",
    "lifecycle_stage",
    "arr",
    "days_to_renewal",
    "renewal_date",
]
EXPANSION_COLUMNS = [
    "expansion_probability",
    "expansion_score",
    "expansion_tier",
    *[
        f"expansion_{k}_{part}"
        for k in range(1, TOP + 1)
        for part in ("feature", "value", "effect")
    ],
]
"""The expansion score's columns (empty when the model has no expansion model)."""
SCORE_COLUMNS = [
    *ID_COLUMNS,
    "churn_probability",
    "p_churn_90d",
    "p_churn_next_renewal",
    "health_score",
    "tier",
    *overrides.SCORE_COLUMNS,
    "model_version",
    "baseline_health",
    *[f"effect_{d}" for d in DIMENSIONS],
    "effect_context",
    "context",
    *[
        f"{kind}_{k}_{part}"
        for kind in ("risk", "protective")
        for k in range(1, TOP + 1)
        for part in ("feature", "value", "effect")
    ],
    "health_change_30d",
    "health_change_90d",
    "momentum",
    "projected_health_90d",
    *EXPANSION_COLUMNS,
    "playbooks",
]
"""The columns of a scores file, in order (documented in docs/predict.md)."""


@dataclass(kw_only=True)
class Scorer:
    """Scores accounts with one model.

    `overrides`: apply the configured segment and lifecycle tier cut-offs (`predict`,
    `explain`, the backtest); without them tiers come from the model's learned cut-offs alone,
    the tiers training and the monitor judge the model by.
    """

    model: HealthModel
    config: Config
    version: str = ""
    overrides: bool = True
    expansion: ExpansionModel | None = None
    """The expansion model trained with `model` (its bundle's), for `with_expansion`."""

    # ------------------------------------------------------------------ data
    def features(self, source: Source, dates: list[pd.Timestamp]) -> pd.DataFrame:
        """The model's own features (from the definitions it carries) at `dates`, with labels
        where they have matured."""
        metrics = self.model.metrics(self.config.data.segments)
        fs = build_features(source, self.config, metrics, dates=dates)
        return fs.frame.reset_index(drop=True)

    def open(
        self, data: Path | None, as_of: dt.date | None, backfill_days: int = 0
    ) -> tuple[Source, RunDates]:
        """Validated data and the dates to score.

        Only the rows that the model's features at those dates read are validated: per table,
        those within its longest window before the first date (see `features.build.lookback`).
        """
        cfg = self.config
        windows = lookback(self.model.metrics(cfg.data.segments))

        def reads(source: Source) -> dict[str, dt.date]:
            d = run_dates(cfg, source, as_of, backfill_days)
            first = min([d.day, *d.backfill])
            return {
                table: (first - pd.Timedelta(days=days)).date()
                for table, days in windows.items()
                if days is not None
            }

        source = open_configured(cfg, data, since=reads)
        return source, run_dates(cfg, source, as_of, backfill_days)

    # ---------------------------------------------------------------- scores
    def curve(self, frame: pd.DataFrame) -> np.ndarray:
        """P(churn within k months), k = 1..12, per account: what the scores and the
        forecast (`scoring.forecast`) are read from."""
        return self.model.curve(frame)

    def score(self, frame: pd.DataFrame, curve: np.ndarray | None = None) -> pd.DataFrame:
        """Identifying columns, the churn probabilities (within the health horizon, within 90
        days, by the next renewal decision), health, tier and the model version; `curve`: the
        accounts' churn curves when already computed (`curve`)."""
        out = frame[ID_COLUMNS].copy()
        probs = self.model.probabilities(frame, curve)
        for c in probs:
            out[c] = probs[c].to_numpy()
        out["health_score"] = health_score(out.churn_probability.to_numpy())
        out["tier"] = self.tiers(frame, out.health_score.to_numpy())
        out["model_version"] = self.version
        return out

    def tiers(self, frame: pd.DataFrame, health: np.ndarray) -> np.ndarray:
        """Model cut-offs per segment, then (with `overrides`) the config's segment and
        lifecycle overrides; a lifecycle override wins over a segment one."""
        if not self.overrides:
            return self.model.tiers(frame, health)
        hm, predict = self.model, self.config.predict
        out = np.empty(len(frame), dtype=object)
        groups = frame.groupby(["segment", "lifecycle_stage"], observed=True).indices
        for (seg, stage), rows in groups.items():
            o: TierOverride | None = predict.lifecycle_tiers.get(
                stage
            ) or predict.segment_tiers.get(seg)
            cut = (
                Cutoffs(int(o.healthy), int(o.at_risk), int(o.critical), "config")
                if o
                else hm.cutoffs.get(seg, hm.cutoffs[hm.GLOBAL])
            )
            out[rows] = cut.tier(health[rows])
        return out

    # ----------------------------------------------------------- explanations
    def explain(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """Each feature's effect on each account's health (health points) and the baseline
        health of the model that scored it; see `scoring.explain`."""
        return health_effects(self.model, frame)

    def dimensions(self, effects: pd.DataFrame) -> pd.DataFrame:
        """Effects summed per dimension."""
        return dimension_effects(self.model, effects)

    @property
    def context(self) -> list[str]:
        """The model's context features (renewal timing, term, size…): reported apart."""
        return list(getattr(self.model, "context", None) or GRID_FEATURES)

    def split(self, effects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Effects of the signals a CSM can act on, and of the context."""
        context = [c for c in self.context if c in effects]
        return effects.drop(columns=context), effects[context]

    def with_explanations(self, scores: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        """`scores` plus the baseline health, the effect of each dimension (signals only), the
        effect of the context with its strongest items in words, and the top risk and
        protective drivers (signals only). Per account the dimension and context effects add
        up to health minus the baseline."""
        effects, base = self.explain(frame)
        signals, context = self.split(effects)
        dims = self.dimensions(signals)
        out = scores.copy()
        out["baseline_health"] = base.round(1).to_numpy()
        for d in DIMENSIONS:
            out[f"effect_{d}"] = dims[d].round(1).to_numpy() if d in dims else 0.0
        out["effect_context"] = context.sum(axis=1).round(1).to_numpy()
        out["context"] = context_summary(context, frame)
        return pd.concat([out, drivers(signals, frame)], axis=1)

    def with_expansion(
        self, scores: pd.DataFrame, frame: pd.DataFrame, every: bool = False
    ) -> pd.DataFrame:
        """`scores` plus the expansion probability, the 0–100 expansion score, its tier and,
        for the accounts ready or on watch, the three signals lifting it most (in score points;
        context is never a driver). TreeSHAP is the costly part of scoring, and an account not
        yet worth a growth conversation needs none (`every`: all accounts, as `explain` does).
        Empty columns without an expansion model."""
        em = self.expansion
        out = scores.copy()
        if em is None:
            for c in EXPANSION_COLUMNS:
                out[c] = np.nan if c.endswith(("probability", "effect", "score")) else None
            return out
        p = em.predict_proba(frame)
        score = expansion_score(p)
        out["expansion_probability"] = p
        out["expansion_score"] = score
        out["expansion_tier"] = tier = em.tiers(frame, score)
        for k in range(1, TOP + 1):
            for part in ("feature", "value", "effect"):
                out[f"expansion_{k}_{part}"] = np.nan if part == "effect" else None
        worth = np.flatnonzero(tier != "not_yet") if not every else np.arange(len(frame))
        if len(worth):
            rows = frame.iloc[worth]
            signals, _ = self.split(expansion_effects(em, rows)[0])
            top = drivers(signals, rows)
            for k in range(1, TOP + 1):
                for part in ("feature", "value", "effect"):
                    col = out.columns.get_loc(f"expansion_{k}_{part}")
                    out.iloc[worth, col] = top[f"protective_{k}_{part}"].to_numpy()
        return out

    # ------------------------------------------------------------------ trend
    def with_trend(self, scores: pd.DataFrame, inputs: pd.DataFrame) -> pd.DataFrame:
        """`scores` plus the 30- and 90-day changes, momentum and projection (see `trend`;
        `inputs` from `scoring.history.trend_inputs`)."""
        return pd.concat([scores, trend(scores, inputs, self.config.predict.stable_band)], axis=1)


CONTEXT_WORDS = {
    "days_to_renewal": lambda v: f"renewal in {v:.0f} day{'s' * (v != 1)}",
    "renewals_in_horizon": lambda v: f"{v:.0f} renewal decision{'s' * (v != 1)} in the horizon",
    "term_months": lambda v: f"{v:.0f}-month term",
    "tenure_days": lambda v: f"customer for {v:.0f} days",
    "lifecycle_stage": lambda v: f"{str(v).replace('_', ' ')} stage",
    "segment": lambda v: f"{str(v).replace('_', ' ')} segment",
    "arr": lambda v: f"ARR {v:,.0f}",
    "licenses": lambda v: f"{v:,.0f} licenses",
}
"""How a context feature reads in a sentence (others: "name value")."""


def context_summary(context: pd.DataFrame, frame: pd.DataFrame, top: int = 2) -> list[str]:
    """Per account, the strongest context effects in words, e.g. "renewal in 15 days −12.0;
    customer for 400 days +1.2" (effects under MIN_EFFECT are left out)."""
    if context.empty or context.shape[1] == 0:
        return [""] * len(frame)
    vals = context.to_numpy()
    names = np.array(context.columns)
    shown = frame[list(names)].astype(object).to_numpy()
    order = np.argsort(-np.abs(vals), axis=1)[:, :top]
    out = []
    for i, idx in enumerate(order):
        parts = []
        for j in idx:
            if abs(vals[i, j]) < MIN_EFFECT or pd.isna(shown[i, j]):
                continue
            words = CONTEXT_WORDS.get(names[j], lambda v, n=names[j]: f"{n.replace('_', ' ')} {v}")
            parts.append(f"{words(shown[i, j])} {vals[i, j]:+.1f}")
        out.append("; ".join(parts))
    return out


def shown_value(v: object) -> str:
    """A feature's value as a CSM reads it: three significant digits, thousands whole."""
    if isinstance(v, bool | np.bool_) or not isinstance(v, float | np.floating):
        return str(v)
    if not np.isfinite(v):
        return str(v)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def drivers(effects: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Top risk (most negative) and protective (most positive) drivers per account: feature,
    its value as shown to a CSM, and its effect in health points."""
    cols = {}
    vals = effects.to_numpy()
    names = np.array(effects.columns)
    shown = frame[list(names)].astype(object).to_numpy()
    rows = np.arange(len(vals))
    order = np.argsort(vals, axis=1)
    for kind, idx in (("risk", order[:, :TOP]), ("protective", order[:, ::-1][:, :TOP])):
        for k in range(TOP):
            j = idx[:, k]
            eff = vals[rows, j]
            keep = (eff <= -MIN_EFFECT) if kind == "risk" else (eff >= MIN_EFFECT)
            cols[f"{kind}_{k + 1}_feature"] = np.where(keep, names[j], None)
            cols[f"{kind}_{k + 1}_value"] = [
                shown_value(v) if ok else None for v, ok in zip(shown[rows, j], keep, strict=True)
            ]
            cols[f"{kind}_{k + 1}_effect"] = np.where(keep, np.round(eff, 1), np.nan)
    return pd.DataFrame(cols, index=frame.index)


def trend(scores: pd.DataFrame, inputs: pd.DataFrame, band: float) -> pd.DataFrame:
    """Changes over 30 and 90 days, momentum and a 90-day projection from the history.

    `inputs`: per account (index) the history's summary before the as-of date
    (`scoring.history.trend_inputs`): the references of the 30- and 90-day changes (the latest
    health at least 25 and 85 days back) and the least-squares sums over the last 95 days.
    Momentum is stable while the 30-day change stays within ± `band`; the projection extends
    the slope of those 95 days' health, today's included, by 90 days.
    """
    out = pd.DataFrame(index=scores.index)
    past = inputs.reindex(scores.account_id.to_numpy())
    health = scores.health_score.to_numpy(float)
    for days in (30, 90):
        out[f"health_change_{days}d"] = health - past[f"health_{days}d"].to_numpy(float)
    change = out.health_change_30d
    out["momentum"] = np.select(
        [change > band, change < -band], ["improving", "declining"], "stable"
    )
    out.loc[change.isna(), "momentum"] = "stable"
    sums = past[["n", "t", "h", "th", "tt"]].fillna(0.0).to_numpy(float)
    n, t, h, th, tt = sums.T
    n, h = n + 1, h + health  # today's score: t = 0 adds nothing to t, th and tt
    denom = n * tt - t**2
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(denom > 0, (n * th - t * h) / denom, 0.0)
    projected = health + 90 * slope
    out["projected_health_90d"] = np.clip(projected, 0, 100).round().astype(int)
    return out


def summarize(scores: pd.DataFrame) -> dict:
    """Accounts and ARR per tier, ARR at risk, improving/declining counts, per segment."""

    def block(df: pd.DataFrame) -> dict:
        tiers = {
            t: {"accounts": int((df.tier == t).sum()), "arr": float(df.arr[df.tier == t].sum())}
            for t in TIERS
        }
        risky = df.tier.isin(FLAGGED)
        return {
            "accounts": len(df),
            "arr": float(df.arr.sum()),
            "tiers": tiers,
            "arr_at_risk": float(df.arr[risky].sum()),
            "expected_churned_arr_90d": float((df.arr * df.p_churn_90d).sum()),
            "expected_churned_arr_horizon": float((df.arr * df.churn_probability).sum()),
            "improving": int((df.momentum == "improving").sum()),
            "declining": int((df.momentum == "declining").sum()),
            "mean_health": float(df.health_score.mean()),
        }

    return {
        "as_of": str(scores.as_of.iloc[0].date()),
        "portfolio": block(scores),
        "segments": {s: block(g) for s, g in scores.groupby("segment")},
    }
