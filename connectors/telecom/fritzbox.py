"""AVM FRITZ!Box: the call list and the WAN traffic counters, over TR-064 on the local network.

TR-064 is SOAP over HTTP on port 49000 (TLS on the box's security port, 49443 by default)
with HTTP digest authentication. The call list is the XML file whose link
`X_AVM-DE_OnTel#GetCallList` hands out. Traffic comes from the 64-bit byte counters of the
UPnP status service (`WANCommonInterfaceConfig#GetAddonInfos`), or from TR-064's 32-bit
counters when that service is off or the source uses TLS; each sync samples them and
stores the bytes since the previous sample in `telecom.usage`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from defusedxml import ElementTree
from yarl import URL

from connectors.sdk import (
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

from .digest import DigestAuth
from .phone import check_region, normalize_number

TR64 = "urn:dslforum-org:service:"
IGD_WAN = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"
DEVICE_INFO = TR64 + "DeviceInfo:1"
ON_TEL = TR64 + "X_AVM-DE_OnTel:1"
WAN_COMMON = TR64 + "WANCommonInterfaceConfig:1"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"

# AVM call list type codes; 9 and 11 are calls still in progress.
DIRECTIONS = {1: "in", 2: "missed", 3: "out", 10: "rejected"}
ACTIVE = frozenset({9, 11})
CHUNK = 100  # calls per checkpoint
REBOOT_SLACK = timedelta(seconds=60)


def _check_timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not a time zone name such as Europe/Berlin"
    return None


class FritzBox(Connector):
    name = "fritzbox"
    title = "AVM FRITZ!Box"
    category = "telecom"
    datasets = ("telecom.call", "telecom.usage")
    sampled_datasets = ("telecom.usage",)
    schedule = "hourly"
    description = "Calls and internet traffic from a FRITZ!Box on the local network (TR-064)."
    fields = (
        Field(
            "url",
            "The box's TR-064 address: http://fritz.box:49000, or https://fritz.box:49443 for TLS",
            type="url",
            default="http://fritz.box:49000",
        ),
        Field("username", "A FRITZ!Box user with the rights 'FRITZ!Box settings' and 'Voice messages, call list'"),
        Secret("password", "That user's password"),
        Field("region", "Country of numbers dialled without a country code", default="DE", check=check_region),
        Field(
            "timezone",
            "The box's time zone (the call list has local times)",
            default="Europe/Berlin",
            check=_check_timezone,
        ),
        Field(
            "tls_fingerprint",
            "SHA-256 fingerprint of the box's self-signed certificate (https only)",
            required=False,
            pattern=r"[0-9A-Fa-f:]{64,95}",
        ),
    )

    async def check(self, ctx: Context) -> None:
        with _pinned():
            box = _Box(ctx)
            await box.soap(DEVICE_INFO, "GetInfo", await box.services())

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        with _pinned():
            async with aclosing(self._fetch(ctx, state)) as items:
                async for item in items:
                    yield item

    async def _fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncGenerator[Item, None]:
        box = _Box(ctx)
        services = await box.services()
        listing = await box.call_list(services, state.get("last_date"), ctx.now())
        extra = {"timezone": ctx.settings.get("timezone", "Europe/Berlin"), "region": ctx.settings.get("region", "DE")}
        fragments = [Fragment("telecom.call", {**call, **extra}) for call in new_calls(listing, state)]
        for fragment in fragments:
            self.normalize(fragment)  # a bad entry fails the run before anything is stored
        mark = {"last_id": int(state.get("last_id", 0)), "last_date": state.get("last_date", "")}
        for n, fragment in enumerate(fragments, start=1):
            yield fragment
            mark = {
                "last_id": max(mark["last_id"], int(fragment.raw["Id"])),
                "last_date": max(mark["last_date"], _local_iso(fragment.raw["Date"])),
            }
            if n % CHUNK == 0:
                yield Checkpoint({**state, **mark})
            ctx.progress(n, len(fragments), "calls")
        info = await box.soap(DEVICE_INFO, "GetInfo", services)
        sample = await box.traffic(services, ctx.now(), _int(info, "NewUpTime"))
        line = info.get("NewSerialNumber") or "fritzbox"
        yield Fragment("telecom.usage", {"line": line, "previous": state.get("traffic"), "current": sample})
        yield Checkpoint({**state, **mark, "traffic": sample})

    def normalize(self, fragment: Fragment) -> Record | None:
        if fragment.dataset == "telecom.usage":
            return usage_record(fragment.raw)
        return call_record(fragment.raw)


@contextmanager
def _pinned() -> Iterator[None]:
    """A certificate that does not match the pinned fingerprint is no passing network fault."""
    try:
        yield
    except Retryable as err:
        if isinstance(err.__cause__, aiohttp.ServerFingerprintMismatch):
            raise Fatal("the box's certificate does not match tls_fingerprint; check it in the box's settings") from err
        raise


class _Box:
    """One run's conversation with the box: digest auth, SOAP, the device description."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.base = URL(str(ctx.settings.get("url", "http://fritz.box:49000")).rstrip("/"))
        self.auth = DigestAuth(str(ctx.settings.get("username", "")), ctx.secret("password"))
        fingerprint = str(ctx.settings.get("tls_fingerprint") or "").replace(":", "")
        self.tls: dict[str, Any] = {"ssl": aiohttp.Fingerprint(bytes.fromhex(fingerprint))} if fingerprint else {}

    async def services(self) -> dict[str, str]:
        resp = await self.ctx.http.request("GET", str(self.base / "tr64desc.xml"), **self.tls)
        services = control_urls(resp.body)
        missing = {DEVICE_INFO, ON_TEL} - set(services)
        if missing:
            raise Fatal(f"the box at {self.base} does not offer {', '.join(sorted(missing))}: is TR-064 enabled?")
        return services

    async def soap(
        self, service: str, action: str, services: dict[str, str], url: URL | None = None, auth: bool = True
    ) -> dict[str, str]:
        target = url or self.base.with_path(services[service])
        body = soap_request(service, action)
        headers = {"Content-Type": 'text/xml; charset="utf-8"', "SOAPACTION": f'"{service}#{action}"'}
        if auth:
            resp = await self.auth.request(
                self.ctx.http, "POST", str(target), data=body, headers=headers, ok=(500,), **self.tls
            )
        else:
            resp = await self.ctx.http.request("POST", str(target), data=body, headers=headers, ok=(500,), **self.tls)
        return soap_result(resp.body, action, resp.status)

    async def call_list(self, services: dict[str, str], last_date: str | None, now: datetime) -> bytes:
        link = URL((await self.soap(ON_TEL, "GetCallList", services)).get("NewCallListURL", ""))
        if not link.path:
            raise Fatal("the box answered GetCallList without a call list URL")
        # The box names itself (fritz.box, its LAN address): keep the address the user configured.
        url = self.base.with_path(link.path).with_query(link.query)
        if last_date:
            tz = ZoneInfo(str(self.ctx.settings.get("timezone", "Europe/Berlin")))
            days = (now.astimezone(tz).date() - datetime.fromisoformat(last_date).date()).days + 1
            url = url.update_query(days=max(days, 1))
        resp = await self.ctx.http.request("GET", str(url), ok=(403,), **self.tls)
        if resp.status == 403:
            raise Retryable("the box refused its own call list link; it will be asked again")
        return resp.body

    async def traffic(self, services: dict[str, str], now: datetime, uptime: int) -> dict[str, Any]:
        sample: dict[str, Any] = {"at": now.isoformat(), "boot_at": (now - timedelta(seconds=uptime)).isoformat()}
        counters = await self._igd_counters() if self.base.scheme == "http" else None
        if counters is not None:
            return {**sample, "sent": counters[0], "received": counters[1], "bits": 64}
        if WAN_COMMON not in services:
            raise Fatal("the box offers no WAN traffic counters")
        sent = await self.soap(WAN_COMMON, "GetTotalBytesSent", services)
        received = await self.soap(WAN_COMMON, "GetTotalBytesReceived", services)
        return {
            **sample,
            "sent": _int(sent, "NewTotalBytesSent"),
            "received": _int(received, "NewTotalBytesReceived"),
            "bits": 32,
        }

    async def _igd_counters(self) -> tuple[int, int] | None:
        """The 64-bit counters of the UPnP status service; None when the user switched it off."""
        resp = await self.ctx.http.request("GET", str(self.base / "igddesc.xml"), ok=(404,))
        controls = control_urls(resp.body) if resp.status == 200 else {}
        if IGD_WAN not in controls:
            return None
        try:
            values = await self.soap(
                IGD_WAN, "GetAddonInfos", {}, url=self.base.with_path(controls[IGD_WAN]), auth=False
            )
        except Fatal:
            return None
        if "NewX_AVM_DE_TotalBytesSent64" not in values:
            return None
        return _int(values, "NewX_AVM_DE_TotalBytesSent64"), _int(values, "NewX_AVM_DE_TotalBytesReceived64")


