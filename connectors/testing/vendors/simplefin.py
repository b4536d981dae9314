"""A fake SimpleFIN Bridge on loopback that answers like https://www.simplefin.org/protocol.html.

    server = make_server(seed=1, end=datetime(2026, 6, 1, tzinfo=UTC), days=240)
    await server.start()
    server.access_url()   # http://demo:demo@127.0.0.1:PORT/simplefin
    server.setup_token()  # base64 of .../simplefin/claim/demo: claimable any number of times

Demo credentials: user `demo`, password `demo` (like the real bridge's demo). Endpoints:
`POST /simplefin/claim/{token}` (403 for a used or unknown token), `GET /simplefin/accounts`
(Basic auth; `start-date` inclusive, `end-date` exclusive; `pending=1`; `account`;
`balances-only=1`; `version=2` gives `errlist` and `connections` beside the deprecated
`errors` strings, as the live Bridge does during the protocol's migration, otherwise only
`errors` and `org`), `GET /simplefin/info`. More than `block_after` requests in 24 hours
answer 429.

Date ranges as the live Bridge answers them (HTTP 200, the data, and a `gen.api` notice):
45 days or more draw "Requested date range exceeds recommended range of 45 days. In the
future, this may be capped."; more than 90 days are capped to 90 with "Requested date range
exceeds limit of 90 days and was capped.". `bank.measure` says what is measured: "span"
(`end-date` - `start-date`, the end being now when absent; the default) or "reach" (now -
`start-date`: what is older than 90 days is then out of reach). Which one the live Bridge
uses could not be told from public answers; the connector must cope with both.

The data, three accounts over two connections with pay, rent, groceries and card
purchases, is generated from the seed; transactions made within the last two days are
still pending, under other ids: about half say `pending: true`, the others only
`posted: 0` (the protocol allows it; Actual Budget reads it as pending).
"""

from __future__ import annotations

import base64
import hashlib
import random
import time as clock
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import BasicAuth, web

from ..fakeserver import FakeServer

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
DEMO_CLAIM = "demo"
ROOT = "/simplefin"
MAX_RANGE_S = 90 * 86400
RECOMMENDED_S = 45 * 86400
RECOMMENDED = "Requested date range exceeds recommended range of 45 days. In the future, this may be capped."
CAPPED = "Requested date range exceeds limit of 90 days and was capped."


@dataclass
class Connection:
    conn_id: str
    name: str
    org_id: str
    org_name: str
    org_url: str


@dataclass
class Account:
    id: str
    name: str
    conn_id: str
    currency: str
    opening: Decimal


@dataclass
class Transaction:
    id: str
    account: str
    amount: Decimal
    transacted: int
    posted: int  # 0 while pending
    description: str
    payee: str
    pending: bool = False
    flagged: bool = True  # a pending one says `pending: true`; otherwise only `posted: 0`

    def when(self) -> int:
        return self.posted or self.transacted

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "posted": self.posted,
            "amount": f"{self.amount:.2f}",
            "description": self.description,
            "payee": self.payee,
            "transacted_at": self.transacted,
        }
        if self.pending and self.flagged:
            out["pending"] = True
        return out


# (description, payee, low, high, times per week) for spending; amounts in dollars.
CHECKING_SPEND = [
    ("SAFEWAY #1234", "Safeway", 18, 140, 2.0),
    ("STARBUCKS STORE 05521", "Starbucks", 3, 9, 3.0),
    ("SHELL OIL 57442", "Shell", 28, 65, 1.0),
    ("TRADER JOE S #552", "Trader Joe's", 15, 90, 1.0),
    ("ATM WITHDRAWAL 0042 MAIN ST", "", 40, 100, 0.3),
]
CARD_SPEND = [
    ("AMAZON MKTP US*2K3LM8", "Amazon", 9, 120, 1.5),
    ("UBER *TRIP HELP.UBER.COM", "Uber", 8, 35, 0.8),
    ("CHIPOTLE 1287", "Chipotle", 10, 28, 1.0),
    ("TARGET T-0331", "Target", 12, 110, 0.7),
]


