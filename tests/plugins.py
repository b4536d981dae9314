"""Connectors and an importer used by the tests through SELFDATA_CONNECTORS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from connectors.sdk import (
    Checkpoint,
    Connector,
    Context,
    Delete,
    Field,
    Fragment,
    Importer,
    ImportFailed,
    Item,
    Record,
    Secret,
    datasets,
)
from connectors.testing.fakeserver import FakeServer

TOKEN = "s3cret-token-value"
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def bank_api(
    pages: int = 5, per_page: int = 10, amounts: dict[str, str] | None = None, delay_s: float = 0.0
) -> FakeServer:
    """A paged JSON API with bearer auth; `amounts` overrides amounts by id (a revised vendor)."""

    async def handler(request: web.Request) -> web.Response:
        if delay_s:
            await asyncio.sleep(delay_s)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "bad token"}, status=401)
        page = int(request.query.get("page", "1"))
        items = []
        for i in range(per_page):
            tx_id = f"tx{page:03d}{i:03d}"
            items.append(
                {
                    "id": tx_id,
                    "at": (BASE + timedelta(hours=page * 100 + i)).isoformat(),
                    "amount": (amounts or {}).get(tx_id, f"-{page}.{i:02d}"),
                }
            )
        return web.json_response({"items": items, "next": page + 1 if page < pages else None})

    app = web.Application()
    app.router.add_get("/tx", handler)
    return FakeServer(app)


class PagedBank(Connector):
    name = "test-bank"
    title = "Test bank"
    category = "bank"
    datasets = ("bank.transaction",)
    schedule = "every 6h"
    fields = (Field("url", "API base URL", type="url"), Secret("token", "API token"))

    async def check(self, ctx: Context) -> None:
        await ctx.http.get_json(
            f"{ctx.settings['url']}/tx?page=1", headers={"Authorization": f"Bearer {ctx.secret('token')}"}
        )

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        page = int(state.get("page", 1))
        while True:
            body = await ctx.http.get_json(
                f"{ctx.settings['url']}/tx?page={page}", headers={"Authorization": f"Bearer {ctx.secret('token')}"}
            )
            for item in body["items"]:
                yield Fragment("bank.transaction", item)
            ctx.progress(page, None, f"page {page}")
            if not body["next"]:
                yield Checkpoint({"page": page})
                return
            page = body["next"]
            yield Checkpoint({"page": page})

    def normalize(self, fragment: Fragment) -> Record:
        raw = fragment.raw
        at = datetime.fromisoformat(raw["at"])
        data = datasets.BankTransaction.make(
            account_id="ACC",
            booked_on=at.date(),
            amount=raw["amount"],
            currency="EUR",
            status="booked",
            description=raw.get("label", "shop").upper(),
        )
        return Record("bank.transaction", raw["id"], at, data)


class Failing(Connector):
    name = "test-failing"
    title = "Fails after some records"
    category = "other"
    datasets = ("bank.transaction",)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        for i in range(5):
            yield _tx(f"f{i}")
        yield Checkpoint({"done": 5})
        yield _tx("f-uncommitted")
        raise RuntimeError("vendor changed its format")


class Hanging(Connector):
    name = "test-hanging"
    title = "Hangs"
    category = "other"
    datasets = ("bank.transaction",)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        yield _tx("h0")
        yield Checkpoint({"n": 1})
        await asyncio.sleep(3600)
        yield _tx("never")


class Invalid(Connector):
    name = "test-invalid"
    title = "Yields an invalid record"
    category = "other"
    datasets = ("bank.transaction",)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        yield _tx("ok1")
        yield Checkpoint({"n": 1})
        yield Record(
            "bank.transaction",
            "bad",
            BASE,
            {"account_id": "A", "amount": "12,50", "currency": "EUR", "status": "booked"},
        )


class Scripted(Connector):
    """Yields the script in ctx.settings['script'] from position state['pos']: ("rec", key, version),
    ("cp",), ("del", key), ("warn", message), ("clear",) or ("crash",)."""

    name = "test-scripted"
    title = "Scripted"
    category = "other"
    datasets = ("bank.transaction",)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        script = ctx.settings["script"]
        crash_at = ctx.settings.get("crash_at")
        for pos in range(int(state.get("pos", 0)), len(script)):
            if crash_at is not None and pos == crash_at:
                raise RuntimeError("crash")
            step = script[pos]
            if step[0] == "rec":
                yield _tx(step[1], amount=f"{step[2]}.00")
            elif step[0] == "del":
                yield Delete("bank.transaction", (step[1],))
            elif step[0] == "warn":
                ctx.warn(step[1])
            elif step[0] == "clear":
                ctx.clear_warning()
            else:
                yield Checkpoint({"pos": pos + 1})
        yield Checkpoint({"pos": len(script)})


class Dated(Connector):
    """A transaction at each time of ctx.settings['times'] (ISO 8601 text, as a vendor sends
    it), a checkpoint after each."""

    name = "test-dated"
    title = "Dated by its vendor"
    category = "other"
    datasets = ("bank.transaction",)

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        for i, text in enumerate(ctx.settings["times"]):
            tx = _tx(f"d{i}")
            yield Record(tx.dataset, tx.key, datetime.fromisoformat(text), tx.data)
            yield Checkpoint({"n": i + 1})


class Consent(Connector):
    """Needs the user's consent in a browser; the code is exchanged for a token."""

    name = "test-consent"
    title = "Consent"
    category = "health"
    datasets = ("bank.transaction",)
    needs_authorization = True
    fields = (Field("client_id", "OAuth client id"),)

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        await ctx.update_secret("pkce_verifier", "verifier-123")
        return f"https://consent.example/authorize?client_id={ctx.settings['client_id']}&redirect_uri={redirect_uri}"

    async def complete_authorization(self, ctx: Context, redirect_uri: str, code_or_url: str) -> None:
        code = code_or_url.split("code=")[-1]
        assert ctx.secrets.get("pkce_verifier") == "verifier-123"
        await ctx.update_secret("access_token", f"token-for-{code}")

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        yield _tx(ctx.secret("access_token"))


