"""The SMART on FHIR connector against a fake SMART authorization server and FHIR R4 server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from connectors.health.oauth import TOKEN, TokenSet
from connectors.health.smart import SmartFhirConnector
from connectors.health.smart_server import SmartConfig, scope_for
from connectors.sdk import AuthFailed, Context, Fatal, Fragment, Http, Retryable
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from connectors.testing.harness import run_connector
from connectors.testing.memory import MemoryStore
from connectors.testing.vendors.smart_fhir import CLIENT_ID, DEMO_TOKEN, PATIENT, SMART, make_server, smart_state

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REDIRECT = "http://127.0.0.1:7350/authorized"


class TestSmartFhirContract(ConnectorContract):
    connector = SmartFhirConnector

    def vendor(self) -> FakeServer:
        return make_server(months=4, page_size=15)

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {"fhir_base_url": f"{vendor.url}/fhir", "client_id": CLIENT_ID}

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {TOKEN: DEMO_TOKEN}


def context(server: FakeServer, token: str = DEMO_TOKEN, **settings: Any) -> Context:
    saved: dict[str, str] = {}

    async def save(name: str, value: str) -> None:
        saved[name] = value

    ctx = Context(
        source="my-hospital",
        settings={"fhir_base_url": f"{server.url}/fhir", "client_id": CLIENT_ID, **settings},
        secrets={TOKEN: token},
        http=Http(),
        now=lambda: NOW,
        save_secret=save,
    )
    ctx.saved = saved  # type: ignore[attr-defined]
    return ctx


async def run(ctx: Context, **kw: Any) -> Any:
    try:
        return await run_connector(SmartFhirConnector(), ctx, **kw)
    finally:
        await ctx.http.close()


def fresh_token(access: str = "unknown", refresh: str = "demo-refresh-token") -> str:
    return TokenSet(access, refresh, NOW.timestamp() + 3000, extra={"patient": PATIENT}).to_json()


@pytest.mark.asyncio
async def test_authorization_code_with_pkce_then_sync() -> None:
    async with make_server(months=2) as server:
        ctx = context(server, token="")
        url = await SmartFhirConnector().authorization_url(ctx, REDIRECT)
        q = parse_qs(urlsplit(url).query)
        assert url.startswith(f"{server.url}/auth/authorize?")
        assert q["code_challenge_method"] == ["S256"] and q["aud"] == [f"{server.url}/fhir"]
        assert "verifier" in ctx.secrets["authorization"]  # saved for the second step, maybe in another process
        async with aiohttp.ClientSession() as browser:  # the user consents in a browser
            async with browser.get(url, allow_redirects=False) as resp:
                back = resp.headers["Location"]
        assert back.startswith(REDIRECT)
        await SmartFhirConnector().complete_authorization(ctx, REDIRECT, back)
        tokens = json.loads(ctx.saved[TOKEN])  # type: ignore[attr-defined]
        assert tokens["extra"]["patient"] == PATIENT and tokens["refresh_token"]
        assert ctx.secrets["authorization"] == ""
        out = await run(ctx)
    assert out.completed and out.store.records


@pytest.mark.asyncio
async def test_a_code_for_another_request_is_refused() -> None:
    async with make_server(months=1) as server:
        ctx = context(server, token="")
        await SmartFhirConnector().authorization_url(ctx, REDIRECT)
        with pytest.raises(AuthFailed, match="state differs"):
            await SmartFhirConnector().complete_authorization(ctx, REDIRECT, f"{REDIRECT}?code=abc&state=forged")
        with pytest.raises(AuthFailed, match="refused: access_denied"):
            await SmartFhirConnector().complete_authorization(ctx, REDIRECT, f"{REDIRECT}?error=access_denied")
        await ctx.http.close()


@pytest.mark.asyncio
async def test_observations_and_clinical_records() -> None:
    async with make_server(months=2) as server:
        out = await run(context(server))
    observations = {k: v for k, v in out.store.records.items() if k[0] == "health.observation"}
    bp = json.loads(observations[("health.observation", "Observation/pat-1-bp-1")][1])
    assert [c["code"] for c in bp["components"]] == ["8480-6", "8462-4"]
    # Documented choice: an Observation with no value is kept, without value, with its reason.
    vitd = json.loads(observations[("health.observation", "Observation/pat-1-vitd-1")][1])
    assert "value" not in vitd and vitd["absent_reason"] == "Not Performed"
    kinds = {k[1].split("/")[0] for k in out.store.records if k[0] == "health.clinical"}
    assert {"Patient", "Condition", "Encounter", "Immunization", "MedicationRequest", "Coverage"} <= kinds


def test_normalize_maps_stored_observations_again() -> None:
    resource = next(r for r in make_server(months=1).app[SMART].resources if r["resourceType"] == "Observation")
    (record,) = SmartFhirConnector().normalize(Fragment("health.observation", resource))
    assert record.key == f"Observation/{resource['id']}" and record.raw == resource


@pytest.mark.asyncio
async def test_expired_token_is_refreshed_once_and_stored() -> None:
    async with make_server(months=1) as server:
        ctx = context(server)  # DEMO_TOKEN expired long ago
        out = await run(ctx)
        assert out.completed
        assert smart_state(server).token_requests == 1
    saved = TokenSet.from_json(ctx.saved[TOKEN], "x")  # type: ignore[attr-defined]
    assert saved.refresh_token not in (None, "demo-refresh-token")  # the rotated one, kept at once
    assert saved.extra["patient"] == PATIENT and saved.expires_at == NOW.timestamp() + 3600


@pytest.mark.asyncio
async def test_a_401_mid_sync_refreshes_once() -> None:
    async with make_server(months=1) as server:
        smart = smart_state(server)
        ctx = context(server, token=fresh_token("revoked-access"))
        out = await run(ctx)
        assert out.completed and smart.token_requests == 1


@pytest.mark.asyncio
async def test_never_two_refreshes_racing() -> None:
    async with make_server(months=1) as server:
        smart = smart_state(server)
        one, two = context(server), context(server)  # two runs of one source, all holding an expired token
        c = SmartFhirConnector
        outs = await asyncio.gather(run_connector(c(), one), run_connector(c(), one), run_connector(c(), two))
        await one.http.close()
        await two.http.close()
        assert all(o.completed for o in outs)
        assert smart.token_requests == 1
        assert smart.refused_refreshes == 0


@pytest.mark.asyncio
async def test_a_rejected_refresh_token_is_auth_failed_without_a_storm() -> None:
    async with make_server(months=1) as server:
        smart = smart_state(server)
        smart.reject_refresh = True
        with pytest.raises(AuthFailed, match="invalid_grant"):
            await run(context(server))
        assert smart.token_requests == 1
        with pytest.raises(AuthFailed):
            await asyncio.gather(run(context(server)), run(context(server)))
        assert smart.token_requests <= 2  # two runs at once: one refresh request between them
        assert server.count("/fhir/") == server.count("/fhir/.well-known/")  # discovery only, no data request


@pytest.mark.asyncio
async def test_token_endpoint_answering_html() -> None:
    async with make_server(months=1) as server:
        smart_state(server).html_token_endpoint = True
        with pytest.raises(Fatal, match="answered an HTML page \\('Patient Portal - Sign in'\\)"):
            await run(context(server))
        assert smart_state(server).token_requests == 1


@pytest.mark.asyncio
async def test_a_next_link_that_loops_stops_with_a_clear_error() -> None:
    async with make_server(months=3, page_size=10) as server:
        smart_state(server).loop_type = "Observation"
        store = MemoryStore()
        with pytest.raises(Fatal, match="paging loops: after 2 pages of Observation, the next link points back"):
            await run(context(server, token=fresh_token()), store=store)
        assert server.count("/fhir/Observation") == 2
    assert store.records  # the types before were complete and committed
    assert not [k for k in store.records if k[1].startswith("Observation/")]  # nothing half-stored


@pytest.mark.asyncio
async def test_a_next_link_to_another_server_is_not_followed() -> None:
    async def search(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [],
                "link": [{"relation": "next", "url": "https://elsewhere.example/fhir/Patient?p=2"}],
            }
        )

    app = web.Application()
    app.router.add_get("/fhir/Patient", search)
    async with FakeServer(app) as server:
        with pytest.raises(Fatal, match="another server"):
            await run(context(server, token=fresh_token(), resource_types="Patient"))


@pytest.mark.asyncio
async def test_incremental_through_last_updated() -> None:
    async with make_server(months=6) as server:
        first = await run(context(server))
        since = first.state["since"]
        assert set(since) >= {"Observation", "Condition", "Patient"}
        smart = smart_state(server)
        changed = next(r for r in smart.resources if r["resourceType"] == "Condition")
        smart.update({**changed, "clinicalStatus": {"text": "Resolved"}})
        second = await run(context(server), state=first.state, store=first.store)
    assert (second.counts.new, second.counts.changed) == (0, 1)
    assert second.state["since"]["Condition"] > since["Condition"]
    assert len(second.yielded) < len(first.yielded) / 5  # only the boundary and the change come back


@pytest.mark.asyncio
async def test_types_the_server_refuses_are_skipped_with_a_warning() -> None:
    async with make_server(months=1) as server:
        ctx = context(server, resource_types="Patient,Device,Observation")
        out = await run(ctx)
    assert out.completed and any("Device" in w and "403" in w for w in ctx.warnings)
    assert any(k[1].startswith("Observation/") for k in out.store.records)


@pytest.mark.asyncio
async def test_rate_limit_is_retryable_with_its_delay() -> None:
    async with make_server(months=1) as server:
        server.fail(429, headers={"Retry-After": "30"}, path_prefix="/fhir/Condition")
        with pytest.raises(Retryable) as err:
            await run(context(server, token=fresh_token()))
        assert err.value.retry_after == 30


@pytest.mark.asyncio
async def test_a_resource_breaking_cardinalities_is_kept_whole_with_a_warning() -> None:
    async with make_server(months=1) as server:
        smart = smart_state(server)
        bad = next(r for r in smart.resources if r["resourceType"] == "Observation")
        smart.update({**bad, "valueString": "sixty", "status": ["final", "amended"]})
        ctx = context(server, token=fresh_token(), resource_types="Observation")
        out = await run(ctx)
    key = f"Observation/{bad['id']}"
    assert ("health.clinical", key) in out.store.records
    assert ("health.observation", key) not in out.store.records  # never a wrong quantity
    assert any("status holds one value" in w for w in ctx.warnings)


@pytest.mark.asyncio
async def test_check_reads_the_patient() -> None:
    async with make_server(months=1) as server:
        ctx = context(server, token=fresh_token("x"))
        smart_state(server).access["x"] = NOW.timestamp() * 2
        await SmartFhirConnector().check(ctx)
        await ctx.http.close()
        assert server.count(f"/fhir/Patient/{PATIENT}") == 1


# --- what real servers refuse ------------------------------------------------------------------


async def authorize(ctx: Context) -> None:
    """The whole browser round trip; the server's refusal of the authorization URL fails here."""
    url = await SmartFhirConnector().authorization_url(ctx, REDIRECT)
    async with aiohttp.ClientSession() as browser, browser.get(url, allow_redirects=False) as resp:
        assert resp.status == 302, f"the server refused the authorization: HTTP {resp.status} {await resp.text()}"
        back = resp.headers["Location"]
    await SmartFhirConnector().complete_authorization(ctx, REDIRECT, back)


