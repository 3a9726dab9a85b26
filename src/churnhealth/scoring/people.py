"""Who the accounts are: their names, their owners and where their CRM record is.

Read once per run from the accounts table (`read_accounts`), for the page, `explain` and the
alerts, which name each account and its CSM and link to its record (`predict.crm_url`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import pandas as pd


@dataclass(frozen=True)
class People:
    """Who the accounts are: account → name (accounts.name), → owner (accounts.csm_owner) and
    where its record is (`predict.crm_url`, a template with {account_id}); an account missing
    from `names` or `owners` has none."""

    names: Mapping[str, str] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)
    crm_url: str | None = None

    def link(self, account_id: str) -> str | None:
        """The account's CRM record (its id quoted into the template), None without one."""
        if not self.crm_url:
            return None
        return self.crm_url.replace("{account_id}", quote(str(account_id), safe=""))

    @classmethod
    def of(cls, accounts: pd.DataFrame, crm_url: str | None = None) -> People:
        """The `People` of an accounts read (`read_accounts`)."""

        def column(name: str) -> dict[str, str]:
            if name not in accounts:
                return {}
            df = accounts[accounts[name].notna()]
            return dict(zip(df.account_id.astype(str), df[name].astype(str), strict=True))

        return cls(names=column("name"), owners=column("csm_owner"), crm_url=crm_url)


def read_accounts(source) -> pd.DataFrame:
    """The accounts table in one read: account_id and segment, with name and csm_owner when
    the table has them (who the accounts are, and which data source this is)."""
    table = source.tables["accounts"]
    cols = ["account_id", "segment", *(c for c in ("name", "csm_owner") if c in table.columns)]
    return table.select(*cols).execute()
