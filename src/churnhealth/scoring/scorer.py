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
from churnhealth.data.source import Source
from churnhealth.data.validate import open_validated
from churnhealth.features import RunDates, build_features, run_dates
from churnhealth.features.build import lookback
from churnhealth.features.spec import DIMENSIONS
from churnhealth.models.routed import HealthModel
from churnhealth.models.tiers import FLAGGED, TIERS, Cutoffs, health_score
from churnhealth.scoring.explain import dimension_effects, health_effects

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
SCORE_COLUMNS = [
    *ID_COLUMNS,
    "churn_probability",
    "health_score",
    "tier",
    "model_version",
    "baseline_health",
    *[f"effect_{d}" for d in DIMENSIONS],
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

        source = open_validated(data or cfg.data.path, cfg.data.segments, since=reads)
        return source, run_dates(cfg, source, as_of, backfill_days)

    # ---------------------------------------------------------------- scores
    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Identifying columns, churn probability, health, tier and the model version."""
        out = frame[ID_COLUMNS].copy()
        p = self.model.predict_proba(frame)
        out["churn_probability"] = p
        out["health_score"] = health_score(p)
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

    def with_explanations(self, scores: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
        """`scores` plus the baseline health, the effect of each dimension and the top risk
        and protective drivers."""
        effects, base = self.explain(frame)
        dims = self.dimensions(effects)
        out = scores.copy()
        out["baseline_health"] = base.round(1).to_numpy()
        for d in DIMENSIONS:
            out[f"effect_{d}"] = dims[d].round(1).to_numpy() if d in dims else 0.0
        return pd.concat([out, drivers(effects, frame)], axis=1)

    # ------------------------------------------------------------------ trend
    def with_trend(self, scores: pd.DataFrame, past: pd.DataFrame) -> pd.DataFrame:
        """`scores` plus the 30- and 90-day changes, momentum and projection (see `trend`)."""
        return pd.concat([scores, trend(scores, past, self.config.predict.stable_band)], axis=1)


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
                str(v) if ok else None for v, ok in zip(shown[rows, j], keep, strict=True)
            ]
            cols[f"{kind}_{k + 1}_effect"] = np.where(keep, np.round(eff, 1), np.nan)
    return pd.DataFrame(cols, index=frame.index)


def trend(scores: pd.DataFrame, past: pd.DataFrame, band: float) -> pd.DataFrame:
    """Changes over 30 and 90 days, momentum and a 90-day projection from the history.

    `past`: earlier history rows (account_id, as_of, health_score). Momentum is stable while
    the 30-day change stays within ± `band`; the projection extends the least-squares slope of
    the last 95 days of health by 90 days.
    """
    out = pd.DataFrame(index=scores.index)
    as_of = scores.as_of.iloc[0]
    for days in (30, 90):
        ref = past[past.as_of <= as_of - pd.Timedelta(days=days - 5)]
        last = ref.sort_values("as_of").groupby("account_id").tail(1).set_index("account_id")
        out[f"health_change_{days}d"] = (
            scores.health_score - scores.account_id.map(last.health_score)
        ).astype(float)
    change = out.health_change_30d
    out["momentum"] = np.select(
        [change > band, change < -band], ["improving", "declining"], "stable"
    )
    out.loc[change.isna(), "momentum"] = "stable"
    window = past[past.as_of >= as_of - pd.Timedelta(days=95)]
    pts = pd.concat(
        [
            window[["account_id", "as_of", "health_score"]],
            scores[["account_id", "as_of", "health_score"]],
        ]
    )
    t = (pts.as_of - as_of).dt.days.astype(float)
    h = pts.health_score.astype(float)
    sums = (
        pd.DataFrame({"n": 1.0, "t": t, "h": h, "th": t * h, "tt": t * t})
        .groupby(pts.account_id.to_numpy())
        .sum()
    )
    denom = sums.n * sums.tt - sums.t**2
    slope = ((sums.n * sums.th - sums.t * sums.h) / denom.where(denom > 0)).fillna(0.0)
    projected = scores.health_score + 90 * scores.account_id.map(slope).fillna(0.0)
    out["projected_health_90d"] = projected.clip(0, 100).round().astype(int)
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
            "expected_churned_arr_90d": float((df.arr * df.churn_probability).sum()),
            "improving": int((df.momentum == "improving").sum()),
            "declining": int((df.momentum == "declining").sum()),
            "mean_health": float(df.health_score.mean()),
        }

    return {
        "as_of": str(scores.as_of.iloc[0].date()),
        "portfolio": block(scores),
        "segments": {s: block(g) for s, g in scores.groupby("segment")},
    }
