"""Notes a person reads: problems first, each cause once (`churnhealth.notes`)."""

from churnhealth.notes import absent, absent_table, arrange, skipped


def test_a_tables_absence_is_said_once_in_its_fullest_form():
    fuller = skipped("surveys", ["sent_nps_last", "sent_csat_90d"], ["sentiment"] * 2)
    problems, notes = arrange(
        [fuller, "no year-ahead test: too short"],
        [absent("surveys"), absent("invoices"), "smb: scored by the global model", fuller],
    )
    assert problems == [fuller, "no year-ahead test: too short"]
    assert notes == [absent("invoices"), "smb: scored by the global model"]


def test_repeats_go_and_order_is_kept():
    assert arrange([], ["b", "a", "b"]) == ([], ["b", "a"])
    assert arrange(["x"], ["x", "y"]) == (["x"], ["y"])


def test_skipped_features_are_counted_by_dimension_with_the_first_names():
    names = [f"eng_{i}" for i in range(6)]
    line = skipped("touchpoints", names, ["engagement"] * 5 + ["relationship"])
    assert line == (
        "touchpoints: absent, so 6 engagement and relationship features are skipped "
        "(eng_0, eng_1, eng_2, eng_3, +2 more)"
    )
    assert skipped("events", ["usage_x"], ["usage"]) == (
        "events: absent, so 1 usage feature is skipped (usage_x)"
    )
    assert absent_table(line) == "touchpoints" and absent_table(absent("events")) == "events"
    assert absent_table("smb: 11 churners: absent, sort of") is None