@dataclass
class Bank:
    end: datetime
    connections: list[Connection] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    errlist: list[dict[str, Any]] = field(default_factory=list)
    claims: dict[str, bool] = field(default_factory=dict)  # token -> still claimable
    revoked: bool = False
    credentials: dict[str, str] = field(default_factory=lambda: {DEMO_USER: DEMO_PASSWORD})
    block_after: int = 96
    request_times: list[float] = field(default_factory=list)
    measure: str = "span"  # or "reach": see the module's docstring
    notices: list[str] = field(default_factory=list)  # every range notice answered

    @property
    def balance_date(self) -> int:
        return int(self.end.timestamp())

    def balance(self, account: Account, *, available: bool = False) -> Decimal:
        txns = [t for t in self.transactions if t.account == account.id and (available or not t.pending)]
        return account.opening + sum((t.amount for t in txns), Decimal(0))

    def book_pending(self, *, lag_days: int = 1) -> list[Transaction]:
        """The bank books every pending transaction under a new id and its final wording."""
        booked = []
        for t in [t for t in self.transactions if t.pending]:
            self.transactions.remove(t)
            new = Transaction(
                id="TRN-" + hashlib.sha1(t.id.encode()).hexdigest()[:16].upper(),
                account=t.account,
                amount=t.amount,
                transacted=t.transacted,
                posted=min(t.transacted + lag_days * 86400, self.balance_date),
                description=t.description.removeprefix("POS DEBIT ").removeprefix("PENDING "),
                payee=t.payee,
            )
            self.transactions.append(new)
            booked.append(new)
        return booked


# (description, payee, amount, day of the month or None for yearly): for the demo's money view
SUBSCRIPTIONS = [
    ("NETFLIX.COM", "Netflix", Decimal("15.49"), 12),
    ("SPOTIFY USA", "Spotify", Decimal("10.99"), 3),
    ("PLANET FITNESS CLUB FEES", "Planet Fitness", Decimal("24.99"), 7),
    ("AMAZON PRIME*ANNUAL MEMBERSHIP", "Amazon Prime", Decimal("139.00"), None),
]


def _subscriptions(bank: Bank, seed: int, account: Account, first: datetime, end: datetime) -> None:
    """Netflix monthly with a price rise four months ago, Spotify monthly, a gym that stopped
    three months ago, Amazon Prime yearly; posted the day after, at 10:00."""
    day = first
    while day < end:
        for description, payee, amount, dom in SUBSCRIPTIONS:
            months_left = (end.year - day.year) * 12 + end.month - day.month
            if dom is None:
                due = (end - day).days in (35, 400)
            else:
                due = day.day == dom and not (payee == "Planet Fitness" and months_left < 3)
            if not due:
                continue
            if payee == "Netflix" and months_left < 4:
                amount = Decimal("17.99")
            transacted = day + timedelta(hours=6)
            posted = (transacted + timedelta(days=1)).replace(hour=10, minute=0)
            if posted > end:
                continue
            ref = hashlib.sha1(f"{seed}-sub-{payee}-{day.date()}".encode()).hexdigest()[:16].upper()
            bank.transactions.append(
                Transaction(
                    f"TRN-{ref}",
                    account.id,
                    -amount,
                    int(transacted.timestamp()),
                    int(posted.timestamp()),
                    description,
                    payee,
                )
            )
        day += timedelta(days=1)


