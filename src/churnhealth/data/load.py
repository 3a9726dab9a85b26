"""Opening the raw tables as every command reads them: validated, repaired, reconciled.

`open_validated` opens a source, validates it (`churnhealth.data.validate`, one line per
problem), and reads it as validation read it — ids trimmed, NaN as null, exact duplicates
dropped — with usage derived from events, logging outages repaired and churn records
reconciled with the subscriptions. `open_configured` does so as the configuration says;
`check` is `churnhealth validate`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from churnhealth.config import Config
from churnhealth.data.churn import with_churn_records
from churnhealth.data.contract import contract
from churnhealth.data.events import with_daily_usage
from churnhealth.data.mapping import SourceMapping, load_mapping
from churnhealth.data.repair import WEEKS as REPAIR_MARGIN
from churnhealth.data.repair import repair_usage
from churnhealth.data.source import Source, open_source, truncate
from churnhealth.data.validate import Report, Since, fixed, validate


def read_as_validated(source: Source, report: Report) -> Source:
    """The source as validation read it, with a note per repair: account ids trimmed and NaN
    where a null is allowed read as null (`report.fixes`), then the exact duplicate rows it
    counted dropped (of a mapped table: rows the same in every column the mapping keeps, which
    the export's other columns may tell apart); and the notes on what reading does
    (`report.carried`)."""
    source = fixed(source, report.fixes)
    notes = [*source.notes, *report.carried, *(f.note for f in report.fixes)]
    tables = dict(source.tables)
    for name, n in report.duplicates.items():
        if n:
            tables[name] = tables[name].distinct()
            rows = "row" if n == 1 else "rows"
            mapped = source.mapping is not None and name in source.mapping.tables
            same = "every mapped column" if mapped else "every column"
            notes.append(f"{name}: dropped {n:,} exact duplicate {rows} (the same in {same})")
    return dataclasses.replace(source, tables=tables, notes=notes)


def open_validated(
    path,
    segments: list[str],
    as_of: dt.date | None = None,
    truncate_at: dt.date | None = None,
    since: Since | None = None,
    gap_days: int = 30,
    mapping: SourceMapping | None = None,
    repair: bool = True,
    memory_limit: str | None = None,
) -> Source:
    """Open a source and validate it; raise `DataError` (one line per problem) if it is bad.

    `truncate_at` first reduces the data to what was known before that date (training as if
    today were that date); `as_of` rejects data dated on or after it instead. `since` checks
    only the rows the caller reads (see `validate`). Churn records, when the data has them, are
    then reconciled with the subscriptions (`data.churn`, with the re-signup gap `gap_days`).
    `mapping` describes an export that is not shaped like the contract (`data.mapping`).
    The source is read as validation read it (`read_as_validated`: ids trimmed, NaN as null,
    exact duplicates dropped). Logging outages and logging changes in usage are then found in
    what is left and, with `repair`, repaired (`data.repair`). `memory_limit`: see
    `data.source.configure_duckdb`.
    """
    source = open_source(path, mapping, memory_limit)
    report = validate(source, segments, as_of, since=since)
    report.raise_for_problems()
    source = with_daily_usage(read_as_validated(source, report))
    if truncate_at is not None:
        source = truncate(source, truncate_at, contract(segments))
    first = report.since.get("usage")  # what scoring reads: the repairs look no further
    source = repair_usage(source, repair, first and first - dt.timedelta(days=REPAIR_MARGIN))
    return with_churn_records(source, segments, gap_days)


def open_configured(cfg: Config, data=None, **kw) -> Source:
    """`open_validated` as the configuration says: its data path (unless `data`), segments,
    re-signup gap and source mapping; `kw`: `as_of`, `truncate_at`, `since`."""
    return open_validated(
        data or cfg.data.path,
        cfg.data.segments,
        gap_days=cfg.labels.resignup_gap_days,
        mapping=load_mapping(cfg.data.sources),
        repair=cfg.data.repair_usage,
        memory_limit=cfg.data.memory_limit,
        **kw,
    )


def check(
    path,
    segments: list[str],
    as_of: dt.date | None = None,
    gap_days: int = 30,
    mapping: SourceMapping | None = None,
    repair: bool = True,
    memory_limit: str | None = None,
) -> Report:
    """`churnhealth validate`: the report of a source that breaks no rule (with what its churn
    records disagreed on); else `DataError`, one line per problem."""
    source = open_source(path, mapping, memory_limit)
    report = validate(source, segments, as_of)
    report.raise_for_problems()
    source = repair_usage(with_daily_usage(read_as_validated(source, report)), repair)
    report.notes += with_churn_records(source, segments, gap_days).notes
    return report
