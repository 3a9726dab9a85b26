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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import check_writable, write_frame, write_json
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import judged
from churnhealth.location import source_label
from churnhealth.locks import locked
from churnhealth.memory import release
from churnhealth.progress import Stage, no_stage
from churnhealth.scoring import (
    capacity,
    explanation,
    history,
    overrides,
    playbooks,
    portfolio,
    saving,
)
from churnhealth.scoring.forecast import forecast
from churnhealth.scoring.people import People, read_accounts
from churnhealth.scoring.scorer import SCORE_COLUMNS, Scorer
from churnhealth.scoring.summary import PortfolioSummary, Share, Webhook, bridges, summarize
from churnhealth.scoring.words import TOP, context_summary, typical_values


@dataclass
class PredictResult:
    """The scores (one row per active account), the portfolio summary (summary.json) and
    where the scores were written."""

    scores: pd.DataFrame
    summary: PortfolioSummary
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
    scorer = lm.bundle.scorer(cfg, lm.version)
    chunk = cfg.predict.chunk_accounts
    with locked(cfg.predict.history, what=f"predict.history {cfg.predict.history}"):
        # every scheduled date of the last backfill_days the history misses is scored first,
        # into an empty history or one with a gap, so that trends read from scores that exist
        scored = history.as_of_dates(cfg.predict.history, lm.version)
        source, dates = scorer.open(data, as_of, cfg.predict.backfill_days, scored)
        day = dates.day
        out = check_writable(
            out or cfg.predict.out_dir / f"scores-{day.date()}.parquet",
            "--out",
            (".parquet", ".csv"),
        )
        previous = playbooks.previous_alerts(cfg.predict.alerts)
        # a history holds one data source's scores: another company's would feed its trends,
        # block its backfill and count in the report's outcomes
        label = source_label(source.path)
        ranking = _saving(cfg, label, day, lm.model.horizon_days)  # before anything is written
        roster = read_accounts(source)  # one read: the source check, names and owners
        people = People.of(roster, cfg.predict.crm_url)
        moved = history.check_source(cfg.predict.history, label, roster[["account_id", "segment"]])
        history.record_source(cfg.predict.history, label)
        done()
        if dates.backfill:
            groups = date_groups(dates.backfill, len(roster), chunk)
            done = stage("backfilling history", len(groups))
            for group in groups:
                frame = scorer.features(source, group)
                for _, rows in frame.groupby("as_of", sort=True):
                    history.upsert(cfg.predict.history, _scored(scorer, rows, chunk))
                del frame, rows
                release()
                done()
        done = stage("building features", 1)
        frame = scorer.features(source, [day])
        source.close()
        release()
        # drivers are checked against the whole book's medians, whatever the chunk
        typical = typical_values(frame, list(scorer.healthier))
        inputs = history.trend_inputs(cfg.predict.history, lm.version, day)
        forced = overrides.in_force(cfg.predict.history, day)
        done()
        parts, curves, alerts = [], [], []
        matched = dict.fromkeys((pb.name for pb in plays.playbooks), 0)
        done = stage("scoring and explaining", max(1, -(-len(frame) // chunk)))
        for lo in range(0, max(len(frame), 1), chunk):
            batch = scorer.score_batch(
                frame.iloc[lo : lo + chunk],
                explain=True,
                expansion="worth",
                trend_inputs=inputs,
                forced=forced,
                plays=plays,
                typical=typical,
                saving=ranking,
            )
            alerts += playbooks.trigger(
                batch.context, plays, previous, batch.hits, people, scorer.readings, scorer.currency
            )
            for name, hit in batch.hits.items():
                matched[name] += int(hit.sum())
            parts.append(batch.scores.reindex(columns=SCORE_COLUMNS))  # save_list: below
            curves.append(batch.curve)
            done()
        del frame
        scores = pd.concat(parts, ignore_index=True)
        curve = np.concatenate(curves)
        # the save list: no more plays than the team can have under way
        room = cfg.predict.capacity
        if ranking.ranks:  # accounts outside the save plays' conditions compete by their saving
            alerts += _by_saving(scores, plays, previous, day, cfg, people, scorer)
        alerts, held, rooms = capacity.limit(
            alerts,
            plays,
            previous,
            day,
            team=room.limit(len(scores)),
            per_owner=room.per_owner,
            owners=people.owners,
            key=ranking.rank_key,
        )
        # a random share of a playbook's alerts held out to measure it (holdout_share)
        alerts = playbooks.hold_out(alerts, plays)
        save = {pb.name for pb in plays.playbooks if pb.capacity}
        scores["save_list"] = capacity.status(
            scores.account_id,
            [a for a in alerts if a["playbook"] in save],
            {k: v for k, v in held.items() if k in save},
            capacity.under_way(previous, save, day, plays.cooldown_days),
        )
        order = {pb.name: i for i, pb in enumerate(plays.playbooks)}
        alerts.sort(key=lambda a: order[a["playbook"]])  # by playbook, then account order
        done = stage("writing", 1)
        write_frame(out, scores)
        history.upsert(  # the model's health: overrides never feed the trend or a label
            cfg.predict.history,
            scores.assign(health_score=scores.model_health, tier=scores.model_tier),
        )
        playbooks.append(cfg.predict.alerts, alerts)
        f = cfg.forecast
        fc = forecast(scores, curve, interval=f.interval, draws=f.draws, seed=f.seed)
        done()
        url = os.environ.get(playbooks.WEBHOOK_ENV)
        hook = None
        sent_out = [a for a in alerts if not a["held_out"]]  # a held-out alert is not sent
        if url and sent_out:
            done = stage("posting alerts", 1)
            messages = playbooks.slack_messages(sent_out, log=cfg.predict.alerts.name)
            sent, failed = playbooks.deliver(url, messages)
            hook = Webhook(delivered=sent, failed=failed)
            done()
        page = out.with_name("portfolio.html") if cfg.predict.portfolio_accounts else None
        book, segments = summarize(scores)
        raised = Counter(a["playbook"] for a in alerts)
        outsiders = Counter(a["playbook"] for a in alerts if a.get("by_saving"))
        ready = scores.expansion_tier == "ready"
        summary = PortfolioSummary(
            as_of=str(day.date()),
            source=label,
            currency=cfg.data.currency,
            portfolio=book,
            segments=segments,
            forecast=fc,
            compared=int(scores.health_change_30d.notna().sum()),
            tiered_by=scorer.tiered_by(scores.segment.unique()),
            model_version=lm.version,
            model=lm.source,
            scores=str(out),
            alerts={n: raised[n] for n in order},
            matched=matched,
            waiting={n: len(held.get(n, [])) for n in order if n in held},
            cooling_down={
                n: matched[n] - (raised[n] - outsiders[n]) - len(held.get(n, [])) for n in order
            },
            rooms=rooms,
            by_saving={n: k for n, k in outsiders.items() if k},
            ranked_by_saving=ranking.ranks,
            ranked_by=ranking.note,
            held_out={
                n: k
                for n in order
                if (k := sum(a["held_out"] for a in alerts if a["playbook"] == n))
            },
            alerts_file=str(cfg.predict.alerts),
            overrides_in_force=int(scores.csm_health.notna().sum()),
            expansion_ready=None
            if scores.expansion_tier.isna().all()
            else Share(accounts=int(ready.sum()), arr=float(scores.arr[ready].sum())),
            bridge=bridges(scores, lm.model.horizon_days),
            at_risk_for={
                why: Share(accounts=len(g), arr=float(g.arr.sum()))
                for why, g in scores.groupby("at_risk_for")
            },
            notes=[*lm.notes, *([moved] if moved else [])],
            problems=[
                *lm.problems,
                *playbooks.too_broad(matched, len(scores), plays, cfg.predict.playbook_warn_share),
            ],
            judged=judged.table(lm.bundle.judged).to_dict("records") if lm.bundle.judged else None,
            health_checked=judged.headline(lm.bundle.judged, lm.model.horizon_days),
            webhook=hook,
            portfolio_page=None if page is None else str(page),
        )
        if page is not None:
            done = stage("portfolio page", 1)
            keep = scores.account_id.to_numpy()[
                portfolio.at_stake_order(scores)[: cfg.predict.portfolio_accounts]
            ]
            since = day - pd.Timedelta(days=portfolio.TREND_DAYS)
            trend = history.points(cfg.predict.history, lm.version, list(keep), since, day)
            recent = previous[previous.as_of > day - pd.Timedelta(days=plays.cooldown_days)]
            shown = [*recent.assign(as_of=recent.as_of.astype(str)).to_dict("records"), *alerts]
            labels = {f: r.label for f, r in scorer.readings.items()}
            portfolio.write(
                page, scores, summary, trend, shown, cfg.predict.portfolio_accounts, people, labels
            )
            done()
        write_json(out.with_name("summary.json"), summary.to_json())
    return PredictResult(scores, summary, out)


SAVING_ACTION = (
    "Not flagged for its signals, but the play below is expected to keep more ARR here than on "
    "the accounts left waiting: run it"
)
"""The action of a save-play alert raised for the ARR a play saves on an account its conditions
did not match (`_by_saving`)."""


def _by_saving(
    scores: pd.DataFrame,
    plays: playbooks.Playbooks,
    previous: pd.DataFrame,
    day: pd.Timestamp,
    cfg: Config,
    people: People,
    scorer: Scorer,
) -> list[dict]:
    """Alerts of the first save play for the accounts its conditions did not match but whose
    expected ARR saved may earn them a place on the save list (`capacity.by_saving`), marked
    `by_saving`: one that gets no place is not listed as waiting."""
    save = [pb for pb in plays.playbooks if pb.capacity]
    if not save:
        return []
    names = {pb.name for pb in save}
    room = cfg.predict.capacity
    busy = capacity.under_way(previous, names, day, plays.cooldown_days)
    places = len(scores) if room.per_owner is not None else room.limit(len(scores)) + len(busy)
    rows = capacity.by_saving(scores, names, places)
    # its action is the save play's, for accounts at risk: these were chosen for the saving
    chosen = save[0].model_copy(update={"action": SAVING_ACTION})
    one = plays.model_copy(update={"playbooks": [chosen]})
    hits = {save[0].name: np.ones(len(rows), bool)}
    raised = playbooks.trigger(rows, one, previous, hits, people, scorer.readings, scorer.currency)
    return [{**a, "by_saving": True} for a in raised]


def _saving(cfg: Config, label: str, day: pd.Timestamp, horizon_days: int) -> saving.Saving:
    """How this run ranks the save list: by the plays' measured effects when they can be
    trusted for this data and day (`scoring.saving`), else by expected ARR lost."""
    if not cfg.predict.rank_by_effects:
        return saving.Saving(note="ranked by expected ARR lost (predict.rank_by_effects: false)")
    path = cfg.predict.effects or Path(cfg.paths.reports_dir) / "effects.json"
    return saving.load(path, source=label, day=day, horizon_days=horizon_days)


def date_groups(dates: list[pd.Timestamp], accounts: int, rows: int) -> list[list[pd.Timestamp]]:
    """The backfill's as-of dates in groups whose feature rows (about `accounts` per date)
    stay within `rows`: one pass over the data per group, never more rows held at once."""
    per = max(1, rows // max(accounts, 1))
    return [dates[i : i + per] for i in range(0, len(dates), per)]


def _scored(scorer: Scorer, frame: pd.DataFrame, chunk: int) -> pd.DataFrame:
    """The scores without explanations (what the history keeps), `chunk` accounts at a time."""
    parts = [
        scorer.score_batch(frame.iloc[lo : lo + chunk]).scores for lo in range(0, len(frame), chunk)
    ]
    return pd.concat(parts, ignore_index=True) if parts else scorer.score_batch(frame).scores


def explain(
    cfg: Config,
    account_id: str,
    data: Path | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    top: int = 8,
) -> explanation.Explanation:
    """Score one account at an as-of date and break its health down by dimension and driver,
    comparing each driver's value with the typical (median) value in the account's segment."""
    lm = tracking.load_model(cfg, model)
    scorer = lm.bundle.scorer(cfg, lm.version)
    source, dates = scorer.open(data, as_of)
    day = dates.day
    ranking = _saving(cfg, source_label(source.path), day, lm.model.horizon_days)
    frame = scorer.features(source, [day])
    people = People.of(read_accounts(source), cfg.predict.crm_url)
    name, owner = people.names.get(account_id), people.owners.get(account_id)
    match = np.flatnonzero(frame.account_id.to_numpy() == account_id)
    if len(match) == 0:
        raise ChurnhealthError(f"account {account_id}: not an active account on {day.date()}")
    i = int(match[0])
    effects, base = scorer.explain(frame.iloc[[i]])
    signals, context = scorer.split(effects)
    dims = scorer.dimensions(signals).iloc[0]
    drivers = explanation.strongest(
        frame,
        i,
        signals.iloc[0],
        lm.model.dimensions,
        scorer.readings,
        top,
        scorer.healthier,
        scorer.currency,
    )
    with locked(cfg.predict.history, shared=True, what=f"predict.history {cfg.predict.history}"):
        past = history.read(cfg.predict.history, lm.version, account_id)
        inputs = history.trend_inputs(cfg.predict.history, lm.version, day, account_id)
        forced = overrides.in_force(cfg.predict.history, day, account_id)
    past = past[past.as_of <= day]
    batch = scorer.score_batch(
        frame.iloc[[i]],
        explain=True,  # the playbooks read the signals' effect and why the account is flagged
        expansion="every",
        trend_inputs=inputs,
        forced=forced,
        plays=playbooks.load_playbooks(cfg.predict.playbooks),
        typical=typical_values(frame, list(scorer.healthier)),
        saving=ranking,
    )
    row = batch.scores.iloc[0].copy()
    row["baseline_health"] = float(base.iloc[0])
    row["effect_context"] = float(context.iloc[0].sum())
    row["effect_signals"] = float(signals.iloc[0].sum())
    row["context"] = context_summary(
        context, frame.iloc[[i]], len(context.columns), scorer.readings, scorer.currency
    )[0]
    raised = playbooks.previous_alerts(cfg.predict.alerts)
    raised = raised[(raised.account_id == account_id) & (raised.as_of <= day)]
    return explanation.explained(
        row,
        dimensions=dims,
        drivers=drivers,
        history=past,
        horizon_days=cfg.labels.health_horizon_days,
        top=TOP,
        readings=scorer.readings,
        alerts=raised,
        name=name,
        owner=owner,
        crm=people.link(account_id),
        currency=cfg.data.currency,
        ranked_by=ranking.note,
    )
