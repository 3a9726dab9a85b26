"""Issue 3.7 point 3: every feature reads in business language: a label, and a value as a
percentage, count, days, money in the data's currency or words, never a column name."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnhealth.features.formats import CONTEXT, Reading, format_of, label_of, readings
from churnhealth.features.spec import check_metrics, load_metrics
from churnhealth.scoring.words import context_summary, drivers
from churnhealth.units import money

ROOT = Path(__file__).resolve().parents[2]
SEGMENTS = ["enterprise", "mid_market", "smb"]


def test_each_format_reads_as_a_person_reads_it():
    cases = {
        "percent": [(0.083, "8.3%"), (0.14, "14%"), (0.0, "0%"), (1.2, "120%")],
        "change": [(0.25, "+25%"), (-0.4, "-40%"), (0.0, "+0%")],
        "count": [(3.0, "3"), (1234, "1,234"), (2.5, "2.5")],
        "days": [(1, "1 day"), (45.0, "45 days"), (0.5, "0.5 days")],
        "days_ago": [(0, "today"), (45, "45 days ago"), (1, "1 day ago")],
        "hours": [(2.5, "2.5 hours"), (36.4, "36 hours"), (1, "1 hour")],
        "money": [(12300, "$12,300"), (-5, "−$5")],
        "signed": [(-2.0, "-2"), (2, "+2"), (0.25, "+0.25")],
        "number": [(0.08123, "0.081"), (0.323, "0.32"), (0.0047, "0.005"), (1234.5, "1,234")],
    }
    for fmt, pairs in cases.items():
        r = Reading("x", fmt)
        assert [r.value(v) for v, _ in pairs] == [t for _, t in pairs], fmt


def test_yes_no_reads_in_words_and_stands_alone_in_a_sentence():
    champion = Reading("Champion", "yes_no", "a champion in place", "no champion")
    assert champion.value(0.0) == "no champion" and champion.value(1) == "a champion in place"
    assert champion.phrase(0) == "no champion"  # its own words, no label around them
    plain = Reading("Attended the last QBR", "yes_no")
    assert plain.value(np.float64(1.0)) == "yes" and plain.value(False) == "no"
    assert plain.phrase(0) == "attended the last QBR (no)"


def test_a_label_keeps_an_acronym_in_a_sentence():
    assert Reading("Licenses active, 30 days", "percent").phrase(0.08) == (
        "licenses active, 30 days (8%)"
    )
    assert Reading("NPS answer", "number").phrase(7) == "NPS answer (7)"
    assert Reading("P1 tickets, 90 days", "count").phrase(2) == "P1 tickets, 90 days (2)"


@pytest.mark.parametrize("v", [np.nan, None, pd.NA, np.inf])
def test_a_missing_value_reads_as_its_meaning_in_every_format(v):
    for fmt in ("percent", "days_ago", "money", "yes_no", "change"):
        assert Reading("x", fmt, missing="no usage yet").value(v) == "no usage yet"


def test_money_reads_in_the_data_currency():
    assert money(350_300_000) == "$350.3M"
    assert money(12_345, "EUR") == "€12k"
    assert money(640, "GBP") == "£640"
    assert money(12_345, "CHF", short=False) == "CHF 12,345"
    assert money(2.5e9, "JPY") == "¥2.5B"
    assert money(float("nan")) == "–"
    assert Reading("ARR", "money").value(12_300, "EUR") == "€12,300"


def test_every_signal_of_the_demo_declares_a_label_and_a_format():
    """The shipped definitions leave nothing to the fallback: each output signal is named
    and formatted by hand, and no two signals share a label."""
    metrics = [m for m in load_metrics(ROOT / "configs/features.yaml", SEGMENTS) if m.output]
    assert all(m.label and m.format for m in metrics), [m.name for m in metrics if not m.label]
    labels = [m.label for m in metrics]
    assert len(set(labels)) == len(labels)
    flags = [m for m in metrics if m.format == "yes_no"]
    assert flags and all(m.when_true and m.when_false for m in flags)


def test_a_metric_without_a_label_still_reads_as_words():
    """A user's metric with neither label nor description gets one made from its kind, and a
    format from it too; never the column name."""
    ms = check_metrics(
        [
            {
                "name": "p1_30",
                "dimension": "support",
                "kind": "aggregate",
                "table": "tickets",
                "agg": "count",
                "window": "30d",
                "filter": {"priority": "p1"},
            },
            {
                "name": "last_qbr",
                "dimension": "engagement",
                "kind": "days_since",
                "table": "touchpoints",
                "filter": {"kind": "qbr"},
            },
            {
                "name": "ev_mom",
                "dimension": "usage",
                "kind": "pct_change",
                "table": "usage",
                "column": "events",
                "window": "30d",
            },
            {
                "name": "seat_share",
                "dimension": "usage",
                "kind": "ratio",
                "numerator": "p1_30",
                "denominator": "licenses",
            },
            {"name": "has_p1", "dimension": "support", "kind": "flag", "metric": "p1_30"},
        ],
        SEGMENTS,
    )
    by = {m.name: m for m in ms}
    assert label_of(by["p1_30"]) == "P1 tickets, 30 days"
    assert label_of(by["last_qbr"]) == "Last qbr touchpoints"
    assert format_of(by["last_qbr"]) == "days_ago" and format_of(by["ev_mom"]) == "change"
    assert format_of(by["has_p1"]) == "yes_no" and format_of(by["p1_30"]) == "count"
    read = readings(ms)
    assert read["seat_share"].missing == "not defined: licenses is 0 or missing"
    for m in ms:
        assert m.name not in read[m.name].label and "_" not in read[m.name].label
    assert set(CONTEXT) <= set(read)


def test_drivers_keep_the_name_and_read_the_value():
    """The scores keep the feature's name (the JSON and parquet are for machines); the value
    beside it is what a person reads."""
    read = {
        "share": Reading("Licenses active", "percent"),
        "champ": Reading("Champion", "yes_no", "a champion", "no champion"),
        "since": Reading("Last activity", "days_ago", missing="no usage yet"),
    }
    frame = pd.DataFrame({"share": [0.08], "champ": [0.0], "since": [np.nan]})
    effects = pd.DataFrame({"share": [-3.0], "champ": [-2.0], "since": [-1.0]})
    top = drivers(effects, frame, read)
    assert top.loc[0, ["risk_1_feature", "risk_2_feature"]].tolist() == ["share", "champ"]
    assert top.loc[0, ["risk_1_value", "risk_2_value", "risk_3_value"]].tolist() == [
        "8%",
        "no champion",
        "no usage yet",
    ]


def test_context_reads_money_in_the_currency():
    frame = pd.DataFrame({"arr": [120_000.0], "days_to_renewal": [15.0]})
    effects = pd.DataFrame({"arr": [-2.0], "days_to_renewal": [-9.0]})
    (line,) = context_summary(effects, frame, 2, dict(CONTEXT), "EUR")
    assert line == "renewal in 15 days -9.0; ARR €120,000 -2.0"
    assert not re.search(r"\d{4,}(?!,)", line.replace("120,000", ""))
