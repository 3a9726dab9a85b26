"""The tracking adapter: the only code that talks to MLflow.

`store` configures the tracking store and handles the registry (champion and challenger
aliases, the export to models/champion/, loading a model); `runs` records what `train` did,
`evaluations` what the backtest, the monitor, the report and `effects` did.

`runs` and `evaluations` are imported on first use of their names: they bring the evaluation
code (scipy.stats, sklearn.metrics, the backtest's tables; about a second of start-up), which
predict and explain never need.
"""

import importlib

from churnhealth.tracking.store import (
    CHALLENGER,
    CHAMPION,
    HealthPyfunc,
    LoadedModel,
    configure,
    current_champion,
    export_champion,
    flatten,
    git_commit,
    load_model,
    promote,
    set_alias,
    unwrap,
    version_of,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "HealthPyfunc",
    "LoadedModel",
    "TrainingRun",
    "attach",
    "champion_artifacts",
    "configure",
    "current_champion",
    "export_champion",
    "flatten",
    "git_commit",
    "load_model",
    "log_backtest",
    "log_effects",
    "log_monitor",
    "promote",
    "set_alias",
    "tag_gate",
    "tag_version",
    "training_run",
    "unwrap",
    "version_of",
]

_LAZY = {
    "TrainingRun": "runs",
    "tag_gate": "runs",
    "tag_version": "runs",
    "training_run": "runs",
    "attach": "evaluations",
    "champion_artifacts": "evaluations",
    "log_backtest": "evaluations",
    "log_monitor": "evaluations",
    "log_effects": "evaluations",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
