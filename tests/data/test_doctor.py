"""`churnhealth doctor`: what a company's data supports, said right for companies that can train
with and without a year-ahead test, one too small to train, and data with gaps; never writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from churnhealth.config import Config
from churnhealth.jobs.doctor import diagnose
from churnhealth.synth import generate
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def companies(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("doctor")
    out = {}
    for name, accounts, years in (("three", 900, 3), ("two", 1000, 2), ("one", 300, 1)):
        out[name] = root / f"{name}.duckdb"
        generate(out[name], accounts=accounts, years=years, seed=4, truth_paths=5)
    return out


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def test_three_years_train_with_a_year_ahead_test(companies):
    d = diagnose(Config(), companies["three"])
    assert d.trainable and d.verdict.startswith("ready to train")
    assert d.history["year_ahead_test"].startswith("yes")
    assert d.history["months"] == pytest.approx(36, abs=0.5)
    assert set(d.windows.segment) == {"enterprise", "mid_market", "smb"}
    assert (d.windows.train_churned > 0).all() and (d.windows.test_churners > 0).all()
    # 900 accounts: enterprise has too few churned months of its own; smb has plenty
    seg = d.segments.set_index("segment")
    assert not seg.loc["enterprise", "own_model"]
    assert "churners in training (< 100)" in seg.loc["enterprise", "why"]
    assert seg.loc["smb", "own_model"]
    f = d.features.set_index("feature")
    assert (f.drop(index="usage_user_share_30d").status == "computed").all()
    assert f.loc["usage_user_share_30d", "enable"] == "add table events"  # raw events only
    assert (
        d.tables.set_index("table").drop(index=["events", "features", "cs_actions"]).present.all()
    )


def test_two_years_train_with_smaller_windows_and_no_year_ahead_test(companies):
    d = diagnose(Config(), companies["two"])
    assert d.trainable
    assert d.history["year_ahead_test"].startswith("no:")
    assert "25 months" in d.history["year_ahead_test"]
    w = d.history["windows"]
    assert d.suggested == {"train.val_days": w["val_days"], "train.test_days": w["test_days"]}
    assert w["val_days"] < Config().train.val_days


def test_one_year_is_too_little_and_says_how_much_is_needed(companies):
    d = diagnose(Config(), companies["one"])
    assert not d.trainable
    assert d.verdict.startswith("cannot train yet: labelled as-of dates span")
    assert "at least 16 months of history" in d.verdict
    assert d.windows.empty
    assert (d.segments.why == "no training windows").all()


def test_absent_tables_and_empty_columns_name_what_would_enable_the_features(companies, tmp_path):
    data = tmp_path / "gaps.duckdb"
    shutil.copy(companies["three"], data)
    with duckdb.connect(str(data)) as con:
        con.execute("DROP TABLE surveys")
        con.execute("UPDATE tickets SET csat = NULL")
    d = diagnose(Config(), data)
    f = d.features.set_index("feature")
    sentiment = f[f.dimension == "sentiment"]
    assert len(sentiment) and (sentiment.status == "skipped").all()
    assert (sentiment.enable == "add table surveys").all()
    assert f.loc["sup_ticket_csat_90d", "status"] == "empty"
    assert f.loc["sup_ticket_csat_90d", "enable"] == "fill tickets.csat"
    assert d.tables.set_index("table").loc["surveys", "present"] == False  # noqa: E712
    assert d.trainable


def test_segments_the_configuration_does_not_know_are_suggested(companies, tmp_path):
    data = tmp_path / "renamed.duckdb"
    shutil.copy(companies["two"], data)
    with duckdb.connect(str(data)) as con:
        con.execute("UPDATE accounts SET segment = 'self_serve' WHERE segment = 'smb'")
    d = diagnose(Config(), data)
    assert d.suggested["data.segments"] == ["enterprise", "mid_market", "self_serve"]
    assert any(n.startswith("data.segments: the accounts hold") for n in d.notes)
    assert set(d.segments.segment) == {"enterprise", "mid_market", "self_serve"}


def test_cli_prints_the_diagnosis_and_writes_nothing(companies, tmp_path):
    data = tmp_path / "company.duckdb"
    shutil.copy(companies["two"], data)
    config = tmp_path / "config.yaml"
    config.write_text(f"features:\n  definitions: {ROOT / 'configs/features.yaml'}\n")
    before = _files(tmp_path)
    res = cli("doctor", "--data", str(data), "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ready to train")
    assert "Suggested configuration:" in res.stdout and "val_days:" in res.stdout
    res = cli("doctor", "--data", str(data), "--json", "--config", str(config), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["trainable"] is True and {r["segment"] for r in out["segments"]} >= {"smb"}
    assert _files(tmp_path) == before
