"""`churnhealth features`: declared metrics from YAML, bad definitions, absent tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from churnhealth.config import Config
from churnhealth.data.source import open_source
from churnhealth.errors import ConfigError
from churnhealth.features import FeatureSet, build_features
from churnhealth.features.spec import check_metrics, load_metrics
from tests.conftest import cli

ROOT = Path(__file__).resolve().parents[2]
SEGMENTS = ["enterprise", "mid_market", "smb"]
NEW_METRIC = {
    "name": "eng_qbrs_attended_365d",
    "dimension": "engagement",
    "kind": "aggregate",
    "table": "touchpoints",
    "agg": "count",
    "window": "365d",
    "filter": {"kind": "qbr", "attended": True},
    "description": "QBRs attended in the last year.",
}


def config_with(tmp_path: Path, metrics: list[dict]) -> Path:
    defs = yaml.safe_load((ROOT / "configs/features.yaml").read_text())
    defs["metrics"] += metrics
    (tmp_path / "features.yaml").write_text(yaml.safe_dump(defs))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"features:\n  definitions: {tmp_path / 'features.yaml'}\n")
    return cfg


def test_a_metric_added_in_yaml_appears_without_code_changes(small_db, tmp_path):
    out = tmp_path / "features.parquet"
    cfg = config_with(tmp_path, [NEW_METRIC])
    res = cli(
        "features", "--data", str(small_db), "--out", str(out), "--config", str(cfg), cwd=ROOT
    )
    assert res.returncode == 0, res.stderr
    assert "Churn rate per segment" in res.stdout and "eng_qbrs_attended_365d" in res.stdout
    fs = FeatureSet.load(out)
    assert fs.features["eng_qbrs_attended_365d"] == "engagement"
    got = fs.frame.set_index(["account_id", "as_of"]).eng_qbrs_attended_365d
    with duckdb.connect(str(small_db), read_only=True) as con:
        con.register("grid", fs.frame[["account_id", "as_of"]])
        want = (
            con.sql("""
            SELECT g.account_id, g.as_of, count(t.ts) AS n
            FROM grid g LEFT JOIN touchpoints t ON t.account_id = g.account_id
              AND t.kind = 'qbr' AND t.attended AND t.ts < g.as_of
              AND t.ts >= g.as_of - INTERVAL 365 DAY
            GROUP BY ALL""")
            .df()
            .set_index(["account_id", "as_of"])
            .n
        )
    pd.testing.assert_series_equal(
        got.sort_index(), want.reindex(got.index).sort_index().astype(float), check_names=False
    )
    assert got.sum() > 0


BAD = [
    ({"table": "tickts"}, "metric eng_qbrs_attended_365d: unknown table 'tickts'"),
    ({"filter": {"knd": "qbr"}}, "metric eng_qbrs_attended_365d: unknown column touchpoints.knd"),
    ({"window": "30 days"}, "window: window '30 days' does not parse (expected Nd, Nw or all)"),
    ({"agg": "sum", "column": "kind"}, "sum needs a numeric column, touchpoints.kind is string"),
    ({"agg": "average"}, "metric eng_qbrs_attended_365d: agg: Input should be 'count', 'sum'"),
    ({"kind": "median"}, "metric eng_qbrs_attended_365d: kind: Input tag 'median'"),
    ({"dimension": "vibes"}, "dimension: Input should be 'usage', 'engagement'"),
    ({"name": "arr"}, "metric arr: name is taken by a built-in column"),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_definitions_are_rejected_with_one_line_naming_the_metric(change, message):
    with pytest.raises(ConfigError) as exc:
        check_metrics([{**NEW_METRIC, **change}], SEGMENTS)
    (line,) = exc.value.problems
    assert message in line, line


def test_references_duplicates_and_cycles():
    ratio = {
        "name": "a",
        "dimension": "usage",
        "kind": "ratio",
        "numerator": "b",
        "denominator": "licenses",
    }
    with pytest.raises(ConfigError, match="metric a: refers to unknown metric 'b'"):
        check_metrics([ratio], SEGMENTS)
    with pytest.raises(ConfigError, match="metric eng_qbrs_attended_365d: defined more than"):
        check_metrics([NEW_METRIC, NEW_METRIC], SEGMENTS)
    loop = {"name": "b", "dimension": "usage", "kind": "flag", "metric": "a"}
    with pytest.raises(ConfigError, match="metrics a → b → a: circular reference"):
        check_metrics([ratio, loop], SEGMENTS)


def test_cli_reports_bad_definitions_before_reading_data(tmp_path):
    cfg = config_with(tmp_path, [{**NEW_METRIC, "window": "soon"}])
    res = cli(
        "features", "--data", str(tmp_path / "missing.duckdb"), "--config", str(cfg), cwd=ROOT
    )
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("config error: ") and "window 'soon' does not parse" in line


def test_absent_table_skips_its_metrics_with_a_note(small_db, tmp_path):
    path = tmp_path / "no_surveys.duckdb"
    shutil.copy(small_db, path)
    with duckdb.connect(str(path)) as con:
        con.execute("DROP TABLE surveys")
    fs = build_features(open_source(path), Config())
    assert not any(f.startswith("sent_") for f in fs.features)
    # one line for the table, counting the features that use it directly (sent_nps_last) and
    # through a skipped metric (sent_nps_change)
    cfg = Config()
    declared = load_metrics(cfg.features.definitions, cfg.data.segments)
    gone = [m.name for m in declared if m.output and m.name.startswith("sent_")]
    assert "sent_nps_change" in gone
    [note] = [n for n in fs.notes if n.startswith("surveys")]
    assert note.startswith(f"surveys: absent, so {len(gone)} sentiment features are skipped (")
    assert "sent_nps_last" in note and "sent_nps_change" in note
    assert len(fs.notes) == len({n.split(":")[0] for n in fs.notes})  # one line per table
    assert {"usage", "engagement", "relationship", "support", "financial"} <= set(
        fs.features.values()
    )
