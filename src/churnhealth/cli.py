"""The `churnhealth` command line."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from churnhealth.config import Config, load_config
from churnhealth.errors import ChurnhealthError

app = typer.Typer(
    help="Calibrated, explained customer health scores for B2B SaaS.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
console = Console(width=None if sys.stdout.isatty() else 120)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="YAML configuration (default: configs/default.yaml).",
        dir_okay=False,
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        help="Model URI (models:/churnhealth@champion, runs:/...) or MLflow model directory "
        "[default: the registry's @champion, else models/champion/].",
        show_default=False,
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help="DuckDB file or folder of CSV/Parquet tables (default: data.path).",
        show_default=False,
    ),
]


def _as_of(text: str):
    """The `--as-of` option, as each command reads it."""
    return typer.Option("--as-of", help=text, show_default=False)


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ChurnhealthError(f"{option} {value!r}: expected a date as YYYY-MM-DD") from None


def _fmt(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3f}"


def _config(path: Path | None) -> Config:
    return load_config(path)


@app.command()
def synth(
    out: Annotated[
        Path, typer.Option(help="Output: a .duckdb file, or else a folder of Parquet files.")
    ] = Path("data/demo.duckdb"),
    accounts: Annotated[
        int | None,
        typer.Option(help="Accounts ever created [config: 5000].", show_default=False, min=10),
    ] = None,
    years: Annotated[
        int | None,
        typer.Option(help="Years of history [config: 3].", show_default=False, min=1, max=10),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed [config: 0].", show_default=False, min=0)
    ] = None,
    drift: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject drift from a date: usage_shift@YYYY-MM-DD (measured usage drops, churn "
            "does not change) or concept_shift@YYYY-MM-DD (what drives churn changes). "
            "Repeatable.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Generate the demo company: a synthetic B2B SaaS business with ground truth."""
    from churnhealth.progress import stages
    from churnhealth.synth import Drift, generate

    cfg = _config(config).synth
    drifts = tuple(Drift.parse(d) for d in drift or ())
    n, y, s = accounts or cfg.accounts, years or cfg.years, cfg.seed if seed is None else seed
    t0 = time.perf_counter()
    with stages() as start:
        res = generate(out, n, y, s, cfg.start, drifts, cfg.truth_paths, on_stage=start)
    elapsed = time.perf_counter() - t0
    size = (
        res.path.stat().st_size
        if res.path.is_file()
        else sum(f.stat().st_size for f in res.path.iterdir())
    )
    console.print(
        f"[bold]Demo company[/] written to {res.path} in {elapsed:.1f} s "
        f"({size / 1e6:.0f} MB), seed {s}"
        + (f", drift: {', '.join(f'{d.kind}@{d.date}' for d in drifts)}" if drifts else "")
    )
    seg = Table(
        "segment",
        "accounts",
        *[f"churn y{i + 1}" for i in range(y)],
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
    rows = Table("table", "rows", title="Rows per table")
    for name, count in res.rows.items():
        rows.add_row(name, f"{count:,}")
    console.print(rows)


@app.command()
def validate(
    data: DataOpt = None,
    as_of: Annotated[
        str | None,
        _as_of("Also reject rows dated on or after this date (YYYY-MM-DD)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Check the tables against the data contract; one line per problem, exit code 2."""
    from churnhealth.data.source import open_source
    from churnhealth.data.validate import validate as run

    cfg = _config(config)
    report = run(open_source(data or cfg.data.path), cfg.data.segments, _date(as_of, "--as-of"))
    report.raise_for_problems()
    console.print(report.summary(), highlight=False, soft_wrap=True)
    for note in report.notes:
        console.print(f"note: {note}", style="dim", highlight=False)


@app.command()
def features(
    data: DataOpt = None,
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")] = Path(
        "outputs/features.parquet"
    ),
    start: Annotated[
        str | None, typer.Option(help="First as-of date (YYYY-MM-DD).", show_default=False)
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last as-of date (YYYY-MM-DD).", show_default=False)
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Build point-in-time features and churn labels for every account and as-of date."""
    from churnhealth.data.validate import open_validated
    from churnhealth.features import build_features, summarize
    from churnhealth.features.spec import load_metrics
    from churnhealth.progress import stages

    cfg = _config(config)
    metrics = load_metrics(cfg.features.definitions, cfg.data.segments)
    first, last = _date(start, "--start"), _date(end, "--end")
    t0 = time.perf_counter()
    with stages() as stage:
        done = stage("validating data", 1)
        source = open_validated(data or cfg.data.path, cfg.data.segments)
        done()
        fs = build_features(source, cfg, metrics, first, last, stage)
        done = stage("writing", 1)
        fs.save(out)
        done()
    frame = fs.frame
    dates = frame.as_of.drop_duplicates().sort_values()
    console.print(
        f"[bold]{len(frame):,} rows[/] ({frame.account_id.nunique():,} accounts × "
        f"{len(dates)} as-of dates, {dates.iloc[0].date()} to {dates.iloc[-1].date()}; "
        f"{int(frame.labelled.sum()):,} labelled) written to {out} in "
        f"{time.perf_counter() - t0:.1f} s",
        highlight=False,
    )
    parts = summarize(fs)
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
    for note in fs.notes:
        console.print(f"note: {note}", style="dim", highlight=False)


@app.command()
def train(
    data: DataOpt = None,
    as_of: Annotated[
        str | None,
        _as_of(
            "Train as if today were this date: nothing dated on or after it is read (YYYY-MM-DD)."
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Train segment models, calibrate, evaluate against baselines, register in MLflow."""
    from churnhealth.progress import stages
    from churnhealth.train import train as run_train

    cfg = _config(config)
    t0 = time.perf_counter()
    with stages() as stage:
        res = run_train(cfg, data, _date(as_of, "--as-of"), stage)
    s = res.splits
    console.print(
        "Splits by as-of date ("
        + "; ".join(
            f"{name} {w['first']} to {w['last']}, {w['rows']:,} rows"
            for name, w in res.metrics["windows"].items()
        )
        + f"); a {s.horizon_days}-day embargo keeps every fitted label window out of later "
        "windows",
        highlight=False,
    )
    table = Table(
        "segment",
        "model",
        "ROC-AUC",
        "oracle",
        "global",
        "scorecard",
        "login",
        "ECE",
        "recall",
        "precision",
        title="Test window (ROC-AUC of the model, the oracle, the global model and "
        "the baselines; ECE; the at-risk flag)",
    )
    for r in res.summary.itertuples():
        table.add_row(
            r.segment,
            str(r.model),
            *[
                "–" if pd.isna(v) else f"{v:.3f}"
                for v in (
                    r.roc_auc,
                    r.oracle,
                    r.global_model,
                    r.scorecard,
                    r.login,
                    r.ece,
                    r.recall,
                    r.precision,
                )
            ],
        )
    console.print(table)
    console.print(_segmenting_table(res.summary))
    console.print(
        f"Registered {cfg.mlflow.registered_model} v{res.version} as @{res.alias}: "
        f"{res.reason}. Run {res.run_id}; {time.perf_counter() - t0:.0f} s. "
        f"Metrics: {cfg.paths.reports_dir / 'metrics.json'}",
        highlight=False,
    )
    for note in res.notes:
        console.print(f"note: {note}", style="dim", highlight=False)


def _segmenting_table(summary: pd.DataFrame) -> Table:
    """Does segmenting pay: the routed model minus the global model, with 95% intervals."""
    table = Table(
        "segment",
        "model",
        "ROC-AUC",
        "95% interval",
        "log loss",
        "95% interval",
        title="Segment models minus the global model on the test window (bootstrap over accounts)",
    )
    for r in summary.itertuples():
        cells = []
        for m, fmt in (("roc_auc", "+.3f"), ("log_loss", "+.4f")):
            d, lo, hi = (getattr(r, f"vs_global_{m}_diff{s}") for s in ("", "_lo", "_hi"))
            cells += [format(d, fmt), f"[{lo:{fmt}}, {hi:{fmt}}]"]
        table.add_row(r.segment, str(r.model), *cells)
    return table


@app.command()
def backtest(
    data: DataOpt = None,
    start: Annotated[
        str | None,
        typer.Option(help="First origin, YYYY-MM-DD [config: backtest.start].", show_default=False),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Last origin, YYYY-MM-DD [config: backtest.end].", show_default=False),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(help="Origin spacing: 1M, 2W, 30D [config: 1M].", show_default=False),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Rolling-origin backtest: train at each origin on what was known then, score the next
    period, check the out-of-time predictions against what happened."""
    from churnhealth.backtest import run_backtest, save, tables
    from churnhealth.progress import stages

    cfg = _config(config)
    t0 = time.perf_counter()
    with stages() as stage:
        res = run_backtest(
            cfg,
            data,
            _date(start, "--start") or cfg.backtest.start,
            _date(end, "--end") or cfg.backtest.end,
            step,
            stage,
        )
    run_id = save(cfg, res, data)
    r, t = res.report, tables(res.report)
    for name, title in (("periods", "Per period (origin)"), ("segments", "Per segment")):
        frame = t[name]
        table = Table(
            *frame.columns[:1],
            "rows",
            "churners",
            "ROC-AUC",
            "PR-AUC",
            "ECE",
            "recall",
            "specificity",
            "precision",
            "F1",
            "top-10% lift",
            title=title,
        )
        for row in frame.itertuples(index=False):
            table.add_row(
                str(row[0]),
                f"{row.rows:,}",
                str(row.churners),
                *map(
                    _fmt,
                    (
                        row.roc_auc,
                        row.pr_auc,
                        row.ece,
                        row.recall,
                        row.specificity,
                        row.precision,
                        row.f1,
                        row.top10_lift,
                    ),
                ),
            )
        console.print(table)
    targets = Table(
        "metric", "value", "target", "", title="At-risk flag against practitioners' targets"
    )
    for row in t["targets"].itertuples(index=False):
        targets.add_row(
            row.metric,
            _fmt(row.value),
            f"> {row.target:.2f}",
            "pass" if row.passed else "miss",
        )
    console.print(targets)
    bands = Table("health band", "rows", "retention", title="Retention by health band")
    for row in t["bands"].itertuples(index=False):
        bands.add_row(
            row.band, f"{row.rows:,}", "–" if pd.isna(row.retention) else f"{row.retention:.1%}"
        )
    console.print(bands)
    o, lead = r["overall"], r["overall"]["lead_time"]
    console.print(
        f"The model flagged {lead['caught']} of {lead['churn_events']} churn events beforehand "
        f"(median {lead['median_lead_days']:.0f} days ahead; {lead['share_30d_ahead']:.0%} ≥ 30 "
        f"days, {lead['share_60d_ahead']:.0%} ≥ 60 days). Riskiest 10% hold "
        f"{o['top10']['captured']:.0%} of churners (lift {o['top10']['lift']:.1f}); ARR-weighted "
        f"recall {o['arr_weighted_recall']:.0%}.",
        highlight=False,
    )
    for name, b in o["baselines"].items():
        console.print(
            f"vs {name.replace('_', ' ')} flagging as many accounts: churners caught "
            f"{b['model_churners_caught']} vs {b['baseline_churners_caught']}, false positives "
            f"{b['change_in_false_positives']:+d}",
            highlight=False,
        )
    console.print(
        f"{len(res.origins)} origins, {r['rows']:,} out-of-time rows; MLflow run {run_id}; "
        f"{cfg.paths.reports_dir / 'backtest.json'}; {time.perf_counter() - t0:.0f} s",
        highlight=False,
    )


@app.command()
def report(config: ConfigOpt = None) -> None:
    """Write reports/latest/report.html from the latest backtest, the champion's training run
    and the latest monitor run; log it to MLflow."""
    from churnhealth.report import build_report

    path = build_report(_config(config))
    console.print(f"Report written to {path} ({path.stat().st_size / 1e3:.0f} kB)", highlight=False)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered model version to make champion.")],
    config: ConfigOpt = None,
) -> None:
    """Move the @champion alias to VERSION by hand and export it to models/champion/."""
    from churnhealth.tracking import promote as run_promote

    cfg = _config(config)
    path = run_promote(cfg, version)
    console.print(
        f"{cfg.mlflow.registered_model} v{version} is @champion; exported to {path}",
        highlight=False,
    )


@app.command()
def predict(
    data: DataOpt = None,
    model: ModelOpt = None,
    as_of: Annotated[
        str | None,
        _as_of("Score as of this date (YYYY-MM-DD) [default: the latest the data allows]."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Scores file, .parquet or .csv [default: outputs/scores-<as_of>.parquet].",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Score every active account: health, tier, trend and drivers; update the history."""
    from churnhealth.predict import predict as run_predict
    from churnhealth.progress import stages

    cfg = _config(config)
    with stages() as stage:
        res = run_predict(cfg, data, model, _date(as_of, "--as-of"), out, stage)
    s = res["summary"]
    p = s["portfolio"]
    console.print(
        f"Scored {p['accounts']:,} accounts as of {s['as_of']} with model v{s['model_version']}"
        f" → {res['out']}; summary → {res['out'].with_name('summary.json')}",
        highlight=False,
    )
    table = Table(
        "segment",
        "accounts",
        "ARR",
        "healthy",
        "moderate",
        "at risk",
        "critical",
        "ARR at risk",
        "improving",
        "declining",
        "mean health",
        title="Portfolio health",
    )

    def money(v: float) -> str:
        return f"{v / 1e6:,.1f}M" if v >= 1e6 else f"{v / 1e3:,.0f}k"

    for name, b in [("all", p), *s["segments"].items()]:
        t = b["tiers"]
        table.add_row(
            name,
            f"{b['accounts']:,}",
            money(b["arr"]),
            *[f"{t[k]['accounts']:,}" for k in ("healthy", "moderate", "at_risk", "critical")],
            money(b["arr_at_risk"]),
            f"{b['improving']:,}",
            f"{b['declining']:,}",
            f"{b['mean_health']:.1f}",
        )
    console.print(table)
    alerts = s["alerts"]
    console.print(
        f"Alerts written to {s['alerts_file']}: "
        + ", ".join(f"{n.replace('_', ' ')} {c:,}" for n, c in alerts.items()),
        highlight=False,
    )
    hook = s.get("webhook")
    if hook:
        console.print(f"Webhook: {hook['delivered']} message(s) delivered", highlight=False)
        for f in hook["failed"]:
            console.print(f"[red]webhook delivery failed[/]: {f}", highlight=False)


@app.command()
def explain(
    account_id: Annotated[str, typer.Argument(help="The account to explain.")],
    as_of: Annotated[
        str | None,
        _as_of("As-of date (YYYY-MM-DD) [default: the latest the data allows]."),
    ] = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Explain one account's health: tier, trend, each dimension's effect, the top drivers."""
    from churnhealth.predict import explain as run_explain

    cfg = _config(config)
    e = run_explain(cfg, account_id, data, model, _date(as_of, "--as-of"))
    r = e.row
    change = "" if pd.isna(r.health_change_30d) else f", {r.health_change_30d:+.0f} in 30 days"
    console.print(
        f"[bold]{r.account_id}[/] ({r.segment}, {r.lifecycle_stage}, ARR {r.arr:,.0f}, renewal "
        f"in {r.days_to_renewal:.0f} days) as of {r.as_of.date()}: health [bold]"
        f"{r.health_score}[/] ({r.tier.replace('_', ' ')}; {r.churn_probability:.1%} chance of "
        f"churning within 90 days); momentum {r.momentum}{change}; projected "
        f"{r.projected_health_90d} in 90 days. Baseline health of its model: "
        f"{r.baseline_health:.1f}.",
        highlight=False,
    )
    dims = Table("dimension", "effect (health points)", title="Effect of each dimension")
    for d, v in e.dimensions.sort_values().items():
        dims.add_row(d, f"{v:+.1f}")
    console.print(dims)
    drivers = Table(
        "feature",
        "dimension",
        "value",
        "segment median",
        "effect",
        title="Strongest drivers (negative: pulls health down)",
    )

    def _fmt(v: object) -> str:
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    for d in e.drivers.itertuples():
        drivers.add_row(
            d.feature, d.dimension, _fmt(d.value), _fmt(d.segment_median), f"{d.effect:+.1f}"
        )
    console.print(drivers)
    if len(e.history):
        console.print(
            "History: "
            + ", ".join(f"{h.as_of.date()} {h.health_score}" for h in e.history.itertuples()),
            highlight=False,
        )


@app.command()
def monitor(
    data: DataOpt = None,
    model: ModelOpt = None,
    as_of: Annotated[
        str | None,
        _as_of(
            "Monitor as of this date (YYYY-MM-DD): nothing dated on or after it is read "
            "[default: the latest the data allows]."
        ),
    ] = None,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain",
            help="When a trigger of monitor.retrain fires, train a challenger on recent data "
            "and promote it if it beats the champion on the same matured window.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Report file [default: <paths.reports_dir>/monitor.json]; the PSI chart goes "
            "beside it.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Check the champion for drift and decay; exit code 0 even when alerts fire."""
    from churnhealth.monitor import monitor as run_monitor
    from churnhealth.progress import stages

    cfg = _config(config)
    with stages() as stage:
        r = run_monitor(cfg, data, model, _date(as_of, "--as-of"), retrain, out, stage)
    colour = {"ok": "green", "warn": "yellow", "alert": "red"}.get(r["status"], "dim")
    console.print(
        f"Monitor as of {r['as_of']}, model v{r['model']['version']} "
        f"({r['model']['age_days']} days past its data end): [{colour}]{r['status']}[/]. "
        f"{r['sample']['live_rows']:,} live accounts against {r['sample']['reference_rows']:,} "
        "reference rows.",
        highlight=False,
    )
    table = Table("feature", "dimension", "PSI", "KS", "status", title="Most drifted features")
    for f in r["features"][:12]:
        ks = "–" if f["ks"] is None else f"{f['ks']:.3f}"
        table.add_row(f["feature"], str(f["dimension"]), f"{f['psi']:.3f}", ks, f["status"])
    console.print(table)
    e, s, top = r["expected"], r["score"], r["top_features"]
    console.print(
        f"Score PSI {s['psi']:.3f} ({s['status']}); {len(top['drifting'])} of "
        f"{len(top['features'])} most important features in alert; expected 90-day churn "
        f"{e['churn_rate']:.2%}, expected recall of the at-risk flag {e['recall']:.0%}.",
        highlight=False,
    )
    p = r["performance"]
    if p["status"] == "insufficient_data":
        console.print(f"Performance: insufficient data ({p['reason']}).", highlight=False)
    else:
        live, test = p["live"], p["training_test"]
        console.print(
            f"Performance on matured labels ({p['window']['first']} to {p['window']['last']}, "
            f"{p['window']['rows']:,} rows): ROC-AUC {live['roc_auc']:.3f} (test "
            f"{test['roc_auc']:.3f}), log loss {live['log_loss']:.4f} (test "
            f"{test['log_loss']:.4f}), ECE {live['ece']:.3f} (test {test['ece']:.3f}): "
            f"{p['status']}.",
            highlight=False,
        )
    fired = [t["reason"] for t in r["triggers"] if t["fired"]]
    console.print(f"Retraining triggers fired: {'; '.join(fired) or 'none'}.", highlight=False)
    rt = r["retrain"]
    if rt["requested"]:
        console.print(f"Retraining: [bold]{rt['status']}[/]", highlight=False)
        for reason in rt["reasons"]:
            console.print(f"  {reason}", highlight=False)
    for note in r["notes"]:
        console.print(f"note: {note}", style="dim", highlight=False)
    console.print(
        f"Report: {out or cfg.paths.reports_dir / 'monitor.json'}; MLflow run {r['mlflow_run_id']}",
        highlight=False,
    )


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, no traceback."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        app()
    except ChurnhealthError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
