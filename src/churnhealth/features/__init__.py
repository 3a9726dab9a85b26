"""Features per (account, as-of): the observation grid, declared metrics and labels.

`build_features` reads validated tables and returns a `FeatureSet`: one row per account with an
active subscription at each as-of date, every declared metric, and the churn labels.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from churnhealth.atomic import write_with
from churnhealth.config import Config
from churnhealth.data.contract import contract
from churnhealth.data.source import Source
from churnhealth.errors import ChurnhealthError
from churnhealth.features.build import compute_metrics, plan
from churnhealth.features.grid import observation_grid, overlap_note, schedule
from churnhealth.features.labels import LABEL, attach_labels
from churnhealth.features.spec import DIMENSIONS, load_metrics
from churnhealth.progress import Stage

EVENT_TABLES = ("usage", "touchpoints", "surveys", "tickets", "invoices")
GRID_FEATURES = {
    "segment": "financial",
    "lifecycle_stage": "financial",
    "tenure_days": "financial",
    "days_to_renewal": "financial",
    "renewals_in_horizon": "financial",
    "term_months": "financial",
    "arr": "financial",
    "licenses": "financial",
}
"""Grid columns used as model inputs, with the dimension they roll up to (commercial facts).
All of them are context: they change the probability, but a CSM cannot act on them."""
CATEGORICAL = ("segment", "lifecycle_stage")
LABELS = (LABEL, "churn_date", "expanded_within_h", "labelled", "churn_after")
KEYS = ("account_id", "as_of")
_META = b"churnhealth"


@dataclass
class FeatureSet:
    """The feature table and what its columns mean."""

    frame: pd.DataFrame
    features: dict[str, str]
    """Model inputs → dimension."""
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    notes: list[str] = field(default_factory=list)
    definitions: list[dict] = field(default_factory=list)
    """The metric definitions that produced the features (they travel with a model)."""
    context: list[str] = field(default_factory=lambda: list(GRID_FEATURES))
    """The features that are context, not signals: the grid's commercial facts and declared
    metrics with `role: context`."""

    @property
    def signals(self) -> list[str]:
        """The features a CSM can act on: every feature that is not context."""
        return [f for f in self.features if f not in self.context]

    @property
    def categorical(self) -> list[str]:
        return [c for c in CATEGORICAL if c in self.features]

    @property
    def labelled(self) -> pd.DataFrame:
        return self.frame[self.frame.labelled]

    def by_dimension(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {d: [] for d in DIMENSIONS}
        for name, dim in self.features.items():
            out[dim].append(name)
        return out

    def save(self, path: Path | str) -> Path:
        """Write Parquet (or CSV) atomically; Parquet keeps the feature dimensions, data window
        and metric definitions in the file's metadata."""
        path = Path(path)
        if path.suffix == ".csv":
            return write_with(path, lambda tmp: self.frame.to_csv(tmp, index=False))
        table = pa.Table.from_pandas(self.frame, preserve_index=False)
        meta = {
            "features": self.features,
            "data_start": str(self.data_start.date()),
            "data_end": str(self.data_end.date()),
            "notes": self.notes,
            "definitions": self.definitions,
            "context": self.context,
        }
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META: json.dumps(meta).encode()}
        )
        return write_with(path, lambda tmp: pq.write_table(table, tmp))

    @classmethod
    def load(cls, path: Path | str) -> FeatureSet:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {})[_META])
        return cls(
            table.to_pandas(),
            meta["features"],
            pd.Timestamp(meta["data_start"]),
            pd.Timestamp(meta["data_end"]),
            meta["notes"],
            meta.get("definitions", []),
            meta.get("context", list(GRID_FEATURES)),
        )


