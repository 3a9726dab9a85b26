from pathlib import Path

import pytest

from churnhealth.config import Config, load_config
from churnhealth.errors import ConfigError
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[2]


def test_default_yaml_matches_built_in_defaults():
    assert load_config(ROOT / "configs/default.yaml") == Config()


def test_unknown_key_names_key_value_and_allowed(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("synth:\n  acounts: 5\n")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    (line,) = exc.value.lines()
    assert "synth.acounts" in line and "5" in line and "unknown key" in line
    assert "accounts" in line and "seed" in line


def test_unknown_section_lists_sections(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("trianing: {}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert "trianing" in exc.value.lines()[0] and "data, synth" in exc.value.lines()[0]


@pytest.mark.parametrize(
    ("yaml_text", "key", "value", "allowed"),
    [
        ("synth:\n  accounts: -5\n", "synth.accounts", "-5", "greater than or equal to 10"),
        ("synth:\n  years: many\n", "synth.years", "'many'", "integer"),
        ("synth:\n  start: 2024-01-15\n", "synth.start", "2024, 1, 15", "first day of a month"),
        ("data:\n  segments: [smb, smb]\n", "data.segments", "smb", "unique"),
        ("synth:\n  truth_paths: 50\n", "synth.truth_paths", "50", "200"),
        ("data:\n  memory_limit: lots\n", "data.memory_limit", "'lots'", "GB"),
        ("predict:\n  chunk_accounts: 5\n", "predict.chunk_accounts", "5", "100"),
        ("data:\n  currency: usd\n", "data.currency", "'usd'", "ISO 4217 code in capitals"),
        (
            "predict:\n  crm_url: 'javascript:alert(1)'\n",
            "predict.crm_url",
            "javascript",
            "http(s) URL with {account_id}",
        ),
        (
            "predict:\n  crm_url: 'https://crm.example.com/a/{account_id}|x'\n",
            "predict.crm_url",
            "|x",
            "no spaces, quotes, <, > or |",
        ),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(tmp_path, yaml_text, key, value, allowed):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    (line,) = exc.value.lines()
    assert key in line and value in line and allowed in line


def test_not_a_mapping_and_broken_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(cfg)
    cfg.write_text("synth: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(cfg)


def test_cli_rejects_bad_config_before_any_work(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("synth:\n  accounts: -5\n")
    out = tmp_path / "never.duckdb"
    res = cli("synth", "--out", str(out), "--config", str(cfg), cwd=tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "config error: synth.accounts = -5: Input should be greater than or equal to 10"
    ]
    assert "Traceback" not in res.stderr
    assert not out.exists()


def test_cli_missing_config_file(tmp_path):
    res = cli("validate", "--config", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert res.returncode == 2
    assert "no such configuration file" in res.stderr
