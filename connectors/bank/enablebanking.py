"""Enable Banking: balances and transactions of EU banks through PSD2 consent.

The user registers an application at Enable Banking, which gives an application id and an
RSA private key (PEM). Every API call carries a JWT signed with that key (RS256, `kid` = the
application id). `selfdata source authorize NAME` asks `/auth` for the bank's consent page;
the bank sends the user back with a code, which `/sessions` turns into a session whose id is
kept as a secret. A sync reads the session (status and consent end: a warning ahead of it,
`UserActionNeeded` after it), then for each account its details (once per session), its
balances and its transactions from `date_from`, page by page with `continuation_key`, with a
checkpoint after every page. Pending transactions replaced by booked ones are deleted (see
reconcile.py).
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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
    parse_retry_after,
)

from .enablebanking_records import (
    STATUSES,
    account_info,
    account_record,
    instant,
    sanitize,
    transaction_key,
    transaction_record,
)
from .reconcile import Entry, Policy, Tracker

API = "https://api.enablebanking.com"
AUDIENCE = "api.enablebanking.com"
ISSUER = "enablebanking.com"
SESSION_ENDED = {"EXPIRED_SESSION", "REVOKED_SESSION", "CLOSED_SESSION", "SESSION_DOES_NOT_EXIST"}
CODE_REFUSED = {"EXPIRED_AUTHORIZATION_CODE", "WRONG_AUTHORIZATION_CODE", "ALREADY_AUTHORIZED"}


class StaleContinuation(Fatal):
    """The bank no longer accepts a continuation key (e.g. after a long pause)."""


class PeriodRefused(Fatal):
    """The bank refuses `date_from` that far back (many allow 90 days once the consent is old)."""


def load_key(ctx: Context) -> rsa.RSAPrivateKey:
    """The application's RSA key, from `private_key_file` or the `private_key` secret."""
    path = ctx.settings.get("private_key_file")
    if path:
        where = f"the Enable Banking key file {Path(path).name}"
        try:
            data = Path(path).expanduser().read_bytes()
        except OSError as err:
            raise Fatal(f"cannot read {where}: {err.strerror}") from err
    elif ctx.secrets.get("private_key"):
        where, data = "the private_key secret", ctx.secrets["private_key"].encode()
    else:
        raise Fatal(
            f"the source {ctx.source!r} has neither private_key_file nor private_key; set one with: "
            f"selfdata source edit {ctx.source}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise Fatal(
            f"{where} is not an unencrypted PEM private key; use the key Enable Banking gave when the "
            "application was registered"
        ) from err
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = "an EC" if isinstance(key, ec.EllipticCurvePrivateKey) else "another kind of"
        raise Fatal(f"{where} holds {kind} key, not an RSA key; Enable Banking's RS256 needs RSA")
    return key


class Api:
    """Enable Banking calls signed with a fresh JWT; vendor errors become the SDK's errors."""

    def __init__(self, ctx: Context, key: rsa.RSAPrivateKey) -> None:
        self.ctx, self.key = ctx, key
        self.base = str(ctx.settings.get("base_url") or API).rstrip("/")
        self.application_id = str(ctx.settings.get("application_id") or "")
        if not self.application_id:
            raise Fatal(
                f"the source {ctx.source!r} has no application_id; set it with: selfdata source edit {ctx.source}"
            )

    def token(self) -> str:
        iat = int(self.ctx.now().timestamp())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": iat, "exp": iat + 3600}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.application_id})

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}"}
        resp = await self.ctx.http.request(
            method, self.base + path, headers=headers, ok=(400, 401, 403, 404, 422, 429), **kwargs
        )
        if resp.status >= 400:
            try:
                body = resp.json()
            except Fatal:
                body = {}
            raise self.error(resp.status, body if isinstance(body, dict) else {}, resp.headers.get("Retry-After"))
        return resp.json()

    def error(self, status: int, body: dict[str, Any], retry_after: str | None) -> ConnectorError:
        code, source = str(body.get("error") or ""), self.ctx.source
        said = f"Enable Banking answered HTTP {status}" + (f" {code}" if code else "")
        said += f": {sanitize(body['message'])}" if body.get("message") else ""
        renew = f"renew it with: selfdata source authorize {source}"
        if code in SESSION_ENDED:
            return UserActionNeeded(f"the bank consent of source {source!r} has ended ({said}); {renew}")
        if code in CODE_REFUSED:
            return UserActionNeeded(
                f"the authorisation code was refused ({said}); start again with: selfdata source authorize {source}"
            )
        if code == "ASPSP_PSU_ACTION_REQUIRED":
            return UserActionNeeded(f"the bank needs you ({said}); {renew}")
        if code == "WRONG_CONTINUATION_KEY":
            return StaleContinuation(said)
        if code == "WRONG_TRANSACTIONS_PERIOD":
            return PeriodRefused(said)
        if status == 429 or code in ("ASPSP_ERROR", "ASPSP_TIMEOUT", "ASPSP_RATE_LIMIT_EXCEEDED"):
            wait = parse_retry_after(retry_after)
            if wait is None and code == "ASPSP_RATE_LIMIT_EXCEEDED":  # PSD2 limits reset daily
                now = self.ctx.now()
                wait = (datetime.combine(now.date() + timedelta(days=1), time(), UTC) - now).total_seconds()
            return Retryable(said, wait)
        if status in (401, 403):
            return AuthFailed(f"{said}; check the source's application_id and private key")
        return Fatal(said)


