"""A fake AVM FRITZ!Box: the TR-064 interface (port 49000, HTTP digest auth), the call list
it points to, and the UPnP IGD status service with the 64-bit WAN byte counters.

    server = make_server(seed=1, days=90)      # demo login: selfdata / fritz-demo-1234
    device = server.app[DEVICE]                # knobs for tests: faults, counters, reboot

It answers like a FRITZ!Box 7590 (FRITZ!OS 7.x): the device descriptions have the real
box's structure (tr64desc.xml, igddesc.xml), SOAP answers and faults use the box's
envelopes, a 401 carries `Digest realm="F!Box SOAP-Auth", qop="auth", algorithm=MD5`, and
the call list is the `<root><timestamp/><Call>...</Call></root>` file of AVM's X_AVM-DE_OnTel
documentation, newest call first, with the `sid`, `days`, `max` and `id` URL parameters.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from aiohttp import web
from defusedxml import ElementTree

from ..fakeserver import FakeServer

USERNAME = "selfdata"
PASSWORD = "fritz-demo-1234"
REALM = "F!Box SOAP-Auth"
DEFAULT_END = datetime(2026, 6, 1, tzinfo=UTC)

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TR64 = "urn:dslforum-org:service:"
IGD = "urn:schemas-upnp-org:service:"
OWN_NUMBERS = ("03055512345", "03055512346")
CONTACTS = (
    ("Anna Schmidt", "03012345678"),
    ("Praxis Dr. Weber", "0302468135"),
    ("Mama", "+4940 7654321"),
    ("Jean Dupont", "0033612345678"),
    ("Pizzeria Roma", "030 9876543"),
    ("Max Müller", "01701234567"),
)
# Area codes with the subscriber number lengths the German numbering plan allows.
NUMBER_PLAN = (("0301", 7), ("0402", 6), ("0893", 6), ("0171", 7), ("01520", 7), ("0221", 7))
DEVICES = (("FRITZ!Fon C6", "10"), ("Telefon Flur", "1"), ("Anrufbeantworter 1", "40"), ("FRITZ!App Fon", "620"))
# Type codes of AVM's call list: 1 incoming, 2 missed, 3 outgoing, 9 active incoming,
# 10 rejected incoming, 11 active outgoing.
TYPE_WEIGHTS = ((1, 40), (3, 35), (2, 17), (10, 8))


@dataclass
class Call:
    id: int
    type: int
    at: datetime  # local time of the box
    remote: str
    name: str
    own: str
    device: str
    port: str
    minutes: int

    def xml(self) -> str:
        outgoing = self.type in (3, 11)
        fields = {
            "Id": str(self.id),
            "Type": str(self.type),
            "Called": self.remote if outgoing else self.own,
            "Caller": self.own if outgoing else self.remote,
            "CallerNumber" if outgoing else "CalledNumber": self.own,
            "Name": self.name,
            "Numbertype": "sip",
            "Device": self.device,
            "Port": self.port,
            "Date": self.at.strftime("%d.%m.%y %H:%M"),
            "Duration": f"{self.minutes // 60}:{self.minutes % 60:02d}",
            "Count": "",
        }
        inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
        return f"<Call>{inner}<Path /></Call>\n"


@dataclass
class FritzBoxDevice:
    """The box's state. Tests change it between runs; `frozen` stops the clock-driven traffic."""

    calls: list[Call]
    timezone: ZoneInfo
    username: str = USERNAME
    password: str = PASSWORD
    serial: str = "989BCB2B93B0"
    frozen: bool = False
    igd_enabled: bool = True
    nonce_uses: int = 100
    soap_faults: dict[str, tuple[int, str]] = field(default_factory=dict)  # action -> UPnP error
    calllist_body: bytes | None = None  # replaces the generated call list
    failed_logins: int = 0
    nonces: dict[str, int] = field(default_factory=dict)
    sids: set[str] = field(default_factory=set)
    rate_up: int = 6_000  # bytes per second
    rate_down: int = 48_000
    _uptime0: float = 12 * 86400.0
    _sent0: int = 7_300_000_000
    _received0: int = 61_800_000_000
    _t0: float = 0.0
    _advanced: float = 0.0
    _started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return self._advanced + (0.0 if self.frozen else time.monotonic() - self._started)

    def advance(self, seconds: float) -> None:
        self._advanced += seconds

    def uptime(self) -> int:
        return int(self._uptime0 + self.elapsed() - self._t0)

    def counters(self) -> tuple[int, int]:
        dt = self.elapsed() - self._t0
        return self._sent0 + int(self.rate_up * dt), self._received0 + int(self.rate_down * dt)

    def set_counters(self, sent: int, received: int) -> None:
        now = self.elapsed()
        self._uptime0, self._t0, self._sent0, self._received0 = self.uptime(), now, sent, received

    def reboot(self) -> None:
        self._uptime0, self._t0, self._sent0, self._received0 = 0.0, self.elapsed(), 0, 0
        self.sids.clear()


