"""Secrets in connection URLs: refused as a data location, hidden wherever a URL is shown."""

from __future__ import annotations

import pytest
import yaml

from churnhealth.config import Config, load_config
from churnhealth.data.source import connect
from churnhealth.errors import ConfigError, DataError
from churnhealth.location import redact, refuse_secrets, secrets
from churnhealth.tracking.store import flatten

SECRET = "s3cr3t-XYZ"
WITH_SECRET = [
    f"postgresql://u:{SECRET}@127.0.0.1:1/db",
    f"postgresql://u@127.0.0.1:1/db/public?password={SECRET}",
    f"postgresql://u@127.0.0.1:1/db?sslmode=require&PWD={SECRET}",
    f"postgresql://u@127.0.0.1:1/db?sslpassword={SECRET}",
    f"postgresql://u@127.0.0.1:1/db?options=-c%20password%3D{SECRET}",
    f"spark://local[2]?path=/tmp/x&token={SECRET}",
    f"mysql://u@h/db?access_token={SECRET}&x=1",
    f"mysql://u@h/db?api-key={SECRET}",
    f"mysql://u:p@{SECRET}@h/db",
]


@pytest.mark.parametrize("url", WITH_SECRET)
def test_a_secret_in_any_part_of_a_url_is_found_and_redacted(url):
    assert secrets(url)
    assert SECRET not in redact(url) and "***" in redact(url)
    assert SECRET not in redact(f"data error: {url}: cannot connect (password={SECRET} x)")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@127.0.0.1:5432/db/public?sslmode=require&sslkey=/k&bypass_cache=1",
        "spark://local[2]?path=/tmp/x",
        "postgresql:///db?host=/run/postgresql",
        "sqlite:///mlflow.db",
    ],
)
def test_a_url_without_a_secret_is_left_as_it_is(url):
    assert secrets(url) == [] and redact(url) == url and refuse_secrets(url) is None


@pytest.mark.parametrize("url", WITH_SECRET)
def test_a_data_location_with_a_secret_is_refused_in_one_line_without_it(url, tmp_path):
    with pytest.raises(DataError) as err:
        connect(url)
    (line,) = err.value.lines()
    assert "holds a secret" in line and SECRET not in line
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"data": {"path": url}}))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    (line,) = err.value.lines()
    assert "data.path = " in line and "holds a secret" in line and SECRET not in line


def test_a_password_in_the_tracking_uri_never_reaches_mlflow_params():
    cfg = Config.model_validate(
        {"mlflow": {"tracking_uri": f"postgresql://mlflow:{SECRET}@127.0.0.1:5432/mlflow"}}
    )
    params = flatten(cfg.model_dump(mode="json"))
    assert params["mlflow.tracking_uri"] == "postgresql://mlflow:***@127.0.0.1:5432/mlflow"
    assert not any(SECRET in v for v in params.values())


def test_libpq_parameters_in_the_query_fill_what_the_url_left_empty():
    # `postgresql:///db?host=…` used to fail with "got multiple values for keyword 'host'"
    with pytest.raises(DataError) as err:
        connect("postgresql:///db?host=127.0.0.1&port=1&user=u")
    assert "cannot connect" in err.value.lines()[0] and "multiple values" not in str(err.value)
    with pytest.raises(DataError, match="host is given twice"):
        connect("postgresql://127.0.0.1/db?host=127.0.0.2")
    with pytest.raises(DataError, match="not a port number"):
        connect("postgresql:///db?port=abc")
