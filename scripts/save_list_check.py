"""The save list ranked by effects, against the risk-ranked list and the oracle, by the truth.

    python scripts/save_list_check.py [--config configs/default.yaml] [--data PATH]

Run in a workspace where the champion was trained on a demo company with a customer-success
team (`churnhealth synth --team`) and `churnhealth effects` has written effects.json: it scores
the latest as-of date with `churnhealth predict` (effects trusted, so the save list ranks by
expected ARR saved) and prints the ARR each list of the team's capacity keeps by the demo's
truth (`evaluation.save_lists`). The figures of issue 3.6 point 4 in docs/customer-success.md
come from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from churnhealth.config import load_config
from churnhealth.data.load import open_configured
from churnhealth.evaluation.save_lists import compare
from churnhealth.jobs.predict import predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument("--data", type=Path, default=None)
    args = parser.parse_args()
    cfg = load_config(args.config)
    result = predict(cfg, args.data)
    print(result.summary.ranked_by)
    day = result.scores.as_of.max()
    source = open_configured(cfg, args.data)
    if "truth" not in source.tables:
        raise SystemExit(f"{source.path}: no truth table (a demo company from churnhealth synth)")
    t = source.tables["truth"]
    truth = t.filter(t.as_of == day.date()).to_pandas()
    truth = truth.filter(regex=r"^(account_id|effect_.*_12m)$")
    k = cfg.predict.capacity.limit(len(result.scores))
    table = compare(result.scores, truth, k)
    print(f"as of {day.date()}, capacity {k} accounts")
    print(table.to_string(float_format=lambda x: f"{x:,.2f}"))


if __name__ == "__main__":
    main()