@pytest.mark.asyncio
async def test_blue_button_is_asked_only_the_scopes_it_advertises_and_read_with_default_settings() -> None:
    async with make_server(months=3, vendor="bluebutton") as server:
        ctx = context(server, token="")
        await authorize(ctx)
        scope = parse_qs(urlsplit(await SmartFhirConnector().authorization_url(ctx, REDIRECT)).query)["scope"][0]
        out = await run(ctx)
        searches = smart_state(server).searches
    assert set(scope.split()) == {
        "openid",
        "launch/patient",
        "patient/Patient.read",
        "patient/Coverage.read",
        "patient/ExplanationOfBenefit.read",
    }
    assert out.completed and not ctx.warnings
    kinds = {k[1].split("/")[0] for k in out.store.records}
    assert kinds == {"Patient", "Coverage", "ExplanationOfBenefit"}
    assert {s.split("?")[0] for s in searches} == kinds, "types Blue Button does not offer are not asked"
    assert all(int(parse_qs(s.split("?")[1])["_count"][0]) <= 50 for s in searches)


@pytest.mark.asyncio
async def test_a_page_size_over_the_servers_limit_is_lowered_and_remembered() -> None:
    async with make_server(months=8, vendor="bluebutton") as server:
        ctx = context(server, token=fresh_token(), page_size=100)
        smart_state(server).refresh["demo-refresh-token"] = "patient/ExplanationOfBenefit.read"
        ctx.secrets[TOKEN] = TokenSet("x", "demo-refresh-token", 0, extra={"patient": PATIENT}).to_json()
        first = await run(ctx)
        eobs = [r for r in smart_state(server).resources if r["resourceType"] == "ExplanationOfBenefit"]
        again = await run(context(server, token=ctx.secrets[TOKEN], page_size=100), state=first.state)
        counts = [parse_qs(s.split("?")[1])["_count"][0] for s in smart_state(server).searches]
    assert first.completed and len([k for k in first.store.records if "ExplanationOfBenefit/" in k[1]]) == len(eobs)
    assert counts[:2] == ["100", "50"] and set(counts[2:]) == {"50"}, "the limit is kept for later syncs"
    assert first.state["page_size"] == 50 and again.completed


