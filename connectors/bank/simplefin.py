"""SimpleFIN Bridge: accounts, balances and transactions of US (and other) banks.

The user makes a setup token at SimpleFIN Bridge; selfdata claims it once for an access
URL (a URL with Basic credentials), keeps that URL as a secret and never logs it or puts
it in an error message. `GET {access}/accounts` is asked with `start-date`/`end-date` in
windows of 44 days, under the 45 the live Bridge recommends, with `pending=1` and
`version=2` (structured `errlist`). `gen.api` entries are notes for the developer (range
notices): the data is kept and each note logged once. The bridge
expects about 24 requests a day: the requests of the last 24 hours are kept in the
checkpoint state and a sync stops (to resume at the next one) when `daily_requests` is
reached. Pending transactions replaced by booked ones are deleted (see reconcile.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from yarl import URL

from connectors.sdk import (
    AuthFailed,
    Checkpoint,
    Connector,
    ConnectorError,
    Context,
    Delete,
    Fatal,
    Field,
    Fragment,
    Item,
    Record,
    Retryable,
    Secret,
    UserActionNeeded,
    datasets,
)

from .amounts import api_amount
from .reconcile import Entry, Policy, Tracker

WINDOW = timedelta(days=44)  # the live Bridge notes ranges of 45 days or more
MAX_NOTICES = 20
DAY_S = 86400
CREATE_URL = "https://bridge.simplefin.org/simplefin/create"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _positive(value: Any) -> str | None:
    return None if int(value) > 0 else "must be more than 0"


@dataclass(frozen=True)
class Access:
    """The access URL split into a credential-free base and its Basic credentials."""

    base: str
    authorization: str = field(repr=False)  # the Authorization header's value
    origin: str = ""


def parse_access_url(text: str) -> Access:
    """Check an access URL; the error never repeats it, since it holds credentials."""
    try:
        url = URL(text.strip())
    except (ValueError, TypeError):
        raise Fatal("the SimpleFIN access URL is not a URL") from None
    if url.scheme not in ("https", "http") or not url.host or not url.user or url.password is None:
        raise Fatal("the SimpleFIN access URL must look like https://USER:PASSWORD@HOST/PATH")
    if url.scheme == "http" and url.host not in _LOOPBACK:
        raise Fatal("the SimpleFIN access URL must use https")
    base = url.with_user(None).with_query(None).with_fragment(None)
    origin = f"{url.scheme}://{url.host}" + ("" if url.is_default_port() else f":{url.port}")
    credentials = base64.b64encode(f"{url.user}:{url.password}".encode()).decode("ascii")
    return Access(str(base).rstrip("/"), f"Basic {credentials}", origin)


def claim_url(setup_token: str) -> str:
    """The claim URL a setup token encodes (base64, standard or URL-safe, padding optional)."""
    raw = re.sub(r"\s+", "", setup_token)
    raw += "=" * (-len(raw) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            text = decode(raw).decode("ascii")
            url = URL(text)
        except (binascii.Error, ValueError, TypeError):
            continue
        if url.scheme == "https" or (url.scheme == "http" and url.host in _LOOPBACK):
            return text
    raise Fatal(f"setup_token is not a SimpleFIN setup token (base64 text from {CREATE_URL})")


def _day(epoch: int) -> date:
    return datetime.fromtimestamp(epoch, UTC).date()


def _epoch(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp())


def _int(value: Any, what: str) -> int:
    """A Unix time from 1970 to 9999 (later ones cannot be dates)."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError
        seconds = int(value)
        if not 0 <= seconds <= 253402300799:
            raise ValueError
    except (ValueError, OverflowError):
        raise Fatal(f"SimpleFIN Bridge answered {what} that is not a Unix time: {value!r}"[:200]) from None
    return seconds


def _amount(value: Any, what: str) -> Decimal:
    return api_amount(value, what, "SimpleFIN Bridge")


