"""What a company that intervenes does to the health model: trained with and without the team.

    python scripts/team_and_model.py [--seeds 1 2 3] [--accounts 2000] [--years 3] [--work DIR]
        [--reuse]

For each seed it generates the demo company twice, without and with its customer-success team
(`churnhealth synth --no-team / --team`), trains the default model on each in a workspace of
its own, scores the latest as-of date and compares the churn probability with the truth's:
P(churn within 12 months) if nobody acts from that day on. A model trained on a company that
intervenes learns from accounts that looked at risk and were kept, so it may read risky signals
as safer than they are. Printed per company: the mean probability against the truth's, the
calibration error against the truth (ECE, 10 bins of the prediction), the rank correlation
with the truth, the mean of both on the riskiest tenth by the truth, and the bias (model −
truth) for the accounts the team worked in the past year and for the others: on the riskiest
fifth by the truth, on every account, and on the riskiest fifth by the model (the fair
comparison: a group chosen by the truth reads below it for any imperfect model). Issue 3.6
point 5; the figures in docs/customer-success.md come from it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def ece(p: np.ndarray, q: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted − true| probability over bins of the prediction, weighted by size."""
    b = pd.qcut(p, bins, labels=False, duplicates="drop")
    d = pd.DataFrame({"p": p, "q": q, "b": b}).groupby("b")
    return float((d.size() * (d.p.mean() - d.q.mean()).abs()).sum() / len(p))


def run(work: Path, seed: int, team: bool, accounts: int, years: int, reuse: bool) -> dict:
    ws = work / f"seed{seed}-{'team' if team else 'none'}"
    if not (reuse and list((ws / "outputs").glob("scores-*.parquet"))):
        build(ws, seed, team, accounts, years)
    return measure(ws, seed, team)


def build(ws: Path, seed: int, team: bool, accounts: int, years: int) -> None:
    """Generate, train and score one company in the workspace `ws`."""
    shutil.rmtree(ws, ignore_errors=True)
    (ws / "configs").mkdir(parents=True)
    for f in (ROOT / "configs").glob("*.yaml"):
        shutil.copy(f, ws / "configs" / f.name)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    cli = [str(BIN / "churnhealth")]
    data = ws / "company.duckdb"
    company = ["--accounts", str(accounts), "--years", str(years), "--seed", str(seed)]
    steps = [
        ["synth", "--team" if team else "--no-team", *company, "--out", str(data)],
        ["train", "--data", str(data)],
        ["predict", "--data", str(data)],
    ]
    for step in steps:
        subprocess.run(
            [*cli, *step, "--config", "configs/default.yaml"],
            cwd=ws,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def measure(ws: Path, seed: int, team: bool) -> dict:
    """The latest scores of `ws` against its company's truth."""
    data = ws / "company.duckdb"
    scores = pd.read_parquet(next((ws / "outputs").glob("scores-*.parquet")))
    day = scores.as_of.max().date()
    con = duckdb.connect(str(data), read_only=True)
    truth = con.sql(f"select account_id, p_churn_12m from truth where as_of = '{day}'").df()
    worked = set()
    if "cs_actions" in [r[0] for r in con.sql("show tables").fetchall()]:
        since = pd.Timestamp(day) - pd.DateOffset(months=12)
        acts = con.sql("select account_id, date, source from cs_actions").df()
        recent = acts[(pd.to_datetime(acts.date) >= since) & (acts.source != "holdout")]
        worked = set(recent.account_id)
    m = scores.merge(truth, on="account_id")
    p, q = m.churn_probability.to_numpy(float), m.p_churn_12m.to_numpy(float)
    w = m.account_id.isin(worked).to_numpy()
    top = q >= np.quantile(q, 0.9)
    fifth = q >= np.quantile(q, 0.8)  # the riskiest fifth: worked in the past year or not
    bias = p - q
    # chosen by the model's own score: a fifth chosen by the truth reads below it even for a
    # model calibrated on every account (regression to the mean), so only these compare the
    # accounts worked with the others fairly
    flagged = p >= np.quantile(p, 0.8)
    return {
        "seed": seed,
        "team": team,
        "accounts": len(m),
        "mean_model": p.mean(),
        "mean_truth": q.mean(),
        "ece_vs_truth": ece(p, q),
        "spearman": spearmanr(p, q).statistic,
        "top_decile_model": p[top].mean(),
        "top_decile_truth": q[top].mean(),
        "riskiest_fifth_bias_worked": bias[fifth & w].mean() if (fifth & w).any() else np.nan,
        "riskiest_fifth_bias_not_worked": bias[fifth & ~w].mean(),
        "riskiest_fifth_worked": int((fifth & w).sum()),
        "bias_worked": bias[w].mean() if w.any() else np.nan,
        "bias_not_worked": bias[~w].mean(),
        "model_fifth_bias_worked": bias[flagged & w].mean() if (flagged & w).any() else np.nan,
        "model_fifth_bias_not_worked": bias[flagged & ~w].mean(),
        "model_fifth_worked": int((flagged & w).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the companies already scored in --work"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="team-and-model-"))
    rows = []
    for seed in args.seeds:
        for team in (False, True):
            rows.append(run(work, seed, team, args.accounts, args.years, args.reuse))
            print(pd.DataFrame(rows[-1:]).round(4).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print(table.round(4).to_string(index=False))
    print(table.groupby("team").mean(numeric_only=True).drop(columns="seed").round(4).to_string())


if __name__ == "__main__":
    main()
