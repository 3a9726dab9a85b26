"""Issue 3.5 point 7: the exports teams have. The small demo company is written in the shape of
a Stripe, a Salesforce and a HubSpot export (their objects, names, ids, money and time formats;
rows the mapping must leave out), and each shipped example mapping reads it back into exactly
the demo's features. Tables the system does not hold stay files named after the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churnhealth.data.load import open_validated
from churnhealth.data.mapping import load_mapping
from tests.data.conftest import SEGMENTS, features

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = ROOT / "configs/examples"
SEGMENT_NAMES = {"enterprise": "Enterprise", "mid_market": "Mid-Market", "smb": "SMB"}
PRIORITY = {"p1": "Critical", "p2": "High", "p3": "Medium", "p4": "Low"}


def unix(s: pd.Series) -> pd.Series:
    """Dates or times as Unix seconds (nullable integers)."""
    t = pd.to_datetime(s)
    out = (t - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return out.astype("Int64").where(t.notna())


def iso_z(s: pd.Series) -> pd.Series:
    """Times as Salesforce's Data Loader writes them: 2024-02-14T10:22:03.000Z."""
    t = pd.to_datetime(s)
    return t.dt.strftime("%Y-%m-%dT%H:%M:%S.000Z").where(t.notna(), "")


def rest(small: dict[str, pd.DataFrame], folder: Path, names: tuple[str, ...]) -> None:
    for name in names:
        small[name].to_parquet(folder / f"{name}.parquet")


