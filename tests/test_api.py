"""The local API: defences, grants, records, changes, events, access log, OpenAPI."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.api.app import api_app
from daemon.api.security import client_address
from daemon.config import Config
from daemon.events import RecordsChanged, RunFinished
from daemon.grants import GrantStore
from daemon.plugins import Registry
from daemon.services import Services
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault
from daemon.vault.keysources import Unlocked

T0 = datetime(2026, 5, 1, tzinfo=UTC)


@dataclass
class Api:
    client: TestClient[Any, Any]
    services: Services
    token: str

    @property
    def grants(self) -> GrantStore:
        return self.services.get_grants()  # type: ignore[no-any-return]

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    async def get(self, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
        headers = {**self.auth(token), **kw.pop("headers", {})}
        async with self.client.get(path, headers=headers, **kw) as r:
            body = await r.read()
            return r.status, (orjson.loads(body) if r.content_type == "application/json" else body)


def heart_rates(n: int, source: str = "watch") -> list[RecordIn]:
    return [
        RecordIn(
            source,
            "health.observation",
            f"hr{i:05d}",
            to_ms(T0 + timedelta(minutes=5 * i)),
            {
                "code": "8867-4",
                "code_system": "http://loinc.org",
                "value": str(60 + i % 40),
                "unit": "/min",
                "start": (T0 + timedelta(minutes=5 * i)).isoformat(),
            },
        )
        for i in range(n)
    ]


@asynccontextmanager
async def serve(vault: Vault, registry: Registry, **settings: Any) -> AsyncIterator[Api]:
    svc = Services(
        vault.paths,
        Config(paths=vault.paths, api_allowed_hosts=("Selfdata.Home.arpa",), **settings),
        vault,
        Unlocked(vault._master, None, "test"),
        registry,
    )  # type: ignore[arg-type]
    svc.events.bind(asyncio.get_running_loop())
    app = api_app(svc)
    _, token = svc.get_grants().create_token("dashboard", "show my heart rate", ["read:health.*"])
    async with TestClient(TestServer(app)) as client:
        yield Api(client, svc, token)


@pytest.fixture
async def api(vault: Vault, registry: Registry) -> AsyncIterator[Api]:
    vault.writer.upsert(heart_rates(600))
    vault.writer.upsert([RecordIn("bank", "bank.transaction", "t1", to_ms(T0), {"amount": "-1.00"})])
    async with serve(vault, registry) as api:
        yield api


async def test_health_needs_no_token_and_says_only_ok_and_version(api: Api) -> None:
    async with api.client.get("/api/v1/health") as r:
        assert r.status == 200 and set(await r.json()) == {"ok", "status", "version"}
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"
        assert r.content_type == "application/json"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("evil.example", False),
        ("evil.example:7350", False),
        ("", False),
        ("127.0.0.1.evil.example", False),
        # Names no browser sends: a port that goes on into a domain, text after the brackets.
        ("localhost:7350.evil.example", False),
        ("127.0.0.1:7350.evil.example", False),
        ("[::1].evil.example", False),
        ("[::1]evil.example", False),
        ("localhost:7350:80", False),
        ("localhost evil.example", False),
        ("[127.0.0.1]", False),
        ("::1", False),
        ("[::1]", True),
        ("localhost:", True),
        ("localhost:7350", True),
        ("app.localhost", True),
        ("127.0.0.2:80", True),
        ("[::1]:7350", True),
        ("selfdata.home.arpa", True),
        ("LOCALHOST", True),
        ("localhost.", True),
    ],
)
async def test_host_header_defends_against_dns_rebinding(api: Api, host: str, allowed: bool) -> None:
    status, body = await api.get("/api/v1/datasets", headers={"Host": host})
    if allowed:
        assert status == 200
    else:
        assert status == 403 and body["error"]["code"] == "bad_host"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer sd_nope", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 500])
async def test_missing_or_malformed_tokens_are_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    async with api.client.get("/api/v1/datasets", headers=headers) as r:
        body = await r.json()
        assert r.status == 401 and body["ok"] is False and body["error"]["code"] in ("no_token", "bad_token")
        assert "WWW-Authenticate" in r.headers


async def test_revoked_and_expired_tokens_stop_at_once(api: Api) -> None:
    grant, token = api.grants.create_token("script", "a test", ["read:*"])
    assert (await api.get("/api/v1/datasets", token))[0] == 200
    api.grants.revoke(grant.id)
    assert (await api.get("/api/v1/datasets", token))[0] == 401
    old, old_token = api.grants.create_token("old", "a test", ["read:*"], expires_days=1)
    with api.services.vault.writer.transaction() as conn:
        conn.execute("UPDATE grants SET expires_at=1 WHERE id=?", (old.id,))
    api.grants._cache.clear()
    assert (await api.get("/api/v1/datasets", old_token))[0] == 401


async def test_scope_decides_what_a_token_reads(api: Api) -> None:
    status, body = await api.get("/api/v1/datasets")
    assert status == 200 and [d["name"] for d in body["datasets"]] == ["health.observation"]
    assert body["datasets"][0]["count"] == 600 and body["datasets"][0]["schema"]["title"]
    status, body = await api.get("/api/v1/datasets/bank.transaction/records")
    assert status == 403 and body["error"]["code"] == "scope"


async def test_tokens_in_urls_are_refused(api: Api) -> None:
    async with api.client.get(f"/api/v1/datasets?token={api.token}") as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "token_in_url"


async def test_device_flow_delivers_the_token_exactly_once(api: Api) -> None:
    async with api.client.post(
        "/api/v1/grants", json={"app": "Budget", "purpose": "plan my spending", "scopes": ["read:bank.*"]}
    ) as r:
        assert r.status == 201
        req = await r.json()
    assert len(req["user_code"]) == 9 and req["id"]
    async with api.client.get(f"/api/v1/grants/{req['id']}") as r:
        assert (await r.json())["status"] == "pending"
    api.grants.decide(req["user_code"].lower(), approve=True)
    async with api.client.get(f"/api/v1/grants/{req['id']}") as r:
        first = await r.json()
    assert first["status"] == "approved" and first["token"].startswith("sd_")
    async with api.client.get(f"/api/v1/grants/{req['id']}") as r:
        assert r.status == 404  # the request id is spent once the token is out
    status, body = await api.get("/api/v1/datasets/bank.transaction/records", first["token"])
    assert status == 200 and body["records"][0]["key"] == "t1"
    stored = api.services.vault.conn.execute("SELECT count(*) FROM grants WHERE token_hash IS NOT NULL").fetchone()[0]
    assert stored == 2 and first["token"].encode() not in api.services.vault.paths.vault_file.read_bytes()


async def test_denied_requests_get_no_token(api: Api) -> None:
    async with api.client.post(
        "/api/v1/grants", json={"app": "Spy", "purpose": "sell my data", "scopes": ["read:*"]}
    ) as r:
        req = await r.json()
    api.grants.decide(req["user_code"], approve=False)
    async with api.client.get(f"/api/v1/grants/{req['id']}") as r:
        body = await r.json()
    assert body["status"] == "denied" and "token" not in body


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"app": "x", "purpose": "p", "scopes": ["read:*"]}, 400),
        ({"app": "x", "purpose": "reads data", "scopes": ["admin"]}, 400),
        ({"app": "x", "purpose": "reads data", "scopes": ["read:../etc"]}, 400),
        ({"app": "x", "purpose": "reads data", "scopes": []}, 400),
        ({"app": "x", "purpose": "reads data", "scopes": ["read:*"], "origins": ["javascript:alert(1)"]}, 400),
        ([1, 2], 400),
    ],
)
async def test_bad_grant_requests(api: Api, body: Any, status: int) -> None:
    async with api.client.post("/api/v1/grants", json=body) as r:
        assert r.status == status and (await r.json())["ok"] is False


async def test_invalid_json_wrong_type_and_oversized_bodies(api: Api) -> None:
    async with api.client.post("/api/v1/grants", data=b"{nope", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "bad_json"
    async with api.client.post("/api/v1/grants", data=b"app=x") as r:
        assert r.status == 415
    async with api.client.post(
        "/api/v1/grants", data=b"x" * (2 * 1024 * 1024), headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 413 and (await r.json())["ok"] is False


async def test_pages_cover_a_time_window_exactly_once(api: Api) -> None:
    seen: list[str] = []
    path = "/api/v1/datasets/health.observation/records?from=2026-05-01T06:00:00%2B02:00&to=2026-05-02&limit=37"
    cursor = ""
    while True:
        status, body = await api.get(path + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200
        seen += [r["key"] for r in body["records"]]
        if not body["next"]:
            break
        cursor = body["next"]
    # 04:00Z (06:00+02:00) to midnight: 20 hours of 5-minute readings
    assert len(seen) == len(set(seen)) == 20 * 12 and seen[0] == "hr00048"


async def test_fields_and_source_filters(api: Api) -> None:
    status, body = await api.get("/api/v1/datasets/health.observation/records?fields=value,unit&limit=2&source=watch")
    assert status == 200 and body["records"][0]["data"] == {"value": "60", "unit": "/min"}
    status, body = await api.get("/api/v1/datasets/health.observation/records?source=nobody")
    assert status == 200 and body["records"] == []


@pytest.mark.parametrize(
    "query",
    [
        "from=yesterday",
        "to=2026-13-01",
        "from=2026-05-01T10:00:00",
        "limit=0",
        "limit=-5",
        "limit=99999999999",
        "limit=ten",
        "cursor=!!!!",
        "cursor=YWJj",
        "cursor=OTk5OTk5OTk5OTk5OTk5OTk5OTk5OToxOTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ",  # 99..9:199..9, past 64 bits
        "source=../x",
        "fields=a;drop",
        "fields=",
    ],
)
async def test_bad_query_parameters_are_400(api: Api, query: str) -> None:
    status, body = await api.get(f"/api/v1/datasets/health.observation/records?{query}")
    assert status == 400 and body["ok"] is False and body["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/datasets/..%2F..%2Fetc/records",
        "/api/v1/datasets/health..observation/records",
        "/api/v1/datasets/HEALTH.observation/records",
        "/api/v1/datasets/health/records",
        "/api/v1/datasets/health.observation%00/records",
        "/api/v1/nothing",
        "/api/v2/datasets",
    ],
)
async def test_path_tricks_get_a_4xx_envelope(api: Api, path: str) -> None:
    status, body = await api.get(path)
    assert 400 <= status < 500 and body["ok"] is False


async def test_ndjson_streams_everything(api: Api) -> None:
    status, body = await api.get(
        "/api/v1/datasets/health.observation/records", headers={"Accept": "application/x-ndjson"}
    )
    lines = body.splitlines()
    assert status == 200 and len(lines) == 600
    assert orjson.loads(lines[-1])["key"] == "hr00599"


async def test_changes_feed_reports_deletions_within_scope(api: Api) -> None:
    status, body = await api.get("/api/v1/changes?since=0&limit=10000")
    assert (
        status == 200
        and len(body["changes"]) == 600
        and {c["dataset"] for c in body["changes"]} == {"health.observation"}
    )
    top = body["next"]
    api.services.vault.writer.delete(keys=["hr00001"], dataset="health.observation")
    api.services.vault.writer.delete(dataset="bank.transaction")
    status, body = await api.get(f"/api/v1/changes?since={top}")
    assert [(c["key"], c.get("deleted")) for c in body["changes"]] == [("hr00001", True)]
    assert "data" not in body["changes"][0]
    status, body = await api.get("/api/v1/changes?dataset=bank.transaction")
    assert status == 403


async def test_apps_write_only_under_their_own_prefix(api: Api) -> None:
    _, token = api.grants.create_token("budget", "keeps goals", ["write:app.budget.*", "read:app.budget.*"])
    rec = {"records": [{"key": "g1", "ts": "2026-05-01T00:00:00Z", "data": {"goal": "holiday", "amount": "500.00"}}]}
    async with api.client.post("/api/v1/datasets/app.budget.goals/records", json=rec, headers=api.auth(token)) as r:
        assert r.status == 200 and (await r.json())["new"] == 1
    status, body = await api.get("/api/v1/datasets/app.budget.goals/records", token)
    assert body["records"][0]["source"] == "app-budget" and body["records"][0]["data"]["goal"] == "holiday"
    for target in ("app.other.goals", "bank.transaction"):
        async with api.client.post(f"/api/v1/datasets/{target}/records", json=rec, headers=api.auth(token)) as r:
            assert r.status == 403
    bad = {"records": [{"key": "g2", "ts": "soon", "data": {}}]}
    async with api.client.post("/api/v1/datasets/app.budget.goals/records", json=bad, headers=api.auth(token)) as r:
        assert r.status == 400 and "records[0]" in (await r.json())["error"]["message"]


@pytest.mark.parametrize("depth", [64, 65, 300, 500, 1000])
async def test_deeply_nested_data_is_a_clear_400_and_stores_nothing(api: Api, depth: int) -> None:
    _, token = api.grants.create_token("notes", "keeps notes", ["write:app.notes.*"])
    data = '{"a":' * (depth - 1) + "[1]" + "}" * (depth - 1)  # `depth` levels: objects, then an array
    body = '{"records": [{"key": "k", "ts": "2026-05-01T00:00:00Z", "data": ' + data + "}]}"
    headers = {**api.auth(token), "Content-Type": "application/json"}
    async with api.client.post("/api/v1/datasets/app.notes.items/records", data=body, headers=headers) as r:
        answer = await r.json()
    if depth <= 64:
        assert r.status == 200 and answer["new"] == 1
    else:
        assert r.status == 400 and answer["error"]["message"] == "records[0]: 'data' is nested deeper than 64 levels"
        stored = api.services.vault.conn.execute("SELECT count(*) FROM records WHERE source='app-notes'")
        assert stored.fetchone()[0] == 0


@pytest.mark.parametrize("position", [f"{10**30}:1", f"1:{10**30}", f"-{2**63 + 1}:1", f"{2**63}:{2**63}"])
async def test_a_cursor_holding_a_huge_integer_is_a_clear_400(api: Api, position: str) -> None:
    cursor = base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")
    status, body = await api.get(f"/api/v1/datasets/health.observation/records?cursor={cursor}")
    assert status == 400 and body["error"]["code"] == "bad_cursor"


async def test_events_stream_record_changes_and_resume(api: Api) -> None:
    async with api.client.get("/api/v1/events", headers=api.auth()) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        bus = api.services.events
        bus.publish(RecordsChanged("bank", ("bank.transaction",), new=1))
        bus.publish(RecordsChanged("watch", ("health.observation",), new=3))
        async with asyncio.timeout(5):
            line = b""
            while not line.startswith(b"data: "):
                line = await r.content.readline()
        event = orjson.loads(line[6:])
        assert event["source"] == "watch"  # the bank event is outside this token's scope
    bus.publish(RunFinished("watch", 7, "ok", 3, 0, 0, 0, None, "ok", datasets=("health.observation",)))
    async with api.client.get("/api/v1/events", headers={**api.auth(), "Last-Event-ID": str(event["id"])}) as r:
        async with asyncio.timeout(5):
            line = b""
            while not line.startswith(b"data: "):
                line = await r.content.readline()
        assert orjson.loads(line[6:])["type"] == "run.finished"


async def test_cors_only_for_origins_a_grant_lists(api: Api) -> None:
    _, token = api.grants.create_token("web", "a dashboard page", ["read:health.*"], origins=["http://localhost:3000"])
    pre = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}
    async with api.client.options("/api/v1/datasets", headers=pre) as r:
        assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    async with api.client.options("/api/v1/datasets", headers={**pre, "Origin": "http://evil.example"}) as r:
        assert r.status == 403 and "Access-Control-Allow-Origin" not in r.headers
    async with api.client.get("/api/v1/datasets", headers={**api.auth(token), "Origin": "http://localhost:3000"}) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    async with api.client.get("/api/v1/datasets", headers={**api.auth(), "Origin": "http://localhost:3000"}) as r:
        assert "Access-Control-Allow-Origin" not in r.headers  # the dashboard grant lists no origin


async def test_access_log_aggregates_a_polling_app(api: Api) -> None:
    for _ in range(30):
        await api.get("/api/v1/datasets/health.observation/records?limit=10")
    api.services.access.flush()
    rows = api.services.vault.conn.execute(
        "SELECT app, purpose, endpoint, dataset, requests, records FROM access_log"
    ).fetchall()
    assert rows == [("dashboard", "show my heart rate", "records", "health.observation", 30, 300)]
    grants = {g.id: g for g in api.grants.all()}
    assert any(g.reads == {"health.observation": 300} and g.last_used_at for g in grants.values())


async def test_listing_the_datasets_is_one_access_log_row(api: Api) -> None:
    status, body = await api.get("/api/v1/datasets")
    assert status == 200 and len(body["datasets"]) >= 1
    api.services.access.flush()
    rows = api.services.vault.conn.execute("SELECT endpoint, dataset, requests, records FROM access_log").fetchall()
    assert rows == [("datasets", "", 1, 0)]
    assert all(g.reads == {} for g in api.grants.all())


async def test_failed_logins_are_rate_limited(api: Api) -> None:
    for _ in range(10):
        assert (await api.get("/api/v1/datasets", "sd_wrong"))[0] == 401
    async with api.client.get("/api/v1/datasets", headers=api.auth("sd_wrong")) as r:
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0
        assert (await r.json())["error"]["code"] == "too_many_failures"
    # Without trusted proxies a forwarded address is the client's own word: not believed.
    other = {"X-Forwarded-For": "203.0.113.9"}
    assert (await api.get("/api/v1/datasets", "sd_wrong", headers=other))[0] == 429


async def _get_from(api: Api, address: str, token: str) -> int:
    """A request from another loopback address: another client, as the API tells them apart."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        url = api.client.make_url("/api/v1/datasets")
        async with session.get(url, headers={**api.auth(token), "Host": "localhost"}) as r:
            return r.status


