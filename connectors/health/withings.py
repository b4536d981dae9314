"""Withings: scales, blood-pressure monitors, watches and thermometers, through the Withings API.

OAuth 2.0 (authorization code, refresh tokens rotated by Withings at every refresh) and
`measure` `getmeas`, incremental through `lastupdate` (the server's `updatetime` of the
previous sync), paged through `more`/`offset`. A measure's value is `value * 10^unit`,
computed in Decimal. Withings answers errors with HTTP 200 and a status in the JSON body;
`STATUS_*` below say what each means for the sync.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    datasets,
)

from . import oauth
from .loinc import BP_DIASTOLIC, BP_PANEL, BP_SYSTOLIC, LOINC, WITHINGS, WITHINGS_POSITIONS, WITHINGS_TYPES

OBSERVATION = "health.observation"
# Withings' first devices date from 2009: the first sync asks for everything since then.
HISTORY_START = int(datetime(2008, 1, 1, tzinfo=UTC).timestamp())
API_URL = "https://wbsapi.withings.net"
AUTHORIZE_URL = "https://account.withings.com/oauth2_user/authorize2"
# Withings refuses localhost and IP redirects. This one (.invalid never resolves: the code
# goes nowhere) is registered in the Withings application; the user pastes the address back.
PLACEHOLDER_REDIRECT = "https://selfdata.invalid/withings"
CODE_LIFETIME_S = 30
STATUS_AUTH = frozenset({100, 101, 102, 200, 401})  # the token is invalid or expired
STATUS_RETRY = frozenset({522, 524, 601, 2555})  # timeout, busy, too many requests, unknown error
STATUS_TOO_MANY = 601
AMBIGUOUS = 1  # attrib: a device measure that may belong to another user of the device
WHOLE_BODY = frozenset({6, 7})  # positions of a whole-body measure


def redirect_problem(url: str) -> str | None:
    """Why Withings would refuse `url` as a redirect URI: it takes https on port 443 (or 80)
    of a domain name, never localhost or an IP address, 255 characters at most."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    try:
        port = parts.port
    except ValueError:
        return "its port is not a number"
    if parts.scheme != "https":
        return "Withings takes only https addresses"
    if not host or host == "localhost" or host.endswith(".localhost"):
        return "Withings refuses localhost"
    try:
        ipaddress.ip_address(host.strip("[]"))
        return "Withings refuses IP addresses: use a domain name"
    except ValueError:
        pass
    if port not in (None, 80, 443):
        return "Withings takes only the ports 443 and 80"
    if len(url) > 255:
        return "Withings takes at most 255 characters"
    return None


def withings_redirect(ctx: Context, offered: str) -> str:
    """The redirect sent to Withings: the `redirect_uri` setting; else the one offered (the
    dashboard's page, when it is reached over https on a domain name); else the placeholder,
    from which the user pastes the address back."""
    configured = ctx.settings.get("redirect_uri")
    if configured:
        return str(configured)
    return offered if redirect_problem(offered) is None else PLACEHOLDER_REDIRECT


