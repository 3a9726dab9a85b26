"""`churnhealth effects`: what each play logged in `cs_actions` is worth, three ways.

The units, outcomes and estimators are in `evaluation.effects` (randomized, naive) and
`evaluation.effects_dr` (doubly robust); this job reads the data, builds the point-in-time
features every unit is described by, assembles the units and writes the estimates atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth import tracking
from churnhealth.atomic import check_writable, write_json
from churnhealth.config import Config
from churnhealth.data.contract import contract
from churnhealth.data.load import open_configured
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation import effects as fx
from churnhealth.evaluation.effects_dr import doubly_robust
from churnhealth.evaluation.horizons import truth_for
from churnhealth.features import build_features
from churnhealth.location import source_label
from churnhealth.progress import Stage, no_stage
from churnhealth.scoring import history, outcomes

RUN = ("alert", "manual")
WASHOUT_DAYS = 90
"""A unit is no control while a play run within this many days before it may still act."""


@dataclass
class EffectsResult:
    """Every estimate, per play, method, outcome and group, with what the data allowed."""

    source: str
    data_end: str
    horizon_days: int
    plays: dict[str, dict[str, int]]
    """Per play: units run, held out and run with features (the rest fell outside the grid)."""
    estimates: list[fx.Estimate]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    out: Path | None = None
    run_id: str | None = None
    """The MLflow run that holds the estimates as metrics."""

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "data_end": self.data_end,
            "horizon_days": self.horizon_days,
            "plays": self.plays,
            "estimates": [e.as_dict() for e in self.estimates],
            "notes": self.notes,
            "run_id": self.run_id,
        }


def units(actions: pd.DataFrame, grid: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each logged play on the latest scheduled as-of date on or before it (its features then
    know nothing of it); plays on accounts not in the grid on that date (not yet customers, or
    gone) are dropped and counted."""
    acts = actions.assign(date=pd.to_datetime(actions.date).astype("datetime64[ns]"))
    on = grid.assign(as_of=grid.as_of.astype("datetime64[ns]"))
    dates = np.sort(on.as_of.unique())
    i = np.searchsorted(dates, acts.date.to_numpy(), side="right") - 1
    acts["as_of"] = np.where(i >= 0, dates[np.maximum(i, 0)], np.datetime64("NaT", "ns"))
    m = acts.merge(on, on=["account_id", "as_of"], how="inner", validate="many_to_one")
    return m.sort_values("date", kind="stable").reset_index(drop=True), len(acts) - len(m)


def controls(grid: pd.DataFrame, actions: pd.DataFrame, owned: set | None) -> pd.DataFrame:
    """Units the team did not work: no play run in (as_of − washout, as_of + a month), and, where
    the team works only accounts with an owner, owned accounts only."""
    run = actions[actions.source.isin(RUN) & actions.worked]
    g = grid.assign(as_of=grid.as_of.astype("datetime64[ns]"))
    near = g[["account_id", "as_of"]].merge(
        run[["account_id", "date"]].assign(date=pd.to_datetime(run.date)), on="account_id"
    )
    gap = (near.date - near.as_of).dt.days
    touched = near[(gap > -WASHOUT_DAYS) & (gap < 31)][["account_id", "as_of"]].drop_duplicates()
    out = g.merge(touched.assign(_t=True), on=["account_id", "as_of"], how="left")
    out = out[out._t.isna()].drop(columns="_t")
    if owned is not None:
        out = out[out.account_id.isin(owned)]
    return out


def combined(table: pd.DataFrame | None, logged: pd.DataFrame) -> pd.DataFrame:
    """The plays in the cs_actions table and those in churnhealth's own alert log (held-out
    alerts included), once each: a play both list counts as the table has it."""
    frames = [] if table is None else [table.assign(worked=True)]
    frames += [logged] if len(logged) else []
    both = pd.concat(frames, ignore_index=True)
    both["date"] = pd.to_datetime(both.date).astype("datetime64[ns]").dt.normalize()
    return both.drop_duplicates(["account_id", "date", "playbook"], keep="first")


