"""The model bundle (`evaluation.bundle`): immutable, saved and loaded whole, and models saved
before bundles existed read into one; a bundle a later churnhealth saved is refused in one
line."""

from __future__ import annotations

import dataclasses

import joblib
import numpy as np
import pandas as pd
import pytest

from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation.bundle import FORMAT, ModelBundle
from churnhealth.evaluation.drift import Reference
from churnhealth.models.routed import HealthModel


def _health() -> HealthModel:
    return HealthModel(
        numeric=["x"],
        categories={"segment": ["smb"]},
        dimensions={"x": "usage"},
        models={},
        routes={},
        metadata={"data_end": "2026-01-01", "definitions": []},
    )


def _reference() -> Reference:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"as_of": pd.Timestamp("2026-01-01"), "x": rng.normal(size=300), "segment": "smb"}
    )
    return Reference().fit(frame, ["x"], ["segment"], rng.random(300), {})


def test_a_bundle_cannot_be_changed_after_it_is_built():
    b = ModelBundle(health=_health(), test_metrics={"roc_auc": 0.8}, judged={"3 months": {}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.reference = _reference()  # type: ignore[misc]
    with pytest.raises(TypeError):
        b.test_metrics["roc_auc"] = 0.99  # type: ignore[index]
    with pytest.raises(TypeError):
        b.judged["12 months"] = {}  # type: ignore[index]


def test_a_bundle_is_saved_and_loaded_whole(tmp_path):
    ref = _reference()
    b = ModelBundle(
        health=_health(),
        reference=ref,
        test_metrics={"roc_auc": 0.8, "ece": 0.01},
        judged={"3 months": {"status": "judged"}},
    )
    joblib.dump(b, tmp_path / "bundle.joblib")
    back = ModelBundle.loaded(joblib.load(tmp_path / "bundle.joblib"), "here")
    assert back.format == FORMAT and back.saved_by == b.saved_by
    assert dict(back.test_metrics) == {"roc_auc": 0.8, "ece": 0.01}
    assert dict(back.judged) == {"3 months": {"status": "judged"}}
    assert back.reference.rows_ == ref.rows_ and back.health.numeric == ["x"]
    with pytest.raises(TypeError):  # still read-only after the round trip
        back.test_metrics["ece"] = 0.5  # type: ignore[index]


def test_a_model_saved_before_bundles_is_read_into_one(tmp_path):
    """Before bundles, the model carried its drift reference and expansion model as attributes
    and its test figures and verdicts in its metadata; they move into the bundle."""
    old = _health()
    ref = _reference()
    old.__dict__["reference"] = ref
    old.__dict__["expansion"] = None
    old.metadata["test_metrics"] = {"roc_auc": 0.7}
    old.metadata["judged"] = {"12 months": {"status": "not judged", "reason": "r"}}
    joblib.dump(old, tmp_path / "health_model.joblib")
    b = ModelBundle.loaded(joblib.load(tmp_path / "health_model.joblib"), "old")
    assert b.format == 0 and b.reference.rows_ == ref.rows_ and b.expansion is None
    assert dict(b.test_metrics) == {"roc_auc": 0.7}
    assert b.judged["12 months"]["reason"] == "r"
    assert "reference" not in b.health.__dict__ and "judged" not in b.health.metadata


def test_a_model_saved_before_monitoring_has_no_reference_in_its_bundle():
    b = ModelBundle.loaded(_health(), "older")
    assert b.reference is None and b.judged is None and dict(b.test_metrics) == {}


def test_a_bundle_of_a_later_format_or_not_a_model_is_refused_in_one_line():
    later = dataclasses.replace(ModelBundle(health=_health()), format=FORMAT + 1, saved_by="9.0")
    with pytest.raises(ChurnhealthError) as err:
        ModelBundle.loaded(later, "models/champion")
    text = str(err.value)
    assert "\n" not in text and text.startswith("model: models/champion: saved by churnhealth 9.0")
    assert "upgrade churnhealth or retrain" in text
    with pytest.raises(ChurnhealthError, match="not a churnhealth health model"):
        ModelBundle.loaded({"a": 1}, "x")
