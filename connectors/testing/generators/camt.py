"""ISO 20022 cash-management files as banks send them: camt.053 statements, camt.052
intraday reports and camt.054 notifications, in the schema versions banks use (.001.02
to .001.08 and later, whose differences the writer follows: `Sts` as text or as a code,
related parties with or without `Pty`, amounts per transaction as `Amt` or `AmtDtls`).

Deterministic (seeded); `write_camt` returns what it wrote so tests compare a parse
with the truth.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

ROOTS = {
    "052": ("BkToCstmrAcctRpt", "Rpt"),
    "053": ("BkToCstmrStmt", "Stmt"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
COUNTERPARTIES = [
    ("Stadtwerke München GmbH", "Abschlag Strom 2026"),
    ("REWE Markt GmbH", "Kartenzahlung"),
    ("Deutsche Bahn AG", "Fahrkarte ICE"),
    ("Müller & Söhne KG", "Rechnung 2026-114"),
    ("Vodafone GmbH", "Mobilfunk"),
    ("Boulangerie Dupont", "CB 12/05"),
]


@dataclass(frozen=True)
class Account:
    iban: str
    currency: str = "EUR"
    name: str = "Girokonto"


DEFAULT_ACCOUNTS = (Account("DE89370400440532013000"), Account("DE02120300000000202051", name="Tagesgeld"))


@dataclass
class Written:
    """Per account IBAN: the transactions (one per TxDtls of a batch) and the balances."""

    path: Path
    transactions: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    balances: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    entries: int = 0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.transactions.values())


def _amt(value: Decimal, currency: str) -> str:
    return f'<Amt Ccy="{currency}">{abs(value):.2f}</Amt>'


def _ind(value: Decimal) -> str:
    return f"<CdtDbtInd>{'DBIT' if value < 0 else 'CRDT'}</CdtDbtInd>"


def _party(role: str, name: str, version: int) -> str:
    inner = f"<Nm>{escape(name)}</Nm>"
    return f"<{role}><Pty>{inner}</Pty></{role}>" if version >= 8 else f"<{role}>{inner}</{role}>"


def _balance(code: str, value: Decimal, currency: str, day: date) -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>{_amt(value, currency)}{_ind(value)}"
        f"<Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>"
    )


class _Writer:
    def __init__(self, version: int) -> None:
        self.version = version

    def status(self, code: str) -> str:
        return f"<Sts><Cd>{code}</Cd></Sts>" if self.version >= 7 else f"<Sts>{code}</Sts>"

    def tx(self, t: dict[str, str], currency: str, in_batch: bool) -> str:
        amount = Decimal(t["amount"])
        refs = f"<Refs><EndToEndId>{t['end_to_end']}</EndToEndId>"
        if t.get("tx_ref"):
            refs += f"<AcctSvcrRef>{t['tx_ref']}</AcctSvcrRef>"
        refs += "</Refs>"
        amount_xml = ""
        if in_batch:
            if self.version >= 4:
                amount_xml = _amt(amount, currency) + _ind(amount)
            else:
                amount_xml = f"<AmtDtls><TxAmt>{_amt(amount, currency)}</TxAmt></AmtDtls>"
        role = "Cdtr" if amount < 0 else "Dbtr"
        return (
            f"<TxDtls>{refs}{amount_xml}<RltdPties>{_party(role, t['counterparty'], self.version)}</RltdPties>"
            f"<RmtInf><Ustrd>{escape(t['description'])}</Ustrd></RmtInf></TxDtls>"
        )

    def entry(self, txs: list[dict[str, str]], currency: str, ref: str | None) -> str:
        first = txs[0]
        total = sum((Decimal(t["amount"]) for t in txs), Decimal(0))
        status = first["status"]
        out = [f"<Ntry><NtryRef>{first['entry_ref']}</NtryRef>" if ref is not None else "<Ntry>"]
        out.append(_amt(total, currency) + _ind(total) + self.status("BOOK" if status == "booked" else "PDNG"))
        if status == "booked":
            out.append(f"<BookgDt><Dt>{first['booked_on']}</Dt></BookgDt>")
        out.append(f"<ValDt><Dt>{first['value_on']}</Dt></ValDt>")
        if ref:
            out.append(f"<AcctSvcrRef>{ref}</AcctSvcrRef>")
        out.append("<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>")
        out.append("<NtryDtls>")
        if len(txs) > 1:
            out.append(f"<Btch><NbOfTxs>{len(txs)}</NbOfTxs></Btch>")
        out.extend(self.tx(t, currency, len(txs) > 1) for t in txs)
        out.append("</NtryDtls></Ntry>\n")
        return "".join(out)


def _day_entries(rng: random.Random, acct: Account, day: date, n: int, seq: list[int]) -> list[list[dict[str, str]]]:
    """The entries of one day: single payments, now and then a batch, sometimes two identical
    card payments with no reference at all (they must stay two)."""
    entries: list[list[dict[str, str]]] = []
    for _ in range(n):
        seq[0] += 1
        i = seq[0]
        name, text = rng.choice(COUNTERPARTIES)
        base = {
            "booked_on": day.isoformat(),
            "value_on": (day + timedelta(days=i % 2)).isoformat(),
            "status": "booked",
            "entry_ref": f"{i:08d}",
            "ref": f"{acct.iban[-6:]}{day:%y%m%d}{i:07d}",
            "end_to_end": "NOTPROVIDED" if i % 4 else f"E2E-{i}",
            "counterparty": name,
            "description": text,
        }
        kind = i % 23
        if kind == 5:  # a batch (a payroll run, a direct-debit collection)
            batch = []
            for j in range(3):
                amount = -Decimal(rng.randint(1000, 90000)) / 100
                batch.append({**base, "amount": f"{amount:.2f}", "tx_ref": f"{base['ref']}-{j + 1}"})
            entries.append(batch)
        elif kind == 9:  # no reference of any kind: identical twice on the same day
            amount = -Decimal(rng.randint(100, 2000)) / 100
            bare = {**base, "ref": "", "entry_ref": "", "end_to_end": "NOTPROVIDED", "amount": f"{amount:.2f}"}
            entries += [[bare], [dict(bare)]]
        else:
            cents = rng.randint(200000, 320000) if kind == 11 else -rng.randint(150, 25000)
            entries.append([{**base, "amount": f"{Decimal(cents) / 100:.2f}"}])
    return entries


def _account_entries(
    acct: Account, n: int, seed: int, days: int, per_day: int, start: date, pending: int
) -> Iterator[list[dict[str, str]]]:
    rng = random.Random(f"{seed}-{n}")
    seq = [n * 10_000_000]
    for d in range(days):
        yield from _day_entries(rng, acct, start + timedelta(days=d), per_day, seq)
    end = start + timedelta(days=days - 1)
    for p in range(pending):
        seq[0] += 1
        yield [
            {
                "booked_on": "",
                "value_on": (end + timedelta(days=1)).isoformat(),
                "status": "pending",
                "entry_ref": f"{seq[0]:08d}",
                "ref": f"PDNG{seq[0]:010d}",
                "end_to_end": f"E2E-P{p}",
                "counterparty": "Online Shop GmbH",
                "description": f"Reservierung {p}",
                "amount": f"{-Decimal(rng.randint(500, 9000)) / 100:.2f}",
            }
        ]


def write_camt(
    path: Path,
    *,
    message: str = "053",
    version: int = 2,
    accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS,
    days: int = 10,
    per_day: int = 3,
    seed: int = 1,
    end: date = date(2026, 5, 31),
    pending: int = 0,
    keep: bool = True,
) -> Written:
    """Write a camt file: one statement (report, notification) per account covering `days`
    days of `per_day` entries each (a batch or a pair of identical payments counts as
    more), plus `pending` pending entries at the end. With `keep` False the truth is not
    kept (large files for the bench)."""
    root, block = ROOTS[message]
    written = Written(path)
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.{message}.001.{version:02d}"
    start = end - timedelta(days=days - 1)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        w = _Writer(version)
        f.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}" ')
        f.write('xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n')
        f.write(f"<{root}><GrpHdr><MsgId>MSG{seed:06d}</MsgId><CreDtTm>{end}T18:00:00+02:00</CreDtTm></GrpHdr>\n")
        for n, acct in enumerate(accounts):
            opening = Decimal(random.Random(f"{seed}-{n}-opening").randint(100000, 900000)) / 100
            booked = Decimal(0)  # balances come before the entries: a first pass sums them
            for txs in _account_entries(acct, n, seed, days, per_day, start, pending):
                if txs[0]["status"] == "booked":
                    booked += sum((Decimal(t["amount"]) for t in txs), Decimal(0))
            closing = opening + booked
            f.write(f"<{block}><Id>STMT-{end:%Y%m%d}-{n}</Id><CreDtTm>{end}T18:00:00+02:00</CreDtTm>")
            f.write(f"<FrToDt><FrDtTm>{start}T00:00:00+02:00</FrDtTm><ToDtTm>{end}T23:59:59+02:00</ToDtTm></FrToDt>")
            f.write(f"<Acct><Id><IBAN>{acct.iban}</IBAN></Id><Ccy>{acct.currency}</Ccy><Nm>{escape(acct.name)}</Nm>")
            f.write("<Svcr><FinInstnId><BIC>COBADEFFXXX</BIC><Nm>Beispielbank AG</Nm></FinInstnId></Svcr></Acct>\n")
            if message == "053":
                f.write(_balance("OPBD", opening, acct.currency, start - timedelta(days=1)))
                f.write(_balance("CLBD", closing, acct.currency, end))
                f.write(_balance("CLAV", closing - Decimal("100.00"), acct.currency, end))
            elif message == "052":
                f.write(_balance("ITBD", closing, acct.currency, end))
                f.write(_balance("ITAV", closing - Decimal("100.00"), acct.currency, end))
            f.write("\n")
            kept: list[dict[str, str]] = []
            for txs in _account_entries(acct, n, seed, days, per_day, start, pending):
                f.write(w.entry(txs, acct.currency, txs[0]["ref"] or None))
                written.entries += 1
                if keep:
                    kept += txs
            f.write(f"</{block}>\n")
            written.transactions[acct.iban] = kept
            if message != "054":
                written.balances[acct.iban] = {"ledger": closing, "available": closing - Decimal("100.00")}
        f.write(f"</{root}></Document>\n")
    return written
