from collections.abc import Iterator, Mapping

import pandas as pd
import pytest

from churnhealth.data.source import write_tables

GOOD = pd.DataFrame({"a": [1, 2]})


class FailsMidway(Mapping):
    """Tables whose second one cannot be produced, like a disk filling up mid-write."""

    def __getitem__(self, key: str) -> pd.DataFrame:
        if key == "broken":
            raise OSError("No space left on device")
        return GOOD

    def __iter__(self) -> Iterator[str]:
        return iter(["second", "broken"])

    def __len__(self) -> int:
        return 2


@pytest.mark.parametrize("name", ["out.duckdb", "out"])
def test_failed_write_leaves_the_previous_output_untouched(tmp_path, name):
    target = tmp_path / name
    write_tables(target, {"first": GOOD})
    before = sorted(p.name for p in tmp_path.iterdir())
    content = target.read_bytes() if target.is_file() else None
    with pytest.raises(OSError, match="No space"):
        write_tables(target, FailsMidway())
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if content is not None:
        assert target.read_bytes() == content
    else:
        assert [p.name for p in target.iterdir()] == ["first.parquet"]


def test_write_replaces_a_previous_folder(tmp_path):
    target = tmp_path / "out"
    write_tables(target, {"accounts": GOOD})
    write_tables(target, {"usage": GOOD})
    assert [p.name for p in target.iterdir()] == ["usage.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
