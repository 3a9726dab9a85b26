"""`churnhealth predict`: the batch job a customer-success team runs daily or weekly.

Scores every active account at an as-of date with the champion model: churn probability,
health, tier, trend against the health history, and the drivers behind the score in health
points. Writes the scores atomically, upserts the history and a portfolio summary.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth import history, playbooks
from churnhealth.atomic import write_frame, write_json
from churnhealth.config import Config, TierOverride
from churnhealth.data.source import Source
from churnhealth.data.validate import open_validated
from churnhealth.errors import ChurnhealthError
from churnhealth.explain import dimension_effects, health_effects
from churnhealth.features import build_features, data_window
from churnhealth.features.build import lookback
from churnhealth.features.grid import schedule
from churnhealth.features.spec import DIMENSIONS, check_metrics
from churnhealth.models.routed import HealthModel, load_health_model
from churnhealth.models.tiers import FLAGGED, TIERS, Cutoffs

TOP = 3
"""Drivers shown per account and direction; effects under 0.05 health points are left out."""


@dataclass
class LoadedModel:
    model: HealthModel
    version: str
    source: str


def load_model(cfg: Config, uri: str | None) -> LoadedModel:
    """--model URI or path; by default the registry's @champion, else models/champion/."""
    import mlflow

    from churnhealth import tracking

    candidates = [uri] if uri else []
    if not uri:
        tracking.configure(cfg)
        if tracking.current_champion(cfg.mlflow.registered_model):
            candidates.append(f"models:/{cfg.mlflow.registered_model}@champion")
        candidates.append(str(cfg.paths.champion_dir))
    errors = []
    for c in candidates:
        if "://" not in c and ":" not in c.split("/")[0] and not Path(c).exists():
            errors.append(f"{c}: no such model directory")
            continue
        try:
            pyfunc = mlflow.pyfunc.load_model(c)
        except Exception as exc:
            errors.append(f"{c}: {str(exc).strip().splitlines()[0][:200]}")
            continue
        return LoadedModel(load_health_model(pyfunc), _version_of(pyfunc, c), c)
    raise ChurnhealthError(
        "model: " + "; ".join(errors or ["no model found: run `make train` first"])
    )


def _version_of(pyfunc, uri: str) -> str:
    """Registered version for a registry URI or an exported champion; else the run id."""
    from mlflow.tracking import MlflowClient

    if uri.startswith("models:/"):
        ref = uri.removeprefix("models:/")
        name, _, alias = ref.partition("@")
        if alias:
            return str(MlflowClient().get_model_version_by_alias(name, alias).version)
        return ref.partition("/")[2]
    marker = Path(uri) / "registered_model.json"
    if marker.exists():
        return str(json.loads(marker.read_text())["version"])
    return f"run-{(pyfunc.metadata.run_id or 'unknown')[:8]}"


def assign_tiers(
    cfg: Config, hm: HealthModel, frame: pd.DataFrame, health: np.ndarray
) -> np.ndarray:
    """Model cut-offs per segment, then the config's segment and lifecycle overrides."""
    out = np.empty(len(frame), dtype=object)
    groups = frame.groupby(["segment", "lifecycle_stage"], observed=True).indices
    for (seg, stage), rows in groups.items():
        o: TierOverride | None = cfg.predict.lifecycle_tiers.get(
            stage
        ) or cfg.predict.segment_tiers.get(seg)
        cut = (
            Cutoffs(int(o.healthy), int(o.at_risk), int(o.critical), "config")
            if o
            else hm.cutoffs.get(seg, hm.cutoffs[hm.GLOBAL])
        )
        out[rows] = cut.tier(health[rows])
    return out