def generate(seed: int, end: datetime, days: int, subscriptions: bool = False) -> Bank:
    rng = random.Random(seed)
    bank = Bank(end=end)
    tag = hashlib.sha1(f"simplefin-{seed}".encode()).hexdigest().upper()
    bank.connections = [
        Connection(
            f"CON-{tag[:12]}",
            "First Community Bank - Jamie",
            f"ORG-{tag[12:20]}",
            "First Community Bank",
            "https://firstcommunity.example",
        ),
        Connection(
            f"CON-{tag[20:32]}",
            "Summit Card Services - Jamie",
            f"ORG-{tag[32:40]}",
            "Summit Card Services",
            "https://summitcard.example",
        ),
    ]
    checking = Account(
        f"ACT-{tag[:8]}-CHK", "Everyday Checking", bank.connections[0].conn_id, "USD", Decimal("2150.00")
    )
    savings = Account(f"ACT-{tag[8:16]}-SAV", "High Yield Savings", bank.connections[0].conn_id, "USD", Decimal("8000"))
    card = Account(f"ACT-{tag[16:24]}-CRD", "Rewards Visa", bank.connections[1].conn_id, "USD", Decimal("-312.40"))
    bank.accounts = [checking, savings, card]
    first = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    counter = 0

    def add(account: Account, day: datetime, amount: Decimal, description: str, payee: str) -> None:
        nonlocal counter
        counter += 1
        transacted = day + timedelta(hours=rng.randint(7, 22), minutes=rng.randint(0, 59))
        posted = (transacted + timedelta(days=rng.choice([1, 2, 2, 3]))).replace(hour=10, minute=0)
        if transacted >= end:
            return
        txn_id = hashlib.sha1(f"{seed}-{account.id}-{counter}".encode()).hexdigest()[:16].upper()
        pending = posted > end
        bank.transactions.append(
            Transaction(
                id=("PND-" if pending else "TRN-") + txn_id,
                account=account.id,
                amount=amount,
                transacted=int(transacted.timestamp()),
                posted=0 if pending else int(posted.timestamp()),
                description=("POS DEBIT " + description) if pending else description,
                payee=payee,
                pending=pending,
                flagged=counter % 2 == 0,
            )
        )

    for n in range(days + 1):
        day = first + timedelta(days=n)
        if day.day == 1:
            add(checking, day, Decimal("-1650.00"), "ONLINE TRANSFER RENT 1142 OAK AVE", "Oak Avenue Rentals")
            add(checking, day, Decimal("-300.00"), "TRANSFER TO SAVINGS", "")
            add(savings, day, Decimal("300.00"), "TRANSFER FROM CHECKING", "")
            add(savings, day, Decimal(rng.randint(1800, 2600)) / 100, "INTEREST PAYMENT", "")
        if day.day == 18:
            add(checking, day, -Decimal(rng.randint(8000, 16000)) / 100, "PG&E WEB ONLINE", "PG&E")
        if day.day == 22:
            bill = Decimal(rng.randint(30000, 90000)) / 100
            add(checking, day, -bill, "SUMMIT CARD AUTOPAY", "Summit Card Services")
            add(card, day, bill, "AUTOPAY PAYMENT - THANK YOU", "")
        if (day - first).days % 14 == 4:
            add(checking, day, Decimal("2450.00"), "ACME CORP PAYROLL", "ACME Corp")
        for spend, account in ((CHECKING_SPEND, checking), (CARD_SPEND, card)):
            for description, payee, low, high, per_week in spend:
                if rng.random() < per_week / 7:
                    add(account, day, -Decimal(rng.randint(low * 100, high * 100)) / 100, description, payee)
    if subscriptions:
        _subscriptions(bank, seed, card, first, end)
    return bank