@pytest.mark.asyncio
async def test_epic_observations_are_searched_per_category_and_the_types_after_are_read() -> None:
    async with make_server(months=3, vendor="epic") as server:
        first = await run(context(server, token=fresh_token()))
        smart = smart_state(server)
        refused_once = [s for s in smart.searches if s.startswith("Observation?") and "category" not in s]
        smart.searches.clear()
        again = await run(context(server, token=fresh_token()), state=first.state, store=first.store)
    assert first.completed and len(refused_once) == 1
    kinds = {k[1].split("/")[0] for k in first.store.records}
    assert {"Procedure", "DiagnosticReport", "Coverage", "ExplanationOfBenefit"} <= kinds
    observations = [k for k in first.store.records if k[0] == "health.observation"]
    expected = [r for r in smart.resources if r["resourceType"] == "Observation"]
    assert len(observations) == len(expected)
    assert first.state["by_category"] == ["Observation"]
    assert not [s for s in smart.searches if s.startswith("Observation?") and "category" not in s]
    assert again.completed and again.counts.new == 0


@pytest.mark.asyncio
async def test_a_declared_search_combination_is_followed_from_the_first_search() -> None:
    async with make_server(months=2, vendor="epic") as server:
        smart = smart_state(server)
        smart.declare_combinations = True
        out = await run(context(server, token=fresh_token(), resource_types="Observation"))
    assert out.completed and out.store.records
    assert all("category=" in s for s in smart.searches)