def redirect_parts(code_or_url: str) -> tuple[str | None, str | None, str | None]:
    """(code, state, error) from the URL the bank redirected to, its query, or a bare code."""
    text = code_or_url.strip()
    if "=" not in text:
        return text or None, None, None
    query = parse_qs(urlsplit(text).query if "://" in text else text.lstrip("?"))

    def one(name: str) -> str | None:
        return query.get(name, [None])[0]

    return one("code"), one("state"), one("error_description") or one("error")


def _int_setting(ctx: Context, fields: tuple[Field, ...], name: str) -> int:
    default = next(f.default for f in fields if f.name == name)
    return int(ctx.settings.get(name) or default)


class EnableBanking(Connector):
    name = "enable-banking"
    title = "Enable Banking (EU banks, PSD2)"
    category = "bank"
    datasets = ("bank.account", "bank.transaction")
    schedule = "0 7,19 * * *"  # twice a day: PSD2 allows a bank 4 unattended reads a day
    needs_authorization = True
    description = "Balances and transactions of an EU bank account through Enable Banking's PSD2 access."
    fields = (
        Field("application_id", "Your application's id at Enable Banking (Control Panel, API applications)"),
        Field("aspsp_name", "Your bank's name as Enable Banking lists it, e.g. Nordea"),
        Field("aspsp_country", "Your bank's country as two letters, e.g. FI", pattern=r"[A-Z]{2}"),
        Field("private_key_file", "The application's private key file (PEM)", type="path", required=False),
        Secret("private_key", "The application's private key (PEM text), if not given as a file", required=False),
        Field("psu_type", "personal or business", type="choice", choices=("personal", "business"), default="personal"),
        Field("consent_days", "Days the bank consent lasts (the bank may allow fewer)", type="int", default=180),
        Field("history_days", "How many days back the first sync reaches", type="int", default=365),
        Field("overlap_days", "Each sync re-reads this many days, for late bookings", type="int", default=10),
        Field("warn_days", "Warn this many days before the consent ends", type="int", default=14),
        Field(
            "pending_max_age_days",
            "Drop a pending transaction the bank no longer lists after this many days",
            type="int",
            default=10,
        ),
        Field("base_url", "The Enable Banking API", type="url", default=API),
    )

    def _int(self, ctx: Context, name: str) -> int:
        return _int_setting(ctx, self.fields, name)

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        api = Api(ctx, load_key(ctx))
        name, country = str(ctx.settings.get("aspsp_name", "")), str(ctx.settings.get("aspsp_country", ""))
        listed = await api.call("GET", "/aspsps", params={"country": country})
        aspsps = [a for a in listed.get("aspsps", []) if isinstance(a, dict)] if isinstance(listed, dict) else []
        aspsp = next((a for a in aspsps if str(a.get("name", "")).casefold() == name.casefold()), None)
        if aspsp is None:
            known = ", ".join(sorted(str(a.get("name")) for a in aspsps)[:20])
            raise Fatal(f"Enable Banking lists no bank named {name!r} in {country}; it lists: {known}")
        days = self._int(ctx, "consent_days")
        if isinstance(aspsp.get("maximum_consent_validity"), int):
            days = min(days, aspsp["maximum_consent_validity"] // 86400)
        state = secrets.token_urlsafe(24)
        await ctx.update_secret("auth_state", state)  # the two steps may run in different processes
        body = {
            "access": {"valid_until": (ctx.now() + timedelta(days=days)).replace(microsecond=0).isoformat()},
            "aspsp": {"name": aspsp["name"], "country": country},
            "state": state,
            "redirect_url": redirect_uri,
            "psu_type": ctx.settings.get("psu_type") or "personal",
        }
        answer = await api.call("POST", "/auth", json=body)
        url = answer.get("url") if isinstance(answer, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise Fatal("Enable Banking answered /auth without the bank's consent URL")
        return url

    async def complete_authorization(self, ctx: Context, redirect_uri: str, code_or_url: str) -> None:
        code, state, error = redirect_parts(code_or_url)
        again = f"start again with: selfdata source authorize {ctx.source}"
        if error:
            raise UserActionNeeded(f"the bank did not grant access ({sanitize(error)}); {again}")
        expected = ctx.secrets.get("auth_state")
        if state is not None and expected and state != expected:
            raise Fatal(f"this redirect does not belong to the authorisation selfdata started; {again}")
        if not code:
            raise Fatal(
                f"no authorisation code in what was given; paste the whole URL the bank sent you to, or {again}"
            )
        answer = await Api(ctx, load_key(ctx)).call("POST", "/sessions", json={"code": code})
        if not isinstance(answer, dict) or not isinstance(answer.get("session_id"), str):
            raise Fatal("Enable Banking answered /sessions without a session id")
        await ctx.update_secret("session_id", answer["session_id"])
        await ctx.update_secret("auth_state", "")
        if not answer.get("accounts"):
            raise UserActionNeeded(f"the bank shared no account with selfdata; {again}")

    async def check(self, ctx: Context) -> None:
        api = Api(ctx, load_key(ctx))
        await api.call("GET", "/application")
        if ctx.secrets.get("session_id"):
            await self.session(api, ctx)

    async def session(self, api: Api, ctx: Context) -> dict[str, Any]:
        """The session, when the consent still holds; warns ahead of its end."""
        sid, source = ctx.secrets.get("session_id"), ctx.source
        renew = f"selfdata source authorize {source}"
        if not sid:
            raise UserActionNeeded(f"the source {source!r} has no bank consent yet; give it with: {renew}")
        answer = await api.call("GET", f"/sessions/{sid}")
        if not isinstance(answer, dict):
            raise Fatal("Enable Banking answered a session that is not an object")
        bank = (answer.get("aspsp") or {}).get("name") or ctx.settings.get("aspsp_name") or "the bank"
        until = instant((answer.get("access") or {}).get("valid_until"))
        now, status = ctx.now(), answer.get("status")
        if until is not None and until <= now:
            raise UserActionNeeded(
                f"the consent you gave {bank} for {source!r} ended on {until.date()}; renew it with: {renew}"
            )
        if status != "AUTHORIZED":
            state = sanitize(status).lower() or "not usable"
            raise UserActionNeeded(f"the consent you gave {bank} for {source!r} is {state}; renew it with: {renew}")
        if until is not None and until - now <= timedelta(days=self._int(ctx, "warn_days")):
            ctx.warn(
                f"the consent you gave {bank} for {source!r} ends on {until.date()}; renew it before then with: {renew}"
            )
        return answer

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        api = Api(ctx, load_key(ctx))
        session = await self.session(api, ctx)
        st = copy.deepcopy(state)
        tracker = Tracker.load(st)
        today = ctx.now().date()
        if (st.get("details") or {}).get("session") != ctx.secrets["session_id"]:
            st["details"] = {"session": ctx.secrets["session_id"], "accounts": {}}
        st.setdefault("run", {"done": []})
        st.setdefault("synced", {})
        bank = (session.get("aspsp") or {}).get("name") or ctx.settings.get("aspsp_name")

        def checkpoint() -> Checkpoint:
            return Checkpoint(copy.deepcopy({**st, **tracker.dump()}))

        unmarked: list[str] = []  # transactions without the required `status`: not stored, counted
        for uid in [u for u in session.get("accounts") or [] if isinstance(u, str)]:
            info = st["details"]["accounts"].get(uid)
            if info is None:
                info = account_info(await api.call("GET", f"/accounts/{uid}/details"), uid, bank)
                st["details"]["accounts"][uid] = info
            if info["account_id"] in st["run"]["done"]:
                continue
            yield self.account(info, await api.call("GET", f"/accounts/{uid}/balances"), ctx.now())
            async for item in self._transactions(api, ctx, uid, info, st, tracker, today, checkpoint, unmarked):
                yield item
            st["synced"][info["account_id"]] = today.isoformat()
            st["run"]["done"].append(info["account_id"])
            st["run"].pop("cursor", None)
            yield checkpoint()
        deleted = tracker.settle(today, Policy(max_age_days=self._int(ctx, "pending_max_age_days")))
        if deleted:
            yield Delete("bank.transaction", tuple(deleted))
        del st["run"]
        if unmarked:
            ctx.warn(
                f"{len(unmarked)} transactions came from {bank or 'the bank'} without a status (booked or pending) "
                f"and were not stored (first: {unmarked[0]})"
            )
        yield checkpoint()

    async def _transactions(
        self,
        api: Api,
        ctx: Context,
        uid: str,
        info: dict[str, Any],
        st: dict[str, Any],
        tracker: Tracker,
        today: date,
        checkpoint: Any,
        unmarked: list[str],
    ) -> AsyncIterator[Item]:
        acct = info["account_id"]
        cursor = st["run"].get("cursor") or {}
        if cursor.get("account") != acct:
            cursor = {"account": acct, "date_from": self._date_from(ctx, st, tracker, acct, today).isoformat()}
        while True:
            params = {"date_from": cursor["date_from"]}
            if cursor.get("continuation_key"):
                params["continuation_key"] = cursor["continuation_key"]
            try:
                page = await api.call("GET", f"/accounts/{uid}/transactions", params=params)
            except StaleContinuation:
                if "continuation_key" not in cursor:
                    raise
                ctx.log.info("the bank no longer accepts the saved page of %s; reading its transactions again", acct)
                cursor = {"account": acct, "date_from": cursor["date_from"]}
                continue
            except PeriodRefused:
                recent = today - timedelta(days=89)
                if date.fromisoformat(cursor["date_from"]) >= recent:
                    raise
                ctx.log.info("the bank gives %s no history before %s", acct, recent)
                cursor = {"account": acct, "date_from": recent.isoformat()}
                continue
            occurrences = dict(cursor.get("occurrences") or {})
            seen = len(unmarked)
            records = self.page(page, info, occurrences, unmarked)  # every record checked before any is yielded
            if unmarked and not seen:
                ctx.log.warning("a transaction without a status was not stored: %s", unmarked[0])
            for record in records:
                yield record
                amount, description = Decimal(record.data["amount"]), record.data.get("description") or ""
                entry = Entry(record.key, acct, amount, record.ts.date(), description)
                tracker.observe(entry, pending=record.data["status"] == "pending")
            key = page.get("continuation_key")
            if not key:
                return
            cursor = {**cursor, "continuation_key": key, "occurrences": occurrences}
            st["run"]["cursor"] = cursor
            yield checkpoint()

    def _date_from(self, ctx: Context, st: dict[str, Any], tracker: Tracker, acct: str, today: date) -> date:
        synced = st["synced"].get(acct)
        if synced:
            first = date.fromisoformat(synced) - timedelta(days=self._int(ctx, "overlap_days"))
        else:
            first = today + timedelta(days=1 - self._int(ctx, "history_days"))
        # Re-read every tracked pending transaction's days, so "no longer listed" means gone.
        older = [e.on - timedelta(days=1) for e in tracker.pending.values() if e.account == acct]
        return min([first, *older])

    def page(
        self, page: Any, info: dict[str, Any], occurrences: dict[str, int], unmarked: list[str] | None = None
    ) -> list[Record]:
        if not isinstance(page, dict) or not isinstance(page.get("transactions"), list):
            raise Fatal("Enable Banking answered a transactions page without its list of transactions")
        records = []
        for i, txn in enumerate(page["transactions"]):
            where = f"account {info['account_id']}, transaction {i + 1} of {len(page['transactions'])} on its page"
            if not isinstance(txn, dict):
                raise Fatal(f"Enable Banking answered a transaction that is not an object ({where})")
            if txn.get("status") is None and unmarked is not None:
                day = txn.get("booking_date") or txn.get("transaction_date") or txn.get("value_date")
                unmarked.append(f"{where}, dated {sanitize(day)}")
            if txn.get("status") not in STATUSES:
                continue
            key = transaction_key(info["account_id"], txn, occurrences)
            raw = {"account": {"id": info["account_id"], "currency": info["currency"]}, "key": key, "transaction": txn}
            try:
                r = self.normalize(Fragment("bank.transaction", raw))
            except ConnectorError as err:
                raise Fatal(f"{err} ({where}); nothing of this page was stored") from err
            records.append(Record(r.dataset, r.key, r.ts, r.data, raw))  # raw kept for `selfdata renormalize`
        return records

    def account(self, info: dict[str, Any], balances: Any, now: datetime) -> Record:
        raw = {"account": info, "balances": balances}
        listed = balances.get("balances") if isinstance(balances, dict) else None
        if not any(
            isinstance(b, dict) and (b.get("last_change_date_time") or b.get("reference_date")) for b in listed or []
        ):
            raw["seen"] = datetime.combine(now.date(), time(), UTC).isoformat()  # when the bank gives no time
        r = self.normalize(Fragment("bank.account", raw))
        return Record(r.dataset, r.key, r.ts, r.data, raw)

    def normalize(self, fragment: Fragment) -> Record:
        if fragment.dataset == "bank.account":
            return account_record(fragment.raw)
        return transaction_record(fragment.raw)
