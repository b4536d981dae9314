"""ISO 20022 cash-management files: camt.053 statements, camt.052 intraday reports and
camt.054 debit/credit notifications, schema versions .001.02 to .001.13.

Safety: the prolog (everything before the root element, where a DTD would have to be)
goes through defusedxml with DTDs, entity declarations and external references all
forbidden; a DOCTYPE cannot appear later in a well-formed document, so no entity is ever
expanded and nothing is ever fetched.

Reading: each complete `<Ntry>...</Ntry>` is cut out of the byte stream; an entry of the
common shape is read with one pattern (`quick_records`, `fast_entry`), any other by the
XML parser. The rest of the document, with a placeholder for each entry, is built by the
C ElementTree parser into a tree from which finished parts are taken and dropped between
two blocks of the file, so memory stays bounded whatever the file's size. A file with
comments, CDATA or instructions in its body is read wholly by the XML parser. `raw`
keeps each entry's XML text; `normalize` reads it again the same way.

Keys (`bank.transaction`): `ACCOUNT:AcctSvcrRef` (the bank's reference for the entry,
or of its only transaction); one `/n` or `/ref` per transaction of a batch; without
any bank reference, a hash of the booking date, value date, amount, currency, end-to-end
id, description and counterparty, numbered by occurrence within the file so that two
identical payments on the same day stay two. `bank.account` is keyed by the IBAN (or
the bank's other account id) and carries the latest booked and available balances.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.sdk import Field, Fragment, Importer, ImportFailed, Record

from ..amounts import zone_problem
from .fast import fast_entry, quick_records
from .mapping import account_record, entry_records, identity, parse_entry
from .nodes import to_data
from .reader import MESSAGES, Reader

__all__ = [
    "MESSAGES",
    "CamtImporter",
    "account_record",
    "entry_records",
    "fast_entry",
    "identity",
    "parse_entry",
    "quick_records",
    "to_data",
]

_NAMESPACE = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:camt\.05[234]\.001\.\d\d")
_ROOTS = re.compile(rb"<(?:\w+:)?(?:BkToCstmrStmt|BkToCstmrAcctRpt|BkToCstmrDbtCdtNtfctn)[\s>]")


class CamtImporter(Importer):
    name = "camt"
    title = "ISO 20022 camt.052 / camt.053 / camt.054 bank statements"
    category = "bank"
    datasets = ("bank.account", "bank.transaction")
    extensions = (".xml", ".camt", ".053", ".052", ".054")
    description = "Statements, intraday reports and notifications in ISO 20022 XML, as European banks provide."
    fields = (
        Field("timezone", "Time zone of times the file gives without an offset", default="UTC", check=zone_problem),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return _NAMESPACE.search(head) is not None or _ROOTS.search(head) is not None

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment]:
        problem = zone_problem(settings.get("timezone") or "UTC")
        if problem:
            raise ImportFailed(f"{path.name}: setting timezone: {problem}")
        yield from Reader(path, str(settings.get("timezone") or "UTC")).records()

    def normalize(self, fragment: Fragment) -> Record | list[Record] | None:
        if fragment.dataset == "bank.account":
            return account_record(fragment.raw)
        return entry_records(fragment.raw)
