"""Write the JSON Schema of each typed report to docs/schemas/ (run by `make docs`).

    python scripts/schemas.py [FOLDER]

One file per report, named after what it describes. tests/unit/test_schemas.py fails when a
committed schema differs from the models, so a change to a report's shape shows in review.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from churnhealth.evaluation.backtest_report import BacktestReport
from churnhealth.evaluation.monitor_report import MonitorReport
from churnhealth.evaluation.training_report import TrainingReport
from churnhealth.scoring.explanation import Explanation
from churnhealth.scoring.summary import PortfolioSummary

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "schemas"
SCHEMAS: dict[str, type[BaseModel]] = {
    "portfolio-summary.json": PortfolioSummary,
    "monitor-report.json": MonitorReport,
    "training-report.json": TrainingReport,
    "backtest-report.json": BacktestReport,
    "explanation.json": Explanation,
}
"""File name → the model whose schema it holds (`predict`'s summary.json, monitor.json,
`train`'s metrics.json, `backtest`'s backtest.json, `explain --json`)."""


def render(model: type[BaseModel]) -> str:
    """The model's JSON Schema as committed: indented, keys in the models' order."""
    return json.dumps(model.model_json_schema(mode="serialization"), indent=2) + "\n"


def write(folder: Path = FOLDER) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, model in SCHEMAS.items():
        (folder / name).write_text(render(model))
        out.append(folder / name)
    return out


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER):
        print(path)