DEVICE = web.AppKey("fritzbox_device", FritzBoxDevice)


def generate_calls(*, seed: int, end: datetime, days: int, timezone: ZoneInfo) -> list[Call]:
    rng = random.Random(seed)
    local_end = end.astimezone(timezone)
    day0 = (local_end - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    calls: list[Call] = []
    for d in range(days + 1):
        day = day0 + timedelta(days=d)
        times = sorted(rng.randint(7 * 60, 22 * 60 + 30) for _ in range(rng.choice((0, 1, 2, 3, 4, 5, 7))))
        for minute in times:
            at = day + timedelta(minutes=minute)
            if at >= local_end:
                continue
            kind = rng.choices([t for t, _ in TYPE_WEIGHTS], [w for _, w in TYPE_WEIGHTS])[0]
            roll = rng.random()
            if roll < 0.6:
                name, remote = rng.choice(CONTACTS)
            elif roll < 0.9 or kind == 3:
                prefix, digits = rng.choice(NUMBER_PLAN)
                name, remote = "", prefix + "".join(rng.choice("0123456789") for _ in range(digits))
            else:
                name, remote = "", ""  # withheld
            device, port = rng.choice(DEVICES[:2]) if kind != 2 else ("", "")
            if kind == 1 and rng.random() < 0.15:
                device, port = DEVICES[2]
            minutes = rng.randint(1, 45) if kind in (1, 3) else 0
            calls.append(Call(0, kind, at, remote, name, rng.choice(OWN_NUMBERS), device, port, minutes))
    for i, call in enumerate(calls, start=1):
        call.id = 1000 + i
    return calls


def tr64_description(serial: str) -> str:
    """The structure of the real box's tr64desc.xml, with the services selfdata uses and a few more."""
    root = [
        ("DeviceInfo:1", "DeviceInfo1", "deviceinfo"),
        ("DeviceConfig:1", "DeviceConfig1", "deviceconfig"),
        ("Time:1", "Time1", "time"),
        ("X_VoIP:1", "X_VoIP1", "x_voip"),
        ("X_AVM-DE_OnTel:1", "X_AVM-DE_OnTel1", "x_contact"),
        ("X_AVM-DE_TAM:1", "X_AVM-DE_TAM1", "x_tam"),
    ]
    wan = [
        ("WANCommonInterfaceConfig:1", "WANCommonInterfaceConfig1", "wancommonifconfig1"),
        ("WANDSLInterfaceConfig:1", "WANDSLInterfaceConfig1", "wandslifconfig1"),
    ]
    return (
        '<?xml version="1.0"?>\n<root xmlns="urn:dslforum-org:device-1-0">\n'
        "<specVersion><major>1</major><minor>0</minor></specVersion>\n"
        "<systemVersion><HW>226</HW><Major>154</Major><Minor>7</Minor><Patch>57</Patch>"
        "<Buildnumber>112233</Buildnumber><Display>154.07.57</Display></systemVersion>\n"
        f"<device>{_device_head('InternetGatewayDevice', 'FRITZ!Box 7590', serial, 'c')}"
        f"<serviceList>{_services(root, 'upnp')}</serviceList>\n<deviceList>\n"
        f"<device>{_device_head('WANDevice', 'WANDevice - FRITZ!Box 7590', serial, 'a')}"
        f"<serviceList>{_services(wan, 'upnp')}</serviceList></device>\n"
        "</deviceList>\n<presentationURL>http://fritz.box</presentationURL>\n</device>\n</root>\n"
    )


def igd_description(serial: str) -> str:
    services = [("WANCommonInterfaceConfig:1", "WANCommonIFC1", "WANCommonIFC1")]
    return (
        '<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">\n'
        "<specVersion><major>1</major><minor>0</minor></specVersion>\n"
        f"<device>{_device_head('InternetGatewayDevice', 'FRITZ!Box 7590', serial, 'c', igd=True)}"
        "<deviceList>\n"
        f"<device>{_device_head('WANDevice', 'WANDevice - FRITZ!Box 7590', serial, 'b', igd=True)}"
        f"<serviceList>{_services(services, 'igdupnp', igd=True)}</serviceList></device>\n"
        "</deviceList>\n<presentationURL>http://fritz.box</presentationURL>\n</device>\n</root>\n"
    )


def _device_head(kind: str, name: str, serial: str, tag: str, igd: bool = False) -> str:
    ns = "urn:schemas-upnp-org:device:" if igd else "urn:dslforum-org:device:"
    return (
        f"\n<deviceType>{ns}{kind}:1</deviceType>\n<friendlyName>{name}</friendlyName>\n"
        "<manufacturer>AVM</manufacturer>\n<manufacturerURL>www.avm.de</manufacturerURL>\n"
        f"<modelDescription>{name}</modelDescription>\n<modelName>{name}</modelName>\n"
        f"<modelNumber> - avm</modelNumber>\n<UDN>uuid:75802409-bccb-40e7-8e6{tag}-{serial}</UDN>\n"
    )


def _services(services: list[tuple[str, str, str]], prefix: str, igd: bool = False) -> str:
    out = []
    for stype, sid, control in services:
        ns, id_ns = (IGD, "urn:upnp-org:serviceId:") if igd else (TR64, f"urn:{sid[:-1]}-com:serviceId:")
        out.append(
            f"\n<service>\n<serviceType>{ns}{stype}</serviceType>\n<serviceId>{id_ns}{sid}</serviceId>\n"
            f"<controlURL>/{prefix}/control/{control}</controlURL>\n"
            f"<eventSubURL>/{prefix}/control/{control}</eventSubURL>\n<SCPDURL>/{control}SCPD.xml</SCPDURL>\n</service>"
        )
    return "".join(out) + "\n"


def soap_envelope(inner: str) -> str:
    return (
        f'<?xml version="1.0"?>\n<s:Envelope xmlns:s="{SOAP_NS}" '
        'xmlns:u="urn:dslforum-org:control-1-0" '
        's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">\n<s:Body>\n'
        f"{inner}\n</s:Body>\n</s:Envelope>\n"
    )


def soap_fault(code: int, description: str) -> web.Response:
    inner = (
        "<s:Fault>\n<faultcode>s:Client</faultcode>\n<faultstring>UPnPError</faultstring>\n<detail>\n"
        '<UPnPError xmlns="urn:dslforum-org:control-1-0">\n'
        f"<errorCode>{code}</errorCode>\n<errorDescription>{escape(description)}</errorDescription>\n"
        "</UPnPError>\n</detail>\n</s:Fault>"
    )
    return web.Response(status=500, text=soap_envelope(inner), content_type="text/xml", charset="utf-8")


def _unauthorized(device: FritzBoxDevice, stale: bool = False) -> web.Response:
    nonce = secrets.token_hex(8).upper()
    device.nonces[nonce] = 0
    challenge = f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth"' + (
        ", stale=TRUE" if stale else ""
    )
    stamp = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    body = (
        "<HTML><HEAD><TITLE>401 Unauthorized (ERR_NONE)</TITLE></HEAD><BODY><H1>401 Unauthorized</H1>"
        f"<BR>ERR_NONE<HR><B>Webserver</B> {stamp}</BODY></HTML>"
    )
    return web.Response(status=401, text=body, content_type="text/html", headers={"WWW-Authenticate": challenge})


