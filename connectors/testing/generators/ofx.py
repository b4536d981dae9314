"""OFX/QFX statement files as banks write them: OFX 1.x (SGML, unclosed elements, a
key:value header with a charset) and OFX 2.x (XML), bank and credit-card statements,
several accounts per file. Deterministic (seeded); each writer returns what it wrote so
tests can compare a parse with the truth.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

MERCHANTS = [
    ("TESCO STORES 3021", "Card purchase", (4, 95)),
    ("TRANSPORT FOR LONDON", "Contactless", (2, 12)),
    ("Café Rouge Islington", "Card purchase", (9, 60)),
    ("M&S SIMPLY FOOD", "Card purchase", (3, 40)),
    ("Müller Drogerie", "Card purchase", (2, 30)),
    ("AMAZON MKTPLACE <UK>", "Online", (6, 80)),
    ("OCTOPUS ENERGY", "Direct debit", (60, 140)),
    ("VODAFONE LTD", "Direct debit", (15, 35)),
]


@dataclass(frozen=True)
class Account:
    acct_id: str
    kind: str = "CHECKING"  # CHECKING, SAVINGS, CREDITLINE or CREDITCARD
    currency: str = "USD"
    bank_id: str = "121000248"


@dataclass
class Written:
    """What a writer put in the file: per account id, its transactions and balances."""

    path: Path
    transactions: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    ledger: dict[str, Decimal] = field(default_factory=dict)
    available: dict[str, Decimal] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.transactions.values())


DEFAULT_ACCOUNTS = (
    Account("000123456789", "CHECKING"),
    Account("000987654321", "SAVINGS"),
    Account("4111XXXXXXXX1111", "CREDITCARD"),
)


def _transactions(account: Account, rng: random.Random, n: int, end: date) -> Iterator[dict[str, str]]:
    start = end - timedelta(days=min(max(1, n // 2), 730))
    for i in range(n):
        day = start + timedelta(days=i * (end - start).days // max(1, n))
        if i % 15 == 7:
            name, memo, amount = "ACME LTD SALARY", "Monthly pay", Decimal(rng.randint(240000, 310000)) / 100
            trntype = "CREDIT"
        else:
            name, memo, (lo, hi) = rng.choice(MERCHANTS)
            amount = -Decimal(rng.randint(lo * 100, hi * 100)) / 100
            trntype = "POS" if memo != "Direct debit" else "DIRECTDEBIT"
        if account.kind == "CREDITCARD" and trntype == "CREDIT":
            name, memo, trntype = "PAYMENT THANK YOU", "", "PAYMENT"
        yield {
            "fitid": f"{day:%Y%m%d}{account.acct_id[-4:]}{i:06d}",
            "trntype": trntype,
            "posted": day.isoformat(),
            "user": (day - timedelta(days=i % 3)).isoformat(),
            "amount": f"{amount:.2f}",
            "name": name,
            "memo": memo,
        }


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _d(iso: str) -> str:
    return iso.replace("-", "")


class _Body:
    """Writes the OFX body; `closed` closes every element (OFX 2.x) or leaves them open (1.x)."""

    def __init__(self, closed: bool, newline: str) -> None:
        self.closed, self.nl = closed, newline

    def el(self, tag: str, value: str) -> str:
        return f"<{tag}>{_esc(value)}</{tag}>" if self.closed else f"<{tag}>{_esc(value)}"

    def statement(self, account: Account, first: str, end: date) -> str:
        nl, el = self.nl, self.el
        card = account.kind == "CREDITCARD"
        out = [
            "<CCSTMTTRNRS>" if card else "<STMTTRNRS>",
            el("TRNUID", "1001"),
            "<STATUS>",
            el("CODE", "0"),
            el("SEVERITY", "INFO"),
            "</STATUS>",
            "<CCSTMTRS>" if card else "<STMTRS>",
            el("CURDEF", account.currency),
        ]
        if card:
            out += ["<CCACCTFROM>", el("ACCTID", account.acct_id), "</CCACCTFROM>"]
        else:
            out += [
                "<BANKACCTFROM>",
                el("BANKID", account.bank_id),
                el("ACCTID", account.acct_id),
                el("ACCTTYPE", account.kind),
                "</BANKACCTFROM>",
            ]
        out += ["<BANKTRANLIST>", el("DTSTART", _d(first)), el("DTEND", _d(end.isoformat()))]
        return nl.join(out) + nl

    def transaction(self, t: dict[str, str]) -> str:
        el = self.el
        out = [
            "<STMTTRN>",
            el("TRNTYPE", t["trntype"]),
            el("DTPOSTED", _d(t["posted"]) + "120000.000[-5:EST]"),
            el("DTUSER", _d(t["user"])),
            el("TRNAMT", t["amount"]),
            el("FITID", t["fitid"]),
            el("NAME", t["name"]),
        ]
        if t["memo"]:
            out.append(el("MEMO", t["memo"]))
        out.append("</STMTTRN>")
        return self.nl.join(out) + self.nl

    def closing(self, account: Account, ledger: Decimal, avail: Decimal, end: date) -> str:
        el = self.el
        card = account.kind == "CREDITCARD"
        out = [
            "</BANKTRANLIST>",
            "<LEDGERBAL>",
            el("BALAMT", f"{ledger:.2f}"),
            el("DTASOF", _d(end.isoformat()) + "235959.000[-5:EST]"),
            "</LEDGERBAL>",
            "<AVAILBAL>",
            el("BALAMT", f"{avail:.2f}"),
            el("DTASOF", _d(end.isoformat()) + "235959.000[-5:EST]"),
            "</AVAILBAL>",
            "</CCSTMTRS>" if card else "</STMTRS>",
            "</CCSTMTTRNRS>" if card else "</STMTTRNRS>",
        ]
        return self.nl.join(out) + self.nl


def write_ofx(
    path: Path,
    *,
    version: int = 1,
    accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS,
    per_account: int = 40,
    seed: int = 1,
    end: date = date(2026, 5, 31),
    charset: str = "1252",
    signon_error: bool = False,
    keep: bool = True,
    window: tuple[int, int] | None = None,
) -> Written:
    """Write an OFX statement file. `version` 1 writes SGML with the header's CHARSET
    (1252, ISO-8859-1, NONE for US-ASCII, or UTF-8); 2 writes XML in UTF-8. With `keep`
    False the truth is not kept in memory (large files for the bench). `window=(a, b)`
    writes only transactions a to b-1 of each account, as a download of a shorter period
    would (the same seed gives the same transactions, so two windows overlap)."""
    rng = random.Random(seed)
    closed, nl = version == 2, "\r\n" if version == 1 else "\n"
    body = _Body(closed, nl)
    el = body.el
    encoding = {"1252": "cp1252", "ISO-8859-1": "latin-1", "NONE": "ascii", "UTF-8": "utf-8"}[charset]
    if version == 2:
        encoding = "utf-8"
    written = Written(path)
    with path.open("w", encoding=encoding, errors="replace", newline="") as f:
        if version == 1:
            enc = "UTF-8" if charset == "UTF-8" else "USASCII"
            cs = "NONE" if charset == "UTF-8" else charset
            f.write(
                nl.join(
                    [
                        "OFXHEADER:100",
                        "DATA:OFXSGML",
                        "VERSION:102",
                        "SECURITY:NONE",
                        f"ENCODING:{enc}",
                        f"CHARSET:{cs}",
                        "COMPRESSION:NONE",
                        "OLDFILEUID:NONE",
                        "NEWFILEUID:NONE",
                        "",
                        "",
                    ]
                )
            )
        else:
            f.write('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n')
            f.write('<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>\n')
        f.write(nl.join(["<OFX>", "<SIGNONMSGSRSV1>", "<SONRS>", "<STATUS>"]) + nl)
        if signon_error:
            f.write(
                nl.join([el("CODE", "15500"), el("SEVERITY", "ERROR"), el("MESSAGE", "Invalid user ID or password")])
            )
        else:
            f.write(nl.join([el("CODE", "0"), el("SEVERITY", "INFO")]))
        f.write(nl + nl.join(["</STATUS>", el("DTSERVER", _d(end.isoformat()) + "120000.000[-5:EST]")]) + nl)
        f.write(nl.join([el("LANGUAGE", "ENG"), "<FI>", el("ORG", "First Example Bank"), el("FID", "10898")]))
        f.write(nl + nl.join(["</FI>", el("INTU.BID", "10898"), "</SONRS>", "</SIGNONMSGSRSV1>"]) + nl)
        if signon_error:
            f.write("</OFX>" + nl)
            return written
        banks = [a for a in accounts if a.kind != "CREDITCARD"]
        cards = [a for a in accounts if a.kind == "CREDITCARD"]
        for group, wrapper in ((banks, "BANKMSGSRSV1"), (cards, "CREDITCARDMSGSRSV1")):
            if not group:
                continue
            f.write(f"<{wrapper}>{nl}")
            for account in group:
                opening = Decimal(rng.randint(50000, 500000)) / 100 * (-1 if account.kind == "CREDITCARD" else 1)
                total = Decimal(0)
                kept: list[dict[str, str]] = []
                header_written = False
                for index, t in enumerate(_transactions(account, rng, per_account, end)):
                    if window and not window[0] <= index < window[1]:
                        continue
                    # What the file can hold: OFX names are at most 32 characters, in its charset.
                    t["name"] = t["name"][:32].encode(encoding, "replace").decode(encoding)
                    if not header_written:
                        f.write(body.statement(account, t["posted"], end))
                        header_written = True
                    f.write(body.transaction(t))
                    total += Decimal(t["amount"])
                    if keep:
                        kept.append(t)
                if not header_written:
                    f.write(body.statement(account, end.isoformat(), end))
                ledger = opening + total
                avail = ledger - Decimal("25.00")
                f.write(body.closing(account, ledger, avail, end))
                written.transactions[account.acct_id] = kept
                written.ledger[account.acct_id] = ledger
                written.available[account.acct_id] = avail
            f.write(f"</{wrapper}>{nl}")
        f.write("</OFX>" + nl)
    return written
