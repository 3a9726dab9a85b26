"""`churnhealth doctor`: what a company's data supports, before anything is trained.

A new user's first question is not "how good is the model" but "will this work on my data".
The doctor answers it from the data alone, with the same code `train` runs: the tables found
and the dates they span; the history against what training needs (and why); the windows
`train` would size from it, with the rows and churners per segment in each; which segments can
have a model of their own and which will be scored by the global one; which declared features
will be computed, which skipped or empty, and which table or column would enable them; and the
configuration it suggests. It reads, and never writes anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from churnhealth.config import Config
from churnhealth.data.churn import with_churn_records
from churnhealth.data.contract import TABLE_NAMES, contract
from churnhealth.data.events import with_daily_usage
from churnhealth.data.load import read_as_validated
from churnhealth.data.mapping import load_mapping
from churnhealth.data.source import Source, open_source
from churnhealth.data.validate import validate
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation.horizons import origin_splits
from churnhealth.features import FeatureSet, build_features
from churnhealth.features.build import plan
from churnhealth.features.spec import load_metrics
from churnhealth.location import redact
from churnhealth.models.fitter import TrainingData, prepare, too_few_for_own_model
from churnhealth.progress import Stage, no_stage

REFERENCES = ("numerator", "denominator", "left", "right", "metric")


@dataclass
class Diagnosis:
    """What the data supports. `trainable` and `verdict` sum it up; the frames are the tables
    `doctor` prints; `suggested` is configuration worth setting (dotted keys)."""

    path: str
    trainable: bool
    verdict: str
    tables: pd.DataFrame
    history: dict
    windows: pd.DataFrame
    segments: pd.DataFrame
    features: pd.DataFrame
    suggested: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready (`doctor --json`)."""
        out = dataclasses.asdict(self)
        for name in ("tables", "windows", "segments", "features"):
            frame = getattr(self, name)
            out[name] = frame.astype(object).where(frame.notna(), None).to_dict("records")
        return out


def diagnose(
    cfg: Config,
    data: Path | str | None = None,
    stage: Stage = no_stage,
    options: str | None = None,
) -> Diagnosis:
    """Diagnose the source at `data` (default: `data.path`) under the configuration `cfg`.
    `options`: the command line's options that say where the data is and how it is read
    (`--data … --config … --sources …`), repeated in the command the verdict suggests."""
    path = data or cfg.data.path
    done = stage("reading tables", 1)
    source = open_source(path, load_mapping(cfg.data.sources), cfg.data.memory_limit)
    cfg, suggested, notes = _segments_of(cfg, source)
    report = validate(source, cfg.data.segments)
    report.raise_for_problems()
    source = with_daily_usage(read_as_validated(source, report))
    source = with_churn_records(source, cfg.data.segments, cfg.labels.resignup_gap_days)
    notes += source.notes
    tables = _tables(source, report.rows)
    done()
    metrics = load_metrics(cfg.features.definitions, cfg.data.segments)
    fs = build_features(source, cfg, metrics, stage=stage)
    history = {
        "data_start": str(fs.data_start.date()),
        "data_end": str(fs.data_end.date()),
        "months": round((fs.data_end - fs.data_start).days / 30.44, 1),
        "as_of_dates": int(fs.frame.as_of.nunique()),
        "accounts": int(fs.frame.account_id.nunique()),
    }
    features = _features(metrics, fs, set(source.tables), source.columns())
    try:
        d = prepare(cfg, source, fs)
    except ChurnhealthError as err:
        return Diagnosis(
            path=redact(str(path)),
            trainable=False,
            verdict=f"cannot train yet: {err}",
            tables=tables,
            history=history,
            windows=pd.DataFrame(),
            segments=_segments(cfg, fs, None),
            features=features,
            suggested=suggested,
            notes=notes,
        )
    s = d.splits
    history["windows"] = {
        "train_steps_known_by": str(s.t1.date()),
        "validation_steps_known_by": str(s.t2.date()),
        "test_as_of": [str(s.t2.date()), str(s.t3.date())],
        "val_days": int((s.t2 - s.t1).days),
        "test_days": int((s.t3 - s.t2).days),
    }
    for key in ("val_days", "test_days"):
        used = history["windows"][key]
        configured = getattr(cfg.train, key)
        if used < configured:
            suggested[f"train.{key}"] = used
            notes.append(
                f"train.{key}: {configured} days do not fit this history; train sizes the "
                f"window to {used} days (set it to say so explicitly)"
            )
    try:
        o = origin_splits(cfg, fs)
        history["year_ahead_test"] = f"yes, from a model fitted at {o.t2.date()}"
    except ChurnhealthError as err:
        history["year_ahead_test"] = f"no: {err}"
    verdict = (
        f"ready to train: `churnhealth train {options or f'--data {redact(str(path))}'}` "
        f"(windows sized from "
        f"{history['months']} months of history)"
    )
    return Diagnosis(
        path=redact(str(path)),
        trainable=True,
        verdict=verdict,
        tables=tables,
        history=history,
        windows=_windows(d),
        segments=_segments(cfg, fs, d),
        features=features,
        suggested=suggested,
        notes=notes,
    )


def _segments_of(cfg: Config, source: Source) -> tuple[Config, dict, list[str]]:
    """The configured segments, or the data's when they differ (then suggested): the doctor
    goes on with what the data holds instead of stopping at the first mismatch."""
    t = source.tables.get("accounts")
    if t is None or "segment" not in t.columns:
        return cfg, {}, []
    found = sorted(str(v) for v in t.segment.cast("string").execute().dropna().unique())
    if set(found) <= set(cfg.data.segments) or not found:
        return cfg, {}, []
    data = cfg.data.model_copy(update={"segments": found})
    note = (
        f"data.segments: the accounts hold {', '.join(found)}; the configuration lists "
        f"{', '.join(cfg.data.segments)} (diagnosed with the data's segments)"
    )
    return cfg.model_copy(update={"data": data}), {"data.segments": found}, [note]


