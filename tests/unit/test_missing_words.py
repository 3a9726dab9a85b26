"""A missing value reads as what it means, per feature, never as "nan" (issue 3.4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnhealth.features.formats import Reading
from churnhealth.features.missing import NO_VALUE, meaning, meanings
from churnhealth.features.spec import check_metrics
from churnhealth.scoring.words import drivers

METRICS = check_metrics(
    [
        {
            "name": "res",
            "dimension": "support",
            "kind": "aggregate",
            "table": "tickets",
            "column": "csat",
            "agg": "median",
            "window": "90d",
        },
        {
            "name": "p1",
            "dimension": "support",
            "kind": "aggregate",
            "table": "tickets",
            "agg": "count",
            "window": "30d",
            "filter": {"priority": "p1"},
        },
        {
            "name": "qbr",
            "dimension": "engagement",
            "kind": "latest",
            "table": "touchpoints",
            "column": "attended",
            "window": "365d",
            "filter": {"kind": "qbr"},
        },
        {
            "name": "mom",
            "dimension": "usage",
            "kind": "pct_change",
            "table": "usage",
            "column": "events",
            "window": "30d",
        },
        {"name": "since", "dimension": "usage", "kind": "days_since", "table": "usage"},
        {
            "name": "share",
            "dimension": "usage",
            "kind": "ratio",
            "numerator": "p1",
            "denominator": "licenses",
        },
        {"name": "diff", "dimension": "usage", "kind": "difference", "left": "p1", "right": "res"},
    ],
    ["smb"],
)


def test_each_kind_says_what_its_null_means():
    said = {m.name: meaning(m) for m in METRICS}
    assert said == {
        "res": "no csat of tickets in 90 days",
        "p1": "no p1 tickets in 30 days",
        "qbr": "no qbr touchpoints in 365 days",
        "mom": "no usage in the 30 days before, nothing to compare",
        "since": "no usage yet",
        "share": "not defined: licenses is 0 or missing",
        "diff": "not defined: p1 or res missing",
    }


def test_a_derived_metric_names_what_it_derives_from_by_its_label():
    labels = {"p1": "P1 tickets, 30 days", "res": "Median ticket CSAT"}
    said = meanings(METRICS, labels | {"licenses": "Licenses"})
    assert said["share"] == "not defined: licenses is 0 or missing"
    assert said["diff"] == "not defined: P1 tickets, 30 days or median ticket CSAT missing"


@pytest.mark.parametrize("v", [np.nan, None, pd.NA, pd.NaT, np.inf, -np.inf, np.float32("nan")])
def test_a_missing_value_reads_as_its_meaning(v):
    assert Reading("Tickets", "count", missing="no tickets in 90 days").value(v) == (
        "no tickets in 90 days"
    )
    assert Reading("Tickets").value(v) == NO_VALUE


def test_values_read_as_a_person_reads_them():
    plain = Reading("x")
    assert [plain.value(v) for v in (0.08123, 1234.5, 3, np.int64(12000), True, "qbr")] == [
        "0.081",
        "1,234",
        "3",
        "12,000",
        "yes",
        "qbr",
    ]


def test_each_drivers_missing_value_gets_its_own_features_words():
    """The same NaN object under two features reads as each one's meaning (the text memo
    must not hand one feature's words to another)."""
    nan = float("nan")
    frame = pd.DataFrame({"a": [nan, nan, 1.0], "b": [nan, 2.0, nan]}, dtype=object)
    effects = pd.DataFrame({"a": [-2.0, -1.0, 0.5], "b": [-1.0, 0.5, -3.0]})
    top = drivers(
        effects, frame, {"a": Reading("A", missing="no A"), "b": Reading("B", missing="no B")}
    )
    assert top.risk_1_value.tolist() == ["no A", "no A", "no B"]
    assert top.risk_2_value.tolist()[0] == "no B"
    assert top.protective_1_value.tolist()[1:] == ["2", "1"]
    # without words a null still never reads "nan"
    assert "nan" not in drivers(effects, frame).to_string().replace("NaN", "")


def test_fewer_signals_than_drivers_shown_leave_the_rest_empty():
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    top = drivers(pd.DataFrame({"a": [-1.0, 1.0]}), frame)
    assert top.risk_1_feature.iloc[0] == "a" and top.risk_1_feature.isna().iloc[1]
    assert top.risk_3_feature.isna().all()
    none = drivers(pd.DataFrame(index=[0, 1]), frame[[]])
    assert none.shape == (2, 18) and none.isna().all().all()
