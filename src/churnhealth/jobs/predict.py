"""`churnhealth predict` and `churnhealth explain`: the batch job a customer-success team runs
daily or weekly, and one account's score taken apart.

predict scores every active account at an as-of date with the champion: churn probability,
health, tier, the drivers behind the score in health points, trend against the health history
and the playbooks that apply. It writes the scores atomically, upserts the history, appends
alerts (and posts them to the webhook when one is set) and writes a portfolio summary.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import check_writable, write_frame, write_json
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.locks import locked
from churnhealth.progress import Stage, no_stage
from churnhealth.scoring import history, playbooks
from churnhealth.scoring.forecast import forecast
from churnhealth.scoring.scorer import Scorer, context_summary, summarize


@dataclass
class PredictResult:
    """The scores (one row per active account), the portfolio summary (summary.json) and
    where the scores were written."""

    scores: pd.DataFrame
    summary: dict
    out: Path


def predict(
    cfg: Config,
    data: Path | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    out: Path | None = None,
    stage: Stage = no_stage,
) -> PredictResult:
    """Score every active account at `as_of` (default: the latest date the data allows).

    The run holds the history's lock from reading it to the last write, so two runs on the same
    history follow one another instead of interleaving (see `churnhealth.locks`)."""
    done = stage("loading model and data", 1)
    if out is not None:
        check_writable(out, "--out", (".parquet", ".csv"))
    plays = playbooks.load_playbooks(cfg.predict.playbooks)
    lm = tracking.load_model(cfg, model)
    scorer = Scorer(model=lm.model, config=cfg, version=lm.version)
    with locked(cfg.predict.history, what=f"predict.history {cfg.predict.history}"):
        past = history.read(cfg.predict.history, lm.version)
        backfill_days = cfg.predict.backfill_days if past.empty else 0
        source, dates = scorer.open(data, as_of, backfill_days)
        day = dates.day
        out = check_writable(
            out or cfg.predict.out_dir / f"scores-{day.date()}.parquet",
            "--out",
            (".parquet", ".csv"),
        )
        previous = playbooks.previous_alerts(cfg.predict.alerts)
        done()
        if dates.backfill:
            done = stage("backfilling history", 1)
            filled = scorer.score(scorer.features(source, dates.backfill))
            history.upsert(cfg.predict.history, filled)
            past = history.read(cfg.predict.history, lm.version)
            done()
        done = stage("scoring and explaining", 1)
        frame = scorer.features(source, [day])
        curve = scorer.curve(frame)
        scores = scorer.with_explanations(scorer.score(frame, curve), frame)
        scores = scorer.with_trend(scores, past[past.as_of < day])
        context = pd.concat([scores, frame[[c for c in frame.columns if c not in scores]]], axis=1)
        hits = playbooks.matches(context, plays)
        scores["playbooks"] = [
            ",".join(n for n, h in hits.items() if h[i]) for i in range(len(scores))
        ]
        alerts = playbooks.trigger(context, plays, previous, hits)
        done()
        done = stage("writing", 1)
        write_frame(out, scores)
        history.upsert(cfg.predict.history, scores)
        playbooks.append(cfg.predict.alerts, alerts)
        summary = summarize(scores)
        f = cfg.forecast
        summary["forecast"] = forecast(
            scores, curve, interval=f.interval, draws=f.draws, seed=f.seed
        )
        summary.update(
            {
                "model_version": lm.version,
                "model": lm.source,
                "scores": str(out),
                "alerts": {n: sum(a["playbook"] == n for a in alerts) for n in hits},
                "alerts_file": str(cfg.predict.alerts),
                "notes": lm.notes,
            }
        )
        done()
        url = os.environ.get(playbooks.WEBHOOK_ENV)
        if url and alerts:
            done = stage("posting alerts", 1)
            sent, failed = playbooks.deliver(url, playbooks.slack_messages(alerts))
            summary["webhook"] = {"delivered": sent, "failed": failed}
            done()
        write_json(out.with_name("summary.json"), summary)
    return PredictResult(scores, summary, out)


@dataclass
class Explanation:
    """One account's score, explained: what `churnhealth explain` prints."""

    row: pd.Series
    """The account's scores row, with its baseline health and trend."""
    dimensions: pd.Series
    """Effect of each dimension (signals only), in health points."""
    drivers: pd.DataFrame
    """feature, dimension, value, segment median, effect (health points), sorted by |effect|:
    signals a CSM can act on; the context's effect is in `row.effect_context` and, in words,
    `row.context`."""
    history: pd.DataFrame
    """The account's past scores: as_of, health_score, tier."""


def explain(
    cfg: Config,
    account_id: str,
    data: Path | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    top: int = 8,
) -> Explanation:
    """Score one account at an as-of date and break its health down by dimension and driver,
    comparing each driver's value with the typical (median) value in the account's segment."""
    lm = tracking.load_model(cfg, model)
    scorer = Scorer(model=lm.model, config=cfg, version=lm.version)
    source, dates = scorer.open(data, as_of)
    day = dates.day
    frame = scorer.features(source, [day])
    scores = scorer.score(frame)
    match = np.flatnonzero(scores.account_id.to_numpy() == account_id)
    if len(match) == 0:
        raise ChurnhealthError(f"account {account_id}: not an active account on {day.date()}")
    i = int(match[0])
    effects, base = scorer.explain(frame.iloc[[i]])
    signals, context = scorer.split(effects)
    dims = scorer.dimensions(signals).iloc[0]
    segment = frame.segment.iloc[i]
    peers = frame[frame.segment == segment]
    eff = signals.iloc[0]
    order = eff.abs().sort_values(ascending=False).index[:top]
    drivers = pd.DataFrame(
        {
            "feature": order,
            "dimension": [lm.model.dimensions.get(f, "") for f in order],
            "value": [frame.iloc[i][f] for f in order],
            "segment_median": [
                peers[f].median()
                if pd.api.types.is_numeric_dtype(peers[f])
                else peers[f].mode().iloc[0]
                for f in order
            ],
            "effect": eff[order].to_numpy(),
        }
    )
    with locked(cfg.predict.history, shared=True, what=f"predict.history {cfg.predict.history}"):
        past = history.read(cfg.predict.history, lm.version)
    past = past[(past.account_id == account_id) & (past.as_of <= day)]
    row = scorer.with_trend(scores.iloc[[i]], past[past.as_of < day]).iloc[0].copy()
    row["baseline_health"] = float(base.iloc[0])
    row["effect_context"] = float(context.iloc[0].sum())
    row["context"] = context_summary(context, frame.iloc[[i]], top=len(context.columns))[0]
    return Explanation(row, dims, drivers, past[["as_of", "health_score", "tier"]])