class WithingsConnector(Connector):
    name = "withings"
    title = "Withings (scales, blood-pressure monitors, watches, thermometers)"
    category = "health"
    datasets = (OBSERVATION,)
    schedule = "every 6h"
    needs_authorization = True
    description = "Weight, body composition, blood pressure, heart rate, temperature and SpO2 from Withings."
    fields = (
        Field("client_id", "The client id of your Withings developer application"),
        Secret("client_secret", "Its client secret"),
        Field("api_url", "The Withings API", type="url", required=False, default=API_URL),
        Field("authorize_url", "Where you consent", type="url", required=False, default=AUTHORIZE_URL),
        Field(
            "redirect_uri",
            f"The callback URL registered in your Withings application (default {PLACEHOLDER_REDIRECT})",
            type="url",
            required=False,
            check=redirect_problem,
        ),
    )

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        redirect_uri = withings_redirect(ctx, redirect_uri)
        state = await oauth.save_pending(ctx, redirect_uri=redirect_uri)
        query = {
            "response_type": "code",
            "client_id": ctx.settings["client_id"],
            "scope": "user.metrics",
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{ctx.settings.get('authorize_url') or AUTHORIZE_URL}?{urlencode(query)}"

    async def complete_authorization(self, ctx: Context, redirect_uri: str, code_or_url: str) -> None:
        pending = oauth.load_pending(ctx)
        code = oauth.code_from(code_or_url, pending["state"])
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.get("redirect_uri") or redirect_uri,
        }
        try:
            body = await _token_request(ctx, form)  # at once: Withings' codes last 30 seconds
        except AuthFailed as err:
            if "invalid code" not in str(err).lower():
                raise
            raise AuthFailed(
                f"Withings refused the code: it works once, within {CODE_LIFETIME_S} seconds of your consent, "
                f"and this one is used or too old. Start again (selfdata source authorize {ctx.source}) and "
                "paste the address as soon as your browser lands on it"
            ) from None
        await oauth.OAuthSession(ctx, _refresher(ctx)).store(oauth.from_token_answer(body, ctx.now()))
        await oauth.clear_pending(ctx)

    async def check(self, ctx: Context) -> None:
        await _Api(ctx).call({"action": "getmeas", "category": "1", "lastupdate": str(int(ctx.now().timestamp()))})

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        api = _Api(ctx)
        lastupdate = int(state.get("lastupdate", HISTORY_START))
        offset = int(state.get("offset", 0))
        upto = state.get("upto")
        while True:
            query = {"action": "getmeas", "category": "1", "lastupdate": str(lastupdate)}
            if offset:
                query["offset"] = str(offset)
            body = await api.call(query)
            if upto is None:
                # The server's time of the first page: the next sync asks for what changed after it.
                upto = int(body.get("updatetime") or lastupdate)
            for group in body.get("measuregrps") or []:
                yield Fragment(OBSERVATION, {"group": group, "timezone": body.get("timezone")})
            more, next_offset = body.get("more"), int(body.get("offset") or 0)
            if not more:
                yield Checkpoint({"lastupdate": max(int(upto), lastupdate)})
                return
            if next_offset <= offset:
                raise Fatal(f"Withings paging does not advance (offset {next_offset} after {offset}); stopping")
            offset = next_offset
            ctx.progress(offset, None, f"{offset} measure groups")
            yield Checkpoint({"lastupdate": lastupdate, "offset": offset, "upto": upto})

    def normalize(self, fragment: Fragment) -> list[Record]:
        return measure_records(fragment.raw)


def _zone(name: Any) -> tzinfo:
    try:
        return ZoneInfo(str(name)) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def scaled(measure: dict[str, Any]) -> Decimal:
    """value * 10^unit, exactly."""
    value, unit = measure.get("value"), measure.get("unit")
    if isinstance(value, bool) or not isinstance(value, int) or isinstance(unit, bool) or not isinstance(unit, int):
        raise InvalidRecord(f"a Withings measure needs integer value and unit, got {value!r} and {unit!r}")
    return Decimal(value).scaleb(unit)


def measure_records(raw: dict[str, Any]) -> list[Record]:
    """One measure group: blood pressure as one observation with components, every other
    measure as its own observation. An ambiguous group (attrib 1) is not stored."""
    group = raw.get("group")
    if not isinstance(group, dict) or not isinstance(group.get("grpid"), int) or not isinstance(group.get("date"), int):
        raise InvalidRecord(f"a Withings measure group needs grpid and date: {str(group)[:120]}")
    if group.get("attrib") == AMBIGUOUS:
        return []  # when the user assigns it in the app, it comes back modified, as theirs
    when = datetime.fromtimestamp(group["date"], _zone(raw.get("timezone")))
    # By type and body position: a Body Scan gives types 173-175 once per segment.
    values: dict[tuple[Any, int | None], Decimal] = {}
    for m in group.get("measures") or []:
        if isinstance(m, dict):
            values[(m.get("type"), _position(m))] = scaled(m)
    device = group.get("model") if isinstance(group.get("model"), str) else None
    out = []
    if (9, None) in values and (10, None) in values:
        components = [
            datasets.Component.make(code=BP_SYSTOLIC.code, value=values.pop((10, None)), unit="mm[Hg]"),
            datasets.Component.make(code=BP_DIASTOLIC.code, value=values.pop((9, None)), unit="mm[Hg]"),
        ]
        data = datasets.HealthObservation.make(
            code=BP_PANEL.code,
            code_system=LOINC,
            name=BP_PANEL.name,
            start=when,
            end=when,
            device=device,
            components=components,
        )
        out.append(Record(OBSERVATION, f"{group['grpid']}:bp", when, data))
    for (kind, position), value in values.items():
        known = WITHINGS_TYPES.get(kind) if isinstance(kind, int) else None
        code, unit = known if known else (None, None)
        name = code.name if code else f"Withings measure type {kind}"
        site = WITHINGS_POSITIONS.get(position, f"position {position}") if position is not None else None
        data = datasets.HealthObservation.make(
            code=code.code if code else str(kind),
            code_system=code.system if code else WITHINGS,
            name=f"{name}, {site}" if site else name,
            value=value,
            unit=unit,
            start=when,
            end=when,
            device=device,
        )
        data = {k: v for k, v in data.items() if v is not None}
        if code is not None and code.system == LOINC:
            data["source_code"] = f"withings:{kind}"
        key = f"{group['grpid']}:{kind}"
        if site:
            data["body_site"] = site
            key += ":" + site.replace(" ", "_")
        out.append(Record(OBSERVATION, key, when, data))
    return out


