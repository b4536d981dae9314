"""The grant queue: a few waiting requests per client, and requests that expire soon."""

from __future__ import annotations

from typing import Any

import pytest

from daemon import grants
from daemon.plugins import Registry
from daemon.vault import Vault

from .test_api import Api, serve

ASK = {"app": "Budget", "purpose": "plan my spending", "scopes": ["read:bank.*"]}


async def _ask(api: Api, client: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with api.client.post("/api/v1/grants", json=ASK, headers={"X-Forwarded-For": client}) as r:
        return r.status, await r.json(), dict(r.headers)


async def test_one_client_holds_at_most_three_places(vault: Vault, registry: Registry) -> None:
    async with serve(vault, registry, api_trusted_proxies=("127.0.0.1", "::1")) as api:
        asked = [await _ask(api, "198.51.100.7") for _ in range(3)]
        assert [status for status, _, _ in asked] == [201, 201, 201]
        status, body, headers = await _ask(api, "198.51.100.7")
        assert status == 429 and body["error"]["code"] == "too_many_requests"
        assert "3 grant requests from this client are already waiting" in body["error"]["message"]
        assert 1 <= int(headers["Retry-After"]) <= 300
        assert (await _ask(api, "198.51.100.8"))[0] == 201  # another client is not held back
        api.grants.decide(asked[0][1]["user_code"], approve=False)  # the user answers one: a place frees
        assert (await _ask(api, "198.51.100.7"))[0] == 201


async def test_the_whole_queue_full_is_a_429_with_retry_after(vault: Vault, registry: Registry) -> None:
    async with serve(vault, registry, api_trusted_proxies=("127.0.0.1", "::1")) as api:
        for i in range(grants.MAX_PENDING):
            assert (await _ask(api, f"198.51.100.{i // 3}"))[0] == 201
        status, body, headers = await _ask(api, "203.0.113.1")
        assert status == 429 and "20 grant requests are already waiting" in body["error"]["message"]
        assert 1 <= int(headers["Retry-After"]) <= 300


async def test_requests_expire_after_five_minutes_and_free_their_places(
    vault: Vault, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(vault, registry) as api:
        asked = [await _ask(api, "ignored: no trusted proxy") for _ in range(3)]
        assert all(status == 201 and body["expires_in"] == 300 for status, body, _ in asked)
        assert (await _ask(api, "x"))[0] == 429  # every local app is the same client here
        now = grants.now_ms()
        monkeypatch.setattr(grants, "now_ms", lambda: now + 301_000)
        async with api.client.get(f"/api/v1/grants/{asked[0][1]['id']}") as r:
            assert (await r.json())["status"] == "expired"
        assert (await _ask(api, "x"))[0] == 201
