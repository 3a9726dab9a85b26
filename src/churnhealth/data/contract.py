"""The data contract: the tables a user provides, column by column.

This module is the single source of truth for names, types, nullability and allowed values;
`docs/data-contract.md` documents the same columns for people (a test keeps them in step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["id", "string", "int", "number", "bool", "date", "timestamp"]

TEMPORAL: frozenset[str] = frozenset({"date", "timestamp"})
IBIS_TYPES = {
    "id": "string",
    "string": "string",
    "int": "int64",
    "number": "float64",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}
"""The Ibis type each kind of column is read as."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    meaning: str = ""
    example: str = ""
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    bounds_by: tuple[str, dict[str, tuple[float, float]]] | None = None
    """Range that depends on another column's value, e.g. survey score by survey kind."""
    planned: bool = False
    """A date set in advance (a due date), not when something happened: may lie after as-of."""
    known_at: str | None = None
    """Column whose time reveals this value: a value is unknown at T unless that time is
    before T (an end date is known once it has passed; a ticket's CSAT once it is closed)."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    required: bool = False
    key: tuple[str, ...] = ()
    order: tuple[tuple[str, str], ...] = ()
    """Pairs (start, end) where end may not come before start."""
    meaning: str = ""
    references_accounts: bool = True
    time: str | None = None
    """When a row comes into existence; a feature at T sees only rows with time before T."""
    open: bool = False
    """Other columns than the declared ones are the user's own (the feature table's features)."""
    featured: bool = True
    """Features are built from it, so its absence is worth a note (the plays log: not)."""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def label_columns(self) -> tuple[str, ...]:
        """Columns that identify a row in error messages."""
        return self.key or ("account_id",)


def _account_id(meaning: str = "The account this row belongs to.") -> Column:
    return Column("account_id", "id", meaning=meaning, example="A00042")


TOUCHPOINT_KINDS = ("call", "email", "meeting", "qbr", "training", "webinar", "community")
SURVEY_KINDS = ("nps", "csat")
PRIORITIES = ("p1", "p2", "p3", "p4")
CHURN_KINDS = ("voluntary", "involuntary")
ACTION_SOURCES = ("alert", "holdout", "manual")
"""Where a `cs_actions` row comes from; see the table."""


def contract(segments: tuple[str, ...] | list[str]) -> dict[str, Table]:
    """The contract's tables; `segments` is the configured list of allowed segments."""
    tables = [
        Table(
            "accounts",
            time="created_at",
            required=True,
            key=("account_id",),
            references_accounts=False,
            meaning="One row per customer account, as it is today.",
            columns=(
                Column("account_id", "id", meaning="Unique account identifier.", example="A00042"),
                Column("name", "string", True, "Company name.", "Northwind Labs"),
                Column(
                    "segment",
                    "string",
                    meaning="Customer segment; each can get its own model.",
                    example="mid_market",
                    choices=tuple(segments),
                ),
                Column("industry", "string", True, "Industry.", "healthcare"),
                Column(
                    "created_at",
                    "date",
                    meaning="When the account became a customer.",
                    example="2022-03-14",
                ),
                Column(
                    "licenses",
                    "int",
                    meaning="Seats contracted now, at the end of the data (a snapshot: "
                    "point-in-time features use subscriptions.licenses, and this only when "
                    "scoring at the end of the data).",
                    example="120",
                    min=0,
                ),
                Column(
                    "arr",
                    "number",
                    True,
                    meaning="Current annual recurring revenue, if the export has it (a "
                    "snapshot nothing reads: an account's ARR at any date is the sum over its "
                    "subscriptions active then, subscriptions.arr).",
                    example="72000",
                    min=0,
                ),
                Column("csm_owner", "string", True, "Customer success manager, if any.", "csm_07"),
            ),
        ),
        Table(
            "subscriptions",
            time="start_date",
            required=True,
            key=("subscription_id",),
            order=(("start_date", "end_date"),),
            meaning="Contracts. Renewal dates follow from start_date and term_months; an account "
            "churns when its coverage ends and is not renewed.",
            columns=(
                Column(
                    "subscription_id",
                    "id",
                    meaning="Unique subscription identifier.",
                    example="S000317",
                ),
                _account_id(),
                Column(
                    "start_date", "date", meaning="First day of coverage.", example="2024-02-14"
                ),
                Column(
                    "term_months",
                    "int",
                    meaning="Contract term: 1 monthly, 12 annual, ...; "
                    "renewals fall every term_months after start_date.",
                    example="12",
                    min=1,
                ),
                Column(
                    "end_date",
                    "date",
                    True,
                    "Day coverage actually ended (exclusive); null "
                    "while active. Written when the account leaves, so it is never a "
                    "feature.",
                    "2025-02-14",
                    known_at="end_date",
                ),
                Column(
                    "arr",
                    "number",
                    meaning="Annual recurring revenue of this subscription.",
                    example="72000",
                    min=0,
                ),
                Column("plan", "string", True, "Plan name.", "growth"),
                Column(
                    "licenses",
                    "int",
                    True,
                    "Seats under this subscription. When absent, unknown for past as-of dates; "
                    "accounts.licenses stands in at the end of the data.",
                    "120",
                    min=0,
                ),
            ),
        ),
        Table(
            "usage",
            time="date",
            key=("account_id", "date", "feature"),
            meaning="Daily product usage: one row per account, day and feature with activity.",
            columns=(
                _account_id(),
                Column("date", "date", meaning="Day of activity.", example="2024-05-02"),
                Column(
                    "feature", "string", meaning="Product feature or module.", example="reports"
                ),
                Column(
                    "active_users",
                    "int",
                    True,
                    meaning="Distinct users active in the feature that day (optional: without "
                    "it the features that count users are skipped, with a note).",
                    example="37",
                    min=0,
                ),
                Column(
                    "events",
                    "int",
                    meaning="Events (actions) in the feature that day.",
                    example="412",
                    min=0,
                ),
            ),
        ),
        Table(
            "touchpoints",
            time="ts",
            meaning="Interactions between the customer and your team or community.",
            columns=(
                _account_id(),
                Column(
                    "ts", "timestamp", meaning="When it happened.", example="2024-05-02 14:30:00"
                ),
                Column(
                    "kind",
                    "string",
                    meaning="Type of interaction.",
                    example="qbr",
                    choices=TOUCHPOINT_KINDS,
                ),
                Column(
                    "attended",
                    "bool",
                    meaning="The customer took part (joined, replied, posted).",
                    example="true",
                ),
            ),
        ),
        Table(
            "surveys",
            time="ts",
            meaning="Survey responses.",
            columns=(
                _account_id(),
                Column(
                    "ts",
                    "timestamp",
                    meaning="When the response was given.",
                    example="2024-03-11 09:12:00",
                ),
                Column(
                    "kind",
                    "string",
                    meaning="nps (0-10) or csat (1-5).",
                    example="nps",
                    choices=SURVEY_KINDS,
                ),
                Column(
                    "score",
                    "number",
                    meaning="The answer on the kind's scale.",
                    example="8",
                    bounds_by=("kind", {"nps": (0, 10), "csat": (1, 5)}),
                ),
            ),
        ),
        Table(
            "tickets",
            time="opened_at",
            key=("ticket_id",),
            order=(("opened_at", "closed_at"),),
            meaning="Support tickets.",
            columns=(
                Column("ticket_id", "id", meaning="Unique ticket identifier.", example="T0012345"),
                _account_id(),
                Column(
                    "opened_at",
                    "timestamp",
                    meaning="When the ticket was opened.",
                    example="2024-06-03 10:00:00",
                ),
                Column(
                    "closed_at",
                    "timestamp",
                    True,
                    "When it was resolved; null while open.",
                    "2024-06-04 16:20:00",
                    known_at="closed_at",
                ),
                Column(
                    "priority",
                    "string",
                    meaning="Severity, p1 (emergency) to p4.",
                    example="p2",
                    choices=PRIORITIES,
                ),
                Column(
                    "escalated",
                    "bool",
                    meaning="Escalated beyond first-line support.",
                    example="false",
                ),
                Column(
                    "csat",
                    "number",
                    True,
                    "Satisfaction rating of the ticket (1-5).",
                    "4",
                    min=1,
                    max=5,
                    known_at="closed_at",
                ),
            ),
        ),
        Table(
            "contacts",
            time="started_at",
            key=("contact_id",),
            order=(("started_at", "ended_at"),),
            meaning="People at the customer you know, and their roles.",
            columns=(
                Column(
                    "contact_id", "id", meaning="Unique contact identifier.", example="C0004711"
                ),
                _account_id(),
                Column("role", "string", meaning="Job role.", example="manager"),
                Column(
                    "is_champion",
                    "bool",
                    meaning="Internal champion of the product.",
                    example="true",
                ),
                Column("is_exec_sponsor", "bool", meaning="Executive sponsor.", example="false"),
                Column("department", "string", True, "Department.", "finance"),
                Column(
                    "started_at",
                    "date",
                    meaning="When the contact started in this role.",
                    example="2023-01-09",
                ),
                Column(
                    "ended_at",
                    "date",
                    True,
                    "When the contact left; null while there.",
                    "2024-09-30",
                    known_at="ended_at",
                ),
            ),
        ),
        Table(
            "invoices",
            time="issued_at",
            key=("invoice_id",),
            order=(("issued_at", "due_at"),),
            meaning="Invoices and payments.",
            columns=(
                Column(
                    "invoice_id", "id", meaning="Unique invoice identifier.", example="I0009876"
                ),
                _account_id(),
                Column("issued_at", "date", meaning="Invoice date.", example="2024-02-14"),
                Column(
                    "due_at",
                    "date",
                    meaning="Payment due date.",
                    example="2024-03-15",
                    planned=True,
                ),
                Column(
                    "paid_at",
                    "date",
                    True,
                    "When it was paid; null while unpaid.",
                    "2024-03-20",
                    known_at="paid_at",
                ),
                Column("amount", "number", meaning="Amount invoiced.", example="18000", min=0),
            ),
        ),
        Table(
            "events",
            time="ts",
            meaning="Raw product events, one row per action, instead of (or besides) the daily "
            "usage table: when `usage` is absent it is derived from them, and metrics on this "
            "table count distinct users over any window exactly.",
            columns=(
                _account_id(),
                Column(
                    "ts", "timestamp", meaning="When it happened.", example="2024-05-02 14:03:11"
                ),
                Column(
                    "event",
                    "string",
                    meaning="The feature or module the event belongs to (its name, mapped if need "
                    "be): the usage table's `feature`.",
                    example="reports",
                ),
                Column("user_id", "id", meaning="The user who acted.", example="U000123"),
                Column("value", "number", True, "An amount the event carries, if any.", "3", min=0),
            ),
        ),
        Table(
            "churn_events",
            time="churn_date",
            key=("account_id", "churn_date"),
            meaning="Churn as recorded (a CRM's churn log): when present it dates each churn "
            "and says why; see docs/data-contract.md on how it is reconciled with subscriptions.",
            columns=(
                _account_id("The account that left."),
                Column(
                    "churn_date",
                    "date",
                    meaning="When the account stopped being a customer (the effective date).",
                    example="2025-03-31",
                ),
                Column("reason", "string", True, "Why it left, as recorded.", "budget"),
                Column(
                    "kind",
                    "string",
                    True,
                    "Voluntary (the customer chose to leave) or involuntary (e.g. a failed "
                    "payment).",
                    "voluntary",
                    choices=CHURN_KINDS,
                ),
            ),
        ),
        Table(
            "cs_actions",
            time="date",
            key=("account_id", "date", "playbook"),
            featured=False,
            meaning="The plays your team ran on accounts (a CRM's activity log), and the "
            "alerts it held out on purpose: what `churnhealth effects` measures a play's "
            "effect from.",
            columns=(
                _account_id("The account the play was for."),
                Column(
                    "date",
                    "date",
                    meaning="When the play started (or, held out, when it would have).",
                    example="2025-03-04",
                ),
                Column(
                    "playbook",
                    "string",
                    meaning="The play, by the name your team uses for it.",
                    example="executive_call",
                ),
                Column(
                    "source",
                    "string",
                    meaning="alert: run on a churnhealth alert; holdout: an alert held out at "
                    "random and not worked (holdout_share); manual: run on the team's own "
                    "judgement.",
                    example="alert",
                    choices=ACTION_SOURCES,
                ),
            ),
        ),
        Table(
            "features",
            time="as_of",
            key=("account_id", "as_of"),
            open=True,
            meaning="Features you compute yourself, e.g. in your warehouse: one row per account "
            "and as-of date, and one number (or boolean) column per feature, read by metrics of "
            "kind `external` (docs/features.md). A row dated T must be computed from data "
            "before T only.",
            columns=(
                _account_id(),
                Column(
                    "as_of",
                    "date",
                    meaning="The date the row's values hold on, computed from data before it.",
                    example="2025-03-01",
                ),
            ),
        ),
    ]
    return {t.name: t for t in tables}


TABLE_NAMES: tuple[str, ...] = tuple(contract(["x"]))
REQUIRED_TABLES: tuple[str, ...] = tuple(t.name for t in contract(["x"]).values() if t.required)
EXTRA_TABLES: tuple[str, ...] = ("truth",)
"""Tables outside the contract that churnhealth knows: the demo company's ground truth."""


@dataclass
class Problem:
    """One violation of the contract, rendered as one line."""

    table: str
    column: str | None
    rows: int | None
    what: str
    expected: str
    examples: list[str] = field(default_factory=list)
    origin: str | None = None
    """Where it is in the user's export, when a source mapping made the table (its file and
    column)."""

    def __str__(self) -> str:
        where = self.table if self.column is None else f"{self.table}.{self.column}"
        if self.origin:
            where = f"{self.origin} ({where})"
        count = "" if self.rows is None else f" in {self.rows:,} row{'s' if self.rows != 1 else ''}"
        line = f"{where}: {self.what}{count} (expected {self.expected})"
        if self.examples:
            line += "; e.g. " + ", ".join(self.examples)
        return line
