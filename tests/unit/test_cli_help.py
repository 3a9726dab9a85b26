"""Option help is shown as written: square brackets are text, not markup."""

import pytest

from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("predict", "[default: the latest the data allows]"),
        ("monitor", "[default: <paths.reports_dir>/monitor.json]"),
        ("explain", "[default: the registry's @champion, else models/champion/]"),
    ],
)
def test_help_shows_the_defaults_in_brackets(command, text):
    res = run_cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert text in " ".join(res.stdout.split())
