"""outputs/portfolio.html: the book on one self-contained page, written by every `predict`.

The portfolio summary, how far the champion's horizons were checked on its data (judged out of
time at training, or why not), the revenue-retention forecast, tiers by segment, the biggest
movers of the month and a sortable, filterable account table whose rows open the account's
drivers, trend, expansion score, override and playbooks (with the alert ids `churnhealth
outcome` takes). The data travels inside the page as JSON and a few hundred lines of plain
JavaScript draw it: no server, no network, nothing to install; it opens from disk and can be
mailed.

Large books: the table holds the `predict.portfolio_accounts` accounts with the most ARR at
stake (ARR × churn probability) and says so; the scores file holds them all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from churnhealth.atomic import write_with
from churnhealth.features.spec import DIMENSIONS
from churnhealth.scoring.people import People
from churnhealth.scoring.summary import PortfolioSummary
from churnhealth.sinks import html_text, script_json

MOVERS = 10
TREND_DAYS = 365


def _clean(v: object) -> object:
    """JSON-ready: NaN/NaT/NA → null, numpy scalars → Python, dates → ISO text."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float | np.floating):
        return None if not math.isfinite(float(v)) else round(float(v), 4)
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return str(v.date())
    return v


def _drivers(row: Mapping, kind: str) -> list[list]:
    return [
        [row[f"{kind}_{k}_feature"], row[f"{kind}_{k}_value"], _clean(row[f"{kind}_{k}_effect"])]
        for k in (1, 2, 3)
        if isinstance(row.get(f"{kind}_{k}_feature"), str)
    ]


def _points(trend: pd.DataFrame) -> dict[str, list[list]]:
    """Per account, its [ISO date, health] points in date order (converted a column at a
    time: the page's trends hold hundreds of thousands of points)."""
    t = trend.sort_values(["account_id", "as_of"])
    ids = t.account_id.to_numpy()
    days = pd.to_datetime(t.as_of).dt.strftime("%Y-%m-%d").tolist()
    pairs = [list(p) for p in zip(days, t.health_score.astype(int).tolist(), strict=True)]
    cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(ids)]
    return {ids[a]: pairs[a:b] for a, b in zip(starts, ends, strict=True) if b > a}


def at_stake_order(scores: pd.DataFrame) -> np.ndarray:
    """Row positions by ARR at stake (ARR × churn probability), most first: the order of the
    page's account table and which accounts it keeps."""
    return np.argsort(-(scores.arr * scores.churn_probability).to_numpy(), kind="mergesort")


