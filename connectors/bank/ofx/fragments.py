"""Any OFX fragment to its record: bank accounts and transactions (mapping), investment
statements (invest, which builds on mapping's accessors)."""

from __future__ import annotations

from connectors.sdk import Fragment, Record

from .invest import MAPPINGS
from .mapping import account_record, transaction_record


def normalize(fragment: Fragment) -> Record | None:
    if fragment.dataset.startswith("invest."):
        return MAPPINGS[fragment.dataset](fragment.raw)
    if fragment.dataset == "bank.account":
        return account_record(fragment.raw)
    return transaction_record(fragment.raw)