def estimate(
    cfg: Config,
    data: Path | None = None,
    out: Path | None = None,
    stage: Stage = no_stage,
) -> EffectsResult:
    """Estimate every play's effect; log them to MLflow and write them to `out` (JSON, by
    default effects.json in the reports folder, where `report` finds it) atomically."""
    t0 = time.perf_counter()
    out = check_writable(out or Path(cfg.paths.reports_dir) / "effects.json", "--out", (".json",))
    done = stage("validating data", 1)
    source = open_configured(cfg, data)
    done()
    specs = contract(cfg.data.segments)
    label = source_label(source.path)
    logged = outcomes.logged_actions(cfg.predict.alerts, cfg.predict.history)
    notes = []
    scored = history.recorded_source(cfg.predict.history)
    if len(logged) and scored != label:
        notes.append(
            f"the {len(logged)} alerts in {cfg.predict.alerts} were raised on "
            f"{scored or 'an unrecorded source'}, not this data: left out"
        )
        logged = logged.iloc[:0]
    if "cs_actions" not in source.tables and logged.empty:
        raise ChurnhealthError(
            f"effects: {label} has no cs_actions table and {cfg.predict.alerts} holds no "
            "alerts raised on it (expected the plays your team ran: account_id, date, "
            "playbook, source; docs/data-contract.md)"
        )
    actions = combined(
        source.typed(specs["cs_actions"]).to_pandas() if "cs_actions" in source.tables else None,
        logged,
    )
    accounts = source.typed(specs["accounts"]).to_pandas()
    fs = build_features(source, cfg, stage=stage)
    horizon = cfg.labels.health_horizon_days
    grid = fx.outcomes(fs.frame, fs.data_end, horizon)
    truth = truth_for(source, grid)
    if truth is not None:
        grid = pd.concat([grid, truth.filter(like="effect_")], axis=1)
    chosen, lost = units(actions, grid)
    # a play after its as-of date's renewal decision cannot have changed it
    chosen["seen_next"] &= ~(chosen.renewal_date <= chosen.date)
    owners = accounts.set_index("account_id").csm_owner
    # the controls are the accounts with a CSM when every play an estimate reads ran on one;
    # plays with no outcome known yet (today's alerts, which reach unowned accounts too) read
    # into no estimate, so they do not widen the controls to the whole book
    ran = chosen[chosen.source.isin(RUN) & chosen.worked]
    worked = set(ran.account_id[ran.seen_12m | ran.seen_next])
    owned = set(owners.dropna().index) if worked <= set(owners.dropna().index) else None
    pool = controls(grid, actions, owned)
    if owned is not None:
        notes.append(
            f"the comparison accounts are the {len(owned):,} with a CSM: every play with a "
            "known outcome ran on one"
        )
    if lost:
        notes.append(
            f"{lost} of {len(actions)} logged plays fall on no scored account-date (before the "
            "account's first as-of date, or after it left) and are left out"
        )
    estimates: list[fx.Estimate] = []
    plays: dict[str, dict[str, int]] = {}
    names = sorted(chosen.playbook.unique())
    for play in names:
        mine = chosen[chosen.playbook == play]
        exp = mine[mine.source.isin(("alert", "holdout"))].assign(
            treated=lambda d: d.source == "alert"
        )
        plays[play] = {
            "run": int((mine.source.isin(RUN) & mine.worked).sum()),
            "held_out": int((mine.source == "holdout").sum()),
        }
        for outcome in fx.OUTCOMES:
            if (~exp.treated).any():
                estimates.append(fx.randomized(exp, play, outcome, horizon))
            else:
                why = "no holdouts: set holdout_share on the playbook"
                estimates.append(
                    fx.Estimate(play, "randomized", outcome, treated=len(exp), refused=why)
                )
            estimates.append(fx.naive(ran[ran.playbook == play], pool, play, outcome))
    advance = stage("doubly robust estimates", len(fx.OUTCOMES))
    for outcome in fx.OUTCOMES:
        estimates.extend(doubly_robust(ran, pool, fs, outcome))
        advance()
    result = EffectsResult(
        label,
        str(fs.data_end.date()),
        horizon,
        plays,
        estimates,
        notes,
        time.perf_counter() - t0,
        out,
    )
    result.run_id = tracking.log_effects(cfg, result.to_dict(), data)
    write_json(out, result.to_dict())
    return result
