"""What one training produces and one registered version holds: the model bundle.

`train` (and the monitor's retraining) build it once every part is known, and nothing changes
it afterwards: the health model as `fit` left it, the expansion model trained beside it, the
drift reference and test figures frozen from its test window, and the verdict on each horizon.
`churnhealth.tracking` saves and loads it; a scoring job takes the parts it needs.

It lives here, not in `models/`, because two of its parts come from evaluation: the models
themselves never import anything above their layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from churnhealth import __version__
from churnhealth.config import Config
from churnhealth.errors import ChurnhealthError
from churnhealth.evaluation.drift import Reference
from churnhealth.models.expansion import ExpansionModel
from churnhealth.models.routed import HealthModel
from churnhealth.scoring.scorer import Scorer

FORMAT = 1
"""The bundle's layout. A bundle of a later layout is refused (a newer churnhealth saved it);
models registered before bundles existed (a bare `HealthModel`) are read as format 0."""


@dataclass(frozen=True, kw_only=True)
class ModelBundle:
    """A trained health model and everything frozen with it at training time (immutable)."""

    health: HealthModel
    expansion: ExpansionModel | None = None
    """The expansion model trained on the same rows: its own score, never mixed into health
    (None when `expansion.enabled` is false or the data could not support one)."""
    reference: Reference | None = None
    """What the model saw on its training rows, the monitor's drift baseline (None only in
    models registered before monitoring existed)."""
    test_metrics: dict[str, float] = field(default_factory=dict)
    """Test-window figures (`evaluation.holdout.TEST_FIGURES`) the monitor compares with."""
    judged: dict[str, dict] | None = None
    """Horizon label → its censoring-aware verdict (`evaluation.judged`); None in models
    trained before horizons were judged."""
    saved_by: str = __version__
    """The churnhealth version that built the bundle."""
    format: int = FORMAT

    def __post_init__(self) -> None:
        # read-only views: a bundle is shared by every job that loads it
        object.__setattr__(self, "test_metrics", MappingProxyType(dict(self.test_metrics)))
        if self.judged is not None:
            object.__setattr__(self, "judged", MappingProxyType(dict(self.judged)))

    def scorer(self, config: Config, version: str = "", *, overrides: bool = True) -> Scorer:
        """The scorer of this bundle: its health model, and the expansion model trained with
        it (`overrides`: the configured tier overrides, as predict applies them)."""
        return Scorer(
            model=self.health,
            expansion=self.expansion,
            config=config,
            version=version,
            overrides=overrides,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["test_metrics"] = dict(self.test_metrics)
        state["judged"] = None if self.judged is None else dict(self.judged)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.__post_init__()

    @classmethod
    def loaded(cls, saved: object, where: str) -> ModelBundle:
        """The bundle in a saved model artifact (`where` names it in errors).

        A bare `HealthModel` (registered before bundles) is unpacked: its drift reference,
        expansion model, test figures and verdicts were attributes or metadata of the model.
        Anything else, or a bundle of a later format, is refused in one line."""
        if isinstance(saved, cls):
            if saved.format > FORMAT:
                raise ChurnhealthError(
                    f"model: {where}: saved by churnhealth {saved.saved_by} (bundle format "
                    f"{saved.format}; this churnhealth {__version__} reads up to {FORMAT}); "
                    "upgrade churnhealth or retrain with `churnhealth train`"
                )
            return saved
        if isinstance(saved, HealthModel):
            return cls._from_health_model(saved)
        raise ChurnhealthError(f"model: {where}: not a churnhealth health model")

    @classmethod
    def _from_health_model(cls, model: HealthModel) -> ModelBundle:
        """A model saved before bundles: its parts moved out of the model into the bundle."""
        extra = model.__dict__
        reference = extra.pop("reference", None)
        expansion = extra.pop("expansion", None)
        test_metrics = model.metadata.pop("test_metrics", {}) or {}
        judged = model.metadata.pop("judged", None)
        return cls(
            health=model,
            expansion=expansion,
            reference=reference,
            test_metrics=test_metrics,
            judged=judged,
            saved_by="a churnhealth before model bundles",
            format=0,
        )
