import pandas as pd

from churnhealth.features.labels import annual_churn, churn_dates, coverage_spells


def subs(*rows):
    return pd.DataFrame(rows, columns=["account_id", "start_date", "end_date"]).assign(
        start_date=lambda f: pd.to_datetime(f.start_date),
        end_date=lambda f: pd.to_datetime(f.end_date),
    )


def test_renewal_within_the_gap_continues_coverage():
    s = subs(("A", "2023-01-10", "2024-01-10"), ("A", "2024-01-25", None))
    spells = coverage_spells(s, gap_days=30)
    assert len(spells) == 1 and pd.isna(spells.spell_end[0])
    assert churn_dates(s, 30).empty


def test_renewal_after_the_gap_is_churn_then_a_new_spell():
    s = subs(("A", "2023-01-10", "2024-01-10"), ("A", "2024-03-01", None))
    c = churn_dates(s, gap_days=30)
    assert c.churn_date.tolist() == [pd.Timestamp("2024-01-10")]


def test_overlapping_rows_and_final_end():
    s = subs(
        ("A", "2023-01-01", "2023-07-01"),
        ("A", "2023-03-01", "2023-12-01"),
        ("B", "2023-02-01", None),
    )
    c = churn_dates(s)
    assert c.account_id.tolist() == ["A"]
    assert c.churn_date.tolist() == [pd.Timestamp("2023-12-01")]


def test_annual_churn_counts_accounts_active_at_year_start():
    s = subs(
        ("A", "2022-01-01", "2023-06-01"),
        ("B", "2022-01-01", None),
        ("C", "2023-03-01", "2023-05-01"),
    )
    seg = pd.Series({"A": "smb", "B": "smb", "C": "smb"})
    out = annual_churn(s, seg, pd.Timestamp("2023-01-01"), years=1)
    assert out.to_dict("records") == [
        {"year": 1, "segment": "smb", "active_at_start": 2, "churned": 1, "churn_rate": 0.5}
    ]
