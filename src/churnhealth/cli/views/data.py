"""What `synth`, `validate`, `features` and `doctor` print."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import yaml
from rich.table import Table

from churnhealth.cli.app import console
from churnhealth.cli.views.common import notes
from churnhealth.config import Config
from churnhealth.sinks import terminal

if TYPE_CHECKING:  # the CLI imports a command's stages only when it runs
    from churnhealth.data.validate import Report
    from churnhealth.jobs.doctor import Diagnosis
    from churnhealth.jobs.features import FeaturesResult
    from churnhealth.synth import SynthResult


def synth(res: SynthResult, seconds: float, seed: int, years: int, drifts: tuple) -> None:
    """The demo company: where, how big, churn per segment and year, rows per table."""
    size = (
        res.path.stat().st_size
        if res.path.is_file()
        else sum(f.stat().st_size for f in res.path.iterdir())
    )
    console.print(
        f"[bold]Demo company[/] written to {terminal(res.path)} in {seconds:.1f} s "
        f"({size / 1e6:.0f} MB), seed {seed}"
        + (f", drift: {', '.join(f'{d.kind}@{d.date}' for d in drifts)}" if drifts else ""),
        markup=True,
    )
    if res.no_signal is not None:
        console.print(
            f"No signal: every active account leaves with probability {res.no_signal:.4f} a "
            "month, at random, whatever the tables say of it (the truth table gives them all "
            "the same probabilities). No model should pass the skill gate on it.",
            highlight=False,
        )
    seg = Table(
        "segment",
        "accounts",
        *[f"churn y{i + 1}" for i in range(years)],
        "90-day churn",
        title="Accounts and churn: yearly logo churn (share of the accounts active at the "
        "year's start that left within it) and 90-day churn (share of monthly as-of rows, "
        "from 90 days in, that churn within 90 days)",
    )
    for name, count in res.accounts_per_segment.items():
        rates = res.churn[res.churn.segment == name].sort_values("year")
        seg.add_row(
            name,
            f"{count:,}",
            *[f"{r:.1%}" for r in rates.churn_rate],
            f"{res.churn_90d[name]:.2%}",
        )
    console.print(seg)
    if res.plays is not None:
        plays = Table(
            "play",
            "run",
            "held out",
            "true effect, 12 months",
            title="The customer-success team's plays (cs_actions) and the truth about them: the "
            "average change in the chance of churning within 12 months on the accounts the team "
            "chose them for (negative keeps accounts)",
        )
        for r in res.plays.itertuples():
            effect = "n/a" if r.run + r.held_out == 0 else f"{100 * r.effect_12m:+.1f} points"
            plays.add_row(r.play, f"{r.run:,}", f"{r.held_out:,}", effect)
        console.print(plays)
    rows = Table("table", "rows", title="Rows per table")
    for name, count in res.rows.items():
        rows.add_row(name, f"{count:,}")
    console.print(rows)
    if res.defects is not None:
        found = Table(
            "defect", "table", "rows", "what", title="Defects written (docs/messy-data.md)"
        )
        for d in res.defects.itertuples():
            found.add_row(d.defect, d.table, f"{d.rows:,}", d.detail)
        console.print(found)


def validation(report: Report) -> None:
    console.print(report.summary(), highlight=False, soft_wrap=True)
    notes(report.notes)


def features(res: FeaturesResult, cfg: Config) -> None:
    """Rows written, churn per segment, features per dimension, missing values."""
    frame = res.features.frame
    dates = frame.as_of.drop_duplicates().sort_values()
    console.print(
        f"[bold]{len(frame):,} rows[/] ({frame.account_id.nunique():,} accounts × "
        f"{len(dates)} as-of dates, {dates.iloc[0].date()} to {dates.iloc[-1].date()}; "
        f"{int(frame.labelled.sum()):,} labelled) written to {terminal(res.out)} in "
        f"{res.seconds:.1f} s",
        markup=True,
    )
    parts = res.summary
    churn = Table(
        "segment",
        "labelled rows",
        f"churn within {cfg.labels.horizon_days} days",
        title="Churn rate per segment (labelled rows)",
    )
    for r in parts["churn"].itertuples():
        churn.add_row(r.segment, f"{r.rows:,}", f"{r.churn_rate:.2%}")
    console.print(churn)
    dims = Table("dimension", "features", "names", title="Features per dimension")
    for r in parts["dimensions"].itertuples():
        dims.add_row(r.dimension, str(r.features), r.names)
    console.print(dims)
    nulls = Table("feature", "null share", title="Features with missing values")
    for r in parts["nulls"].itertuples():
        nulls.add_row(r.feature, f"{r.null_share:.1%}")
    console.print(nulls)
    notes(res.features.notes)


def doctor(d: Diagnosis, as_json: bool = False) -> None:
    """The diagnosis: verdict, tables, history, windows, segments, features, suggestions."""
    if as_json:
        console.print_json(json.dumps(d.to_dict(), default=str))
        return
    console.print(f"[bold]{terminal(d.verdict, limit=1000)}[/]", markup=True)
    h = d.history
    console.print(
        f"History: {h['data_start']} to {h['data_end']} ({h['months']} months), "
        f"{h['accounts']:,} accounts over {h['as_of_dates']} as-of dates"
        + (f"; year-ahead test: {h['year_ahead_test']}" if "year_ahead_test" in h else ""),
        highlight=False,
    )
    tables = Table("table", "required", "rows", "first", "last", title="Tables found")
    for r in d.tables.itertuples():
        tables.add_row(
            r.table,
            "yes" if r.required else "",
            f"{int(r.rows):,}" if r.present else "absent",
            r.first if isinstance(r.first, str) else "",
            r.last if isinstance(r.last, str) else "",
        )
    console.print(tables)
    if len(d.windows):
        w = h["windows"]
        win = Table(
            "segment",
            "train steps",
            "churned",
            "validation steps",
            "churned",
            "test rows",
            "churners",
            title=f"Windows train would use: steps known by {w['train_steps_known_by']} train, "
            f"by {w['validation_steps_known_by']} validate; test as-of dates "
            f"{w['test_as_of'][0]} to {w['test_as_of'][1]}",
        )
        for r in d.windows.itertuples():
            win.add_row(
                r.segment,
                *(f"{v:,}" for v in (r.train_steps, r.train_churned, r.val_steps)),
                *(f"{v:,}" for v in (r.val_churned, r.test_rows, r.test_churners)),
            )
        console.print(win)
    seg = Table("segment", "accounts", "active at end", "own model", title="Segments")
    for r in d.segments.itertuples():
        seg.add_row(r.segment, f"{r.accounts:,}", f"{r.active_at_end:,}", r.why)
    console.print(seg)
    f = d.features
    counts = f.status.value_counts()
    kinds = ("computed", "skipped", "empty", "constant")
    console.print(
        f"Features: {len(f)} declared metrics; "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in kinds),
        highlight=False,
    )
    off = f[f.status != "computed"]
    if len(off):
        t = Table("feature", "dimension", "status", "to enable it", title="Features not computed")
        for r in off.itertuples():
            t.add_row(r.feature, r.dimension, r.status, r.enable)
        console.print(t)
    if d.suggested:
        nested: dict = {}
        for key, value in d.suggested.items():
            head, _, tail = key.partition(".")
            nested.setdefault(head, {})[tail] = value
        console.print("Suggested configuration:", highlight=False)
        console.print(yaml.safe_dump(nested, sort_keys=False).rstrip(), highlight=False)
    notes(d.notes)
