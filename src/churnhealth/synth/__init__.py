"""The demo company: a synthetic B2B SaaS business with known ground truth.

A hidden health state per account (product fit, relationship, sentiment, budget) evolves month
by month with drift and shocks, drives every observable table with noise, and decides renewals.
The `truth` table holds each active account's true churn probabilities at the first of every
month — within 90 days, within 12 months, and at its next renewal decision — so the best
reachable ROC-AUC (the oracle) is known at each horizon.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from churnhealth.atomic import check_folder_writable, check_writable
from churnhealth.data.contract import TABLE_NAMES
from churnhealth.data.source import write_tables
from churnhealth.errors import ChurnhealthError
from churnhealth.features.labels import annual_churn
from churnhealth.synth.dynamics import CHURN_REASONS
from churnhealth.synth.keyed import Keyed
from churnhealth.synth.messy import make_messy
from churnhealth.synth.observe import Observer
from churnhealth.synth.params import FEATURES, INDUSTRIES, PLANS, SEGMENTS, Params
from churnhealth.synth.simulate import Company, monthly_hazard, simulate
from churnhealth.synth.team import PLAYS, Team, summary
from churnhealth.synth.truth import constant_truth, play_effects, truth_table

DRIFT_KINDS = ("usage_shift", "concept_shift")
STAGES = ("accounts and contracts", "usage", "engagement and support", "truth", "writing")
EFFECT_STAGE = "plays' true effects"
EFFECT_PATHS = 24
"""Monte Carlo paths per account for the plays' true effects (common random numbers)."""
ALONGSIDE_ACCOUNT_MONTHS = 60_000
"""From this size on (accounts × months), the plays' true effects are computed in a second
process while this one observes the company and computes its truth table: the default demo
(5,000 accounts over 36 months) is generated in a little over half the time on two cores.
Below it, starting a process costs more than it saves."""


class _Alongside:
    """`fn(*args)` run in a second, spawned process while this one goes on: the same result on
    two cores. `result()` waits for it; `close()` stops it if it still runs (on an error here)."""

    def __init__(self, fn: Callable, *args) -> None:
        self._pool = multiprocessing.get_context("spawn").Pool(1)
        self._job = self._pool.apply_async(fn, args)

    def result(self):
        try:
            return self._job.get()
        finally:
            self.close()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


@dataclass(frozen=True)
class Drift:
    kind: str
    date: dt.date

    @classmethod
    def parse(cls, text: str) -> Drift:
        """Parse `KIND@YYYY-MM-DD`, e.g. `usage_shift@2025-06-01`."""
        kind, _, day = text.partition("@")
        if kind not in DRIFT_KINDS or not day:
            raise ChurnhealthError(
                f"--drift {text!r}: expected KIND@YYYY-MM-DD with KIND one of "
                f"{', '.join(DRIFT_KINDS)}"
            )
        try:
            return cls(kind, dt.date.fromisoformat(day))
        except ValueError:
            raise ChurnhealthError(
                f"--drift {text!r}: {day!r} is not a date (YYYY-MM-DD)"
            ) from None


@dataclass
class SynthResult:
    path: Path
    accounts_per_segment: dict[str, int]
    churn: pd.DataFrame
    """Yearly logo churn per segment."""
    churn_90d: dict[str, float]
    """Share of (account, month) rows that churn within 90 days, on the as-of dates and with
    the label rules `churnhealth features` uses by default (from 90 days in, mature labels)."""
    rows: dict[str, int] = field(default_factory=dict)
    defects: pd.DataFrame | None = None
    """With `messy`: each defect written, its table and rows (`synth.messy`)."""
    no_signal: float | None = None
    """With `no_signal`: the monthly probability every active account leaves with."""
    plays: pd.DataFrame | None = None
    """With a team: per play, times run and held out, and its true average effect on the
    accounts chosen for it (`synth.team.summary`)."""