def _check_digest(device: FritzBoxDevice, request: web.Request) -> web.Response | None:
    """None when the Authorization header answers one of our challenges correctly."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Digest "):
        return _unauthorized(device)
    params = {k.lower(): v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}
    nonce = params.get("nonce", "")
    if nonce not in device.nonces:
        return _unauthorized(device, stale=True)
    device.nonces[nonce] += 1
    if device.nonces[nonce] > device.nonce_uses:
        del device.nonces[nonce]
        return _unauthorized(device, stale=True)
    ha1 = hashlib.md5(f"{device.username}:{REALM}:{device.password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{request.method}:{params.get('uri', '')}".encode()).hexdigest()
    expected = hashlib.md5(
        f"{ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}".encode()
    ).hexdigest()
    if (
        params.get("username") != device.username
        or params.get("uri") != request.path_qs
        or params.get("qop") != "auth"
        or params.get("response") != expected
    ):
        device.failed_logins += 1
        return _unauthorized(device)
    return None


def _answer(service: str, action: str, values: dict[str, str | int]) -> web.Response:
    inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in values.items())
    body = soap_envelope(f'<u:{action}Response xmlns:u="{service}">\n{inner}\n</u:{action}Response>')
    return web.Response(text=body, content_type="text/xml", charset="utf-8")


def _soap_action(request: web.Request, body: bytes) -> tuple[str, str] | None:
    header = request.headers.get("SOAPACTION", "").strip().strip('"')
    if "#" not in header:
        return None
    service, action = header.split("#", 1)
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    names = [el.tag.rsplit("}", 1)[-1] for el in root.iter()]
    return (service, action) if action in names else None


def _actions(device: FritzBoxDevice, request: web.Request, service: str, action: str) -> web.Response:
    sent, received = device.counters()
    if (service, action) == (TR64 + "DeviceInfo:1", "GetInfo"):
        return _answer(
            service,
            action,
            {
                "NewManufacturerName": "AVM",
                "NewManufacturerOUI": "00040E",
                "NewModelName": "FRITZ!Box 7590",
                "NewDescription": "FRITZ!Box 7590 154.07.57",
                "NewProductClass": "AVMFB7590",
                "NewSerialNumber": device.serial,
                "NewSoftwareVersion": "154.07.57",
                "NewHardwareVersion": "FRITZ!Box 7590",
                "NewSpecVersion": "1.0",
                "NewProvisioningCode": "000.044.004.000",
                "NewUpTime": device.uptime(),
                "NewDeviceLog": "31.05.26 23:10:04 Internetverbindung wurde erfolgreich hergestellt.",
            },
        )
    if (service, action) == (TR64 + "DeviceInfo:1", "GetSecurityPort"):
        return _answer(service, action, {"NewSecurityPort": 49443})
    if (service, action) == (TR64 + "X_AVM-DE_OnTel:1", "GetCallList"):
        sid = secrets.token_hex(8)
        device.sids.add(sid)
        return _answer(service, action, {"NewCallListURL": f"http://{request.host}/calllist.lua?sid={sid}"})
    if (service, action) == (TR64 + "WANCommonInterfaceConfig:1", "GetTotalBytesSent"):
        return _answer(service, action, {"NewTotalBytesSent": sent % 2**32})
    if (service, action) == (TR64 + "WANCommonInterfaceConfig:1", "GetTotalBytesReceived"):
        return _answer(service, action, {"NewTotalBytesReceived": received % 2**32})
    return soap_fault(401, "Invalid Action")


def make_app(device: FritzBoxDevice) -> web.Application:
    controls = {
        "/upnp/control/deviceinfo": TR64 + "DeviceInfo:1",
        "/upnp/control/x_contact": TR64 + "X_AVM-DE_OnTel:1",
        "/upnp/control/wancommonifconfig1": TR64 + "WANCommonInterfaceConfig:1",
    }

    async def tr64desc(request: web.Request) -> web.Response:
        return web.Response(text=tr64_description(device.serial), content_type="text/xml")

    async def igddesc(request: web.Request) -> web.Response:
        if not device.igd_enabled:
            raise web.HTTPNotFound()
        return web.Response(text=igd_description(device.serial), content_type="text/xml")

    async def control(request: web.Request) -> web.Response:
        body = await request.read()
        parsed = _soap_action(request, body)
        if parsed is None or controls.get(request.path) != parsed[0]:
            return soap_fault(401, "Invalid Action")
        denied = _check_digest(device, request)
        if denied is not None:
            return denied
        if parsed[1] in device.soap_faults:
            return soap_fault(*device.soap_faults[parsed[1]])
        return _actions(device, request, *parsed)

    async def igd_control(request: web.Request) -> web.Response:
        parsed = _soap_action(request, await request.read())
        if not device.igd_enabled:
            raise web.HTTPNotFound()
        if parsed != (IGD + "WANCommonInterfaceConfig:1", "GetAddonInfos"):
            return soap_fault(401, "Invalid Action")
        sent, received = device.counters()
        values: dict[str, str | int] = {
            "NewByteSendRate": device.rate_up,
            "NewByteReceiveRate": device.rate_down,
            "NewPacketSendRate": device.rate_up // 900,
            "NewPacketReceiveRate": device.rate_down // 1400,
            "NewTotalBytesSent": sent % 2**32,
            "NewTotalBytesReceived": received % 2**32,
            "NewAutoDisconnectTime": 0,
            "NewIdleDisconnectTime": 0,
            "NewDNSServer1": "217.237.150.51",
            "NewDNSServer2": "217.237.148.22",
            "NewVoipDNSServer1": "217.237.150.51",
            "NewVoipDNSServer2": "217.237.148.22",
            "NewUpnpControlEnabled": 0,
            "NewRoutedBridgedModeBoth": 1,
            "NewX_AVM_DE_TotalBytesSent64": sent,
            "NewX_AVM_DE_TotalBytesReceived64": received,
            "NewX_AVM_DE_WANAccessType": "DSL",
        }
        return _answer(parsed[0], parsed[1], values)

    async def calllist(request: web.Request) -> web.Response:
        if request.query.get("sid") not in device.sids:
            return web.Response(status=403, text="<html><body>403 Forbidden</body></html>", content_type="text/html")
        if device.calllist_body is not None:
            return web.Response(body=device.calllist_body, content_type="text/xml")
        return web.Response(text=calllist_xml(device, request), content_type="text/xml", charset="utf-8")

    app = web.Application()
    app[DEVICE] = device
    app.router.add_get("/tr64desc.xml", tr64desc)
    app.router.add_get("/igddesc.xml", igddesc)
    app.router.add_post("/upnp/control/{name}", control)
    app.router.add_post("/igdupnp/control/{name}", igd_control)
    app.router.add_get("/calllist.lua", calllist)
    return app


def calllist_xml(device: FritzBoxDevice, request: web.Request) -> str:
    calls = sorted(device.calls, key=lambda c: c.id, reverse=True)
    if "days" in request.query:
        today = max((c.at for c in calls), default=datetime.now(device.timezone)).date()
        oldest = today - timedelta(days=int(request.query["days"]))
        calls = [c for c in calls if c.at.date() >= oldest]
    if "id" in request.query:
        calls = [c for c in calls if c.id > int(request.query["id"])]
    if int(request.query.get("max", "0") or 0) > 0:
        calls = calls[: int(request.query["max"])]
    stamp = int(max((c.at for c in device.calls), default=datetime.now(UTC)).timestamp())
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<root>\n'
        + f"<timestamp>{stamp}</timestamp>\n"
        + "".join(c.xml() for c in calls)
        + "</root>\n"
    )


class TlsFakeServer(FakeServer):
    """The box's TLS port (49443): a self-signed certificate, pinned by its SHA-256 `fingerprint`."""

    def __init__(self, app: web.Application) -> None:
        super().__init__(app)
        self._context, self.fingerprint = self_signed_context()

    async def start(self) -> TlsFakeServer:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._context)
        await site.start()
        self.url = f"https://127.0.0.1:{self._runner.addresses[0][1]}"
        return self


def self_signed_context() -> tuple[ssl.SSLContext, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fritz.box")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert_file, key_file)
    return context, cert.fingerprint(hashes.SHA256()).hex()


def make_server(
    *,
    seed: int = 1,
    end: datetime | None = None,
    days: int = 90,
    username: str = USERNAME,
    password: str = PASSWORD,
    timezone: str = "Europe/Berlin",
    tls: bool = False,
) -> FakeServer:
    """A fake FRITZ!Box whose call list spans `days` days before `end`; demo login selfdata / fritz-demo-1234."""
    tz = ZoneInfo(timezone)
    calls = generate_calls(seed=seed, end=end or DEFAULT_END, days=days, timezone=tz)
    device = FritzBoxDevice(calls=calls, timezone=tz, username=username, password=password)
    app = make_app(device)
    return TlsFakeServer(app) if tls else FakeServer(app)
