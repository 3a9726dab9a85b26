"""Coverage and churn records: when an account was a customer, and what its churn log says.

An account's coverage is the union of its subscriptions' [start_date, end_date) intervals; a
new subscription starting within the re-signup gap after the coverage ends continues it (a late
renewal is not churn). Every label is derived from coverage (`features.labels`).

When the data has a `churn_events` table (a CRM's churn log), each record is reconciled with the
subscriptions before anything else reads them, so that labels, the observation grid, the
backtest and the forecast all see one history:

- **a record inside a coverage ends it there**: the record's date wins over a later or missing
  `end_date` (the subscription rows covering it end on that day) — unless a subscription starts
  within the re-signup gap after it: then the customer re-signed and the record is overruled, as
  the gap defines for subscriptions;
- **a record within the gap after a coverage's end confirms that churn**; its date is not moved;
- **a record later than that** (a churn logged weeks after billing stopped) leaves the coverage's
  end as the churn date: nobody leaves after they stopped paying; its reason is that churn's;
- **a coverage ending with no record within the gap** still counts as churn: an account without
  a subscription is not a customer;
- **a subscription starting after the gap** is a reactivation: a new coverage, which can end in a
  churn of its own.

Each case is counted (`Reconciliation`) and reported in one line per kind of disagreement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa

from churnhealth.data.contract import contract
from churnhealth.data.source import Source, temp_table

FAR_FUTURE = pd.Timestamp("2262-01-01")


def coverage_spells(subscriptions: pd.DataFrame, gap_days: int = 30) -> pd.DataFrame:
    """Merge subscription rows into spells of continuous coverage, per account.

    Returns account_id, spell_start, spell_end (NaT while the spell is still running).
    Rows that start within `gap_days` after the coverage so far ends continue the spell.
    """
    s = subscriptions[["account_id", "start_date", "end_date"]].copy()
    s["start_date"] = pd.to_datetime(s["start_date"])
    s["end"] = pd.to_datetime(s["end_date"]).fillna(FAR_FUTURE)
    s = s.sort_values(["account_id", "start_date", "end"], kind="stable")
    run_end = s.groupby("account_id", sort=False)["end"].cummax()
    prev_end = run_end.groupby(s["account_id"], sort=False).shift()
    new_spell = prev_end.isna() | (s["start_date"] > prev_end + pd.Timedelta(days=gap_days))
    s["spell"] = new_spell.cumsum()
    spells = s.groupby("spell", sort=False).agg(
        account_id=("account_id", "first"),
        spell_start=("start_date", "min"),
        spell_end=("end", "max"),
    )
    spells["spell_end"] = spells["spell_end"].where(spells["spell_end"] < FAR_FUTURE)
    return spells.reset_index(drop=True)


@dataclass
class Reconciliation:
    """How the churn records and the subscriptions agreed. `counted`: the records that date a
    churn (account_id, churn_date, reason, kind), for the reasons summary."""

    records: int = 0
    ended: int = 0
    """Records inside a coverage, which they ended (the record's date wins)."""
    confirmed: int = 0
    """Records within the re-signup gap after a coverage's end."""
    late: int = 0
    late_days: list[int] = field(default_factory=list)
    """Records more than the gap after a coverage's end, and by how many days."""
    overruled: int = 0
    """Records followed by a new subscription within the gap: not churn."""
    outside: int = 0
    """Records of an account with no coverage before them."""
    unrecorded: int = 0
    """Coverages that ended without a record within the gap: still churn."""
    counted: pd.DataFrame = field(default_factory=pd.DataFrame)

    def notes(self, gap_days: int) -> list[str]:
        """One line per kind of disagreement (nothing when records and subscriptions agree)."""
        out = []
        if self.ended:
            out.append(
                f"churn_events: {self.ended:,} of {self.records:,} records fall inside a "
                "subscription's coverage: the record's date ends it"
            )
        if self.late:
            out.append(
                f"churn_events: {self.late:,} records are dated more than {gap_days} days after "
                f"the coverage ended (median {int(np.median(self.late_days))} days later): the "
                "end of coverage is the churn date"
            )
        if self.overruled:
            out.append(
                f"churn_events: {self.overruled:,} records are followed by a new subscription "
                f"within the {gap_days}-day re-signup gap: not churn"
            )
        if self.outside:
            out.append(
                f"churn_events: {self.outside:,} records are of accounts with no subscription "
                "before them: ignored"
            )
        if self.unrecorded:
            out.append(
                f"churn_events: {self.unrecorded:,} coverages ended with no churn record within "
                f"{gap_days} days: counted as churn from the subscriptions"
            )
        return out


def reconcile(
    subscriptions: pd.DataFrame, records: pd.DataFrame, gap_days: int = 30
) -> tuple[pd.DataFrame, Reconciliation]:
    """Subscriptions with the churn records applied (see the module), and the counts."""
    subs = subscriptions.reset_index(drop=True)
    subs["start_date"] = pd.to_datetime(subs.start_date)
    subs["end_date"] = pd.to_datetime(subs.end_date)
    gap = pd.Timedelta(days=gap_days)
    rec = records.copy()
    rec["churn_date"] = pd.to_datetime(rec.churn_date)
    for col in ("reason", "kind"):
        if col not in rec:
            rec[col] = None
    rec = rec.sort_values(["account_id", "churn_date"], kind="stable").reset_index(drop=True)
    out = Reconciliation(records=len(rec))
    pairs = (
        rec[["account_id", "churn_date"]]
        .reset_index(names="record")
        .merge(subs.reset_index(names="sub")[["account_id", "sub", "start_date", "end_date"]])
    )
    d, end = pairs.churn_date, pairs.end_date.fillna(FAR_FUTURE)
    pairs["covering"] = (pairs.start_date <= d) & (end > d)
    pairs["resigned"] = (pairs.start_date > d) & (pairs.start_date <= d + gap)
    pairs["ended_before"] = end.where((pairs.start_date <= d) & (end <= d))
    per = pairs.groupby("record").agg(
        covering=("covering", "any"), resigned=("resigned", "any"), last=("ended_before", "max")
    )
    per = per.reindex(rec.index)  # records of accounts without subscriptions: all NaN
    covering = per.covering.fillna(False).astype(bool)
    resigned = per.resigned.fillna(False).astype(bool)
    lag = (rec.churn_date - per["last"]).dt.days
    ended = covering & ~resigned
    confirmed = ~covering & lag.notna() & (lag <= gap_days)
    late = ~covering & lag.notna() & (lag > gap_days)
    out.ended, out.confirmed, out.late = int(ended.sum()), int(confirmed.sum()), int(late.sum())
    out.late_days = [int(v) for v in lag[late]]
    out.overruled = int((covering & resigned).sum())
    out.outside = int((~covering & lag.isna()).sum())
    counted = (ended | confirmed | late).to_numpy()
    cut = pairs[pairs.covering & pairs.record.isin(rec.index[ended])]
    new_end = cut.groupby("sub").churn_date.min()
    subs.loc[new_end.index, "end_date"] = new_end
    # a late record's churn (and reason) is the coverage end it followed
    dated = rec.assign(churn_date=rec.churn_date.where(~late, per["last"]))
    out.counted = dated.loc[counted, ["account_id", "churn_date", "reason", "kind"]].reset_index(
        drop=True
    )
    spells = coverage_spells(subs, gap_days).dropna(subset=["spell_end"])
    near = spells.merge(dated[["account_id", "churn_date"]], on="account_id", how="left")
    near["hit"] = (near.churn_date - near.spell_end).abs() <= gap
    hit = near.groupby(["account_id", "spell_end"]).hit.any()
    out.unrecorded = int((~hit).sum())
    return subs, out


def reasons_by_segment(counted: pd.DataFrame, segment_of: pd.Series) -> pd.DataFrame:
    """Share of each recorded reason among the counted churns, per segment and overall
    (segment "all"): segment, reason ("unknown" when not recorded), churns, share."""
    if counted.empty:
        return pd.DataFrame(columns=["segment", "reason", "churns", "share"])
    c = counted.assign(
        segment=counted.account_id.map(segment_of).astype(str),
        reason=counted.reason.astype(object).where(counted.reason.notna(), "unknown").astype(str),
    )
    frames = []
    for seg, g in [("all", c), *c.groupby("segment", sort=True)]:
        n = g.reason.value_counts()
        frames.append(
            pd.DataFrame(
                {"segment": seg, "reason": n.index, "churns": n.to_numpy(), "share": n / len(g)}
            )
        )
    return pd.concat(frames, ignore_index=True)


def with_churn_records(source: Source, segments: list[str], gap_days: int) -> Source:
    """The source with its churn records applied to the subscriptions (unchanged without a
    `churn_events` table); `notes` say where records and subscriptions disagreed, and
    `churn_records` holds the records that date a churn. Apply after any truncation, so that
    only records known at the as-of date change anything."""
    if "churn_events" not in source:
        return source
    specs = contract(segments)
    subs = source.typed(specs["subscriptions"]).to_pandas()
    records = source.typed(specs["churn_events"]).to_pandas()
    new, rec = reconcile(subs, records, gap_days)
    # a temporary table of the source's own session, gone when it closes (an in-memory table
    # without a backend would stay in the process's default DuckDB for good)
    name = f"_churnhealth_subscriptions_{uuid.uuid4().hex[:12]}"
    data = pa.Table.from_pandas(new[list(subs.columns)], preserve_index=False)
    tables = {**source.tables, "subscriptions": temp_table(source.con, name, data)}
    return replace(
        source,
        tables=tables,
        notes=[*source.notes, *rec.notes(gap_days)],
        churn_records=rec.counted,
    )


def churn_reasons(source: Source, segments: list[str]) -> pd.DataFrame | None:
    """The reasons of the recorded churns per segment (`reasons_by_segment`), None without
    churn records."""
    if source.churn_records is None:
        return None
    accounts = source.typed(contract(segments)["accounts"]).select("account_id", "segment")
    segment_of = accounts.to_pandas().set_index("account_id").segment
    return reasons_by_segment(source.churn_records, segment_of)