def _int(values: dict[str, str], name: str) -> int:
    try:
        value = int(values[name])
    except (KeyError, ValueError):
        raise Fatal(f"the box answered without a whole number in {name}") from None
    if value < 0:
        raise Fatal(f"the box answered a negative {name}")
    return value


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def control_urls(description: bytes) -> dict[str, str]:
    """serviceType -> controlURL of a UPnP device description (tr64desc.xml, igddesc.xml)."""
    try:
        root = ElementTree.fromstring(description)
    except ElementTree.ParseError as err:
        raise Fatal(f"the box's device description is not valid XML ({err})") from None
    out: dict[str, str] = {}
    for service in root.iter():
        if _local(service.tag) != "service":
            continue
        fields = {_local(child.tag): (child.text or "").strip() for child in service}
        if fields.get("serviceType") and fields.get("controlURL"):
            out.setdefault(fields["serviceType"], fields["controlURL"])
    return out


def soap_request(service: str, action: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<s:Envelope xmlns:s="{SOAP_NS}" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">'
        f'<s:Body><u:{action} xmlns:u="{escape(service)}"></u:{action}></s:Body></s:Envelope>'
    ).encode()


def soap_result(body: bytes, action: str, status: int = 200) -> dict[str, str]:
    """The output arguments of a SOAP answer; a SOAP fault becomes the SDK's error it means."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as err:
        if status >= 500:
            raise Retryable(f"the box failed on {action} (HTTP {status})") from None
        raise Fatal(f"the box answered {action} with XML that cannot be read ({err})") from None
    for el in root.iter():
        if _local(el.tag) == "Fault":
            texts = {_local(e.tag): (e.text or "").strip() for e in el.iter()}
            raise _fault(action, texts.get("errorCode", ""), texts.get("errorDescription") or texts.get("faultstring"))
        if _local(el.tag) == f"{action}Response":
            return {_local(child.tag): (child.text or "").strip() for child in el}
    if status >= 500:
        raise Retryable(f"the box failed on {action} (HTTP {status})")
    raise Fatal(f"the box's answer to {action} has no {action}Response")


def _fault(action: str, code: str, description: str | None) -> Exception:
    message = f"the box refused {action}: UPnP error {code or '?'} {description or ''}".strip()
    if code == "606":  # the login worked, the user lacks a right
        return UserActionNeeded(message + "; give the FRITZ!Box user the rights 'FRITZ!Box settings' and 'call list'")
    if code in ("501", "820"):
        return Retryable(message)
    return Fatal(message)


def parse_call_list(body: bytes) -> list[dict[str, str]]:
    """The `<Call>` entries of the call list, each as {tag: text}; Fatal names what is wrong."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as err:
        raise Fatal(f"the FRITZ!Box call list is not valid XML ({err}); nothing was stored") from None
    if _local(root.tag) != "root":
        raise Fatal(f"the FRITZ!Box call list starts with <{_local(root.tag)}>, not <root>")
    calls = []
    for n, el in enumerate((e for e in root if _local(e.tag) == "Call"), start=1):
        call = {_local(child.tag): (child.text or "").strip() for child in el}
        if not call.get("Id", "").isdigit() or not call.get("Type", "").isdigit():
            raise Fatal(f"call list entry {n} has no numeric Id or Type; nothing was stored")
        try:
            _local_iso(call.get("Date", ""))
        except ValueError:
            raise Fatal(
                f"call list entry Id {call['Id']} has the date {call.get('Date')!r}, not dd.mm.yy hh:mm"
            ) from None
        calls.append(call)
    return calls


