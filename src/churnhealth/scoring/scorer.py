"""The scorer: from a model and point-in-time features to what a CSM reads.

Probability → health, tiers with the configured overrides, dimension effects and drivers in
health points, trend and momentum against the health history, and the portfolio summary.
`predict`, `explain`, the backtest and the monitor all score through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from churnhealth.config import Config
from churnhealth.data.load import open_configured
from churnhealth.data.source import Source
from churnhealth.features import GRID_FEATURES, RunDates, build_features, run_dates
from churnhealth.features.build import lookback
from churnhealth.features.formats import Reading, readings
from churnhealth.features.spec import DIMENSIONS, directions
from churnhealth.models import hazard
from churnhealth.models.expansion import ExpansionModel, expansion_score
from churnhealth.models.routed import HealthModel
from churnhealth.models.tiers import FLAGGED, Cutoffs, health_score, meanings
from churnhealth.scoring import overrides, playbooks
from churnhealth.scoring.explain import (
    dimension_effects,
    expansion_effects,
    explained_hazards,
    health_effects,
)
from churnhealth.scoring.history import trend
from churnhealth.scoring.playbooks import Playbooks
from churnhealth.scoring.saving import SAVING_COLUMNS, Saving
from churnhealth.scoring.summary import Tiers
from churnhealth.scoring.words import TOP, context_summary, drivers

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
    "at_risk_for",
    "model_version",
    "baseline_health",
    *[f"effect_{d}" for d in DIMENSIONS],
    "effect_signals",
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
    *SAVING_COLUMNS,
    "playbooks",
    "save_list",
]
"""The columns of a scores file, in order (documented in docs/predict.md)."""


@dataclass(kw_only=True)
class Batch:
    """One batch of accounts through the scoring chain (`Scorer.score_batch`)."""

    scores: pd.DataFrame
    """One row per account: the scores file's columns the chain's steps produced."""
    curve: np.ndarray
    """P(churn within k months), k = 1..steps, per account (the forecast reads it)."""
    context: pd.DataFrame | None = None
    """With playbooks: the scores with the feature columns beside them (what alerts read)."""
    hits: dict[str, np.ndarray] = field(default_factory=dict)
    """With playbooks: playbook name → which accounts match it."""


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
        self,
        data: Path | None,
        as_of: dt.date | None,
        backfill_days: int = 0,
        scored: Collection[pd.Timestamp] = (),
    ) -> tuple[Source, RunDates]:
        """Validated data and the dates to score: the as-of date, and the scheduled dates of
        the `backfill_days` before it that are not `scored` yet.

        Only the rows that the model's features at those dates read are validated: per table,
        those within its longest window before the first date (see `features.build.lookback`).
        """
        cfg = self.config
        windows = lookback(self.model.metrics(cfg.data.segments))

        def reads(source: Source) -> dict[str, dt.date]:
            d = run_dates(cfg, source, as_of, backfill_days, scored)
            first = min([d.day, *d.backfill])
            return {
                table: (first - pd.Timedelta(days=days)).date()
                for table, days in windows.items()
                if days is not None
            }

        source = open_configured(cfg, data, since=reads)
        return source, run_dates(cfg, source, as_of, backfill_days, scored)

    # ----------------------------------------------------------------- chain
    def score_batch(
        self,
        frame: pd.DataFrame,
        *,
        explain: bool = False,
        expansion: Literal["none", "worth", "every"] = "none",
        trend_inputs: pd.DataFrame | None = None,
        forced: pd.DataFrame | None = None,
        plays: Playbooks | None = None,
        typical: pd.DataFrame | None = None,
        saving: Saving | None = None,
    ) -> Batch:
        """The scoring chain, in its one order, for one batch of feature rows (`features`).

        Churn curve → probabilities, health and tier (`score`) → with `explain`, effects and
        drivers in health points → the expansion score (`with_expansion`: drivers for the
        accounts "worth" a conversation, or "every" one) → with `trend_inputs` (from
        `history.trend_inputs`), trend and momentum → with `forced` (`overrides.in_force`), the CSM
        overrides and the tiers they move → with `saving` (`saving.load`), the best play and
        the ARR it is expected to save → with `plays`, the playbooks each account matches.
        `typical`: the book's medians per as-of date and segment (`words.typical_values`) that
        drivers are checked against, when `frame` is a chunk of it.
        predict, explain, the backtest, the monitor and the test window all score through it.
        """
        if explain:  # the explanation's walk of the trees gives the curve too
            effects, base, hazards = explained_hazards(self.model, frame)
            curve = hazard.curve(hazards)
            scores = self.with_explanations(
                self.score(frame, curve), frame, (effects, base), typical
            )
        else:
            curve = self.curve(frame)
            scores = self.score(frame, curve)
        if expansion != "none":
            scores = self.with_expansion(scores, frame, every=expansion == "every")
        if trend_inputs is not None:
            scores = self.with_trend(scores, trend_inputs)
        if forced is not None:
            scores = overrides.apply(
                scores,
                forced,
                lambda health: self.tiers(frame, health),
                wins=self.config.predict.override_wins,
            )
        if "effect_signals" in scores:  # after the overrides: the tier a team works from
            scores["at_risk_for"] = at_risk_for(
                scores.tier,
                scores.effect_signals,
                self.config.predict.actionable_points,
                csm=scores.get("health_source", pd.Series(None, index=scores.index)) == "csm",
            )
        if saving is not None:
            scores = saving.score(scores)
        context, hits = None, {}
        if plays is not None:
            context = pd.concat(
                [scores, frame[[c for c in frame.columns if c not in scores]]], axis=1
            )
            hits = playbooks.matches(context, plays)
            scores["playbooks"] = [
                ",".join(n for n, h in hits.items() if h[i]) for i in range(len(scores))
            ]
        return Batch(scores=scores, curve=curve, context=context, hits=hits)

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
        """Each account's tier under `cutoffs` (with `overrides`), else the model's learned
        cut-offs alone."""
        if not self.overrides:
            return self.model.tiers(frame, health)
        out = np.empty(len(frame), dtype=object)
        groups = frame.groupby(["segment", "lifecycle_stage"], observed=True).indices
        for (seg, stage), rows in groups.items():
            out[rows] = self.cutoffs(seg, stage).tier(health[rows])
        return out

    def cutoffs(self, segment: str, stage: str | None = None) -> Cutoffs:
        """The cut-offs an account of `segment` in lifecycle `stage` is tiered by: the
        config's lifecycle override, else its segment override, else predict.tiers (the
        bands, or the model's cut-offs learned for the segment)."""
        hm, predict = self.model, self.config.predict
        if o := predict.lifecycle_tiers.get(stage) if stage else None:
            return Cutoffs(int(o.healthy), int(o.at_risk), int(o.critical), "lifecycle")
        if o := predict.segment_tiers.get(segment):
            return Cutoffs(int(o.healthy), int(o.at_risk), int(o.critical), "segment")
        if predict.tiers == "bands":
            b = predict.bands
            return Cutoffs(int(b.healthy), int(b.at_risk), int(b.critical), "bands")
        return hm.cutoffs.get(segment, hm.cutoffs[hm.GLOBAL])

    def tiered_by(self, segments: Collection[str]) -> dict[str, Tiers]:
        """Per segment, the cut-offs its accounts are tiered by and what each tier means."""
        out = {}
        for seg in sorted(segments):
            cut = self.cutoffs(seg)
            out[seg] = Tiers(
                source=cut.source,
                healthy=cut.healthy,
                at_risk=cut.at_risk,
                critical=cut.critical,
                meanings=meanings(cut, self.model.horizon_days),
            )
        return out

    # ----------------------------------------------------------- explanations
    def explain(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """Each feature's effect on each account's health (health points) and the baseline
        health of the model that scored it; see `scoring.explain`."""
        return health_effects(self.model, frame)

    def dimensions(self, effects: pd.DataFrame) -> pd.DataFrame:
        """Effects summed per dimension."""
        return dimension_effects(self.model, effects)

    @cached_property
    def healthier(self) -> dict[str, int]:
        """Signal → +1 when higher is healthier, -1 when lower is (the definitions the model
        was trained with; none for a model trained before directions were declared)."""
        return directions(self.model.metadata.get("definitions", []))

    @cached_property
    def readings(self) -> dict[str, Reading]:
        """Feature → how a person reads it: label, value format and what its missing value
        means (`features.formats`; from the definitions the model was trained with)."""
        return readings(self.model.metrics(self.config.data.segments))

    @property
    def currency(self) -> str:
        """The data's currency (`data.currency`): how money reads."""
        return self.config.data.currency

    @property
    def context(self) -> list[str]:
        """The model's context features (renewal timing, term, size…): reported apart."""
        return list(getattr(self.model, "context", None) or GRID_FEATURES)

    def split(self, effects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Effects of the signals a CSM can act on, and of the context."""
        context = [c for c in self.context if c in effects]
        return effects.drop(columns=context), effects[context]

    def with_explanations(
        self,
        scores: pd.DataFrame,
        frame: pd.DataFrame,
        explained: tuple[pd.DataFrame, pd.Series] | None = None,
        typical: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """`scores` plus the baseline health, the effect of each dimension (signals only), the
        effect of the context with its strongest items in words, and the top risk and
        protective drivers (signals only). Per account the dimension and context effects add
        up to health minus the baseline. `explained`: `explain(frame)` when already computed."""
        effects, base = explained if explained is not None else self.explain(frame)
        signals, context = self.split(effects)
        dims = self.dimensions(signals)
        out = scores.copy()
        out["baseline_health"] = base.round(1).to_numpy()
        for d in DIMENSIONS:
            out[f"effect_{d}"] = dims[d].round(1).to_numpy() if d in dims else 0.0
        out["effect_signals"] = signals.sum(axis=1).round(1).to_numpy()
        out["effect_context"] = context.sum(axis=1).round(1).to_numpy()
        out["context"] = context_summary(context, frame, 2, self.readings, self.currency)
        named = drivers(signals, frame, self.readings, self.healthier, typical, self.currency)
        return pd.concat([out, named], axis=1)

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
            top = drivers(signals, rows, self.readings, currency=self.currency)
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


def at_risk_for(
    tier: pd.Series, signals: pd.Series, points: float, csm: pd.Series | None = None
) -> np.ndarray:
    """Why a flagged account (at risk or critical) is flagged: "csm" when a CSM's override put
    it there (`csm`: rows whose override drives the tier), "signals" when the signals a CSM can
    act on pull its health down by at least `points`, else "contract" (its term, renewal timing
    or size: a matter for the renewal, not a save play); None for other tiers."""
    flagged = tier.isin(FLAGGED).to_numpy()
    why = np.where(signals.to_numpy(float) <= -points, "signals", "contract")
    if csm is not None:
        why = np.where(csm.to_numpy(bool), "csm", why)
    return np.where(flagged, why, None).astype(object)
