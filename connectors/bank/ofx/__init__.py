"""OFX/QFX statements: OFX 1.x (SGML, elements left unclosed) and 2.x (XML).

One streaming tokenizer reads both versions: elements with a value are leaves, whether
or not they are closed; everything else is an aggregate that must be closed. Only
statement-level aggregates are kept in memory; each transaction (`STMTTRN`) becomes a
record as soon as it closes, so a file of any size is read in bounded memory. No
declaration (`<!DOCTYPE`, `<!ENTITY`) is accepted, so nothing is ever expanded or fetched.

Keys: `bank.transaction` is `ACCTID:FITID` (the bank's id, unique per account);
`bank.account` is the account id. Corrections (`CORRECTFITID`/`CORRECTACTION`) delete the
transaction they replace.

Investment statements (INVSTMTRS) give `invest.transaction` (key `ACCTID:FITID`),
`invest.position` (key account, statement day, security, sub-account, side),
`invest.account` and `invest.security` (key `UNIQUEIDTYPE:UNIQUEID`); their cash movements
(INVBANKTRAN) are `bank.transaction` records of the account, whose cash is a `bank.account`
of kind investment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.sdk import Delete, Field, Fragment, Importer, Record
from connectors.sdk.limits import bounded

from ..amounts import zone_problem
from ..settings import file_settings
from .fragments import normalize
from .mapping import account_record, transaction_record
from .reader import SNIFF_XML, Reader

__all__ = ["OfxImporter", "account_record", "transaction_record"]


class OfxImporter(Importer):
    name = "ofx"
    title = "OFX / QFX bank, credit-card and investment statements"
    category = "bank"
    datasets = (
        "bank.account",
        "bank.transaction",
        "invest.account",
        "invest.position",
        "invest.transaction",
        "invest.security",
    )
    extensions = (".ofx", ".qfx", ".qbo")
    description = (
        "Statements downloaded from a bank's or broker's website in OFX 1.x (SGML) or 2.x (XML), "
        "Quicken's QFX included: bank and card transactions, investment trades, positions and securities."
    )
    fields = (
        Field(
            "timezone",
            "Time zone of times the file gives without an offset (OFX says GMT)",
            default="UTC",
            check=zone_problem,
        ),
        Field(
            "invert_amounts",
            "Flip the sign of every amount, for a bank that writes card purchases as positive",
            type="bool",
            default=False,
        ),
    )

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if body[:9].upper() == b"OFXHEADER":
            return True
        return SNIFF_XML.match(body[:8192]) is not None

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        given = file_settings(self, path, settings)
        with path.open("rb") as raw, bounded(raw, path.name, "markup") as f:
            yield from Reader(path, f, given["timezone"], given["invert_amounts"]).records()

    def normalize(self, fragment: Fragment) -> Record | None:
        return normalize(fragment)