def _position(measure: dict[str, Any]) -> int | None:
    """The body position of a segmental measure; None for a whole-body one (no position,
    6 "between legs" or 7 "whole body", as the scale reports its usual measures)."""
    position = measure.get("position")
    if position is None or position in WHOLE_BODY:
        return None
    if isinstance(position, bool) or not isinstance(position, int):
        raise InvalidRecord(f"a Withings measure has the position {position!r}, not a number")
    return position


def _check_status(body: dict[str, Any], where: str) -> None:
    status = body.get("status")
    if status == 0:
        return
    error = str(body.get("error") or "")[:200]
    if status in STATUS_AUTH:
        raise AuthFailed(f"Withings refused the access (status {status}: {error}); authorize again")
    if status in STATUS_RETRY:
        retry_after = 60.0 if status == STATUS_TOO_MANY else None
        raise Retryable(f"Withings is busy (status {status}: {error})", retry_after)
    raise Fatal(f"Withings refused {where} (status {status}: {error})")


async def _token_request(ctx: Context, form: dict[str, str]) -> dict[str, Any]:
    api = str(ctx.settings.get("api_url") or API_URL).rstrip("/")
    form = {
        "action": "requesttoken",
        "client_id": ctx.settings["client_id"],
        "client_secret": ctx.secret("client_secret"),
        **form,
    }
    resp = await ctx.http.request("POST", f"{api}/v2/oauth2", data=form)
    body = oauth.json_answer(resp, "the Withings token endpoint")
    status = body.get("status")
    if status in STATUS_AUTH or status == 503:  # 503: invalid params, such as a revoked refresh token
        raise AuthFailed(f"Withings refused the token request (status {status}: {body.get('error')}); authorize again")
    _check_status(body, "the token request")
    inner = body.get("body")
    if not isinstance(inner, dict):
        raise Fatal("the Withings token answer has no body")
    return inner


def _refresher(ctx: Context) -> oauth.Refresher:
    async def refresh(tokens: oauth.TokenSet) -> oauth.TokenSet:
        body = await _token_request(ctx, {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token or ""})
        return oauth.from_token_answer(body, ctx.now(), tokens)

    return refresh


class _Api:
    """Calls to the Withings API: a status 401 in the body refreshes the token once, then tries once more."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = oauth.OAuthSession(ctx, _refresher(ctx))
        self.url = f"{str(ctx.settings.get('api_url') or API_URL).rstrip('/')}/measure"

    async def call(self, form: dict[str, str]) -> dict[str, Any]:
        token = await self.session.access_token()
        body = await self._post(form, token)
        if body.get("status") == 401:
            body = await self._post(form, await self.session.refresh(token))
        _check_status(body, form.get("action", "the request"))
        inner = body.get("body")
        if not isinstance(inner, dict):
            raise Fatal("a Withings answer has no body")
        return inner

    async def _post(self, form: dict[str, str], token: str) -> dict[str, Any]:
        resp = await self.ctx.http.request("POST", self.url, data=form, headers={"Authorization": f"Bearer {token}"})
        return oauth.json_answer(resp, "the Withings API")