def new_calls(body: bytes, state: dict[str, Any]) -> list[dict[str, str]]:
    """Calls not seen before, oldest first: a higher Id, or a later date (Ids restart after a
    factory reset). Stops at the first call still in progress, so none is passed by."""
    last_id, last_date = int(state.get("last_id", 0)), str(state.get("last_date", ""))
    out = []
    for call in sorted(parse_call_list(body), key=lambda c: (_local_iso(c["Date"]), int(c["Id"]))):
        if int(call["Type"]) in ACTIVE:
            break
        if int(call["Id"]) > last_id or _local_iso(call["Date"]) > last_date:
            out.append(call)
    return out


def _local_iso(text: str) -> str:
    return datetime.strptime(text.strip(), "%d.%m.%y %H:%M").isoformat(timespec="minutes")


def _duration_s(text: str) -> int:
    match = re.fullmatch(r"(\d+):(\d{1,2})", text.strip() or "0:00")
    if match is None:
        raise InvalidRecord(f"call duration {text!r} is not h:mm")
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60


def call_record(raw: dict[str, Any]) -> Record:
    call_type = int(raw["Type"])
    if call_type not in DIRECTIONS:
        raise InvalidRecord(f"call list entry Id {raw.get('Id')} has the type code {call_type}, unknown to selfdata")
    outgoing = call_type == 3
    remote = raw.get("Called") if outgoing else raw.get("Caller")
    own = (raw.get("CallerNumber") or raw.get("Caller")) if outgoing else (raw.get("CalledNumber") or raw.get("Called"))
    region = str(raw.get("region") or "DE")
    started = datetime.fromisoformat(_local_iso(raw["Date"])).replace(tzinfo=ZoneInfo(str(raw["timezone"])))
    data = datasets.TelecomCall.make(
        direction=DIRECTIONS[call_type],
        number=normalize_number(remote, region),
        name=raw.get("Name") or None,
        started_at=started,
        duration_s=_duration_s(raw.get("Duration") or "0:00"),
        line=normalize_number(own, region),
    )
    data.update({k.lower(): raw[k] for k in ("Device", "Port") if raw.get(k)})
    stamp = datetime.strptime(raw["Date"].strip(), "%d.%m.%y %H:%M").strftime("%Y%m%d%H%M")
    return Record("telecom.call", f"{raw['Id']}-{stamp}", started, data)


