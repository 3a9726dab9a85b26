"""The documentation describes exactly the contract the code enforces."""

import re
from pathlib import Path

from churnhealth.config import Config
from churnhealth.data.contract import contract
from churnhealth.features.spec import DIMENSIONS
from churnhealth.scoring.scorer import SCORE_COLUMNS
from churnhealth.scoring.words import TOP

DOC = (Path(__file__).resolve().parents[2] / "docs/data-contract.md").read_text()
KIND = {
    "id": "id (text or integer)",
    "string": "text",
    "int": "integer",
    "number": "number",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


def test_every_contract_column_is_documented_with_type_and_nullability():
    for table in contract(Config().data.segments).values():
        heading = f"### `{table.name}` ({'required' if table.required else 'optional'})"
        assert heading in DOC
        section = DOC.split(heading, 1)[1].split("\n### ", 1)[0]
        rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \| (yes|no) \|", section, flags=re.M)
        documented = {name: (kind.strip(), nullable == "yes") for name, kind, nullable in rows}
        expected = {c.name: (KIND[c.kind], c.nullable) for c in table.columns}
        assert documented == expected, table.name


def test_every_scores_column_is_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs/predict.md").read_text()
    section = doc.split("## Columns", 1)[1].split("\n## ", 1)[0]
    documented = set()
    for name in re.findall(r"`([a-z0-9_<>/]+)`", section):
        head, _, parts = name.partition("_<k>_")
        if parts:
            documented |= {f"{head}_{k}_{p}" for k in range(1, TOP + 1) for p in parts.split("/")}
        elif name.endswith("<dimension>"):
            documented |= {name.replace("<dimension>", d) for d in DIMENSIONS}
        else:
            documented.add(name)
    assert set(SCORE_COLUMNS) <= documented, set(SCORE_COLUMNS) - documented
