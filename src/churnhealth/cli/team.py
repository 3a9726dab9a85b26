"""Commands on the team's judgment and actions: `override` and `outcome` record them (appending
to audit tables of the history store, `predict.history`; nothing is edited), `effects` measures
what the plays logged in cs_actions are worth."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from churnhealth.cli.app import (
    ConfigOpt,
    DataOpt,
    SourcesOpt,
    app,
    committed,
    config,
    parse_date,
)
from churnhealth.cli.views import team as team_view
from churnhealth.errors import ChurnhealthError
from churnhealth.progress import stages

ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by", help="Who records it [default: the operating-system user].", show_default=False
    ),
]


@app.command()
def override(
    account_id: Annotated[
        str | None, typer.Argument(help="The account (not with --list).", show_default=False)
    ] = None,
    health: Annotated[
        int | None,
        typer.Option(
            "--health", help="The CSM's health for the account, 0–100.", show_default=False
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why (required with --health).", show_default=False),
    ] = None,
    valid_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First as-of date it applies to, YYYY-MM-DD [default: the latest as-of date "
            "in the health history, today when it is empty].",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Last as-of date it applies to, YYYY-MM-DD [default: until cleared].",
            show_default=False,
        ),
    ] = None,
    by: ByOpt = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Withdraw the account's override (from --from on).")
    ] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="Each account's latest override and its status.")
    ] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="With --list: every recorded row (the audit trail).")
    ] = False,
    config_path: ConfigOpt = None,
) -> None:
    """Record a CSM's view of an account's health beside the model's (an audit trail: rows
    are appended, never edited); --list shows them, --clear withdraws one."""
    cfg = config(config_path)
    from churnhealth.scoring import history, overrides

    store = cfg.predict.history
    # the data's today: an override recorded now applies to the scores the team is reading,
    # even when the data ends before the clock's today
    today = history.latest_as_of(store) or dt.date.today()
    if list_:
        if account_id or health is not None or clear or reason or until or valid_from:
            raise ChurnhealthError(
                "override --list: takes no account and no other option but --all"
            )
        rows = overrides.audit(store) if all_ else overrides.latest(store, today)
        team_view.overrides(rows, store, every=all_, today=today)
        return
    if all_:
        raise ChurnhealthError("override --all: goes with --list")
    if not account_id:
        raise ChurnhealthError("override: name an account (or --list)")
    if clear == (health is not None):
        raise ChurnhealthError(f"override {account_id}: give either --health N or --clear")
    if health is not None and not reason:
        raise ChurnhealthError(f"override {account_id}: --reason is required with --health")
    row = overrides.record(
        store,
        account_id,
        health=health,
        reason=reason or "cleared",
        by=by if by is not None else overrides.who(),
        valid_from=parse_date(valid_from, "--from") or today,
        valid_until=parse_date(until, "--until"),
    )
    with committed("override"):
        team_view.override_recorded(row, store)


@app.command()
def outcome(
    alert_id: Annotated[str, typer.Argument(help="The alert's id (in predict's alert log).")],
    status: Annotated[
        str,
        typer.Option(
            "--status", help="What the team did: done, skipped or failed.", show_default=False
        ),
    ],
    note: Annotated[str | None, typer.Option("--note", help="A note.", show_default=False)] = None,
    by: ByOpt = None,
    config_path: ConfigOpt = None,
) -> None:
    """Record what the team did with an alert; the report compares retention by outcome."""
    cfg = config(config_path)
    from churnhealth.scoring import outcomes, overrides

    row = outcomes.record(
        cfg.predict.history,
        cfg.predict.alerts,
        alert_id,
        status=status,
        note=note,
        by=by if by is not None else overrides.who(),
    )
    with committed("outcome"):
        team_view.outcome_recorded(row, cfg.predict.history)


@app.command()
def effects(
    data: DataOpt = None,
    sources: SourcesOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the estimates (JSON) [default: effects.json in "
            "paths.reports_dir, where `churnhealth report` reads it].",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the estimates as JSON instead of tables.")
    ] = False,
    config_path: ConfigOpt = None,
) -> None:
    """What each play in cs_actions is worth: its effect on churn within the health horizon and
    at the next renewal decision, randomized (against held-out alerts), doubly robust (against
    the accounts not worked, adjusted by their features) and naive (not to be trusted)."""
    cfg = config(config_path, sources)
    from churnhealth.jobs.effects import estimate

    with stages() as stage:
        res = estimate(cfg, data, out, stage)
    team_view.effects(res, as_json)