def data_window(source: Source) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First day with events, and the day after the last one: as-of dates can reach data_end.

    A feature table (`features`) counts as events up to its last as-of date itself: a row
    dated D holds on D, so D is the latest as-of date it supports."""
    specs = contract(["_"])
    lows, highs = [], []
    tables = [t for t in (*EVENT_TABLES, "features") if t in source] or ["subscriptions"]
    for name in tables:
        t = source.typed(specs[name])
        time = t[specs[name].time]
        r = t.aggregate(lo=time.min(), hi=time.max()).to_pandas().iloc[0]
        if pd.notna(r.lo):
            lows.append(pd.Timestamp(r.lo).normalize())
            after = pd.Timedelta(days=0 if name == "features" else 1)
            highs.append(pd.Timestamp(r.hi).normalize() + after)
    if not lows:
        raise ChurnhealthError(f"{source.path}: no dated rows to build features from")
    return min(lows), max(highs)


def as_of_dates(
    cfg: Config,
    data_start: pd.Timestamp,
    data_end: pd.Timestamp,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[pd.Timestamp]:
    """Scheduled as-of dates; by default from 90 days after the data starts to its end."""
    first = start or cfg.features.start or (data_start + pd.Timedelta(days=90)).date()
    last = end or cfg.features.end or data_end.date()
    if pd.Timestamp(last) > data_end:
        raise ChurnhealthError(f"--end {last}: after the end of the data ({data_end.date()})")
    dates = schedule(first, last, cfg.features.schedule)
    if not dates:
        raise ChurnhealthError(
            f"no as-of dates on schedule {cfg.features.schedule!r} between {first} and {last}"
        )
    return dates


@dataclass
class RunDates:
    """What a scoring run reads: the as-of date, and before it the dates that backfill the
    health history."""

    day: pd.Timestamp
    backfill: list[pd.Timestamp]


def run_dates(
    cfg: Config,
    source: Source,
    as_of: dt.date | None,
    backfill_days: int,
    scored: Collection[pd.Timestamp] = (),
) -> RunDates:
    """By default the latest as-of date the data allows; backfill dates on the schedule within
    `backfill_days` before it, except those already `scored` (in the history)."""
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
    done = set(scored)
    return RunDates(day, [d for d in back if d > start and d not in done] if backfill_days else [])


def build_features(
    source: Source,
    cfg: Config,
    metrics: list | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    stage: Stage | None = None,
    dates: list[pd.Timestamp] | None = None,
) -> FeatureSet:
    """Observation grid, declared metrics and labels for validated tables.

    As-of dates follow the configured schedule between `start` and `end`, unless `dates`
    gives them explicitly.
    """
    specs = contract(cfg.data.segments)
    metrics = (
        metrics
        if metrics is not None
        else load_metrics(cfg.features.definitions, cfg.data.segments)
    )
    data_start, data_end = data_window(source)
    dates = dates or as_of_dates(cfg, data_start, data_end, start, end)
    accounts = source.typed(specs["accounts"]).to_pandas()
    subs = source.typed(specs["subscriptions"]).to_pandas()
    overlapping = cfg.data.overlapping_subscriptions
    grid = observation_grid(
        accounts,
        subs,
        dates,
        cfg.lifecycle,
        cfg.labels.horizon_days,
        snapshot=data_end,
        overlapping=overlapping,
    )
    overlap = overlap_note(subs, max(dates), overlapping) if dates else None
    lab = cfg.labels
    grid = attach_labels(
        grid,
        subs,
        data_end,
        lab.horizon_days,
        lab.resignup_gap_days,
        lab.expansion_threshold,
        lab.expansion_horizon_days,
        overlapping=overlapping,
    )
    planned = plan(metrics, set(source.tables), source.columns())
    tables = sorted({m.table for m in planned.metrics if getattr(m, "table", None)})
    advance = stage("metrics", len(tables)) if stage else None
    values = compute_metrics(
        source, specs, grid, planned.metrics, (lambda _: advance()) if advance else None
    )
    frame = grid.merge(values, on=list(KEYS), how="left", validate="one_to_one")
    features = dict(GRID_FEATURES)
    features.update({m.name: m.dimension for m in planned.metrics if m.output})
    cols = [*KEYS, *features, *LABELS, "renewal_date"]
    numeric = [f for f in features if f not in CATEGORICAL]
    frame = frame[cols].astype(dict.fromkeys(numeric, "float64"))
    definitions = [m.model_dump(mode="json") for m in planned.metrics]
    context = [
        *GRID_FEATURES,
        *(m.name for m in planned.metrics if m.output and m.role == "context"),
    ]
    notes = [*planned.notes, *([overlap] if overlap else [])]
    return FeatureSet(frame, features, data_start, data_end, notes, definitions, context)


def summarize(fs: FeatureSet) -> dict[str, pd.DataFrame]:
    """What `churnhealth features` prints: churn per segment, features per dimension, nulls."""
    lab = fs.labelled
    churn = lab.groupby("segment").agg(rows=(LABEL, "size"), churn_rate=(LABEL, "mean"))
    dims = pd.DataFrame(
        [
            {"dimension": d, "features": len(f), "names": ", ".join(f)}
            for d, f in fs.by_dimension().items()
        ]
    )
    nulls = fs.frame[list(fs.features)].isna().mean().rename("null_share")
    return {
        "churn": churn.reset_index(),
        "dimensions": dims,
        "nulls": nulls[nulls > 0]
        .sort_values(ascending=False)
        .reset_index()
        .rename(columns={"index": "feature"}),
    }