async def test_a_client_hammering_a_revoked_token_slows_no_one_else(api: Api) -> None:
    grant, revoked = api.grants.create_token("old dashboard", "show my heart rate", ["read:health.*"])
    api.grants.revoke(grant.id)
    other, other_bad = api.grants.create_token("other app", "show my heart rate", ["read:health.*"])
    api.grants.revoke(other.id)
    statuses = []
    for _ in range(50):
        statuses.append((await api.get("/api/v1/datasets", revoked))[0])
        # The same address with a valid token is never held back.
        assert (await api.get("/api/v1/datasets"))[0] == 200
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    # Another app on the same address, whose own token was revoked, is told so, not made to wait.
    assert (await api.get("/api/v1/datasets", other_bad))[0] == 401
    # Another client (another address) is not slowed at all.
    assert await _get_from(api, "127.0.0.2", revoked) == 401
    assert await _get_from(api, "127.0.0.2", api.token) == 200


async def test_a_client_guessing_tokens_waits_but_its_valid_token_does_not(api: Api) -> None:
    guesses = [f"sd_guess{i:03d}" for i in range(21)]
    assert [(await api.get("/api/v1/datasets", g))[0] for g in guesses] == [401] * 20 + [429]
    assert (await api.get("/api/v1/datasets", "sd_guess999"))[0] == 429
    assert (await api.get("/api/v1/datasets"))[0] == 200
    assert await _get_from(api, "127.0.0.3", "sd_guess999") == 401


