"""docs/configuration.md is generated from the configuration models and kept up to date."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from churnhealth import config_docs
from churnhealth.config import Config, _Section

ROOT = Path(__file__).resolve().parents[2]


def test_committed_reference_is_up_to_date():
    committed = (ROOT / config_docs.DOC).read_text()
    assert committed == config_docs.render(), "docs/configuration.md is stale: run `make docs`"


def test_every_key_of_every_section_is_documented():
    doc = config_docs.render()
    for name, field in Config.model_fields.items():
        assert f"## `{name}`" in doc
        for key in field.annotation.model_fields:
            assert f"| `{key}` |" in doc, f"{name}.{key}"


class _Window(_Section):
    """A drift window."""

    days: int = Field(30, ge=7, description="Length of the window.")


class _Monitor(_Section):
    """Drift monitoring (a section added after this test was written)."""

    metric: Literal["psi", "ks"] = Field("psi", description="Drift statistic.")
    threshold: float = Field(0.2, gt=0, lt=1, description="Alert above this.")
    windows: list[_Window] = Field([_Window()], description="Windows to compare.")
    reference: _Window = _Window()

    @field_validator("threshold")
    @classmethod
    def _round(cls, v: float) -> float:
        """At most two decimals."""
        return v


class _WithMonitor(Config):
    monitor: _Monitor = _Monitor()


def test_a_new_section_is_documented_without_changes_to_the_generator():
    doc = config_docs.render(_WithMonitor)
    monitor = doc.split("## `monitor`", 1)[1]
    assert "Drift monitoring (a section added after this test was written)." in monitor
    assert "| `metric` | one of `psi`, `ks` | `psi` |  | Drift statistic. |" in monitor
    assert (
        "| `threshold` | number | `0.2` | > 0; < 1; At most two decimals. | Alert above" in monitor
    )
    assert "| `windows` | list of [`_Window`](#_window) | `[{days: 30}]` |" in monitor
    assert "### `monitor.reference`" in monitor
    entry = doc.split("### `_Window`", 1)[1]
    assert "Each entry of `monitor.windows`." in entry
    assert "| `days` | integer | `30` | ≥ 7 | Length of the window. |" in entry