class FakeSimpleFIN(FakeServer):
    def __init__(self, bank: Bank) -> None:
        self.bank = bank
        app = web.Application()
        app.router.add_post(ROOT + "/claim/{token}", self._claim)
        app.router.add_get(ROOT + "/accounts", self._accounts)
        app.router.add_get(ROOT + "/info", self._info)
        super().__init__(app)

    async def __aenter__(self) -> FakeSimpleFIN:
        await self.start()
        return self

    def access_url(self, user: str = DEMO_USER, password: str = DEMO_PASSWORD) -> str:
        host = self.url.removeprefix("http://")
        return f"http://{user}:{password}@{host}{ROOT}"

    def setup_token(self, token: str = DEMO_CLAIM) -> str:
        return base64.b64encode(f"{self.url}{ROOT}/claim/{token}".encode()).decode()

    def issue_setup_token(self) -> str:
        """A setup token that can be claimed once."""
        token = hashlib.sha1(f"{len(self.bank.claims)}-{clock.time()}".encode()).hexdigest()
        self.bank.claims[token] = True
        return self.setup_token(token)

    async def _claim(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token != DEMO_CLAIM:
            if not self.bank.claims.get(token):
                return web.Response(status=403, text="Forbidden: token already claimed or unknown")
            self.bank.claims[token] = False
        return web.Response(text=self.access_url())

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response({"versions": ["1.0", "2.0"]})

    async def _accounts(self, request: web.Request) -> web.Response:
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            auth = None
        if self.bank.revoked or auth is None or self.bank.credentials.get(auth.login) != auth.password:
            return web.Response(status=403, text="Forbidden")
        now = clock.monotonic()
        self.bank.request_times = [t for t in self.bank.request_times if now - t < 86400] + [now]
        if len(self.bank.request_times) > self.bank.block_after:
            text = "Too many requests. Expected usage of this API is 24 requests per day."
            return web.json_response({"errors": [text]}, status=429, headers={"Retry-After": "3600"})
        q = request.query
        errlist = list(self.bank.errlist)
        try:
            start = int(q.get("start-date", 0))
            stop = int(q.get("end-date", 2**40))
        except ValueError:
            return web.json_response({"errlist": [{"code": "gen.api", "msg": "Invalid date"}], "accounts": []})
        if "start-date" in q:
            start, stop, notice = self._range(start, stop, "end-date" in q)
            if notice:
                self.bank.notices.append(notice)
                errlist.append({"code": "gen.api", "msg": notice})
        wanted = set(q.getall("account", [])) or {a.id for a in self.bank.accounts}
        with_pending = q.get("pending") == "1"
        accounts = []
        for account in self.bank.accounts:
            if account.id not in wanted:
                continue
            out = self._account_json(account, q.get("version") == "2")
            if q.get("balances-only") != "1":
                txns = [
                    t
                    for t in self.bank.transactions
                    if t.account == account.id and start <= t.when() < stop and (with_pending or not t.pending)
                ]
                out["transactions"] = [t.to_json() for t in sorted(txns, key=lambda t: (t.when(), t.id))]
            accounts.append(out)
        if q.get("version") == "2":
            conns = [
                {
                    "conn_id": c.conn_id,
                    "name": c.name,
                    "org_id": c.org_id,
                    "org_name": c.org_name,
                    "org_url": c.org_url,
                    "sfin_url": f"{self.url}{ROOT}",
                }
                for c in self.bank.connections
            ]
            legacy = [e.get("msg", "") for e in errlist]
            return web.json_response({"errlist": errlist, "errors": legacy, "connections": conns, "accounts": accounts})
        return web.json_response({"errors": [e.get("msg", "") for e in errlist], "accounts": accounts})

    def _range(self, start: int, stop: int, has_end: bool) -> tuple[int, int, str | None]:
        """The range the Bridge serves for a request, and the notice it answers with."""
        now = int(self.bank.end.timestamp())
        if self.bank.measure == "reach":
            reach = now - start
            if reach > MAX_RANGE_S:
                return now - MAX_RANGE_S, stop, CAPPED
            return start, stop, RECOMMENDED if reach >= RECOMMENDED_S else None
        span = (stop if has_end else now) - start
        if span > MAX_RANGE_S:
            return start, start + MAX_RANGE_S, CAPPED
        return start, stop, RECOMMENDED if span >= RECOMMENDED_S else None

    def _account_json(self, account: Account, v2: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": account.id,
            "name": account.name,
            "currency": account.currency,
            "balance": f"{self.bank.balance(account):.2f}",
            "available-balance": f"{self.bank.balance(account, available=True):.2f}",
            "balance-date": self.bank.balance_date,
        }
        conn = next(c for c in self.bank.connections if c.conn_id == account.conn_id)
        if v2:
            out["conn_id"], out["conn_name"] = conn.conn_id, conn.name
        else:
            out["org"] = {
                "domain": conn.org_url.removeprefix("https://"),
                "sfin-url": f"{self.url}{ROOT}",
                "name": conn.org_name,
            }
        return out


def make_server(
    *, seed: int = 1, end: datetime | None = None, days: int = 240, subscriptions: bool = False
) -> FakeSimpleFIN:
    """A fake bridge whose data covers `days` days up to `end` (default: now); `subscriptions`
    adds four on the card (see `SUBSCRIPTIONS`)."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    return FakeSimpleFIN(generate(seed, end, days, subscriptions))
