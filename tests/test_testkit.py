"""The connector test kit catches the mistakes it promises to catch."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from connectors.scaffold import ScaffoldError, write
from connectors.sdk import Checkpoint, Connector, Context, InvalidRecord, Item, Record
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer

PAGES = 4


def pages_app() -> FakeServer:
    async def page(request: web.Request) -> web.Response:
        n = int(request.query["n"])
        return web.json_response({"items": [f"{n}-{i}" for i in range(3)], "next": n + 1 if n < PAGES else None})

    app = web.Application()
    app.router.add_get("/p", page)
    return FakeServer(app)


class Paged(Connector):
    name = "paged"
    title = "Paged"
    category = "other"
    datasets = ("bank.transaction",)

    def record(self, item: str) -> Record:
        data = {"account_id": "A", "amount": "1.00", "currency": "EUR", "status": "booked"}
        return Record("bank.transaction", item, datetime(2026, 1, 1, tzinfo=UTC), data)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        n = state.get("n", 1)
        while n:
            body = await ctx.http.get_json(f"{ctx.settings['url']}/p?n={n}")
            for item in body["items"]:
                yield self.record(item)
            n = body["next"] or 0
            if n:
                yield Checkpoint({"n": n})


class CheckpointsTooEarly(Paged):
    """Says 'resume after this page' before yielding the page's records: resuming loses them."""

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        n = state.get("n", 1)
        while n:
            body = await ctx.http.get_json(f"{ctx.settings['url']}/p?n={n}")
            nxt = body["next"] or 0
            if nxt:
                yield Checkpoint({"n": nxt})
            for item in body["items"]:
                yield self.record(item)
            n = nxt


class UnstableKeys(Paged):
    def record(self, item: str) -> Record:
        return Record(
            "bank.transaction",
            f"{item}-{random.random()}",
            datetime(2026, 1, 1, tzinfo=UTC),
            {"account_id": "A", "amount": "1.00", "currency": "EUR", "status": "booked"},
        )


class FloatMoney(Paged):
    def record(self, item: str) -> Record:
        return Record(
            "bank.transaction",
            item,
            datetime(2026, 1, 1, tzinfo=UTC),
            {"account_id": "A", "amount": 1.0, "currency": "EUR", "status": "booked"},
        )


def contract_for(cls: type[Connector]) -> ConnectorContract:
    class C(ConnectorContract):
        connector = cls

        def vendor(self) -> FakeServer:
            return pages_app()

        def settings(self, vendor: FakeServer) -> dict[str, Any]:
            return {"url": vendor.url}

    return C()


class TestPagedPassesTheContract(ConnectorContract):
    connector = Paged

    def vendor(self) -> FakeServer:
        return pages_app()

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {"url": vendor.url}

    def context(self, vendor: FakeServer) -> Context:
        ctx = super().context(vendor)
        ctx.settings["url"] = vendor.url  # Paged declares no fields; the kit passes what is declared
        return ctx


def _ctx_patch(contract: ConnectorContract) -> None:
    original = contract.context

    def context(vendor: FakeServer) -> Context:
        ctx = original(vendor)
        ctx.settings["url"] = vendor.url
        return ctx

    contract.context = context  # type: ignore[method-assign]


async def test_a_connector_that_checkpoints_too_early_fails_the_resume_test() -> None:
    c = contract_for(CheckpointsTooEarly)
    _ctx_patch(c)
    with pytest.raises(AssertionError):
        await c.test_resumed_run_loses_nothing()


async def test_unstable_keys_fail() -> None:
    c = contract_for(UnstableKeys)
    _ctx_patch(c)
    with pytest.raises(AssertionError):
        await c.test_keys_are_unique_and_stable_across_runs()


async def test_floats_for_money_are_refused_naming_the_field() -> None:
    c = contract_for(FloatMoney)
    _ctx_patch(c)
    with pytest.raises(InvalidRecord, match="field 'amount'"):
        await c.test_every_dataset_yields_valid_records()


def test_scaffold_names_its_class_and_refuses_a_taken_or_bad_name(tmp_path: Path) -> None:
    # That its output passes its own tests, ruff and mypy --strict: tests/test_scaffold.py.
    made = write("acme-bank", tmp_path)
    assert made.class_name == "AcmeBank"
    with pytest.raises(ScaffoldError, match="already exists"):
        write("acme-bank", tmp_path)
    with pytest.raises(ScaffoldError, match="lowercase"):
        write("Acme Bank", tmp_path)
