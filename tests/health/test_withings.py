"""The Withings connector against a fake Withings API on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.health.oauth import TOKEN, TokenSet
from connectors.health.withings import PLACEHOLDER_REDIRECT, WithingsConnector, measure_records, scaled
from connectors.sdk import (
    AuthFailed,
    Context,
    Fatal,
    Fragment,
    Http,
    InvalidRecord,
    Retryable,
    SettingsError,
    parse_settings,
)
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from connectors.testing.harness import run_connector
from connectors.testing.vendors.withings import (
    CLIENT_ID,
    CLIENT_SECRET,
    DEMO_TOKEN,
    make_server,
    measure_groups,
    withings_state,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REDIRECT = "https://selfdata.example/authorized"
SAMPLE = Path("/work/shared/samples/health/withings_measurement.json")


class TestWithingsContract(ConnectorContract):
    connector = WithingsConnector

    def vendor(self) -> FakeServer:
        return make_server(days=60, page_size=40)

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {"client_id": CLIENT_ID, "api_url": vendor.url, "authorize_url": f"{vendor.url}/oauth2_user/authorize2"}

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {"client_secret": CLIENT_SECRET, TOKEN: DEMO_TOKEN}


def context(server: FakeServer, token: str = DEMO_TOKEN) -> Context:
    saved: dict[str, str] = {}

    async def save(name: str, value: str) -> None:
        saved[name] = value

    ctx = Context(
        source="scale",
        settings={
            "client_id": CLIENT_ID,
            "api_url": server.url,
            "authorize_url": f"{server.url}/oauth2_user/authorize2",
        },
        secrets={"client_secret": CLIENT_SECRET, TOKEN: token},
        http=Http(),
        now=lambda: NOW,
        save_secret=save,
    )
    ctx.saved = saved  # type: ignore[attr-defined]
    return ctx


async def run(ctx: Context, **kw: Any) -> Any:
    try:
        return await run_connector(WithingsConnector(), ctx, **kw)
    finally:
        await ctx.http.close()


def data(out: Any, key: str) -> dict[str, Any]:
    return json.loads(out.store.records[("health.observation", key)][1])  # type: ignore[no-any-return]


@pytest.mark.asyncio
async def test_measures_are_mapped_and_scaled_exactly() -> None:
    async with make_server(days=30) as server:
        out = await run(context(server))
    groups = {g["grpid"]: g for g in measure_groups(days=30)}
    scale = next(g for g in groups.values() if g["model"] == "Body+" and g["attrib"] == 0)
    weight = data(out, f"{scale['grpid']}:1")
    raw_weight = next(m for m in scale["measures"] if m["type"] == 1)
    assert Decimal(weight["value"]) == Decimal(raw_weight["value"]) / 1000
    assert (weight["code"], weight["unit"], weight["device"]) == ("29463-7", "kg", "Body+")
    assert weight["source_code"] == "withings:1"
    assert weight["start"].endswith("+02:00") or weight["start"].endswith("+01:00")  # Europe/Paris
    assert data(out, f"{scale['grpid']}:6")["code"] == "41982-0"
    bpm = next(g for g in groups.values() if g["model"] == "BPM Core")
    bp = data(out, f"{bpm['grpid']}:bp")
    by_type = {m["type"]: str(m["value"]) for m in bpm["measures"]}
    assert bp["code"] == "85354-9" and "value" not in bp
    assert bp["components"] == [
        {"code": "8480-6", "value": by_type[10], "unit": "mm[Hg]"},
        {"code": "8462-4", "value": by_type[9], "unit": "mm[Hg]"},
    ]
    assert data(out, f"{bpm['grpid']}:11")["unit"] == "/min"
    thermo = next(g for g in groups.values() if g["model"] == "Thermo")
    temperature = data(out, f"{thermo['grpid']}:71")
    assert Decimal(temperature["value"]) == Decimal(thermo["measures"][0]["value"]) / 100
    assert temperature["unit"] == "Cel"
    watch = next(g for g in groups.values() if g["model"] == "ScanWatch")
    assert data(out, f"{watch['grpid']}:54")["unit"] == "%"


@pytest.mark.asyncio
async def test_unknown_types_are_kept_and_ambiguous_measures_are_not_stored() -> None:
    async with make_server(days=60) as server:
        out = await run(context(server))
    groups = measure_groups(days=60)
    odd = next(g for g in groups if any(m["type"] == 999 for m in g["measures"]))
    kept = data(out, f"{odd['grpid']}:999")
    assert (kept["code"], kept["code_system"], kept["value"]) == ("999", "Withings", "420.0")
    assert "source_code" not in kept and "unit" not in kept
    visitor = next(g for g in groups if g["attrib"] == 1)
    assert not [k for k in out.store.records if k[1].startswith(f"{visitor['grpid']}:")]


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=-12, max_value=6))
def test_value_times_ten_to_the_unit_is_exact(value: int, unit: int) -> None:
    assert scaled({"value": value, "unit": unit}) == Decimal(value) * Decimal(10) ** unit


def test_non_integer_measures_are_refused() -> None:
    for bad in ({"value": 72.5, "unit": -1}, {"value": "725", "unit": -1}, {"value": 725, "unit": None}):
        with pytest.raises(InvalidRecord):
            scaled(bad)


def test_real_measurement_sample() -> None:
    if not SAMPLE.exists():
        pytest.skip("no samples here")
    body = json.loads(SAMPLE.read_text())["body"]
    records = [r for g in body["measuregrps"] for r in measure_records({"group": g, "timezone": body["timezone"]})]
    assert {r.key for r in records} == {"4815757309:1"}  # the same group twice (attrib 0 and 8): one record
    assert {r.data["value"] for r in records} == {"118.003"}
    assert records[0].data["start"] == "2023-09-02T12:39:11+02:00"
    assert WithingsConnector().normalize(Fragment("health.observation", {"group": body["measuregrps"][0]})) == [
        measure_records({"group": body["measuregrps"][0], "timezone": None})[0]
    ]


@pytest.mark.asyncio
async def test_authorization_code_flow() -> None:
    async with make_server(days=10) as server:
        ctx = context(server, token="")
        url = await WithingsConnector().authorization_url(ctx, REDIRECT)
        assert parse_qs(urlsplit(url).query)["scope"] == ["user.metrics"]
        async with aiohttp.ClientSession() as browser, browser.get(url, allow_redirects=False) as resp:
            back = resp.headers["Location"]
        await WithingsConnector().complete_authorization(ctx, REDIRECT, back)
        tokens = TokenSet.from_json(ctx.saved[TOKEN], "scale")  # type: ignore[attr-defined]
        assert tokens.extra["userid"] == "1234567" and tokens.refresh_token
        out = await run(ctx)
        assert out.completed and withings_state(server).token_requests == 1  # no refresh needed


@pytest.mark.asyncio
async def test_incremental_through_lastupdate() -> None:
    async with make_server(days=40, page_size=30) as server:
        w = withings_state(server)
        first = await run(context(server))
        assert first.state == {"lastupdate": w.updatetime}
        before = w.measure_requests
        again = await run(context(server), state=first.state, store=first.store)
        assert w.measure_requests - before == 1 and not again.yielded
        edited = w.groups[3]
        edited["measures"] = [{**edited["measures"][0], "value": edited["measures"][0]["value"] + 100}]
        edited["modified"] = w.updatetime = w.updatetime + 60
        third = await run(context(server), state=again.state, store=again.store)
    assert (third.counts.new, third.counts.changed) == (0, 1)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (601, Retryable, "busy \\(status 601"),
        (2555, Retryable, "status 2555"),
        (503, Fatal, "refused getmeas \\(status 503"),
        (100, AuthFailed, "status 100"),
    ],
)
async def test_errors_in_the_body_of_http_200(status: int, error: type[Exception], match: str) -> None:
    async with make_server(days=10) as server:
        withings_state(server).statuses = [status]
        with pytest.raises(error, match=match) as raised:
            await run(context(server))
    if status == 601:
        assert raised.value.retry_after == 60  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_an_invalid_token_in_the_body_refreshes_once() -> None:
    async with make_server(days=10) as server:
        w = withings_state(server)
        fresh = TokenSet("revoked", "demo-refresh-token", NOW.timestamp() + 3000).to_json()
        out = await run(context(server, token=fresh))
        assert out.completed and w.token_requests == 1
        w.statuses = [401, 401]  # refused again after the refresh: the user must log in again
        with pytest.raises(AuthFailed):
            await run(context(server, token=fresh))
        assert w.token_requests == 2


@pytest.mark.asyncio
async def test_a_rejected_refresh_token_is_auth_failed_without_a_storm() -> None:
    async with make_server(days=10) as server:
        w = withings_state(server)
        stale = TokenSet("old", "revoked-refresh", 0).to_json()
        with pytest.raises(AuthFailed, match="invalid refresh_token"):
            await run(context(server, token=stale))
        assert (w.token_requests, w.measure_requests) == (1, 0)


@pytest.mark.asyncio
async def test_token_endpoint_answering_html() -> None:
    async with make_server(days=10) as server:
        withings_state(server).html_token_endpoint = True
        with pytest.raises(Fatal, match="HTML page \\('502 Bad Gateway'\\)"):
            await run(context(server))
        assert withings_state(server).token_requests == 1


@pytest.mark.asyncio
async def test_http_429_is_retryable() -> None:
    async with make_server(days=10) as server:
        server.fail(429, headers={"Retry-After": "120"}, path_prefix="/measure")
        with pytest.raises(Retryable) as err:
            await run(context(server, token=TokenSet("x", "demo-refresh-token", 0).to_json()))
        assert err.value.retry_after == 120


# --- what Withings refuses at the consent, and Body Scan segments ---------------------------

CLI_REDIRECT = "http://127.0.0.1:7350/oauth/callback"  # `selfdata source authorize`'s default


async def consent(url: str) -> str:
    """The user consents in a browser: where Withings sends it back."""
    async with aiohttp.ClientSession() as browser, browser.get(url, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        return resp.headers["Location"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "redirect",
    [
        "http://127.0.0.1:7350/oauth/callback",
        "https://localhost/authorized",
        "https://192.168.1.20/sources/scale/authorized",
        "https://selfdata.example:8443/authorized",
        "http://selfdata.example/authorized",
    ],
)
async def test_the_fake_refuses_redirects_withings_refuses(redirect: str) -> None:
    async with make_server(days=2) as server:
        query = {"response_type": "code", "client_id": CLIENT_ID, "scope": "user.metrics", "redirect_uri": redirect}
        async with (
            aiohttp.ClientSession() as browser,
            browser.get(f"{server.url}/oauth2_user/authorize2", params=query, allow_redirects=False) as resp,
        ):
            assert resp.status == 400 and "redirect_uri" in await resp.text()


@pytest.mark.asyncio
async def test_the_cli_redirect_is_replaced_by_one_withings_accepts_and_the_pasted_address_works() -> None:
    async with make_server(days=10) as server:
        withings_state(server).registered = [PLACEHOLDER_REDIRECT]
        ctx = context(server, token="")
        url = await WithingsConnector().authorization_url(ctx, CLI_REDIRECT)
        assert parse_qs(urlsplit(url).query)["redirect_uri"] == [PLACEHOLDER_REDIRECT]
        landed = await consent(url)  # the browser cannot open selfdata.invalid: the user copies its address
        assert landed.startswith(PLACEHOLDER_REDIRECT + "?code=")
        await WithingsConnector().complete_authorization(ctx, CLI_REDIRECT, landed)
        assert TokenSet.from_json(ctx.saved[TOKEN], "scale").refresh_token  # type: ignore[attr-defined]
        assert (await run(ctx)).completed


@pytest.mark.asyncio
async def test_a_registered_redirect_setting_and_an_https_dashboard_are_used_as_they_are() -> None:
    dashboard = "https://home.example.org/sources/scale/authorized"
    async with make_server(days=2) as server:
        ctx = context(server, token="")
        url = await WithingsConnector().authorization_url(ctx, dashboard)  # behind the user's HTTPS proxy
        assert parse_qs(urlsplit(url).query)["redirect_uri"] == [dashboard]
        ctx.settings["redirect_uri"] = "https://me.example.net/withings"
        url = await WithingsConnector().authorization_url(ctx, dashboard)
        assert parse_qs(urlsplit(url).query)["redirect_uri"] == ["https://me.example.net/withings"]
        await WithingsConnector().complete_authorization(ctx, dashboard, await consent(url))
        await ctx.http.close()
        assert TokenSet.from_json(ctx.saved[TOKEN], "scale").access_token  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("redirect", "problem"),
    [
        ("http://127.0.0.1:7350/oauth/callback", "https"),
        ("https://localhost/x", "localhost"),
        ("https://[::1]/x", "IP"),
        ("https://10.0.0.2/x", "IP"),
        ("https://pi.example:8443/x", "443"),
    ],
)
def test_a_redirect_setting_withings_would_refuse_is_refused_when_saved(redirect: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        parse_settings(WithingsConnector.fields, {"client_id": "x", "client_secret": "y", "redirect_uri": redirect})


@pytest.mark.asyncio
async def test_a_code_pasted_after_30_seconds_says_it_is_too_late() -> None:
    async with make_server(days=2) as server:
        ctx = context(server, token="")
        landed = await consent(await WithingsConnector().authorization_url(ctx, CLI_REDIRECT))
        withings_state(server).advance(31)
        with pytest.raises(AuthFailed, match="within 30 seconds") as err:
            await WithingsConnector().complete_authorization(ctx, CLI_REDIRECT, landed)
        await ctx.http.close()
        assert "selfdata source authorize scale" in str(err.value) and TOKEN not in ctx.saved  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_body_scan_segments_keep_their_body_position() -> None:
    async with make_server(days=30) as server:
        out = await run(context(server))
    scans = [g for g in measure_groups(days=30) if g["model"] == "Body Scan"]
    segmental = [m for g in scans for m in g["measures"] if m["type"] in (173, 174, 175)]
    assert len(scans) == 2 and len(segmental) == 30
    keys = {k for _, k in out.store.records if k.split(":")[0] in {str(g["grpid"]) for g in scans}}
    assert len([k for k in keys if k.split(":")[1] in ("173", "174", "175")]) == 30
    scan = scans[0]
    torso = next(m for m in scan["measures"] if (m["type"], m.get("position")) == (174, 12))
    stored = data(out, f"{scan['grpid']}:174:torso")
    assert Decimal(stored["value"]) == Decimal(torso["value"]).scaleb(torso["unit"])
    assert (stored["body_site"], stored["unit"], stored["name"]) == ("torso", "kg", "Fat mass, torso")
    whole = data(out, f"{scan['grpid']}:5")  # whole body (position 7), sent twice: one record
    assert "body_site" not in whole and stored["device"] == "Body Scan"
    assert {
        f"{scan['grpid']}:173:{site}" for site in ("torso", "left_leg", "left_arm", "right_leg", "right_arm")
    } <= keys
