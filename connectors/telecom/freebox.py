"""Free's Freebox: the call log and the connection's traffic counters, from the Freebox OS
local API (dev.freebox.fr/sdk/os).

Authorisation is the box's own: selfdata registers as an application (`login/authorize/`)
and the Freebox Server's front screen asks the user to allow it; once allowed, the app
token it handed out opens sessions (`login/session/`, password = HMAC-SHA1 of the box's
challenge keyed with the app token). Sessions expire or are dropped by the box: a request
refused with `auth_required` or `invalid_session` logs in again, once (as freebox-api does).

    authorization_url()      registers selfdata; the box's screen now asks the user
    complete_authorization() waits (up to POLL_ATTEMPTS x POLL_INTERVAL s) for the answer
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.sdk import (
    AuthFailed,
    Checkpoint,
    Connector,
    Context,
    Fatal,
    Field,
    Fragment,
    InvalidRecord,
    Item,
    Record,
    Retryable,
    Secret,
    UserActionNeeded,
    datasets,
)

from .fritzbox import usage_record
from .phone import check_region, normalize_number

APP_ID = "org.selfdata.daemon"
APP_NAME = "selfdata"
APP_VERSION = "1"
DIRECTIONS = {"accepted": "in", "outgoing": "out", "missed": "missed"}
CHUNK = 100
SESSION_GONE = frozenset({"auth_required", "invalid_session"})
ACCESS_SETTINGS = "Freebox OS > Paramètres de la Freebox > Gestion des accès > Applications"


class FreeboxError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Freebox(Connector):
    name = "freebox"
    title = "Freebox (Free)"
    category = "telecom"
    datasets = ("telecom.call", "telecom.usage")
    sampled_datasets = ("telecom.usage",)
    schedule = "hourly"
    needs_authorization = True
    description = "Calls and internet traffic from a Freebox Server, through the Freebox OS local API."
    fields = (
        Field("url", "The box's local address", type="url", default="http://mafreebox.freebox.fr"),
        Field("region", "Country of numbers dialled without a country code", default="FR", check=check_region),
        Field("device_name", "How the box's screen names this machine when it asks", default="selfdata"),
        Secret(
            "app_token", "Given by the Freebox when you allow selfdata on its screen (set by authorize)", required=False
        ),
    )
    poll_interval: ClassVar[float] = 2.0
    poll_attempts: ClassVar[int] = 45

    async def check(self, ctx: Context) -> None:
        api = await _Api.discover(ctx)
        await _Session(api, ctx).get("system/")

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        api = await _Api.discover(ctx)
        request = {
            "app_id": APP_ID,
            "app_name": APP_NAME,
            "app_version": APP_VERSION,
            "device_name": str(ctx.settings.get("device_name") or "selfdata"),
        }
        try:
            result = await api.call("POST", "login/authorize/", json=request)
        except FreeboxError as err:
            raise _translate(err) from None
        await ctx.update_secret("app_token", str(result["app_token"]))
        await ctx.update_secret("track_id", str(result["track_id"]))
        # There is no web page to visit: the Freebox Server's screen asks to allow selfdata.
        return f"{api.root}login/authorize/{result['track_id']}"

    async def complete_authorization(self, ctx: Context, redirect_uri: str, code_or_url: str) -> None:
        track_id = ctx.secrets.get("track_id")
        if not track_id:
            raise AuthFailed("no authorisation is waiting on the Freebox: start the authorisation again")
        api = await _Api.discover(ctx)
        for attempt in range(self.poll_attempts):
            try:
                status = (await api.call("GET", f"login/authorize/{track_id}"))["status"]
            except FreeboxError as err:
                raise AuthFailed(_TRACK_STATUS["unknown"] + f" ({err})") from None
            if status == "granted":
                return
            if status != "pending":
                raise AuthFailed(_TRACK_STATUS.get(status, _TRACK_STATUS["unknown"]))
            if attempt + 1 < self.poll_attempts:
                await asyncio.sleep(self.poll_interval)
        raise UserActionNeeded(
            "the Freebox is still waiting: press the right arrow (✓) on its screen to allow selfdata, "
            "then finish the authorisation again"
        )

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        api = await _Api.discover(ctx)
        session = _Session(api, ctx)
        log = await session.get("call/log/") or []
        if not isinstance(log, list):
            raise Fatal("the Freebox answered the call log with something that is not a list")
        region = str(ctx.settings.get("region") or "FR")
        fragments = [Fragment("telecom.call", {**call, "region": region}) for call in new_calls(log, state)]
        for fragment in fragments:
            self.normalize(fragment)  # a bad entry fails the run before anything is stored
        mark = {"last_id": int(state.get("last_id", 0)), "last_time": int(state.get("last_time", 0))}
        for n, fragment in enumerate(fragments, start=1):
            yield fragment
            mark = {
                "last_id": max(mark["last_id"], int(fragment.raw["id"])),
                "last_time": max(mark["last_time"], int(fragment.raw["datetime"])),
            }
            if n % CHUNK == 0:
                yield Checkpoint({**state, **mark})
            ctx.progress(n, len(fragments), "calls")
        system = await session.get("system/")
        connection = await session.get("connection/")
        now = ctx.now()
        sample = {
            "at": now.isoformat(),
            "boot_at": (now - timedelta(seconds=_count(system, "uptime_val"))).isoformat(),
            "sent": _count(connection, "bytes_up"),
            "received": _count(connection, "bytes_down"),
            "bits": 64,
        }
        line = str(system.get("serial") or system.get("mac") or "freebox")
        yield Fragment("telecom.usage", {"line": line, "previous": state.get("traffic"), "current": sample})
        yield Checkpoint({**state, **mark, "traffic": sample})

    def normalize(self, fragment: Fragment) -> Record | None:
        if fragment.dataset == "telecom.usage":
            return usage_record(fragment.raw)
        return call_record(fragment.raw)


_TRACK_STATUS = {
    "denied": "the authorisation was refused on the Freebox's screen; start it again to allow selfdata",
    "timeout": "nobody answered on the Freebox's screen in time; start the authorisation again",
    "unknown": "the Freebox no longer knows this authorisation (revoked or expired); start it again",
}


def _count(values: Any, name: str) -> int:
    value = values.get(name) if isinstance(values, dict) else None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Fatal(f"the Freebox answered without a whole number in {name}")
    return value


def new_calls(log: list[Any], state: dict[str, Any]) -> list[dict[str, Any]]:
    """Calls not seen before, oldest first; `new` (unread on the box) is left out: it changes."""
    last_id, last_time = int(state.get("last_id", 0)), int(state.get("last_time", 0))
    out = []
    for n, call in enumerate(log, start=1):
        if (
            not isinstance(call, dict)
            or not isinstance(call.get("id"), int)
            or not isinstance(call.get("datetime"), int)
        ):
            raise Fatal(f"call log entry {n} has no numeric id or datetime; nothing was stored")
        if call["id"] > last_id or call["datetime"] > last_time:
            out.append({k: v for k, v in call.items() if k != "new"})
    return sorted(out, key=lambda c: (c["datetime"], c["id"]))


def call_record(raw: dict[str, Any]) -> Record:
    kind = raw.get("type")
    if kind not in DIRECTIONS:
        raise InvalidRecord(f"call log entry {raw.get('id')} has the type {kind!r}, unknown to selfdata")
    number = str(raw.get("number") or "")
    name = str(raw.get("name") or "")
    started = datetime.fromtimestamp(int(raw["datetime"]), tz=UTC)
    duration = raw.get("duration", 0)
    if not isinstance(duration, int) or duration < 0:
        raise InvalidRecord(f"call log entry {raw.get('id')} has the duration {duration!r}")
    missed = kind == "missed"
    data = datasets.TelecomCall.make(
        direction=DIRECTIONS[str(kind)],
        number=normalize_number(number, str(raw.get("region") or "FR")),
        name=name if name and name != number else None,
        started_at=started,
        duration_s=0 if missed else duration,  # the box gives a missed call's ringing time
    )
    if missed and duration:
        data["ringing_s"] = duration
    return Record("telecom.call", f"{raw['id']}-{raw['datetime']}", started, data)


class _Api:
    """The API root found by discovery, and its answer envelope turned into results or errors."""

    def __init__(self, ctx: Context, root: str) -> None:
        self.ctx = ctx
        self.root = root

    @classmethod
    async def discover(cls, ctx: Context) -> _Api:
        base = str(ctx.settings.get("url") or "http://mafreebox.freebox.fr").rstrip("/")
        info = await ctx.http.get_json(f"{base}/api_version")
        version = str(info.get("api_version", "")) if isinstance(info, dict) else ""
        major = version.split(".")[0]
        if not major.isdigit() or int(major) < 4:
            raise Fatal(f"{base} does not look like a Freebox with API version 4 or later (api_version {version!r})")
        prefix = str(info.get("api_base_url") or "/api/")
        return cls(ctx, f"{base}{prefix}v{major}/")

    async def call(self, method: str, path: str, *, json: Any = None, session: str | None = None) -> Any:
        headers = {"X-Fbx-App-Auth": session} if session else {}
        resp = await self.ctx.http.request(method, self.root + path, json=json, headers=headers, ok=(400, 403, 404))
        body = resp.json()
        if not isinstance(body, dict):
            raise Fatal(f"the Freebox answered {path} with something that is not its JSON envelope")
        if body.get("success") is True:
            return body.get("result")
        raise FreeboxError(str(body.get("error_code") or f"http_{resp.status}"), str(body.get("msg") or ""))


class _Session:
    def __init__(self, api: _Api, ctx: Context) -> None:
        self.api = api
        self.ctx = ctx
        self.token: str | None = None

    async def login(self) -> None:
        app_token = self.ctx.secrets.get("app_token")
        if not app_token:
            raise AuthFailed("selfdata is not yet allowed on this Freebox: authorise the source first")
        try:
            challenge = str((await self.api.call("GET", "login/"))["challenge"])
            password = hmac.new(app_token.encode(), challenge.encode(), hashlib.sha1).hexdigest()
            login = {"app_id": APP_ID, "app_version": APP_VERSION, "password": password}
            result = await self.api.call("POST", "login/session/", json=login)
        except FreeboxError as err:
            raise _translate(err) from None
        self.token = str(result["session_token"])

    async def get(self, path: str) -> Any:
        if self.token is None:
            await self.login()
        try:
            return await self.api.call("GET", path, session=self.token)
        except FreeboxError as err:
            if err.code not in SESSION_GONE:
                raise _translate(err) from None
        await self.login()  # the session expired: one new session, then give up
        try:
            return await self.api.call("GET", path, session=self.token)
        except FreeboxError as err:
            raise _translate(err) from None


def _translate(err: FreeboxError) -> Exception:
    if err.code == "invalid_token":
        return AuthFailed(
            f"the Freebox no longer accepts selfdata's app token ({err.message}); it was revoked or the box's "
            "admin password was reset: authorise the source again"
        )
    if err.code == "pending_token":
        return UserActionNeeded("allow selfdata on the Freebox Server's screen (right arrow, ✓), then sync again")
    if err.code == "insufficient_rights":
        return UserActionNeeded(f"give selfdata the right to read calls in {ACCESS_SETTINGS}")
    if err.code in ("new_apps_denied", "apps_denied"):
        return UserActionNeeded(f"the Freebox refuses new applications: allow them in {ACCESS_SETTINGS}")
    if err.code in SESSION_GONE:
        return AuthFailed("the Freebox refused a session it had just opened; authorise the source again")
    if err.code == "ratelimited":
        return Retryable("the Freebox asks to slow down", retry_after=60)
    if err.code in ("internal_error", "busy"):
        return Retryable(f"the Freebox is busy ({err})")
    if err.code == "denied_from_external_ip":
        return Fatal("the Freebox API answers on the box's local network only")
    return Fatal(f"the Freebox refused the request ({err})")