def expected_bank(pages: int, per_page: int) -> dict[str, str]:
    """What bank_api serves, as key -> amount."""
    return {f"tx{p:03d}{i:03d}": f"-{p}.{i:02d}" for p in range(1, pages + 1) for i in range(per_page)}


def _tx(key: str, amount: str = "-1.00") -> Record:
    return Record(
        "bank.transaction", key, BASE, {"account_id": "A", "amount": amount, "currency": "EUR", "status": "booked"}
    )


class LinesImporter(Importer):
    """`SDLINES 1` then `key;ISO time;amount` lines; a line `boom` is malformed."""

    name = "sd-lines"
    title = "selfdata test lines"
    category = "bank"
    datasets = ("bank.transaction",)
    extensions = (".sdl",)
    fields = (Field("currency", "Currency of the amounts", default="EUR"),)

    @classmethod
    def sniff(cls, head: bytes, filename: str) -> bool:
        return head.startswith(b"SDLINES 1\n")

    def read(self, path: Path, settings: dict[str, Any]) -> Iterator[Record | Fragment | Delete]:
        with path.open(encoding="utf-8") as f:
            if f.readline() != "SDLINES 1\n":
                raise ImportFailed(f"{path.name}: not an SDLINES file")
            for n, line in enumerate(f, start=2):
                parts = line.rstrip("\n").split(";")
                if len(parts) == 2 and parts[0] == "delete":
                    yield Delete("bank.transaction", (parts[1],))
                    continue
                if len(parts) != 3:
                    raise ImportFailed(f"{path.name}, line {n}: expected key;time;amount")
                yield Fragment(
                    "bank.transaction",
                    {"key": parts[0], "at": parts[1], "amount": parts[2], "currency": settings["currency"]},
                )

    def normalize(self, fragment: Fragment) -> Record:
        raw = fragment.raw
        at = datetime.fromisoformat(raw["at"])
        return Record(
            "bank.transaction",
            raw["key"],
            at,
            datasets.BankTransaction.make(
                account_id="FILE", booked_on=at.date(), amount=raw["amount"], currency=raw["currency"], status="booked"
            ),
        )


class OtherLines(LinesImporter):
    name = "sd-lines-too"
    title = "Claims the same files"


ALL = ",".join(
    f"tests.plugins:{c.__name__}"
    for c in (PagedBank, Failing, Hanging, Invalid, Scripted, Dated, Consent, LinesImporter)
)


def write_lines(path: Path, rows: list[tuple[str, str, str]], tail: str = "") -> Path:
    path.write_text("SDLINES 1\n" + "".join(f"{k};{t};{a}\n" for k, t, a in rows) + tail)
    return path


class SelfSaving(PagedBank):
    """Saves a secret of its own in check() (a claimed token, a session id)."""

    name = "test-self-saving"

    async def check(self, ctx: Context) -> None:
        await super().check(ctx)
        await ctx.update_secret("session_id", f"session-for-{ctx.secret('token')[:4]}")


ALL += ",tests.plugins:SelfSaving"


class VendorReplyBug(PagedBank):
    """A connector whose check() trips on a vendor reply lacking a key, as a real one can."""

    name = "test-reply-bug"

    async def check(self, ctx: Context) -> None:
        reply: dict[str, Any] = {"usage_points": []}
        ctx.settings["meters"] = reply["meter_list"]


ALL += ",tests.plugins:VendorReplyBug"


def improve_lines_mapping(monkeypatch: Any) -> None:
    """LinesImporter's mapping as a newer release would have it (a category on every record),
    for `renormalize` to apply to what is stored."""
    original = LinesImporter.normalize

    def improved(self: LinesImporter, fragment: Fragment) -> Record:
        record = original(self, fragment)
        record.data["category"] = "imported"
        return record

    monkeypatch.setattr(LinesImporter, "normalize", improved)