def _churn_90d(
    truth: pd.DataFrame,
    churn_date: np.ndarray,
    seg: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> dict[str, float]:
    """Realised 90-day churn from the simulation's own churn dates (not from the tables)."""
    as_of = truth.as_of
    first = (start + pd.Timedelta(days=90)).to_period("M").to_timestamp()
    if first < start + pd.Timedelta(days=90):
        first += pd.DateOffset(months=1)
    keep = (as_of >= first) & (as_of + pd.Timedelta(days=120) <= end)
    rows = truth[keep]
    when = pd.to_datetime(churn_date[rows.account])
    hit = (when > rows.as_of) & (when <= rows.as_of + pd.Timedelta(days=90))
    names = np.array(SEGMENTS)[seg[rows.account]]
    return {s: float(hit[names == s].mean()) for s in SEGMENTS}


def _names(n: int, rng: np.random.Generator) -> np.ndarray:
    first = np.array(
        [
            "North",
            "Blue",
            "Bright",
            "Iron",
            "Silver",
            "Cedar",
            "Apex",
            "Nova",
            "Harbor",
            "Summit",
            "Vertex",
            "Maple",
            "Quantum",
            "Coral",
            "Atlas",
            "Pine",
        ]
    )
    second = np.array(
        [
            "wind",
            "stone",
            "field",
            "bridge",
            "point",
            "light",
            "wave",
            "gate",
            "path",
            "forge",
            "leaf",
            "peak",
        ]
    )
    suffix = np.array(
        [
            "Labs",
            "Systems",
            "Group",
            "Health",
            "Logistics",
            "Retail",
            "Partners",
            "Analytics",
            "Foods",
            "Energy",
            "Media",
            "Works",
        ]
    )
    return np.char.add(
        np.char.add(np.char.add(rng.choice(first, n), rng.choice(second, n)), " "),
        rng.choice(suffix, n),
    )


def _as_date(values: np.ndarray | pd.Series) -> pd.Series:
    s = pd.Series(np.asarray(values).astype("datetime64[s]"))
    return s.astype(pd.ArrowDtype(pa.date32()))


P_REASON_OTHER = 0.12
P_REASON_MISSING = 0.08
"""How often the demo's churn log says "other", or nothing, instead of the leading mechanism."""


def churn_log(company: Company, ids: np.ndarray, seed: np.random.SeedSequence) -> pd.DataFrame:
    """The demo's churn log: one record per churn, on the day the subscription ended, with the
    mechanism that drove it as the reason (`dynamics.reason_index`), recorded the way a CS team
    does: sometimes "other", sometimes not at all. A failed payment is involuntary churn."""
    gone = np.flatnonzero(~np.isnat(company.churn_date))
    why = np.array(CHURN_REASONS, dtype=object)[company.churn_reason[gone]]
    kind = np.where(why == "payment failed", "involuntary", "voluntary").astype(object)
    u = Keyed(seed).uniform("churn_log.reason", gone)
    why = np.where(u < P_REASON_OTHER, "other", why)
    why = np.where(u > 1 - P_REASON_MISSING, None, why)
    out = pd.DataFrame(
        {
            "account_id": ids[gone],
            "churn_date": _as_date(company.churn_date[gone]),
            "reason": pd.Series(why, dtype="str"),
            "kind": pd.Series(kind, dtype="str"),
        }
    )
    return out.sort_values(["churn_date", "account_id"], kind="stable")


def generate(
    out: Path | str,
    accounts: int = 5000,
    years: int = 3,
    seed: int = 0,
    start: dt.date = dt.date(2023, 11, 1),
    drifts: tuple[Drift, ...] = (),
    truth_paths: int = 200,
    on_stage: Callable[[str, int], Callable[[], None]] | None = None,
    messy: bool = False,
    no_signal: bool = False,
    monthly_share: float | None = None,
    team: Team | None = None,
    alongside: bool | None = None,
) -> SynthResult:
    """Simulate the company and write its tables plus `truth` to `out` atomically.

    `on_stage(name, steps)` is called at each stage and returns a callback advancing it.
    `messy` writes it with the defects of real exports (`synth.messy`) and a `defects` table.
    `no_signal` writes the no-signal control: the same accounts, segments, contracts and
    renewal calendar, and the same overall churn rate, but each account leaves at random,
    independently of everything the tables hold (`simulate`); its truth table gives every active
    account the same probabilities.
    `team` gives the company a customer-success team that runs plays (`synth.team`): a
    `cs_actions` table, and each play's true effect per account and month in `truth`; those
    effects are computed in a second process when `alongside` (None: from
    `ALONGSIDE_ACCOUNT_MONTHS` on), with the same result.
    """
    if accounts < 10 or years < 1 or truth_paths < 1:
        raise ChurnhealthError(
            f"synth: need accounts ≥ 10, years ≥ 1 and truth_paths ≥ 1 "
            f"(got {accounts}, {years}, {truth_paths})"
        )
    out = Path(out)
    if out.suffix == ".duckdb":
        check_writable(out, "--out")
    else:
        check_folder_writable(out.parent, "--out", shown=out)
    p = Params()
    if monthly_share is not None:
        if not 0 <= monthly_share <= 1:
            raise ChurnhealthError(f"synth: --monthly-share must be in 0..1 (got {monthly_share})")
        p.p_monthly = np.full(3, float(monthly_share))
        p.p_multi_year = np.minimum(p.p_multi_year, 1 - p.p_monthly)
    months = 12 * years
    ss = np.random.SeedSequence(seed)
    (s_acc, s_dyn, s_dec, s_obs, s_truth, s_names, s_records) = ss.spawn(7)
    s_messy = ss.spawn(1)[0]  # spawned after the others: the clean tables do not change
    s_team, s_effects = ss.spawn(2)
    shift = {d.kind: np.datetime64(d.date, "D") for d in drifts}

    def stage(name: str, steps: int = 1) -> Callable[[], None]:
        return on_stage(name, steps) if on_stage else (lambda: None)

    done = stage(STAGES[0])
    run = (accounts, np.datetime64(start, "D"), months, (s_acc, s_dyn, s_dec), p)
    company = simulate(*run, shift.get("concept_shift"), team=team, team_seed=s_team)
    hazard = monthly_hazard(company) if no_signal else None
    if no_signal:  # the same company, churning at its own rate but at random
        company = simulate(
            *run, shift.get("concept_shift"), no_signal=hazard, team=team, team_seed=s_team
        )
    done()
    if alongside is None:
        alongside = accounts * months >= ALONGSIDE_ACCOUNT_MONTHS
    # a daemonic process (a multiprocessing pool's worker) may not start one of its own
    alongside = alongside and not multiprocessing.current_process().daemon
    effects_job = (
        _Alongside(play_effects, company, EFFECT_PATHS, s_effects, p)
        if team is not None and not no_signal and alongside
        else None
    )
    try:
        observer = Observer(company, p, s_obs, shift.get("usage_shift"))
        usage = observer.usage(stage(STAGES[1], months))
        done = stage(STAGES[2])
        touch, surveys, tickets = observer.touchpoints(), observer.surveys(), observer.tickets()
        contacts, invoices = observer.contacts(), observer.invoices()
        done()
        truth = (
            constant_truth(company, hazard, stage(STAGES[3], months + 1))
            if no_signal
            else truth_table(
                company,
                truth_paths,
                np.random.default_rng(s_truth),
                p,
                stage(STAGES[3], months + 1),
            )
        )
    except BaseException:
        if effects_job is not None:
            effects_job.close()
        raise
    plays = None
    if team is not None:
        if no_signal:  # churn ignores the state: no play changes anything
            effects = truth[["account", "as_of"]].assign(
                **{f"effect_{play}_{h}": 0.0 for play in PLAYS for h in ("12m", "next_renewal")}
            )
        elif effects_job is not None:
            done = stage(EFFECT_STAGE, 1)
            effects = effects_job.result()
            done()
        else:
            effects = play_effects(
                company, EFFECT_PATHS, s_effects, p, stage(EFFECT_STAGE, months + 1)
            )
        truth = truth.merge(effects, on=["account", "as_of"], how="left", validate="1:1")
        plays = summary(company.actions, effects)

    width = max(5, len(str(accounts)))
    ids = np.char.add("A", np.char.zfill(np.arange(1, accounts + 1).astype(str), width))
    seg_names = np.array(SEGMENTS)[company.seg]
    rng_n = np.random.default_rng(s_names)
    subs = company.subscriptions
    last = subs.groupby("account").tail(1).set_index("account").sort_index()
    n_csm = max(3, accounts // 120)
    csm_names = np.char.add(
        "csm_", np.char.zfill((rng_n.integers(0, n_csm, accounts) + 1).astype(str), 2)
    )
    tables: dict[str, pd.DataFrame] = {
        "accounts": pd.DataFrame(
            {
                "account_id": ids,
                "name": _names(accounts, rng_n),
                "segment": seg_names,
                "industry": rng_n.choice(np.array(INDUSTRIES), accounts),
                "created_at": _as_date(company.created),
                "licenses": last.licenses.to_numpy().astype(np.int64),
                "arr": last.arr.to_numpy().astype(float),
                "csm_owner": pd.Series(np.where(company.csm, csm_names, None), dtype="str"),
            }
        ),
        "subscriptions": pd.DataFrame(
            {
                "subscription_id": np.char.add(
                    "S", np.char.zfill(np.arange(1, len(subs) + 1).astype(str), width + 1)
                ),
                "account_id": ids[subs.account.to_numpy()],
                "start_date": _as_date(subs.start_date),
                "term_months": subs.term_months.astype(np.int64),
                "end_date": _as_date(subs.end_date),
                "arr": subs.arr.astype(float),
                "plan": np.array(PLANS)[company.seg[subs.account.to_numpy()]],
                "licenses": subs.licenses.astype(np.int64),
            }
        ),
    }
    idx_ids = ids
    usage_df = pd.DataFrame(
        {
            "account_id": pd.Categorical.from_codes(usage.account.to_numpy(), idx_ids),
            "date": _as_date(usage.date),
            "feature": pd.Categorical.from_codes(usage.feature.to_numpy(), FEATURES),
            "active_users": usage.active_users,
            "events": usage.events,
        }
    )
    tables["usage"] = usage_df
    tables["touchpoints"] = touch.assign(account_id=idx_ids[touch.account])[
        ["account_id", "ts", "kind", "attended"]
    ].sort_values(["account_id", "ts"])
    tables["surveys"] = surveys.assign(account_id=idx_ids[surveys.account])[
        ["account_id", "ts", "kind", "score"]
    ].sort_values(["account_id", "ts"])
    tickets = tickets.sort_values("opened_at", kind="stable").reset_index(drop=True)
    tables["tickets"] = pd.DataFrame(
        {
            "ticket_id": np.char.add(
                "T", np.char.zfill(np.arange(1, len(tickets) + 1).astype(str), width + 3)
            ),
            "account_id": idx_ids[tickets.account],
            "opened_at": tickets.opened_at,
            "closed_at": tickets.closed_at,
            "priority": tickets.priority,
            "escalated": tickets.escalated,
            "csat": tickets.csat,
        }
    )
    contacts = contacts.sort_values(["account", "started_at"], kind="stable").reset_index(drop=True)
    tables["contacts"] = pd.DataFrame(
        {
            "contact_id": np.char.add(
                "C", np.char.zfill(np.arange(1, len(contacts) + 1).astype(str), width + 2)
            ),
            "account_id": idx_ids[contacts.account],
            "role": contacts.role,
            "is_champion": contacts.is_champion.astype(bool),
            "is_exec_sponsor": contacts.is_exec_sponsor.astype(bool),
            "department": contacts.department,
            "started_at": _as_date(contacts.started_at),
            "ended_at": _as_date(contacts.ended_at),
        }
    )
    invoices = invoices.sort_values(["issued_at", "account"], kind="stable").reset_index(drop=True)
    tables["invoices"] = pd.DataFrame(
        {
            "invoice_id": np.char.add(
                "I", np.char.zfill(np.arange(1, len(invoices) + 1).astype(str), width + 2)
            ),
            "account_id": idx_ids[invoices.account],
            "issued_at": _as_date(invoices.issued_at),
            "due_at": _as_date(invoices.due_at),
            "paid_at": _as_date(invoices.paid_at),
            "amount": invoices.amount,
        }
    )
    tables["churn_events"] = churn_log(company, idx_ids, s_records)
    tables["truth"] = pd.DataFrame(
        {
            "account_id": idx_ids[truth.account],
            "as_of": _as_date(truth.as_of),
            "p_churn_90d": truth.p_churn_90d,
            "p_churn_12m": truth.p_churn_12m,
            "next_renewal": _as_date(truth.next_renewal),
            "p_churn_next_renewal": truth.p_churn_next_renewal,
            **{c: truth[c] for c in truth.columns if c.startswith("effect_")},
        }
    )
    if company.actions is not None:
        acts = company.actions.sort_values(["date", "account"], kind="stable")
        tables["cs_actions"] = pd.DataFrame(
            {
                "account_id": idx_ids[acts.account.to_numpy()],
                "date": _as_date(acts.date),
                "playbook": pd.Series(acts.play.to_numpy(), dtype="str"),
                "source": pd.Series(acts.source.to_numpy(), dtype="str"),
            }
        )
    defects = None
    if messy:
        tables, defects = make_messy(tables, start, company.end, np.random.default_rng(s_messy))
    order = [*(n for n in TABLE_NAMES if n in tables), "truth"]  # raw `events`: not simulated
    tables = {name: tables[name].reset_index(drop=True) for name in order}
    if defects is not None:
        tables["defects"] = defects

    done = stage(STAGES[4])
    path = write_tables(out, tables)
    done()
    seg_of = pd.Series(seg_names, index=ids)
    churn = annual_churn(tables["subscriptions"], seg_of, pd.Timestamp(start), years)
    churn_90d = _churn_90d(
        truth, company.churn_date, company.seg, pd.Timestamp(start), pd.Timestamp(company.end)
    )
    return SynthResult(
        path,
        {s: int((seg_names == s).sum()) for s in SEGMENTS},
        churn,
        churn_90d,
        {k: len(v) for k, v in tables.items()},
        defects,
        hazard,
        plays,
    )
