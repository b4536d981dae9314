"""A fake Enable Banking API on loopback that answers like https://enablebanking.com/docs/api/reference/.

    server = make_server(seed=1, end=datetime(2026, 6, 1, tzinfo=UTC), days=240)
    await server.start()

Demo credentials: application id `DEMO_APPLICATION_ID`; the application's RSA key is made
per server (`server.private_key_pem`, or pass `private_key_pem=`); the bank is "Demo Bank"
in FI; `server.demo_session_id` is a session authorised for `consent_days` after `end`.
Every call needs `Authorization: Bearer <JWT>` signed RS256 with that key (`kid` = the
application id, `iss` enablebanking.com, `aud` api.enablebanking.com, at most 24 hours).

Endpoints: `GET /application`, `GET /aspsps?country=`, `POST /auth` (answers the URL of a
demo bank page which redirects to `redirect_url?code=...&state=...`, or `error=access_denied`
with `?decision=deny`), `POST /sessions` (a code works once), `GET /sessions/{id}`, `GET
/accounts/{uid}/details|balances|transactions` (`date_from`, `date_to`, `continuation_key`,
pages of `page_size`, newest first). Errors are `{"code", "message", "error"}` bodies: 401
UNAUTHORIZED_ACCESS for a bad JWT, 401 EXPIRED_SESSION or REVOKED_SESSION once the consent
is over (the server's time, `server.bank.clock` or else the real one, past its end, or
`revoke()`), 422 WRONG_CONTINUATION_KEY, WRONG_TRANSACTIONS_PERIOD (before
`history_limit_days`, when set). The data, a current account and a savings account in EUR
with salary, rent, groceries and card payments, is generated from the seed; transactions of
the last two days are pending without an entry reference.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..fakeserver import FakeServer, Handler

DEMO_APPLICATION_ID = "5f0d7a36-9c41-4d8e-b2a7-3e6c1f9d0a42"
AUDIENCE = "api.enablebanking.com"
ISSUER = "enablebanking.com"
ASPSPS: list[dict[str, Any]] = [
    {"name": "Demo Bank", "country": "FI", "bic": "DEMOFIHH", "maximum_consent_validity": 180 * 86400},
    {"name": "Nordea", "country": "FI", "bic": "NDEAFIHH", "maximum_consent_validity": 90 * 86400},
]


def iban(country: str, bank: str, number: str) -> str:
    digits = "".join(str(int(c, 36)) for c in f"{bank}{number}{country}00")
    return f"{country}{98 - int(digits) % 97:02d}{bank}{number}"


@dataclass
class Account:
    key: str  # stable inside the fake; sessions give it a fresh uid
    iban: str
    details: str
    product: str
    cash_account_type: str
    currency: str
    opening: Decimal

    @property
    def identification_hash(self) -> str:
        return base64.b64encode(hashlib.sha256(self.iban.encode()).digest()).decode()


@dataclass
class Transaction:
    account: str
    amount: Decimal  # signed
    day: date
    text: str
    party: str
    status: str | None = "BOOK"  # None: sent without `status`, which the API reference makes required
    ref: str | None = None
    currency: str = "EUR"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "transaction_amount": {"currency": self.currency, "amount": f"{abs(self.amount):.2f}"},
            "credit_debit_indicator": "DBIT" if self.amount < 0 else "CRDT",
            "transaction_date": self.day.isoformat(),
            "remittance_information": [self.text],
        }
        if self.status is not None:
            out["status"] = self.status
        if self.ref:
            out["entry_reference"] = self.ref
        if self.status in ("BOOK", None):
            out["booking_date"] = out["value_date"] = (self.day + timedelta(days=1)).isoformat()
        if self.party:
            out["creditor" if self.amount < 0 else "debtor"] = {"name": self.party}
        return out


@dataclass
class Session:
    id: str
    valid_until: datetime
    uids: dict[str, str]  # uid -> account key
    revoked: bool = False


@dataclass
class Bank:
    end: datetime
    clock: datetime | None  # the server's time; None follows the real clock (the demo)
    accounts: list[Account] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    sessions: dict[str, Session] = field(default_factory=dict)
    authorizations: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # code -> authorization id, removed once used
    page_size: int = 50
    history_limit_days: int | None = None

    def status(self, session: Session) -> str:
        return "REVOKED" if session.revoked else "EXPIRED" if self.now() >= session.valid_until else "AUTHORIZED"

    def now(self) -> datetime:
        return self.clock or datetime.now(UTC)

    def new_session(self, valid_until: datetime) -> Session:
        sid = str(uuid.UUID(bytes=hashlib.sha256(f"session-{len(self.sessions)}-{self.end}".encode()).digest()[:16]))
        uids = {str(uuid.uuid5(uuid.UUID(sid), a.key)): a.key for a in self.accounts}
        self.sessions[sid] = Session(sid, valid_until, uids)
        return self.sessions[sid]

    def book_pending(self) -> list[Transaction]:
        """The bank books every pending transaction, now with an entry reference and its final text."""
        out = []
        for t in self.transactions:
            if t.status == "PDNG":
                t.status = "BOOK"
                t.ref = "EB" + hashlib.sha1(f"{t.account}{t.day}{t.amount}{t.text}".encode()).hexdigest()[:14].upper()
                t.text = t.text.removeprefix("VARAUS ")
                out.append(t)
        return out


def generate(seed: int, end: datetime, days: int, consent_days: int, clock: datetime | None) -> Bank:
    rng = random.Random(seed)
    bank = Bank(end=end, clock=clock)
    current = Account(
        "current",
        iban("FI", "1234", f"{rng.randrange(10**9):09d}0"),
        "Everyday account",
        "Käyttötili",
        "CACC",
        "EUR",
        Decimal("1840.25"),
    )
    savings = Account(
        "savings",
        iban("FI", "1234", f"{rng.randrange(10**9):09d}1"),
        "Savings account",
        "Säästötili",
        "SVGS",
        "EUR",
        Decimal("5000.00"),
    )
    bank.accounts = [current, savings]
    first = end.date() - timedelta(days=days)
    spend = [
        ("K-Market Kamppi", 6, 70, 2.5),
        ("Alepa Kallio", 4, 40, 1.5),
        ("HSL Mobiili", 3, 3, 1.0),
        ("Wolt Oy", 15, 45, 0.7),
        ("Café Regatta", 3, 9, 1.5),
        ("Neste Helsinki", 30, 80, 0.5),
    ]
    counter = 0

    def add(account: Account, day: date, amount: Decimal, text: str, party: str, *, ref: bool = True) -> None:
        nonlocal counter
        counter += 1
        recent = (end.date() - day).days < 2
        bank.transactions.append(
            Transaction(
                account=account.key,
                amount=amount,
                day=day,
                text=("VARAUS " + text) if recent else text,
                party=party,
                status="PDNG" if recent else "BOOK",
                ref=None if recent or not ref else f"{day:%Y%m%d}{seed:03d}{counter:06d}",
            )
        )

    for n in range(days + 1):
        day = first + timedelta(days=n)
        if day.day == 1:
            add(current, day, Decimal("-1150.00"), "Vuokra / rent 06/2026", "Kiinteistö Oy Esimerkki")
            add(current, day, Decimal("-200.00"), "Siirto säästöön", "")
            add(savings, day, Decimal("200.00"), "Siirto säästöön", "")
        if day.day == 15:
            add(current, day, Decimal("2890.40"), "Palkka / salary", "Example Oy")
        if day.day == 28:
            add(savings, day, Decimal(rng.randint(300, 900)) / 100, "Korko / interest", "")
        for text, low, high, per_week in spend:
            if rng.random() < per_week / 7:
                add(
                    current,
                    day,
                    -Decimal(rng.randint(low * 100, high * 100)) / 100,
                    text,
                    text,
                    ref=rng.random() > 0.05,
                )
        if n == days - 10:  # two equal coffees on one day, without references: two records, not one
            for _ in range(2):
                add(current, day, Decimal("-4.20"), "Café Regatta", "Café Regatta", ref=False)
    bank.new_session(end + timedelta(days=consent_days))
    return bank


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": status, "message": message, "error": code}, status=status)


class FakeEnableBanking(FakeServer):
    def __init__(self, bank: Bank, private_key_pem: bytes) -> None:
        self.bank = bank
        self.private_key_pem = private_key_pem
        self.application_id = DEMO_APPLICATION_ID
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._public = key.public_key()
        app = web.Application(middlewares=[self._check_jwt])
        r = app.router
        r.add_get("/application", self._application)
        r.add_get("/aspsps", self._aspsps)
        r.add_post("/auth", self._auth)
        r.add_get("/demo-bank/authorize", self._bank_page)
        r.add_post("/sessions", self._create_session)
        r.add_get("/sessions/{sid}", self._session)
        r.add_get("/accounts/{uid}/details", self._details)
        r.add_get("/accounts/{uid}/balances", self._balances)
        r.add_get("/accounts/{uid}/transactions", self._transactions)
        super().__init__(app)

    async def __aenter__(self) -> FakeEnableBanking:
        await self.start()
        return self

    @property
    def demo_session_id(self) -> str:
        return next(iter(self.bank.sessions))

    def revoke(self, session_id: str | None = None) -> None:
        self.bank.sessions[session_id or self.demo_session_id].revoked = True

    @web.middleware
    async def _check_jwt(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/demo-bank/"):
            return await handler(request)  # the bank's own page, which the user's browser opens
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            if jwt.get_unverified_header(token).get("kid") != self.application_id:
                raise jwt.InvalidTokenError("unknown application")
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False},
            )
            if not claims["iat"] <= claims["exp"] <= claims["iat"] + 86400:
                raise jwt.InvalidTokenError("a JWT may live 24 hours at most")
            if claims["exp"] < self.bank.now().timestamp():
                raise jwt.InvalidTokenError("expired JWT")
        except (jwt.InvalidTokenError, KeyError) as err:
            return _error(401, "UNAUTHORIZED_ACCESS", f"Unauthorized access: {err}")
        return await handler(request)

    async def _application(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": "selfdata demo",
                "kid": self.application_id,
                "environment": "SANDBOX",
                "redirect_urls": ["http://127.0.0.1:7350/oauth/callback"],
                "active": True,
                "countries": ["FI"],
                "services": ["AIS"],
            }
        )

    async def _aspsps(self, request: web.Request) -> web.Response:
        country = request.query.get("country")
        found = [
            {**a, "psu_types": ["personal", "business"], "beta": False}
            for a in ASPSPS
            if country in (None, a["country"])
        ]
        return web.json_response({"aspsps": found})

    async def _auth(self, request: web.Request) -> web.Response:
        body = await request.json()
        aspsp = next((a for a in ASPSPS if a["name"] == body.get("aspsp", {}).get("name")), None)
        if aspsp is None or aspsp["country"] != body.get("aspsp", {}).get("country"):
            return _error(422, "WRONG_ASPSP_PROVIDED", "Wrong ASPSP name provided")
        try:
            valid_until = datetime.fromisoformat(body["access"]["valid_until"])
            redirect_url, state = str(body["redirect_url"]), str(body["state"])
        except (KeyError, TypeError, ValueError):
            return _error(422, "WRONG_REQUEST_PARAMETERS", "Wrong request parameters provided")
        if valid_until > self.bank.now() + timedelta(seconds=aspsp["maximum_consent_validity"] + 60):
            return _error(422, "WRONG_REQUEST_PARAMETERS", "valid_until exceeds the ASPSP's maximum consent validity")
        auth_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"auth-{len(self.bank.authorizations)}-{state}"))
        self.bank.authorizations[auth_id] = {"valid_until": valid_until, "redirect_url": redirect_url, "state": state}
        url = f"{self.url}/demo-bank/authorize?{urlencode({'authorization_id': auth_id})}"
        return web.json_response(
            {"url": url, "authorization_id": auth_id, "psu_id_hash": hashlib.sha256(state.encode()).hexdigest()}
        )

    async def _bank_page(self, request: web.Request) -> web.Response:
        auth_id = request.query.get("authorization_id", "")
        auth = self.bank.authorizations.get(auth_id)
        if auth is None:
            return web.Response(status=404, text="Unknown authorisation")
        if request.query.get("decision") == "deny":
            query = {"error": "access_denied", "error_description": "The user cancelled", "state": auth["state"]}
        else:
            code = str(uuid.uuid5(uuid.NAMESPACE_URL, f"code-{auth_id}"))
            self.bank.codes[code] = auth_id
            query = {"code": code, "state": auth["state"]}
        raise web.HTTPFound(f"{auth['redirect_url']}?{urlencode(query)}")

    async def _create_session(self, request: web.Request) -> web.Response:
        body = await request.json()
        auth_id = self.bank.codes.pop(str(body.get("code")), None)
        if auth_id is None:
            return _error(422, "WRONG_AUTHORIZATION_CODE", "Wrong authorization code provided")
        session = self.bank.new_session(self.bank.authorizations[auth_id]["valid_until"])
        accounts = [self._resource(uid, key) for uid, key in session.uids.items()]
        return web.json_response(
            {
                "session_id": session.id,
                "accounts": accounts,
                "aspsp": {"name": "Demo Bank", "country": "FI"},
                "psu_type": "personal",
                "access": {"valid_until": session.valid_until.isoformat()},
            }
        )

    async def _session(self, request: web.Request) -> web.Response:
        session = self.bank.sessions.get(request.match_info["sid"])
        if session is None:
            return _error(404, "SESSION_DOES_NOT_EXIST", "No session found matching provided id")
        accounts = [
            {"uid": uid, "identification_hash": self._account(key).identification_hash}
            for uid, key in session.uids.items()
        ]
        return web.json_response(
            {
                "status": self.bank.status(session),
                "accounts": list(session.uids),
                "accounts_data": accounts,
                "aspsp": {"name": "Demo Bank", "country": "FI"},
                "psu_type": "personal",
                "access": {"valid_until": session.valid_until.isoformat()},
                "created": self.bank.end.isoformat(),
            }
        )

    def _account(self, key: str) -> Account:
        return next(a for a in self.bank.accounts if a.key == key)

    def _resource(self, uid: str, key: str) -> dict[str, Any]:
        a = self._account(key)
        return {
            "account_id": {"iban": a.iban},
            "account_servicer": {"bic_fi": "DEMOFIHH", "name": "Demo Bank"},
            "name": "Jamie Virtanen",
            "details": a.details,
            "usage": "PRIV",
            "cash_account_type": a.cash_account_type,
            "product": a.product,
            "currency": a.currency,
            "uid": uid,
            "identification_hash": a.identification_hash,
            "identification_hashes": [a.identification_hash],
        }

    def _owner(self, request: web.Request) -> tuple[str, web.Response | None]:
        uid = request.match_info["uid"]
        for session in self.bank.sessions.values():
            if uid in session.uids:
                status = self.bank.status(session)
                if status != "AUTHORIZED":
                    return "", _error(401, f"{status}_SESSION", f"Session is {status.lower()}")
                return session.uids[uid], None
        return "", _error(404, "ACCOUNT_DOES_NOT_EXIST", "No account found matching provided id")

    async def _details(self, request: web.Request) -> web.Response:
        key, refused = self._owner(request)
        return refused or web.json_response(self._resource(request.match_info["uid"], key))

    async def _balances(self, request: web.Request) -> web.Response:
        key, refused = self._owner(request)
        if refused:
            return refused
        a = self._account(key)
        booked = a.opening + sum(
            (t.amount for t in self.bank.transactions if t.account == key and t.status == "BOOK"), Decimal(0)
        )
        pending = sum((t.amount for t in self.bank.transactions if t.account == key and t.status == "PDNG"), Decimal(0))
        day = self.bank.end.date().isoformat()
        return web.json_response(
            {
                "balances": [
                    {
                        "name": "Booked balance",
                        "balance_amount": {"currency": a.currency, "amount": f"{booked:.2f}"},
                        "balance_type": "CLBD",
                        "reference_date": day,
                    },
                    {
                        "name": "Available balance",
                        "balance_amount": {"currency": a.currency, "amount": f"{booked + pending:.2f}"},
                        "balance_type": "ITAV",
                        "last_change_date_time": self.bank.end.isoformat(),
                    },
                ]
            }
        )

    async def _transactions(self, request: web.Request) -> web.Response:
        key, refused = self._owner(request)
        if refused:
            return refused
        q = request.query
        try:
            date_from = date.fromisoformat(q["date_from"]) if "date_from" in q else date.min
            date_to = date.fromisoformat(q["date_to"]) if "date_to" in q else date.max
        except ValueError:
            return _error(422, "WRONG_REQUEST_PARAMETERS", "Wrong request parameters provided")
        limit = self.bank.history_limit_days
        if limit is not None and date_from < self.bank.now().date() - timedelta(days=limit):
            return _error(422, "WRONG_TRANSACTIONS_PERIOD", f"The ASPSP gives {limit} days of transactions")
        query = hashlib.sha256(f"{request.match_info['uid']}|{date_from}|{date_to}".encode()).hexdigest()[:12]
        offset = 0
        if "continuation_key" in q:
            try:
                cursor = json.loads(base64.urlsafe_b64decode(q["continuation_key"]))
                assert cursor["q"] == query
                offset = int(cursor["o"])
            except (ValueError, KeyError, TypeError, AssertionError):
                return _error(422, "WRONG_CONTINUATION_KEY", "Wrong continuation key provided")
        txns = [t for t in self.bank.transactions if t.account == key and date_from <= t.day <= date_to]
        txns.sort(key=lambda t: t.day, reverse=True)
        page = txns[offset : offset + self.bank.page_size]
        out: dict[str, Any] = {"transactions": [t.to_json() for t in page]}
        if offset + self.bank.page_size < len(txns):
            out["continuation_key"] = base64.urlsafe_b64encode(
                json.dumps({"o": offset + self.bank.page_size, "q": query}).encode()
            ).decode()
        return web.json_response(out)


def make_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_server(
    *,
    seed: int = 1,
    end: datetime | None = None,
    days: int = 240,
    consent_days: int = 90,
    private_key_pem: bytes | None = None,
) -> FakeEnableBanking:
    """A fake API whose data covers `days` days up to `end`; without `end`, up to now and on the real clock."""
    clock = end
    end = end or datetime.now(UTC).replace(microsecond=0)
    return FakeEnableBanking(generate(seed, end, days, consent_days, clock), private_key_pem or make_key())
