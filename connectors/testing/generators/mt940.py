"""SWIFT MT940 statements as banks let users download them: one message per account and
day, `:86:` details in the German sub-field layout (`?20`... with SEPA tags), the Dutch
`/TAG/` layout or free text, lines cut at 65 characters wherever they fall, decimal
commas ("15000," and "12,5" included), reversals, booking dates before value dates, and
identical payments without a bank reference on Fridays (both must be kept).

Deterministic (seeded); `write_mt940` returns what it wrote so tests compare a parse with
the truth. A day's lines depend only on the seed, the account and the day, so two files
over overlapping days hold the same lines for the days they share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

PARTIES = [
    ("Stadtwerke München GmbH", "DE02700202700010108669", "Abschlag Strom Mai 2026 Vertragskonto 4711"),
    ("REWE Markt GmbH", "DE12500105170648489890", "Kartenzahlung girocard 2026-05 Filiale 0815"),
    ("Müller & Söhne KG", "DE89370400440532013000", "Rechnung 2026-114 vom 02.05.2026 Kundennr 9981"),
    ("Vodafone GmbH", "DE44500105175407324931", "Mobilfunk Kundenkonto 123456789 Rechnung Mai"),
    ("Deutsche Rentenversicherung", "DE33100205000001234567", "Rente Mai 2026 Versicherungsnummer 12 150865 M 123"),
]
LINE_WIDTH = 65
ENVELOPE = "{1:F01COBADEFFAXXX0000000000}{2:O9400000000000COBADEFFXXXX00000000000000000000N}{4:"


@dataclass(frozen=True)
class Account:
    ident: str  # as written in :25:
    account_id: str  # as the importer keys it
    currency: str = "EUR"
    style: str = "german"  # german, dutch or plain


DEFAULT_ACCOUNTS = (
    Account("37040044/0532013000", "37040044/0532013000"),
    Account("NL91ABNA0417164300EUR", "NL91ABNA0417164300", style="dutch"),
)


@dataclass
class Written:
    """Per account id: the transactions in file order, and the last closing balances."""

    path: Path
    transactions: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    balances: dict[str, dict[str, object]] = field(default_factory=dict)
    messages: int = 0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.transactions.values())


def amount_text(value: Decimal) -> str:
    """A positive amount as banks write it: "12,50", sometimes "12,5" or "15000," (the
    same amount always the same way, as one bank writes it)."""
    rng = random.Random(str(abs(value)))
    text = f"{abs(value):.2f}".replace(".", ",")
    if text.endswith("00") and rng.random() < 0.5:
        return text[:-2]
    if text.endswith("0") and rng.random() < 0.5:
        return text[:-1]
    return text


def _wrap(text: str, width: int = LINE_WIDTH) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)] or [""]


def _german(gvc: str, posting: str, purpose: str, name: str, iban: str) -> str:
    chunks = [purpose[i : i + 27] for i in range(0, len(purpose), 27)][:14]
    numbers = [*range(20, 30), *range(60, 64)]
    text = f"{gvc}?00{posting}?109310"
    text += "".join(f"?{n:02d}{chunk}" for n, chunk in zip(numbers, chunks, strict=False))
    return text + f"?30COBADEFFXXX?31{iban}?32{name[:27]}" + (f"?33{name[27:54]}" if len(name) > 27 else "")


def _dutch(name: str, iban: str, purpose: str, e2e: str) -> str:
    return f"/TRTP/SEPA OVERBOEKING/IBAN/{iban}/BIC/ABNANL2A/NAME/{name}/REMI/{purpose}/EREF/{e2e}"


@dataclass(frozen=True)
class _Line:
    amount: Decimal
    name: str
    iban: str
    purpose: str
    e2e: str = "NOTPROVIDED"
    bankref: str = ""  # none: the importer keys the line by its content
    value_shift: int = 0  # days from booking to value date
    reversal: bool = False


def _day_lines(seed: int, account: Account, day: date) -> list[_Line]:
    rng = random.Random(f"{seed}-{account.ident}-{day.isoformat()}")
    lines: list[_Line] = []
    for i in range(rng.randint(0, 4) if day.weekday() < 5 else 0):
        name, iban, purpose = rng.choice(PARTIES)
        value = Decimal(rng.randint(100, 250_000)) / 100
        lines.append(
            _Line(
                amount=value if name.startswith("Deutsche Renten") else -value,
                name=name,
                iban=iban,
                purpose=purpose,
                e2e=f"E2E-{day:%y%m%d}-{i}" if rng.random() < 0.7 else "NOTPROVIDED",
                bankref=f"{day:%y%m%d}{rng.randint(10**9, 10**10 - 1)}",
                value_shift=rng.choice([0, 0, 0, 1, 2]),
                reversal=rng.random() < 0.05,
            )
        )
    if day.weekday() == 4:  # two identical card payments, no bank reference: both count
        lines += [_Line(Decimal("-3.80"), "BÄCKEREI KAMPS", "DE55100400000266700900", "Kartenzahlung")] * 2
    return lines


def write_mt940(
    path: Path,
    *,
    accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS,
    days: int = 10,
    seed: int = 1,
    end: date = date(2026, 5, 29),
    envelope: bool = False,
    crlf: bool = False,
    encoding: str = "cp1252",
    terminate: bool = True,
) -> Written:
    """Write an MT940 file: for each account, one message per day of `days` days up to
    `end`. `envelope` wraps each message in SWIFT blocks; `terminate` False leaves out the
    `-` after the last message (as some banks do)."""
    written = Written(path)
    out: list[str] = []
    for account in accounts:
        rng = random.Random(f"{seed}-{account.ident}-opening")
        balance = Decimal(rng.randint(50_000, 900_000)) / 100
        start = end - timedelta(days=days - 1)
        truth = written.transactions.setdefault(account.account_id, [])
        for d in range(days):
            day = start + timedelta(days=d)
            written.messages += 1
            mark = "C" if balance >= 0 else "D"
            message = [f":20:STMT{day:%y%m%d}", f":25:{account.ident}", f":28C:{d + 1:05d}/00001"]
            message.append(f":60F:{mark}{day:%y%m%d}{account.currency}{amount_text(balance)}")
            for line in _day_lines(seed, account, day):
                amount, name, purpose, e2e = line.amount, line.name, line.purpose, line.e2e
                value_on = day + timedelta(days=line.value_shift)
                # A reversed debit (RD) puts money back in, a reversed credit (RC) takes it out.
                sign = ("RD" if amount > 0 else "RC") if line.reversal else ("C" if amount > 0 else "D")
                ref = f"//{line.bankref}" if line.bankref else ""
                message.append(f":61:{value_on:%y%m%d}{day:%m%d}{sign}R{amount_text(amount)}NTRFNONREF{ref}")
                if account.style == "german":
                    tags = (f"EREF+{e2e}" if e2e != "NOTPROVIDED" else "") + f"SVWZ+{purpose}"
                    gvc, posting = ("166", "GUTSCHRIFT") if amount > 0 else ("105", "LASTSCHRIFT")
                    info = _wrap(_german(gvc, posting, tags, name, line.iban))
                elif account.style == "dutch":
                    info = _wrap(_dutch(name, line.iban, purpose, e2e))
                else:
                    info = _wrap(f"{name} {purpose}")
                message.append(":86:" + info[0])
                message += info[1:]
                balance += amount
                truth.append(
                    {
                        "booked_on": day.isoformat(),
                        "value_on": value_on.isoformat(),
                        "amount": f"{amount:.2f}",
                        "description": purpose if account.style != "plain" else f"{name} {purpose}",
                        "counterparty": name if account.style != "plain" else None,
                        "end_to_end_id": None if e2e == "NOTPROVIDED" or account.style == "plain" else e2e,
                        "reversal": line.reversal,
                        "bankref": line.bankref,
                    }
                )
            mark = "C" if balance >= 0 else "D"
            message.append(f":62F:{mark}{day:%y%m%d}{account.currency}{amount_text(balance)}")
            available = balance - Decimal("150.00")
            mark = "C" if available >= 0 else "D"
            message.append(f":64:{mark}{day:%y%m%d}{account.currency}{amount_text(available)}")
            written.balances[account.account_id] = {"balance": balance, "available": available, "on": day}
            if envelope:
                message = [ENVELOPE, *message, "-}"]
            else:
                message.append("-")
            out += message
    if not terminate and out and out[-1] == "-":
        out.pop()
    newline = "\r\n" if crlf else "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(out) + newline).encode(encoding))
    return written