def usage_between(previous: dict[str, Any] | None, current: dict[str, Any]) -> tuple[datetime, int, int] | None:
    """(start, bytes up, bytes down) between two counter samples; never negative.

    A counter lower than in the previous sample was reset (a reboot, or a reconnection):
    the bytes since the reset are its value, counted from the later of the previous sample
    and the boot. 32-bit counters that went down without a reboot wrapped around. The first
    sample covers the time since the box started. None when there is no interval to report.
    """
    at, boot = datetime.fromisoformat(current["at"]), datetime.fromisoformat(current["boot_at"])
    sent, received, bits = int(current["sent"]), int(current["received"]), int(current.get("bits", 64))
    if previous is None or int(previous.get("bits", 64)) != bits:
        return (boot, sent, received) if at > boot else None
    p_at, p_boot = datetime.fromisoformat(previous["at"]), datetime.fromisoformat(previous["boot_at"])
    if at <= p_at:
        return None
    p_sent, p_received = int(previous["sent"]), int(previous["received"])
    lower = sent < p_sent or received < p_received
    rebooted = boot - p_boot > REBOOT_SLACK
    if not lower:
        return p_at, sent - p_sent, received - p_received
    if bits == 32 and not rebooted:
        return p_at, (sent - p_sent) % 2**32, (received - p_received) % 2**32
    return (boot if p_at < boot < at else p_at), sent, received


def usage_record(raw: dict[str, Any]) -> Record | None:
    span = usage_between(raw.get("previous"), raw["current"])
    if span is None:
        return None
    start, up, down = span
    end = datetime.fromisoformat(raw["current"]["at"])
    line = str(raw.get("line") or "")
    data = datasets.TelecomUsage.make(start=start, end=end, bytes_up=up, bytes_down=down, line=line or None)
    return Record("telecom.usage", f"{line}:{start.isoformat()}", start, data)