def stripe(small: dict[str, pd.DataFrame], folder: Path) -> None:
    """Customers with the account id in metadata; one item per subscription with a price per
    billing interval in cents; invoices in cents with Unix times; rows to be left out."""
    a, s, inv = small["accounts"], small["subscriptions"], small["invoices"]
    cus = "cus_" + a.account_id.str.lower()
    pd.DataFrame(
        {
            "id": cus,
            "name": a["name"],
            "email": "billing@" + a.account_id.str.lower() + ".example",
            "created": unix(a.created_at),
            "metadata.account_id": a.account_id,
            "metadata.segment": a.segment.map(SEGMENT_NAMES),
            "metadata.industry": a.industry,
            "metadata.seats": a.licenses,
            "metadata.csm": a.csm_owner,
        }
    ).to_csv(folder / "customers.csv", index=False)
    of = dict(zip(a.account_id, cus, strict=True))
    years = s.term_months >= 12
    count = np.where(years, s.term_months // 12, s.term_months)
    subs = pd.DataFrame(
        {
            "id": "sub_" + s.subscription_id,
            "customer": s.account_id.map(of),
            "status": np.where(s.end_date.isna(), "active", "canceled"),
            "start_date": unix(s.start_date),
            "ended_at": unix(s.end_date),
        }
    )
    # a checkout that never became a subscription: its item must not become a contract
    never = subs.head(1).assign(id="sub_never", status="incomplete_expired", ended_at=pd.NA)
    pd.concat([subs, never]).to_csv(folder / "subscriptions.csv", index=False)
    items = pd.DataFrame(
        {
            "id": "si_" + s.subscription_id,
            "subscription": "sub_" + s.subscription_id,
            "quantity": s.licenses,
            "price.nickname": s.plan,
            # the price of one seat for one billing interval, in cents, as Stripe keeps it
            "price.unit_amount_decimal": s.arr * s.term_months / 12 * 100 / s.licenses,
            "price.recurring.interval": np.where(years, "year", "month"),
            "price.recurring.interval_count": count,
        }
    )
    pd.concat([items, items.head(1).assign(id="si_never", subscription="sub_never")]).to_csv(
        folder / "subscription_items.csv", index=False
    )
    auto = inv.due_at == inv.issued_at  # charged automatically: Stripe sets no due date
    invoices = pd.DataFrame(
        {
            "id": "in_" + inv.invoice_id,
            "customer": inv.account_id.map(of),
            "status": np.where(inv.paid_at.isna(), "open", "paid"),
            "created": unix(inv.issued_at),
            "due_date": unix(inv.due_at).where(~auto),
            "status_transitions.paid_at": unix(inv.paid_at),
            "amount_due": (inv.amount * 100).round().astype(int),
            "attempt_count": 1,
        }
    )
    void = invoices.head(2).assign(id=["in_void1", "in_void2"], status="void")
    pd.concat([invoices, void]).to_csv(folder / "invoices.csv", index=False)
    rest(small, folder, ("usage", "tickets", "touchpoints", "surveys", "contacts", "churn_events"))


def _account_ids(a: pd.DataFrame, prefix: str) -> dict[str, str]:
    return {acc: f"{prefix}{i:012d}" for i, acc in enumerate(a.account_id, start=1)}


def _deals(s: pd.DataFrame, crm_id: dict[str, str], data_end: pd.Timestamp) -> pd.DataFrame:
    """Per subscription: the won deal that started it, a won renewal at each renewal it passed
    (annual terms and longer), and a lost renewal on the day it ended. Columns in contract
    terms; each CRM renames them."""
    rows = []
    for i, r in enumerate(s.itertuples(index=False), start=1):
        won = f"W{i:08d}"
        first = i == 1 or r.account_id not in set(s.account_id.iloc[: i - 1])
        rows.append(
            {
                "id": won,
                "account": crm_id[r.account_id],
                "type": "New Business" if first else "Upgrade",
                "stage": "won",
                "close": pd.Timestamp(r.start_date) - pd.Timedelta(days=7),
                "start": pd.Timestamp(r.start_date),
                "term": r.term_months,
                "value": r.arr * r.term_months / 12,
                "arr": r.arr,
                "seats": r.licenses,
                "plan": r.plan,
                "renews": None,
            }
        )
        end = pd.Timestamp(r.end_date) if pd.notna(r.end_date) else data_end
        k, start = 1, pd.Timestamp(r.start_date)
        while (
            r.term_months >= 12 and (due := start + pd.DateOffset(months=k * r.term_months)) < end
        ):
            rows.append(rows[-1] | {"id": f"{won}R{k}", "type": "Renewal", "close": due})
            rows[-1]["renews"] = won
            k += 1
        if pd.notna(r.end_date):
            rows.append(
                rows[-1]
                | {"id": f"{won}L", "type": "Renewal", "stage": "lost", "close": end, "renews": won}
            )
    return pd.DataFrame(rows)


def salesforce(small: dict[str, pd.DataFrame], folder: Path) -> None:
    """Account with the product's id in an external-id field, Title Case industries and UTC
    timestamps; Opportunity with Amount the term's value and lost renewals; Case."""
    a, s, t = small["accounts"], small["subscriptions"], small["tickets"]
    crm = _account_ids(a, "001")
    pd.DataFrame(
        {
            "Id": a.account_id.map(crm),
            "Name": a["name"],
            "Industry": a.industry.str.replace("_", " ").str.title(),
            "CreatedDate": iso_z(a.created_at),
            "External_Account_ID__c": a.account_id,
            "Customer_Segment__c": a.segment.map(SEGMENT_NAMES),
            "Seats__c": a.licenses,
            "CSM__c": a.csm_owner,
        }
    ).to_csv(folder / "Account.csv", index=False)
    d = _deals(s, crm, pd.Timestamp(small["usage"].date.max()))
    pd.DataFrame(
        {
            "Id": "006" + d.id,
            "AccountId": d.account,
            "Type": d["type"],
            "StageName": d.stage.map({"won": "Closed Won", "lost": "Closed Lost"}),
            "CloseDate": d.close.dt.strftime("%Y-%m-%d"),
            "Amount": d.value,
            "Contract_Start_Date__c": d.start.dt.strftime("%Y-%m-%d"),
            "Term_Months__c": d.term,
            "Seats__c": d.seats,
            "Product__c": d.plan.str.title(),
            "Renewed_Opportunity__c": ("006" + d.renews).where(d.renews.notna(), ""),
        }
    ).to_csv(folder / "Opportunity.csv", index=False)
    pd.DataFrame(
        {
            "Id": "500" + t.ticket_id,
            "CaseNumber": t.ticket_id,
            "AccountId": t.account_id.map(crm),
            "CreatedDate": iso_z(t.opened_at),
            "ClosedDate": iso_z(t.closed_at),
            "Priority": t.priority.map(PRIORITY),
            "IsEscalated": t.escalated,
            "CSAT__c": t.csat,
        }
    ).to_csv(folder / "Case.csv", index=False)
    rest(small, folder, ("usage", "invoices", "touchpoints", "surveys", "contacts", "churn_events"))


def hubspot(small: dict[str, pd.DataFrame], folder: Path) -> None:
    """Companies, deals and tickets headed by property labels (spaces and all), HubSpot's
    upper-case internal values, and a renewals pipeline."""
    a, s, t = small["accounts"], small["subscriptions"], small["tickets"]
    crm = {acc: str(9_000_000_000 + i) for i, acc in enumerate(a.account_id, start=1)}
    pd.DataFrame(
        {
            "Record ID": a.account_id.map(crm),
            "Company name": a["name"],
            "Industry": a.industry.str.upper(),
            "Create Date": pd.to_datetime(a.created_at).dt.strftime("%Y-%m-%d %H:%M"),
            "Product account ID": a.account_id,
            "Customer segment": a.segment.map({**SEGMENT_NAMES, "mid_market": "Mid-market"}),
            "Seats": a.licenses,
            "Customer success manager": a.csm_owner,
        }
    ).to_csv(folder / "companies.csv", index=False)
    d = _deals(s, crm, pd.Timestamp(small["usage"].date.max()))
    renewal = d["type"] == "Renewal"
    pd.DataFrame(
        {
            "Record ID": "7" + d.id.str[1:].str.replace("R", "1").str.replace("L", "2"),
            "Deal Name": d.plan + " " + d.id,
            "Deal Stage": d.stage.map({"won": "Closed won", "lost": "Closed lost"}),
            "Pipeline": np.where(renewal, "Renewals", "Sales Pipeline"),
            "Amount": d.value,
            "Annual recurring revenue": d.arr,
            "Close Date": d.close.dt.strftime("%Y-%m-%d"),
            "Associated Company IDs": d.account,
            "Contract start date": d.start.dt.strftime("%Y-%m-%d"),
            "Contract term (months)": d.term,
            "Seats": d.seats,
            "Product tier": d.plan.str.upper(),
            "Original deal ID": ("7" + d.renews.str[1:]).where(d.renews.notna(), ""),
        }
    ).to_csv(folder / "deals.csv", index=False)
    stamp = "%Y-%m-%d %H:%M:%S"
    pd.DataFrame(
        {
            "Ticket ID": t.ticket_id.str[1:],
            "Associated Company IDs": t.account_id.map(crm),
            "Create date": pd.to_datetime(t.opened_at).dt.strftime(stamp),
            "Close date": pd.to_datetime(t.closed_at).dt.strftime(stamp).fillna(""),
            "Priority": t.priority.map({"p1": "URGENT", "p2": "HIGH", "p3": "MEDIUM", "p4": "LOW"}),
            "Escalated": t.escalated.map({True: "Yes", False: "No"}),
            "CSAT score": t.csat,
        }
    ).to_csv(folder / "tickets.csv", index=False)
    rest(small, folder, ("usage", "invoices", "touchpoints", "surveys", "contacts", "churn_events"))


@pytest.mark.parametrize("shape", ["stripe", "salesforce", "hubspot"])
def test_the_saas_examples_read_the_company_back_exactly(small, expected, tmp_path, shape):
    folder = tmp_path / shape
    folder.mkdir()
    {"stripe": stripe, "salesforce": salesforce, "hubspot": hubspot}[shape](small, folder)
    source = open_validated(folder, SEGMENTS, mapping=load_mapping(EXAMPLES / f"{shape}.yaml"))
    got = features(source)
    pd.testing.assert_frame_equal(got, expected)
    assert not [n for n in source.notes if "dropped" in n], source.notes
