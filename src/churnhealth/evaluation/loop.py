"""The customer-success loop in numbers, for the report: how the CSM overrides fared against
the model, and what became of the accounts whose alerts the team acted on.

Outcomes come from the data (the churn events of the subscriptions, after the churn records):
an account "retained" over `days` after a date is still a customer then, once that date, the
days and the re-signup gap have passed; before that it is "not known yet". Everything here
describes what happened; it does not measure what the team's actions caused (the team chose
whom to act on, and whom to override).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OUTCOMES = ("churned", "retained", "not known yet")
DISAGREE = 10
"""Points between the CSM's and the model's health that count as a disagreement."""


def fate(
    accounts: pd.Series,
    days_from: pd.Series,
    events: pd.DataFrame,
    data_end: pd.Timestamp,
    days: int,
    gap_days: int,
) -> np.ndarray:
    """Per (account, date): churned within `days` after the date, retained, or not known yet.
    `events`: account_id, churn_date."""
    keys = pd.DataFrame({"account_id": accounts.to_numpy(), "day": pd.to_datetime(days_from)})
    keys = keys.reset_index(drop=True).reset_index()
    m = keys.merge(events, on="account_id")
    window = pd.Timedelta(days=days)
    hit = m[(m.churn_date > m.day) & (m.churn_date <= m.day + window)]["index"].unique()
    churned = keys["index"].isin(hit).to_numpy()
    known = (keys.day + window + pd.Timedelta(days=gap_days) <= data_end).to_numpy()
    return np.select([churned, known], ["churned", "retained"], "not known yet")


def playbook_outcomes(
    alerts: pd.DataFrame,
    latest: pd.DataFrame,
    events: pd.DataFrame,
    data_end: pd.Timestamp,
    days: int,
    gap_days: int,
) -> pd.DataFrame:
    """Per playbook: alerts fired, what the team recorded (done, skipped, failed, nothing) and
    the retention `days` after the alert of the accounts acted on (done) and the others."""
    if alerts.empty:
        return pd.DataFrame()
    status = alerts.alert_id.map(latest.set_index("alert_id").status).fillna("no outcome")
    f = pd.Series(
        fate(alerts.account_id, alerts.as_of, events, data_end, days, gap_days), index=alerts.index
    )
    rows = []
    for name, idx in alerts.groupby("playbook", sort=False).groups.items():
        s, o = status[idx], f[idx]
        done = s == "done"

        def retained(mask: pd.Series, o: pd.Series = o) -> tuple[float, int]:
            known = mask & (o != "not known yet")
            n = int(known.sum())
            return (float((o[known] == "retained").mean()) if n else float("nan")), n

        r_done, n_done = retained(done)
        r_rest, n_rest = retained(~done)
        rows.append(
            {
                "playbook": name.replace("_", " "),
                "alerts": len(idx),
                "done": int(done.sum()),
                "skipped": int((s == "skipped").sum()),
                "failed": int((s == "failed").sum()),
                "no outcome": int((s == "no outcome").sum()),
                f"retained {days} d, acted on": r_done,
                "acted on, known": n_done,
                f"retained {days} d, others": r_rest,
                "others, known": n_rest,
            }
        )
    return pd.DataFrame(rows)


def override_fates(
    audit: pd.DataFrame,
    scores: pd.DataFrame,
    events: pd.DataFrame,
    data_end: pd.Timestamp,
    days: int,
    gap_days: int,
) -> pd.DataFrame:
    """Each override that set a health: the model's health on its first day (the latest
    history score on or before it), the CSM's, the difference, and what happened within
    `days` (the health horizon) after it. `scores`: the history (account_id, as_of,
    health_score)."""
    sets = audit[audit.action == "set"].copy()
    if sets.empty:
        return pd.DataFrame()
    sets["valid_from"] = pd.to_datetime(sets.valid_from)
    hist = scores.assign(as_of=pd.to_datetime(scores.as_of)).sort_values("as_of")
    model = pd.merge_asof(
        sets.sort_values("valid_from"),
        hist[["account_id", "as_of", "health_score"]],
        left_on="valid_from",
        right_on="as_of",
        by="account_id",
    ).set_index("seq")["health_score"]
    out = pd.DataFrame(
        {
            "account": sets.account_id.to_numpy(),
            "from": sets.valid_from.dt.date.to_numpy(),
            "by": sets.recorded_by.to_numpy(),
            "model health": sets.seq.map(model).to_numpy(),
            "CSM health": sets.health.astype(int).to_numpy(),
            "reason": sets.reason.to_numpy(),
        }
    )
    out["CSM − model"] = out["CSM health"] - out["model health"]
    out[f"within {days} d"] = fate(
        sets.account_id, sets.valid_from, events, data_end, days, gap_days
    )
    return out


def override_summary(fates: pd.DataFrame, days: int) -> pd.DataFrame:
    """Overrides by direction of disagreement: how many, how many churned of those known, and
    the Brier score of the CSM's and the model's health read as probabilities."""
    if fates.empty:
        return pd.DataFrame()
    diff = fates["CSM − model"]
    side = np.select(
        [diff >= DISAGREE, diff <= -DISAGREE],
        ["CSM more hopeful", "CSM more worried"],
        "within 10 points",
    )
    rows = []
    for name in ("CSM more hopeful", "CSM more worried", "within 10 points"):
        g = fates[side == name]
        known = g[g[f"within {days} d"] != "not known yet"]
        y = (known[f"within {days} d"] == "churned").to_numpy(float)

        def brier(col: str, known=known, y=y) -> float:
            p = 1 - known[col].to_numpy(float) / 100
            return float(np.mean((p - y) ** 2)) if len(y) else float("nan")

        rows.append(
            {
                "overrides": name,
                "count": len(g),
                "outcome known": len(known),
                "churned": int(y.sum()),
                "Brier, CSM": brier("CSM health"),
                "Brier, model": brier("model health"),
            }
        )
    return pd.DataFrame(rows)