def page_data(
    scores: pd.DataFrame,
    summary: PortfolioSummary,
    trend: pd.DataFrame,
    alerts: list[dict],
    limit: int,
    people: People | None = None,
    labels: Mapping[str, str] | None = None,
) -> dict:
    """What the page shows, as plain data: the summary and forecast, tiers by segment, the
    movers, and the `limit` accounts with the most ARR at stake with everything a row opens.
    `alerts`: the run's alerts and those still in their cool-down (alert_id, account_id,
    playbook, as_of, reason), each listed under its account with its id. `labels`: feature →
    how a person reads its name (the drivers keep the feature's name; the page shows this)."""
    people = people or People()
    shown = scores.iloc[at_stake_order(scores)[:limit]]
    points = _points(trend[trend.account_id.isin(shown.account_id)])
    fired: dict[str, dict] = {}
    for a in alerts:
        fired.setdefault(a["account_id"], {})[a["alert_id"]] = {
            "id": a["alert_id"],
            "playbook": a["playbook"],
            "as_of": str(a["as_of"])[:10],
            "reason": a["reason"],
            "held_out": bool(a.get("held_out", False)),
        }
    accounts = []
    for r in shown.to_dict("records"):  # plain dicts: a Series per row costs seconds
        accounts.append(
            {
                "id": r["account_id"],
                "name": people.names.get(r["account_id"]),
                "owner": people.owners.get(r["account_id"]),
                "crm": people.link(r["account_id"]),
                "segment": r["segment"],
                "stage": r["lifecycle_stage"],
                "arr": _clean(r["arr"]),
                "health": _clean(r["health_score"]),
                "tier": r["tier"],
                "model_health": _clean(r["model_health"]),
                "csm_health": _clean(r["csm_health"]),
                "override": None
                if pd.isna(r["csm_health"])
                else {
                    "by": r["override_by"],
                    "reason": r["override_reason"],
                    "until": _clean(r["override_until"]),
                },
                "change30": _clean(r["health_change_30d"]),
                "momentum": r["momentum"],
                "projected": _clean(r["projected_health_90d"]),
                "renewal": _clean(pd.Timestamp(r["renewal_date"])),
                "days_to_renewal": _clean(r["days_to_renewal"]),
                "p12": _clean(r["churn_probability"]),
                "p90": _clean(r["p_churn_90d"]),
                "p_next": _clean(r["p_churn_next_renewal"]),
                "baseline": _clean(r["baseline_health"]),
                "dimensions": {d: _clean(r[f"effect_{d}"]) for d in DIMENSIONS},
                "signals_effect": _clean(r.get("effect_signals")),
                "context_effect": _clean(r["effect_context"]),
                "at_risk_for": why if isinstance(why := r.get("at_risk_for"), str) else None,
                "context": r["context"],
                "risk": _drivers(r, "risk"),
                "protective": _drivers(r, "protective"),
                "expansion": _clean(r["expansion_score"]),
                "expansion_tier": r["expansion_tier"],
                "expansion_drivers": _drivers(r, "expansion"),
                "playbooks": [p for p in str(r["playbooks"]).split(",") if p],
                "save": r.get("save_list") if isinstance(r.get("save_list"), str) else None,
                "play": {
                    "name": play,
                    "saved": _clean(r["arr_saved"]),
                    "why": r["play_reason"],
                }
                if isinstance(play := r.get("best_play"), str)
                else None,
                "alerts": list(fired.get(r["account_id"], {}).values()),
                "trend": [
                    *points.get(r["account_id"], []),
                    [str(pd.Timestamp(r["as_of"]).date()), int(r["model_health"])],
                ],
            }
        )
    change = scores.health_change_30d
    cols = ["account_id", "segment", "arr", "health_score", "tier", "health_change_30d"]

    def movers(rows: pd.Index) -> list[dict]:
        return [
            {k: _clean(v) for k, v in row.items()}
            for row in scores.loc[rows, cols].to_dict("records")
        ]

    known = change.dropna()
    tiers = {
        seg: {t: b.tiers[t].model_dump() for t in ("healthy", "moderate", "at_risk", "critical")}
        for seg, b in [("all", summary.portfolio), *summary.segments.items()]
    }
    ready = summary.expansion_ready
    used = {
        d[0] for a in accounts for k in ("risk", "protective", "expansion_drivers") for d in a[k]
    }
    return {
        "as_of": summary.as_of,
        "currency": summary.currency,
        "source": summary.source,
        "bridge": [b.model_dump() for b in summary.bridge],
        "labels": {f: (labels or {}).get(f) or f.replace("_", " ") for f in sorted(used)},
        "model_version": summary.model_version,
        "portfolio": summary.portfolio.model_dump(),
        "expansion_ready": ready.model_dump() if ready else {"accounts": 0, "arr": 0.0},
        "at_risk_for": {k: v.model_dump() for k, v in summary.at_risk_for.items()},
        "ranked_by_saving": summary.ranked_by_saving,
        "ranked_by": summary.ranked_by,
        "overrides_in_force": int(scores.csm_health.notna().sum()),
        "alerts": dict(summary.alerts),
        "cooling_down": dict(summary.cooling_down),
        "forecast": summary.forecast.model_dump(),
        "judged": summary.judged,
        "health_checked": summary.health_checked.model_dump(),
        "tiers": tiers,
        "tiered_by": {k: v.model_dump() for k, v in summary.tiered_by.items()},
        "compared": len(known),
        "movers": {
            "down": movers(known.nsmallest(MOVERS).index[known.nsmallest(MOVERS) < 0]),
            "up": movers(known.nlargest(MOVERS).index[known.nlargest(MOVERS) > 0]),
        },
        "shown": len(accounts),
        "total": len(scores),
        "accounts": accounts,
    }


def render(data: dict) -> str:
    """The page: CSS, the data as JSON and the script that draws it."""
    payload = script_json(data)
    title = html_text(f"Portfolio health as of {data['as_of']}")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>{title}</title>"
        f"<style>{(Path(__file__).with_name('portfolio.css')).read_text()}</style></head><body>"
        f"<script type='application/json' id='data'>{payload}</script>"
        f"{(Path(__file__).with_name('portfolio.html')).read_text()}"
        f"<script>{(Path(__file__).with_name('portfolio.js')).read_text()}</script>"
        "</body></html>"
    )


def write(
    path: Path,
    scores: pd.DataFrame,
    summary: PortfolioSummary,
    trend: pd.DataFrame,
    alerts: list[dict],
    limit: int,
    people: People | None = None,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Write the page atomically; returns its path."""
    page = render(page_data(scores, summary, trend, alerts, limit, people, labels))
    write_with(Path(path), lambda f: Path(f).write_text(page))
    return Path(path)