def _tables(source: Source, rows: dict[str, int]) -> pd.DataFrame:
    """Each contract table: present or not, rows, and the dates its rows span."""
    specs = contract(["_"])
    out = []
    for name in TABLE_NAMES:
        spec = specs[name]
        first = last = None
        if name in source and spec.time:
            t = source.typed(spec)
            r = t.aggregate(lo=t[spec.time].min(), hi=t[spec.time].max()).to_pandas().iloc[0]
            first, last = (str(pd.Timestamp(v).date()) if pd.notna(v) else None for v in r)
        out.append(
            {
                "table": name,
                "required": spec.required,
                "present": name in source,
                "rows": rows.get(name)
                if name in rows or name not in source
                # a table the data did not hold but was derived (usage from raw events)
                else int(source.tables[name].count().execute()),
                "first": first,
                "last": last,
            }
        )
    return pd.DataFrame(out)


def _features(
    metrics: list, fs: FeatureSet, present: set[str], columns: dict[str, set[str]]
) -> pd.DataFrame:
    """Each declared feature (helpers left out): computed, skipped (and which absent table
    would enable it), empty (no value on any labelled row: which column to fill) or
    constant (the same value everywhere: nothing to learn from)."""
    by_name = {m.name: m for m in metrics}

    def tables_of(m) -> set[str]:
        out = {m.table} if getattr(m, "table", None) else set()
        for ref in REFERENCES:
            if getattr(m, ref, None) in by_name:
                out |= tables_of(by_name[getattr(m, ref)])
        return out

    def columns_of(m) -> set[str]:
        out = {f"{m.table}.{m.column}"} if getattr(m, "column", None) else set()
        for ref in REFERENCES:
            if getattr(m, ref, None) in by_name:
                out |= columns_of(by_name[getattr(m, ref)])
        return out

    planned = {m.name for m in plan(metrics, present, columns).metrics}
    lab = fs.labelled
    rows = []
    for m in metrics:
        if not m.output:
            continue
        status, enable = "computed", ""
        if m.name not in planned:
            missing = sorted(tables_of(m) - present)
            absent = sorted(
                c
                for c in columns_of(m)
                if c.split(".")[0] in columns and c.split(".")[1] not in columns[c.split(".")[0]]
            )
            status = "skipped"
            enable = (
                "add table " + ", ".join(missing) if missing else "add column " + ", ".join(absent)
            )
        elif lab[m.name].isna().all():
            status = "empty"
            enable = "fill " + (", ".join(sorted(columns_of(m))) or ", ".join(tables_of(m)))
        elif lab[m.name].nunique(dropna=True) <= 1 and lab[m.name].notna().all():
            status, enable = "constant", "no variation in " + ", ".join(sorted(tables_of(m)))
        null = float(lab[m.name].isna().mean()) if m.name in lab else None
        rows.append(
            {
                "feature": m.name,
                "dimension": m.dimension,
                "status": status,
                "null_share": null,
                "enable": enable,
            }
        )
    return pd.DataFrame(rows, columns=["feature", "dimension", "status", "null_share", "enable"])


def _windows(d: TrainingData) -> pd.DataFrame:
    """Per window and segment: monthly steps and churned steps (training, validation; counted
    as `train` counts them, quiet months subsampled), as-of rows and churners within the
    label's horizon (test)."""
    seg_steps = d.frame.segment.to_numpy()[d.steps.row.to_numpy()]
    churned = d.steps.churned_in_step.to_numpy()
    test = d.mask("test")
    out = []
    for s in sorted(set(d.frame.segment)):
        row = {"segment": s}
        for w in ("train", "val"):
            m = d.step_mask(w) & (seg_steps == s)
            row[f"{w}_steps"] = int(m.sum())
            row[f"{w}_churned"] = int(churned[m].sum())
        m = test & (d.frame.segment == s).to_numpy()
        row["test_rows"], row["test_churners"] = int(m.sum()), int(d.y[m].sum())
        out.append(row)
    return pd.DataFrame(out)


def _segments(cfg: Config, fs: FeatureSet, d: TrainingData | None) -> pd.DataFrame:
    """Each configured segment: accounts, active at the data's end, and whether it can have a
    model of its own (else the global model scores it, and why)."""
    frame = fs.frame
    last = frame[frame.as_of == frame.as_of.max()]
    out = []
    for s in cfg.data.segments:
        row = {
            "segment": s,
            "accounts": int(frame.account_id[frame.segment == s].nunique()),
            "active_at_end": int((last.segment == s).sum()),
        }
        if d is None:
            row["own_model"], row["why"] = False, "no training windows"
        else:
            seg = d.frame.segment.to_numpy()[d.steps.row.to_numpy()] == s
            y = d.steps.churned_in_step.to_numpy()
            train = int(y[d.step_mask("train") & seg].sum())
            val = int(y[d.step_mask("val") & seg].sum())
            reason = too_few_for_own_model(train, val, cfg)
            row["own_model"] = reason is None
            row["why"] = reason or "possible (kept if better than the global model beyond noise)"
        out.append(row)
    return pd.DataFrame(out, columns=["segment", "accounts", "active_at_end", "own_model", "why"])