def test_failed_logins_keep_bounded_memory() -> None:
    from daemon.api import security

    failures = security.FailedLogins()
    for i in range(security.MAX_CLIENTS + 50):
        failures.fail(f"10.0.{i // 256}.{i % 256}", failures.fingerprint("sd_x"))
    for i in range(500):
        failures.fail("10.9.9.9", failures.fingerprint(f"sd_{i}"))
    assert len(failures._failures) <= security.MAX_CLIENTS
    assert len(failures._failures["10.9.9.9"]) <= security.MAX_BAD_TOKENS


async def test_behind_a_trusted_proxy_clients_are_limited_apart(vault: Vault, registry: Registry) -> None:
    async with serve(vault, registry, api_trusted_proxies=("127.0.0.1", "::1")) as api:
        bad = {"X-Forwarded-For": "198.51.100.7"}
        for _ in range(10):
            assert (await api.get("/api/v1/datasets", "sd_wrong", headers=bad))[0] == 401
        assert (await api.get("/api/v1/datasets", "sd_wrong", headers=bad))[0] == 429
        assert (await api.get("/api/v1/datasets", headers=bad))[0] == 200  # its valid token still works
        # Another client behind the same proxy, and one that puts the blocked address
        # further left (where the proxy does not vouch for it), are not held back.
        other = {"X-Forwarded-For": "198.51.100.8"}
        assert (await api.get("/api/v1/datasets", "sd_wrong", headers=other))[0] == 401
        spoofed = {"X-Forwarded-For": "198.51.100.7, 198.51.100.8"}
        assert (await api.get("/api/v1/datasets", "sd_wrong", headers=spoofed))[0] == 401


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("127.0.0.1", [], "127.0.0.1"),  # no header: the proxy itself
        ("127.0.0.1", ["192.0.2.1"], "192.0.2.1"),
        ("127.0.0.1", ["192.0.2.66, 192.0.2.1"], "192.0.2.1"),  # the left part is the client's word
        ("127.0.0.1", ["192.0.2.1, 10.1.2.3"], "192.0.2.1"),  # a second trusted proxy in the chain
        ("127.0.0.1", ["192.0.2.1", "10.1.2.3"], "192.0.2.1"),  # the same in two header lines
        ("127.0.0.1", ["10.1.2.3"], "10.1.2.3"),  # every hop trusted: the farthest one
        ("127.0.0.1", ["2001:db8::5"], "2001:db8::5"),
        ("127.0.0.1", ["unknown, not-an-ip"], "127.0.0.1"),  # unreadable: stop at the proxy
        ("127.0.0.1", ["192.0.2.1, junk"], "127.0.0.1"),
        ("192.0.2.50", ["192.0.2.1"], "192.0.2.50"),  # not a trusted peer: header ignored
        (None, ["192.0.2.1"], "?"),
    ],
)
def test_client_address_walks_forwarded_hops_from_the_right(
    remote: str | None, forwarded: list[str], client: str
) -> None:
    trusted = (ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8"))
    assert client_address(remote, forwarded, trusted) == client
    assert client_address(remote, forwarded, ()) == (remote or "?")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["from", "to", "limit", "cursor", "source", "fields", "since", "dataset"]),
        st.one_of(
            st.text(max_size=30),
            st.integers(-(10**12), 10**12).map(str),
            st.sampled_from(["2026-05-01", "2026-05-01T00:00:00Z", "1e9", "MTox", "-1", "watch", "value"]),
        ),
        max_size=5,
    )
)
def test_no_query_ever_gets_a_500(api: Api, params: dict[str, str]) -> None:
    async def probe() -> None:
        for path in ("/api/v1/datasets/health.observation/records", "/api/v1/changes"):
            async with api.client.get(path, params=params, headers=api.auth()) as r:
                assert r.status in (200, 400, 403), (path, params, r.status, await r.text())
                body = await r.json()
                assert body["ok"] is (r.status == 200)

    asyncio.get_event_loop().run_until_complete(probe())


