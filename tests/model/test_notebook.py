"""The exploration notebook runs end to end on a small company, so it can never silently break."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat
import pytest

from tests.model.test_nothing_unreadable import forbidden

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01-explore-health-scores.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.slow
def test_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CHURNHEALTH_NOTEBOOK_ACCOUNTS", "400")
    monkeypatch.setenv("CHURNHEALTH_NOTEBOOK_TRIALS", "1")  # the search is tested in test_train
    monkeypatch.setenv("CHURNHEALTH_NOTEBOOK_WORKDIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": NOTEBOOK.parent}}
    )
    client.execute()
    text = "\n".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert "@champion" in text
    assert "health" in text and "retention" in text and "psi" in text
    assert images >= 2  # a SHAP summary per fitted model and the health histogram
    assert (tmp_path / "mlflow.db").exists()  # the workspace, not the project's store
    # what a person reads: no missing value printed as "nan", "None", "NaT" or "inf"
    assert not forbidden(text), forbidden(text)[:5]
