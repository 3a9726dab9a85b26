"""The demo company as real exports deliver it: `churnhealth synth --messy`.

Each defect is one a team meets in its first export, placed at a known spot so that a test can
check churnhealth's answer to it (docs/messy-data.md says what that answer is):

- exact duplicate rows: 1% of usage and touchpoint rows twice (dropped, counted);
- a logging outage: one account in SHARD (a shard) without usage for a month (filled from the
  weeks before, counted);
- a logging change: every event counted LOGGING_FACTOR times from a day (earlier events
  rescaled, counted);
- churn logged late: a third of the churn records 2–8 weeks after billing stopped (the end of
  coverage stays the churn date, counted);
- a segment relabelled: new mid-market accounts called RELABEL from a day (rejected in one line
  until the source mapping names it);
- another time zone: ticket times with Tokyo's UTC offset (converted to UTC, said);
- an optional table missing: no contacts (relationship features skipped, said).

The ground truth (`truth`) is the clean company's: the defects change what is recorded, never
what happened. The table `defects` lists what was done, with counts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

SHARD = 3
"""One account in SHARD is in the shard whose logging fails."""
LOGGING_FACTOR = 3
RELABEL = "Mid-Market"
TIME_ZONE = "Asia/Tokyo"
MISSING = ("contacts",)


def _on(start: pd.Timestamp, end: pd.Timestamp, share: float) -> pd.Timestamp:
    """The first of the month at `share` of the history."""
    return (start + (end - start) * share).to_period("M").to_timestamp()


def make_messy(
    tables: dict[str, pd.DataFrame], start: dt.date, end: dt.date, rng: np.random.Generator
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The tables with every defect applied, and the `defects` table saying what was done."""
    t = dict(tables)
    start_, end_ = pd.Timestamp(start), pd.Timestamp(end)
    done: list[tuple[str, str, int, str]] = []

    usage = t["usage"]
    day = pd.to_datetime(usage["date"])
    # a logging change: every event counted LOGGING_FACTOR times from a day
    change = _on(start_, end_, 0.4)
    new = (day >= change).to_numpy()
    usage = usage.assign(events=np.where(new, usage["events"] * LOGGING_FACTOR, usage["events"]))
    done.append(
        (
            "logging change",
            "usage",
            int((~new).sum()),
            f"events ×{LOGGING_FACTOR} from {change.date()} (rows before it are on the old scale)",
        )
    )
    # a logging outage: one shard of accounts without usage for a month
    o_start = _on(start_, end_, 0.6)
    o_end = o_start + pd.DateOffset(months=1)
    ids = t["accounts"]["account_id"].to_numpy()
    shard = set(ids[::SHARD])
    gone = (
        (day >= o_start).to_numpy()
        & (day < o_end).to_numpy()
        & usage["account_id"].astype(str).isin(shard).to_numpy()
    )
    usage = usage[~gone]
    done.append(
        (
            "logging outage",
            "usage",
            int(gone.sum()),
            f"rows of {len(shard):,} accounts (one in {SHARD}) removed from {o_start.date()} "
            f"to {(o_end - pd.Timedelta(days=1)).date()}",
        )
    )
    # exact duplicates
    for name in ("usage", "touchpoints"):
        frame = usage if name == "usage" else t[name]
        pick = rng.random(len(frame)) < 0.01
        both = pd.concat([frame, frame[pick]], ignore_index=True)
        t[name] = both.sort_values(list(frame.columns[:2]), kind="stable").reset_index(drop=True)
        done.append(("exact duplicates", name, int(pick.sum()), "rows written twice"))
    # churn logged late
    log = t["churn_events"]
    late = rng.random(len(log)) < 1 / 3
    delay = pd.to_timedelta(rng.integers(14, 57, len(log)), unit="D")
    when = pd.to_datetime(log["churn_date"])
    log = log.assign(churn_date=np.where(late, when + delay, when))
    log["churn_date"] = pd.to_datetime(log["churn_date"]).dt.date
    keep = pd.to_datetime(log["churn_date"]) < end_  # a record not yet written by the export day
    t["churn_events"] = log[keep].reset_index(drop=True)
    done.append(("churn logged late", "churn_events", int(late.sum()), "dated 14–56 days late"))
    # a segment relabelled for accounts created from a day
    relabel = _on(start_, end_, 0.5)
    acc = t["accounts"]
    hit = (acc["segment"] == "mid_market") & (pd.to_datetime(acc["created_at"]) >= relabel)
    t["accounts"] = acc.assign(segment=acc["segment"].where(~hit, RELABEL))
    done.append(
        (
            "segment relabelled",
            "accounts",
            int(hit.sum()),
            f"mid_market accounts created from {relabel.date()} are labelled {RELABEL}",
        )
    )
    # ticket times in another time zone, with the offset
    tk = t["tickets"]
    t["tickets"] = tk.assign(
        **{
            c: pd.to_datetime(tk[c]).dt.tz_localize("UTC").dt.tz_convert(TIME_ZONE)
            for c in ("opened_at", "closed_at")
        }
    )
    done.append(
        ("another time zone", "tickets", len(tk), f"opened_at, closed_at written in {TIME_ZONE}")
    )
    for name in MISSING:
        done.append(("optional table missing", name, len(t.pop(name)), "not exported"))
    defects = pd.DataFrame(done, columns=["defect", "table", "rows", "detail"])
    return t, defects
