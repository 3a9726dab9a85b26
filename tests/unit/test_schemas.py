"""The typed reports' JSON Schemas in docs/schemas/ match the models (`make docs` writes
them), and a report's JSON validates against its own schema's model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _schemas():
    spec = importlib.util.spec_from_file_location("schemas", ROOT / "scripts" / "schemas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_schemas_are_the_models():
    schemas = _schemas()
    for name, model in schemas.SCHEMAS.items():
        committed = (schemas.FOLDER / name).read_text()
        assert committed == schemas.render(model), f"docs/schemas/{name} is stale: make docs"
        assert json.loads(committed)["title"] == model.__name__


def test_the_portfolio_summary_round_trips_through_its_json():
    from tests.unit.test_portfolio import _scores, _summary

    summary = _summary(_scores([f"A{i}" for i in range(5)]))
    data = json.loads(json.dumps(summary.to_json()))
    assert "webhook" not in data and "portfolio_page" not in data  # what the run did not do
    assert type(summary).model_validate(data) == summary