def _drivers(effects: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Top risk (most negative) and protective (most positive) drivers per account."""
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
            keep = (eff <= -0.05) if kind == "risk" else (eff >= 0.05)
            cols[f"{kind}_{k + 1}_feature"] = np.where(keep, names[j], None)
            cols[f"{kind}_{k + 1}_value"] = [
                str(v) if ok else None for v, ok in zip(shown[rows, j], keep, strict=True)
            ]
            cols[f"{kind}_{k + 1}_effect"] = np.where(keep, np.round(eff, 1), np.nan)
    return pd.DataFrame(cols, index=frame.index)


def _trend(scores: pd.DataFrame, past: pd.DataFrame, band: float) -> pd.DataFrame:
    """Changes over 30 and 90 days, momentum and a 90-day projection from the history."""
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


def _metrics(cfg: Config, lm: LoadedModel) -> list:
    """The metric definitions the model was trained with (they travel inside it)."""
    return check_metrics(lm.model.metadata["definitions"], cfg.data.segments, "model")


def _score(cfg: Config, lm: LoadedModel, source, dates: list[pd.Timestamp]) -> pd.DataFrame:
    hm = lm.model
    fs = build_features(source, cfg, _metrics(cfg, lm), dates=dates)
    frame = fs.frame.reset_index(drop=True)
    scored = hm.score(frame)
    out = frame[
        [
            "account_id",
            "as_of",
            "segment",
            "lifecycle_stage",
            "arr",
            "days_to_renewal",
            "renewal_date",
        ]
    ].copy()
    out["churn_probability"] = scored.churn_probability.to_numpy()
    out["health_score"] = scored.health_score.to_numpy()
    out["tier"] = assign_tiers(cfg, hm, frame, out.health_score.to_numpy())
    out["model_version"] = lm.version
    return out, frame


@dataclass
class RunDates:
    """What a run scores: the as-of date, and before it the dates that backfill the history."""

    day: pd.Timestamp
    backfill: list[pd.Timestamp]


def run_dates(cfg: Config, source, as_of: dt.date | None, backfill_days: int) -> RunDates:
    """By default the latest as-of date the data allows; backfill dates on the schedule."""
    start, end = data_window(source)
    day = pd.Timestamp(as_of) if as_of else end
    if not start < day <= end:
        raise ChurnhealthError(
            f"--as-of {day.date()}: outside the data, which allows as-of "
            f"dates from {start.date() + dt.timedelta(days=1)} to {end.date()}"
        )
    back = schedule(
        (day - pd.Timedelta(days=backfill_days + 7)).date(),
        (day - pd.Timedelta(days=1)).date(),
        cfg.features.schedule,
    )
    return RunDates(day, [d for d in back if d > start] if backfill_days else [])


def _open_at(
    cfg: Config, lm: LoadedModel, data: Path | None, as_of: dt.date | None, backfill_days: int = 0
) -> tuple[Source, RunDates]:
    """Validated data and the dates to score.

    Only the rows that the model's features at those dates read are validated: per table,
    those within its longest window before the first date (see `features.build.lookback`).
    """
    windows = lookback(_metrics(cfg, lm))

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


def predict(
    cfg: Config,
    data: Path | None = None,
    model: str | None = None,
    as_of: dt.date | None = None,
    out: Path | None = None,
    stage=None,
) -> dict:
    stage = stage or (lambda name, steps=1: lambda: None)
    done = stage("loading model and data", 1)
    plays = playbooks.load_playbooks(cfg.predict.playbooks)
    lm = load_model(cfg, model)
    past = history.read(cfg.predict.history, lm.version)
    backfill_days = cfg.predict.backfill_days if past.empty else 0
    source, dates = _open_at(cfg, lm, data, as_of, backfill_days)
    day = dates.day
    out = Path(out or cfg.predict.out_dir / f"scores-{day.date()}.parquet")
    if out.suffix not in (".parquet", ".csv"):
        raise ChurnhealthError(f"--out {out}: expected a .parquet or .csv file")
    _check_writable(out)
    done()
    if dates.backfill:
        done = stage("backfilling history", 1)
        filled, _ = _score(cfg, lm, source, dates.backfill)
        history.upsert(cfg.predict.history, filled)
        past = history.read(cfg.predict.history, lm.version)
        done()
    done = stage("scoring and explaining", 1)
    scores, frame = _score(cfg, lm, source, [day])
    effects, base = health_effects(lm.model, frame)
    dims = dimension_effects(lm.model, effects)
    scores["baseline_health"] = base.round(1).to_numpy()
    for d in DIMENSIONS:
        scores[f"effect_{d}"] = dims[d].round(1).to_numpy() if d in dims else 0.0
    scores = pd.concat([scores, _drivers(effects, frame)], axis=1)
    scores = pd.concat(
        [scores, _trend(scores, past[past.as_of < day], cfg.predict.stable_band)], axis=1
    )
    context = pd.concat([scores, frame[[c for c in frame.columns if c not in scores]]], axis=1)
    hits = playbooks.matches(context, plays)
    scores["playbooks"] = [",".join(n for n, h in hits.items() if h[i]) for i in range(len(scores))]
    alerts = playbooks.trigger(context, plays, cfg.predict.alerts, hits)
    done()
    done = stage("writing", 1)
    write_frame(out, scores)
    history.upsert(cfg.predict.history, scores)
    playbooks.append(cfg.predict.alerts, alerts)
    summary = summarize(scores)
    summary.update(
        {
            "model_version": lm.version,
            "model": lm.source,
            "scores": str(out),
            "alerts": {n: sum(a["playbook"] == n for a in alerts) for n in hits},
            "alerts_file": str(cfg.predict.alerts),
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
    return {"scores": scores, "summary": summary, "out": out}


def _check_writable(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ChurnhealthError(f"--out {path}: not writable ({exc.strerror})") from None


@dataclass
class Explanation:
    """One account's score, explained: what `churnhealth explain` prints."""

    row: pd.Series
    dimensions: pd.Series
    drivers: pd.DataFrame
    """feature, dimension, value, segment median, effect (health points), sorted by |effect|."""
    history: pd.DataFrame


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
    lm = load_model(cfg, model)
    source, dates = _open_at(cfg, lm, data, as_of)
    day = dates.day
    scores, frame = _score(cfg, lm, source, [day])
    match = np.flatnonzero(scores.account_id.to_numpy() == account_id)
    if len(match) == 0:
        raise ChurnhealthError(f"account {account_id}: not an active account on {day.date()}")
    i = int(match[0])
    effects, base = health_effects(lm.model, frame.iloc[[i]])
    dims = dimension_effects(lm.model, effects).iloc[0]
    segment = frame.segment.iloc[i]
    peers = frame[frame.segment == segment]
    eff = effects.iloc[0]
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
    row = scores.iloc[i].copy()
    row["baseline_health"] = float(base.iloc[0])
    past = history.read(cfg.predict.history, lm.version)
    past = past[(past.account_id == account_id) & (past.as_of <= day)]
    trend = _trend(scores.iloc[[i]], past[past.as_of < day], cfg.predict.stable_band).iloc[0]
    for k, v in trend.items():
        row[k] = v
    return Explanation(row, dims, drivers, past[["as_of", "health_score", "tier"]])
