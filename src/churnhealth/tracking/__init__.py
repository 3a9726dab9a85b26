"""The tracking adapter: the only code that talks to MLflow.

`store` configures the tracking store and handles the registry (champion and challenger
aliases, the export to models/champion/, loading a model); `runs` records what `train` did,
`evaluations` what the backtest, the monitor and the report did.
"""

from churnhealth.tracking.evaluations import (
    attach,
    champion_artifacts,
    log_backtest,
    log_monitor,
)
from churnhealth.tracking.runs import (
    TrainingRun,
    tag_gate,
    tag_version,
    training_run,
)
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
    "log_monitor",
    "promote",
    "set_alias",
    "tag_gate",
    "tag_version",
    "training_run",
    "unwrap",
    "version_of",
]
