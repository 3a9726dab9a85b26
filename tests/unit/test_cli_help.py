"""Option help is shown as written: square brackets are text, not markup."""

import pytest

from tests.conftest import cli


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ("predict", "[default: the latest the data allows]"),
        ("monitor", "[default: <paths.reports_dir>/monitor.json]"),
        ("explain", "[default: the registry's @champion, else models/champion/]"),
    ],
)
def test_help_shows_the_defaults_in_brackets(command, text):
    res = cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert text in " ".join(res.stdout.split())


def test_a_failure_to_print_after_saved_work_is_one_line_and_changes_no_exit_status(capsys):
    from churnhealth.cli.app import committed

    with committed("override"):
        raise ValueError("closing tag '[/]' at position 0 has nothing to close")
    err = capsys.readouterr().err
    assert err.startswith("override: saved, but printing the summary failed (ValueError: closing")
    assert len(err.strip().splitlines()) == 1