async def test_openapi_describes_every_route(api: Api) -> None:
    async with api.client.get("/api/v1/openapi.json") as r:
        spec = await r.json()
    assert spec["openapi"].startswith("3.1")
    app = api.client.server.app
    assert app is not None
    for route in app.router.routes():
        info = route.get_info()
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or not path.startswith("/api/"):
            continue  # the dashboard's pages are not part of the API
        assert path in spec["paths"], path
        assert route.method.lower() in spec["paths"][path], (route.method, path)
        for status in spec["paths"][path][route.method.lower()]["responses"]:
            assert status.isdigit()


async def test_openapi_declares_the_limits_and_name_patterns_the_api_enforces(api: Api) -> None:
    from daemon.grants import APP_RE
    from daemon.vault.names import DATASET_RE, SOURCE_RE

    async with api.client.get("/api/v1/openapi.json") as r:
        spec = await r.json()
    params = {
        (path, p["name"]): p["schema"]
        for path, item in spec["paths"].items()
        for op in item.values()
        for p in op.get("parameters", [])
    }
    records, changes = "/api/v1/datasets/{dataset}/records", "/api/v1/changes"
    assert params[(records, "limit")]["minimum"] == 1
    assert (params[(changes, "limit")]["minimum"], params[(changes, "limit")]["maximum"]) == (1, 10_000)
    assert params[(records, "source")]["pattern"] == SOURCE_RE.pattern
    assert params[(records, "dataset")]["pattern"] == params[(changes, "dataset")]["pattern"] == DATASET_RE.pattern
    grant = spec["paths"]["/api/v1/grants"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert grant["properties"]["app"]["pattern"] == APP_RE.pattern
    # What the spec declares is what the API does at the edges.
    assert (await api.get("/api/v1/changes?limit=0"))[0] == 400
    assert (await api.get("/api/v1/changes?limit=10000"))[0] == 200
    assert (await api.get("/api/v1/datasets/health.observation/records?source=Bad_Name"))[0] == 400


async def test_a_wrong_method_gets_405_with_allow(api: Api) -> None:
    async with api.client.delete("/api/v1/datasets", headers=api.auth()) as r:
        assert r.status == 405 and (await r.json())["error"]["code"] == "method_not_allowed"
        assert "GET" in r.headers["Allow"]
    async with api.client.put("/api/v1/datasets/health.observation/records", headers=api.auth()) as r:
        assert r.status == 405 and {"GET", "POST"} <= {m.strip() for m in r.headers["Allow"].split(",")}
