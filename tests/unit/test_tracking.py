"""Which MLflow store a configuration points at, within one process."""

import mlflow

from churnhealth.config import Config
from churnhealth.tracking import configure


def test_each_configuration_gets_its_own_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = Config().rooted(tmp_path / "a"), Config().rooted(tmp_path / "b")
    for cfg in (first, second, first):
        assert configure(cfg) == cfg.mlflow.tracking_uri
        assert mlflow.get_tracking_uri() == cfg.mlflow.tracking_uri
    assert (tmp_path / "a" / "mlflow.db").exists() and (tmp_path / "b" / "mlflow.db").exists()


def test_the_users_environment_variable_wins_every_time(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for root in ("a", "b"):
        assert configure(Config().rooted(tmp_path / root)) == uri
        assert mlflow.get_tracking_uri() == uri
    assert not (tmp_path / "a").exists()
