"""A real tap from PyPI (tap-rest-api-msdk, on the Meltano SDK) through the bridge, against a fake REST API."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.bridges.singer import SingerTap
from connectors.sdk.fields import parse_settings
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from daemon.plugins import Registry
from daemon.sources import SourceStore
from daemon.sync.runner import Runner
from daemon.vault import Vault
from daemon.vault import records as rec

TOKEN = "rest-Tok3n-0123456789"
BASE = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
PAYMENTS = 45
PAGE = 10


def payments() -> list[dict[str, Any]]:
    return [
        {
            "id": f"p{i:03d}",
            "account": {"id": "FR7630001007941234567890185"},
            "amount": f"{-3 - i}.{i % 100:02d}",
            "label": f"CARTE {i} BOULANGERIE",
            "booked_at": (BASE + timedelta(hours=i)).isoformat(),
        }
        for i in range(PAYMENTS)
    ]


def rest_api() -> FakeServer:
    """`GET /payments?page=N&since=ISO` and `GET /accounts`, bearer auth, pages of 10 with `next_page`."""

    def authorised(request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized(text='{"error": "bad token"}', content_type="application/json")

    async def list_payments(request: web.Request) -> web.Response:
        authorised(request)
        page = int(request.query.get("page", "1"))
        since = request.query.get("since")
        rows = [p for p in payments() if not since or p["booked_at"] > since]
        chunk = rows[(page - 1) * PAGE : page * PAGE]
        more = page * PAGE < len(rows)
        return web.json_response({"items": chunk, "next_page": page + 1 if more else None})

    async def list_accounts(request: web.Request) -> web.Response:
        authorised(request)
        account = {"id": "FR7630001007941234567890185", "name": "Compte courant", "opened_at": "2019-05-02"}
        return web.json_response({"items": [account], "next_page": None})

    app = web.Application()
    app.router.add_get("/payments", list_payments)
    app.router.add_get("/accounts", list_accounts)
    return FakeServer(app)


def tap_config(url: str) -> dict[str, Any]:
    common = {"records_path": "$.items[*]", "primary_keys": ["id"], "num_inference_records": 5}
    return {
        "api_url": url,
        "auth_method": "bearer_token",
        "streams": [
            {
                "name": "payments",
                "path": "/payments",
                "replication_key": "booked_at",
                "source_search_field": "since",
                "source_search_query": "$last_run_date",
                **common,
            },
            {"name": "accounts", "path": "/accounts", **common},
        ],
    }


def source_values(tap: Path, url: str, token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    return {
        "tap": str(tap),
        "config": json.dumps(tap_config(url)),
        "secret_config": json.dumps({"bearer_token": token}),
        "streams": "payments,accounts",
        "mapping": json.dumps({"accounts": {"ts": "opened_at"}}),
        **extra,
    }


@pytest.fixture
def tap(tap_venv: Path) -> Path:
    return tap_venv / "bin" / "tap-rest-api-msdk"


class TestRestTapContract(ConnectorContract):
    connector = SingerTap
    min_checkpoints = 2

    @pytest.fixture(autouse=True)
    def _tap(self, tap: Path) -> None:
        self.tap = tap

    def vendor(self) -> FakeServer:
        return rest_api()

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        values = source_values(self.tap, vendor.url)
        values.pop("secret_config")
        return values

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {"secret_config": json.dumps({"bearer_token": TOKEN})}


def add(vault: Vault, values: dict[str, Any], name: str = "rest") -> None:
    settings, secrets = parse_settings(SingerTap.fields, values)
    SourceStore(vault).add(name, "singer", "connector", settings, secrets)


def registry() -> Registry:
    reg = Registry()
    reg.add(SingerTap, "test")
    return reg


async def test_a_real_tap_fills_its_datasets_then_reads_only_what_is_new(vault: Vault, tap: Path) -> None:
    async with rest_api() as server:
        add(vault, source_values(tap, server.url))
        first = await Runner(vault, registry()).sync("rest")
        assert first.ok, first.run.error
        got = {r.key: r for r in rec.iter_records(vault.conn, "singer.rest_api_msdk.payments", source="rest")}
        assert len(got) == PAYMENTS
        p7 = got["p007"]
        assert p7.data["amount"] == "-10.07"
        assert p7.data["account_id"] == "FR7630001007941234567890185"  # the tap flattens objects
        assert p7.ts == int((BASE + timedelta(hours=7)).timestamp() * 1000)
        (acct,) = rec.iter_records(vault.conn, "singer.rest_api_msdk.accounts", source="rest")
        assert acct.ts == int(datetime(2019, 5, 2, tzinfo=UTC).timestamp() * 1000)
        state = SourceStore(vault).get("rest").state["singer_state"]
        assert "payments" in json.dumps(state)
        asked = server.count("/payments")
        again = await Runner(vault, registry()).sync("rest")
        assert again.ok and (again.run.new, again.run.changed) == (0, 0)
        since = [r.query.get("since") for r in server.requests[asked:] if r.path == "/payments"]
        assert since and all(s for s in since[-1:])  # the second run asked from its bookmark


async def test_a_real_tap_mapped_to_bank_transactions(vault: Vault, tap: Path) -> None:
    mapping = {
        "payments": {
            "dataset": "bank.transaction",
            "fields": {
                "account_id": "account_id",
                "amount": "amount",
                "currency": {"value": "EUR"},
                "description": "label",
                "status": {"value": "booked"},
            },
        },
        "accounts": {"ts": "opened_at"},
    }
    async with rest_api() as server:
        add(vault, {**source_values(tap, server.url), "mapping": json.dumps(mapping)})
        result = await Runner(vault, registry()).sync("rest")
    assert result.ok, result.run.error
    txns = {r.key: r.data for r in rec.iter_records(vault.conn, "bank.transaction", source="rest")}
    assert len(txns) == PAYMENTS
    assert txns["p012"] == {
        "account_id": "FR7630001007941234567890185",
        "amount": "-15.12",
        "currency": "EUR",
        "description": "CARTE 12 BOULANGERIE",
        "status": "booked",
    }


async def test_a_refused_token_fails_with_the_taps_words_and_never_the_token(
    vault: Vault, tap: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with rest_api() as server:
        add(vault, source_values(tap, server.url, token="wrong-Tok3n-987654"))
        result = await Runner(vault, registry()).sync("rest", on_event=lambda e: None)
    assert result.run.status == "failed"
    error = result.run.error or ""
    assert "--discover exited with code" in error and "bad token" in error
    assert "wrong-Tok3n-987654" not in error + caplog.text
