"""A timestamp column of a CSV export keeps its times of day.

DuckDB types a CSV column from a sample of its first rows. A ticket export whose first 30,000
rows were opened at midnight (written as bare dates) and whose later ones carry a time would be
read as DATE, and every later time cut off without a word: resolution hours, and what was
known before an as-of date, would rest on the truncated values. Read as a folder of contract
tables and through a mapping that renames the column, the times survive.
"""

from __future__ import annotations

import pandas as pd
import yaml

from churnhealth.data.contract import contract
from churnhealth.data.mapping import load_mapping
from churnhealth.data.source import open_source

SEGMENTS = ["enterprise", "mid_market", "smb"]


def _tickets(n: int = 30_000) -> list[str]:
    rows = [f"T{i},A1,2025-01-{1 + i % 28:02d},2025-01-{1 + i % 28:02d}" for i in range(n)]
    return [*rows, "T_late,A1,2025-02-03 14:30:00,2025-02-04 09:15:00"]


def _late(source) -> pd.Series:
    t = source.typed(contract(SEGMENTS)["tickets"])
    return t.filter(t.ticket_id == "T_late").execute().iloc[0]


def test_a_folder_csv_keeps_the_times_its_first_rows_lack(tmp_path):
    (tmp_path / "tickets.csv").write_text(
        "\n".join(["ticket_id,account_id,opened_at,closed_at", *_tickets()]) + "\n"
    )
    late = _late(open_source(tmp_path))
    assert late.opened_at == pd.Timestamp("2025-02-03 14:30:00")
    assert late.closed_at == pd.Timestamp("2025-02-04 09:15:00")


def test_a_mapped_csv_keeps_them_too(tmp_path):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "cases.csv").write_text(
        "\n".join(["case,customer,opened,solved", *_tickets()]) + "\n"
    )
    columns = {
        "ticket_id": "case",
        "account_id": "customer",
        "opened_at": "opened",
        "closed_at": "solved",
    }
    spec = {"tables": {"tickets": {"source": "cases.csv", "columns": columns}}}
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(spec))
    source = open_source(tmp_path / "export", load_mapping(tmp_path / "map.yaml"))
    late = _late(source)
    assert late.opened_at == pd.Timestamp("2025-02-03 14:30:00")
    assert late.closed_at == pd.Timestamp("2025-02-04 09:15:00")
