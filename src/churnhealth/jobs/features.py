"""`churnhealth features`: validate the data, build the point-in-time feature table and save it."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from churnhealth.atomic import check_writable
from churnhealth.config import Config
from churnhealth.data.load import open_configured
from churnhealth.features import FeatureSet, build_features, summarize
from churnhealth.features.spec import load_metrics
from churnhealth.progress import Stage, no_stage


@dataclass
class FeaturesResult:
    """The feature set, where it was written, how long it took, and the tables `features`
    prints (churn per segment, features per dimension, missing values)."""

    features: FeatureSet
    out: Path
    seconds: float
    summary: dict[str, pd.DataFrame]


def build(
    cfg: Config,
    out: Path,
    data: Path | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    stage: Stage = no_stage,
) -> FeaturesResult:
    """Features and labels for every account and as-of date from `start` to `end`, saved to
    `out` (.parquet or .csv)."""
    t0 = time.perf_counter()
    metrics = load_metrics(cfg.features.definitions, cfg.data.segments)
    out = check_writable(out, "--out", (".parquet", ".csv"))
    done = stage("validating data", 1)
    source = open_configured(cfg, data)
    done()
    fs = build_features(source, cfg, metrics, start, end, stage)
    done = stage("writing", 1)
    fs.save(out)
    done()
    return FeaturesResult(fs, out, time.perf_counter() - t0, summarize(fs))