def sanitize(text: Any) -> str:
    """A vendor message made safe to show: printable, one line, bounded."""
    clean = "".join(c if c.isprintable() else " " for c in str(text))
    return re.sub(r"\s+", " ", clean).strip()[:200]


@dataclass
class Page:
    """One /accounts answer, fully parsed before anything of it is yielded."""

    records: list[Record]
    entries: list[tuple[Entry, bool]]  # for reconciliation: (entry, pending)
    currencies: dict[str, str]
    problems: list[dict[str, Any]]
    notices: list[str] = field(default_factory=list)  # notes for the developer, not failures


class SimpleFIN(Connector):
    name = "simplefin"
    title = "SimpleFIN Bridge"
    category = "bank"
    datasets = ("bank.account", "bank.transaction")
    schedule = "every 6h"
    description = "Balances and transactions (pending included) of the banks connected to SimpleFIN Bridge."
    fields = (
        Secret("setup_token", f"A setup token from {CREATE_URL}; claimed once for an access URL", required=False),
        Secret(
            "access_url", "The access URL, if you claimed the token elsewhere (it holds credentials)", required=False
        ),
        Field("history_days", "How many days back the first sync reaches", type="int", default=180, check=_positive),
        Field(
            "daily_requests",
            "At most this many requests per 24 hours (the bridge expects 24 or fewer)",
            type="int",
            default=20,
            check=_positive,
        ),
        Field("overlap_days", "Each sync re-reads this many days, for late bookings", type="int", default=14),
        Field(
            "pending_max_age_days",
            "Drop a pending transaction the bank no longer lists after this many days",
            type="int",
            default=10,
            check=_positive,
        ),
    )

    def _setting(self, ctx: Context, name: str) -> int:
        default = next(f.default for f in self.fields if f.name == name)
        return int(ctx.settings.get(name) or default)

    async def access(self, ctx: Context) -> Access:
        """The access URL. A setup token not claimed yet is claimed first, even when an access URL
        exists: giving a new token replaces the access. `claimed_token` (a hash) marks the token
        used, so a token written back by mistake is never claimed twice."""
        token = re.sub(r"\s+", "", ctx.secrets.get("setup_token") or "")
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        if token and digest != ctx.secrets.get("claimed_token"):
            return await self._claim(ctx, token, digest)
        if ctx.secrets.get("access_url"):
            return parse_access_url(ctx.secrets["access_url"])
        raise AuthFailed(
            f"the source {ctx.source!r} has no SimpleFIN access; make a setup token at {CREATE_URL} "
            f"and set it with: selfdata source edit {ctx.source}"
        )

    async def _claim(self, ctx: Context, token: str, digest: str) -> Access:
        resp = await ctx.http.request("POST", claim_url(token), ok=(403, 404))
        if resp.status != 200:
            raise AuthFailed(
                "SimpleFIN Bridge refused the setup token: it was already claimed or is wrong. If you did not "
                f"claim it yourself, someone else may have: disable it at SimpleFIN Bridge, make a new one at "
                f"{CREATE_URL} and set it with: selfdata source edit {ctx.source}"
            )
        try:
            access = parse_access_url(resp.text)
        except Fatal:
            raise Fatal("SimpleFIN Bridge answered the claim with something that is not an access URL") from None
        await ctx.update_secret("access_url", resp.text.strip())
        await ctx.update_secret("claimed_token", digest)
        await ctx.update_secret("setup_token", "")  # used up: a setup token works once
        ctx.log.info("claimed the SimpleFIN setup token; the access URL is kept as a secret")
        return access

    async def check(self, ctx: Context) -> None:
        access = await self.access(ctx)
        body = await self._get(ctx, access, {"balances-only": "1", "version": "2"})
        problems, notices = _split(_problems(body))
        for notice in notices:
            ctx.log.info("SimpleFIN Bridge notes: %s", notice)
        _raise_fatal(problems)
        if problems:
            raise _partial_error(problems, access, ctx.source)

    async def _get(self, ctx: Context, access: Access, params: dict[str, str]) -> Any:
        resp = await ctx.http.request(
            "GET",
            f"{access.base}/accounts",
            params=params,
            headers={"Authorization": access.authorization},
            ok=(402, 403),
        )
        if resp.status == 403:
            raise AuthFailed(
                "SimpleFIN Bridge refused the access URL (HTTP 403): access was revoked or the credentials are "
                f"wrong. Make a new setup token at {CREATE_URL} and set it with: selfdata source edit {ctx.source}"
            )
        if resp.status == 402:
            raise UserActionNeeded("SimpleFIN Bridge asks for payment: renew the subscription", url=access.origin)
        body = resp.json()
        if not isinstance(body, dict) or not isinstance(body.get("accounts"), list):
            raise Fatal("SimpleFIN Bridge answered an account set without its list of accounts")
        return body

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        access = await self.access(ctx)
        st = dict(state)
        tracker = Tracker.load(st)
        now = ctx.now()
        today = now.date()
        end = _epoch(today + timedelta(days=1))
        if "next" not in st:
            st["next"] = self._first_day(ctx, st, tracker, today)
        currencies: dict[str, str] = dict(st.get("currencies") or {})
        logged = set(st.pop("notices", None) or [])  # logged by an earlier sync: not again
        noticed: set[str] = set()

        def checkpoint(*, done: bool = False) -> Checkpoint:
            # A complete sync forgets the notices it no longer saw, so one that comes back is logged again.
            notices = sorted(noticed if done else noticed | logged)[:MAX_NOTICES]
            extra = {"notices": notices} if notices else {}
            return Checkpoint({**st, **tracker.dump(), "currencies": dict(sorted(currencies.items())), **extra})

        while st["next"] < end:
            start, stop = st["next"], min(st["next"] + int(WINDOW.total_seconds()), end)
            if not self._spend(ctx, st, now):
                ctx.log.info("SimpleFIN request budget for 24 hours used up; the next sync continues")
                yield checkpoint()
                return
            params = {"start-date": str(start), "end-date": str(stop), "pending": "1", "version": "2"}
            try:
                body = await self._get(ctx, access, params)
                page = self.parse(body, currencies)
                _raise_fatal(page.problems)
            except ConnectorError:
                yield checkpoint()  # nothing of this answer is kept; the request is counted
                raise
            for notice in page.notices:
                if notice not in logged and notice not in noticed:
                    ctx.log.info("SimpleFIN Bridge notes: %s (the data of its answer is kept)", notice)
                noticed.add(notice)
            for record in page.records:
                yield record
            for entry, pending in page.entries:
                tracker.observe(entry, pending=pending)
            currencies.update(page.currencies)
            if page.problems:  # a connection or account failed: keep its window for the next sync
                yield checkpoint()
                raise _partial_error(page.problems, access, ctx.source)
            st["next"] = stop
            ctx.progress((stop - start) // DAY_S, None, f"read up to {_day(stop - 1)}")
            yield checkpoint()
        policy = Policy(max_age_days=self._setting(ctx, "pending_max_age_days"))
        deleted = tracker.settle(today, policy)
        if deleted:
            yield Delete("bank.transaction", tuple(deleted))
        st.pop("next")
        st["synced_to"] = today.isoformat()
        yield checkpoint(done=True)

    def _first_day(self, ctx: Context, st: dict[str, Any], tracker: Tracker, today: date) -> int:
        if "synced_to" in st:
            first = date.fromisoformat(st["synced_to"]) - timedelta(days=self._setting(ctx, "overlap_days"))
        else:
            first = today + timedelta(days=1 - self._setting(ctx, "history_days"))  # today and the days before
        # Re-read every tracked pending transaction's days, so "no longer listed" means gone.
        oldest = min((e.on - timedelta(days=1) for e in tracker.pending.values()), default=first)
        return _epoch(min(first, oldest))

    def _spend(self, ctx: Context, st: dict[str, Any], now: datetime) -> bool:
        t = int(now.timestamp())
        recent = [r for r in st.get("requests", []) if t - r < DAY_S]
        if len(recent) >= self._setting(ctx, "daily_requests"):
            st["requests"] = recent
            return False
        st["requests"] = recent + [t]
        return True

    def parse(self, body: dict[str, Any], currencies: dict[str, str]) -> Page:
        """Every record of an answer, or Fatal naming the account and transaction at fault."""
        connections = {c.get("conn_id"): c for c in body.get("connections") or [] if isinstance(c, dict)}
        problems, notices = _split(_problems(body))
        page = Page([], [], {}, problems, notices)
        for i, account in enumerate(body["accounts"]):
            if not isinstance(account, dict) or not isinstance(account.get("id"), str) or not account["id"]:
                raise Fatal(f"SimpleFIN Bridge answered account #{i + 1} without an id")
            acct, currency = account["id"], account.get("currency")
            if not isinstance(currency, str) or not _CURRENCY.match(currency):
                continue  # custom currencies (miles, points) are not money: documented
            if currencies.get(acct, currency) != currency:
                raise Fatal(
                    f"SimpleFIN Bridge now reports account {sanitize(account.get('name') or acct)!r} in {currency}, "
                    f"earlier in {currencies[acct]}; nothing of this answer was stored"
                )
            page.currencies[acct] = currency
            summary = {k: v for k, v in account.items() if k != "transactions"}
            conn = connections.get(account.get("conn_id")) or account.get("org") or {}
            page.records.extend(self._map(Fragment("bank.account", {"account": summary, "connection": conn})))
            txns = account.get("transactions") or []
            for j, txn in enumerate(txns):
                where = f"account {sanitize(account.get('name') or acct)!r}, transaction {j + 1} of {len(txns)}"
                if not isinstance(txn, dict) or not isinstance(txn.get("id"), str) or not txn["id"]:
                    raise Fatal(
                        f"SimpleFIN Bridge answered a transaction without an id ({where}); nothing of this "
                        "answer was stored"
                    )
                fragment = Fragment(
                    "bank.transaction", {"account": {"id": acct, "currency": currency}, "transaction": txn}
                )
                (record,) = self._map(fragment, where)
                page.records.append(record)
                amount, description = Decimal(record.data["amount"]), record.data.get("description") or ""
                entry = Entry(record.key, acct, amount, record.ts.date(), description)
                page.entries.append((entry, record.data["status"] == "pending"))
        return page

    def _map(self, fragment: Fragment, where: str = "") -> list[Record]:
        try:
            r = self.normalize(fragment)
        except ConnectorError as err:
            raise Fatal(f"{err} ({where})" if where else str(err)) from err
        return [Record(r.dataset, r.key, r.ts, r.data, fragment.raw)]  # raw kept for `selfdata renormalize`

    def normalize(self, fragment: Fragment) -> Record:
        raw = fragment.raw
        if fragment.dataset == "bank.account":
            return _account(raw["account"], raw.get("connection") or {})
        return _transaction(raw["account"], raw["transaction"])


def _account(account: dict[str, Any], conn: dict[str, Any]) -> Record:
    balance_at = datetime.fromtimestamp(_int(account.get("balance-date"), "a balance date"), UTC)
    available = account.get("available-balance")
    institution = conn.get("org_name") or conn.get("name") or conn.get("domain")
    data = datasets.BankAccount.make(
        account_id=account["id"],
        institution=sanitize(institution) if institution else None,
        name=sanitize(account.get("name") or account["id"]),
        currency=account["currency"],
        balance=_amount(account.get("balance"), "a balance"),
        available_balance=None if available in (None, "") else _amount(available, "an available balance"),
        balance_at=balance_at,
    )
    return Record("bank.account", account["id"], balance_at, data)


def _transaction(account: dict[str, Any], txn: dict[str, Any]) -> Record:
    posted = _int(txn.get("posted") or 0, "a posted date")
    # `posted` 0 means not posted yet, whatever `pending` says or leaves out (Actual Budget reads it so too).
    pending = txn.get("pending") is True or not posted
    transacted = _int(txn.get("transacted_at") or 0, "a transaction date")
    when = posted or transacted
    if not when or (not pending and not posted):
        raise Fatal("SimpleFIN Bridge answered a transaction without a posted date")
    extra: dict[str, Any] = txn["extra"] if isinstance(txn.get("extra"), dict) else {}
    category = extra.get("category") if isinstance(extra.get("category"), str) else None
    payee = txn.get("payee")
    data = datasets.BankTransaction.make(
        account_id=account["id"],
        booked_on=None if pending else _day(posted),
        amount=_amount(txn.get("amount"), "an amount"),
        currency=account["currency"],
        description=sanitize(txn.get("description") or "") or None,
        counterparty=sanitize(payee) if isinstance(payee, str) and payee.strip() else None,
        status="pending" if pending else "booked",
        category=category,
    )
    return Record(
        "bank.transaction", transaction_key(account["id"], txn["id"]), datetime.fromtimestamp(when, UTC), data
    )


def transaction_key(account_id: str, transaction_id: str) -> str:
    """Transaction ids are unique within an account only (protocol), so the key names both."""
    key = f"{account_id}/{transaction_id}"
    return key if len(key) <= 200 else f"{account_id}/h-{hashlib.sha256(transaction_id.encode()).hexdigest()[:32]}"


def _problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The errors an answer reports: `errlist` (version 2), or the older `errors` strings."""
    errlist = body.get("errlist")
    if isinstance(errlist, list):
        return [e for e in errlist if isinstance(e, dict)]
    return [{"code": "legacy", "msg": m} for m in body.get("errors") or [] if isinstance(m, str)]


# Older answers' `errors` strings that are range notices, not connection trouble.
_LEGACY_NOTICE = re.compile(r"^\s*gen\.api\b|date range exceeds", re.IGNORECASE)


def _split(problems: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(problems, notices): `gen.api` is "meant for the developer and not the user" (the protocol),
    such as the range notices the live Bridge adds to a full answer; it spoils nothing."""
    kept, notices = [], []
    for p in problems:
        code = str(p.get("code", ""))
        if code == "gen.api" or (code == "legacy" and _LEGACY_NOTICE.search(_message(p))):
            notices.append(_message(p))
        else:
            kept.append(p)
    return kept, notices


def _message(problem: dict[str, Any]) -> str:
    return sanitize(problem.get("msg") or problem.get("message") or problem.get("code") or "unknown error")


def _raise_fatal(problems: list[dict[str, Any]]) -> None:
    """General errors (`gen.` but `gen.api`) spoil the whole answer: raise before anything is stored."""
    for p in problems:
        code = str(p.get("code", ""))
        if code == "gen.auth":
            raise AuthFailed(f"SimpleFIN Bridge refused the access URL: {_message(p)}")
        if code.startswith("gen."):
            raise Fatal(f"SimpleFIN Bridge reports: {_message(p)}")


def _partial_error(problems: list[dict[str, Any]], access: Access, source: str) -> ConnectorError:
    """Connection and account errors: the rest of the answer is kept, the window re-read later."""
    messages = "; ".join(_message(p) for p in problems)
    codes = {str(p.get("code", "")) for p in problems}
    if any(c == "con.auth" or c == "legacy" for c in codes):
        return UserActionNeeded(
            f"SimpleFIN Bridge needs you to reconnect a bank: {messages}. Fix it at {access.origin}, then run: "
            f"selfdata sync {source}",
            url=access.origin,
        )
    if all(c.startswith("act.") for c in codes):
        return Retryable(f"SimpleFIN Bridge could not read every account: {messages}", retry_after=3600)
    return Retryable(f"SimpleFIN Bridge reports a connection problem: {messages}", retry_after=3600)