@pytest.mark.asyncio
async def test_one_type_refused_with_a_4xx_is_recorded_and_the_others_are_read() -> None:
    outcome = json.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "not-supported", "diagnostics": "no"}],
        }
    )
    async with make_server(months=2) as server:
        server.fail(400, times=5, body=outcome, path_prefix="/fhir/Condition")
        ctx = context(server, token=fresh_token())
        out = await run(ctx)
    assert out.completed
    assert out.state["refused"] == {"Condition": "HTTP 400: no"}
    assert any("Condition (HTTP 400: no)" in w for w in ctx.warnings)
    kinds = {k[1].split("/")[0] for k in out.store.records}
    assert "Condition" not in kinds and {"Encounter", "Observation", "Coverage", "ExplanationOfBenefit"} <= kinds
    assert "Condition" not in out.state["since"], "its bookmark does not move: it is read in full next time"


@pytest.mark.parametrize(
    ("advertised", "asked"),
    [
        (None, "launch/patient openid fhirUser offline_access patient/*.read"),
        (
            ["openid", "fhirUser", "launch/patient", "offline_access"],
            "launch/patient openid fhirUser offline_access patient/*.read",
        ),
        (["openid", "launch/patient", "patient/*.rs", "patient/Patient.rs"], "launch/patient openid patient/*.rs"),
        (["openid", "patient/Patient.rs", "patient/Coverage.read"], "openid patient/Patient.rs patient/Coverage.read"),
    ],
)
def test_scopes_come_from_what_the_server_advertises(advertised: list[str] | None, asked: str) -> None:
    config = SmartConfig("https://a/authorize", "https://a/token", tuple(advertised) if advertised else None)
    assert scope_for(config, ["Patient", "Condition", "Coverage"]) == asked


def test_no_advertised_read_scope_for_the_types_is_a_clear_error() -> None:
    config = SmartConfig("https://a/authorize", "https://a/token", ("openid", "patient/Coverage.read"))
    with pytest.raises(Fatal, match="no read scope for any of Condition.*patient/Coverage.read"):
        scope_for(config, ["Condition"])
