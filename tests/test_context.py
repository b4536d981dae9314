"""A connector's Context: its log never carries a secret, wherever the Context was built."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk import Checkpoint, Connector, Context, Field, Item, Secret
from daemon.plugins import Registry
from daemon.sync.runner import Runner
from daemon.vault import Vault

from . import plugins as test_plugins
from .conftest import Cli

TOKEN = "chatty-token-0123456789"
REFRESHED = "refreshed-token-9876543210"
OAUTH = "oauth-access-token-abcdef"


class Chatty(Connector):
    """Logs its credentials the way a careless connector would, in every step."""

    name = "test-chatty"
    title = "Logs its token"
    category = "other"
    datasets = ("bank.transaction",)
    fields = (Field("user", "User name"), Secret("token", "API token"))

    async def check(self, ctx: Context) -> None:
        ctx.log.info("checking %s with token %s", ctx.settings["user"], ctx.secrets["token"])
        ctx.log.warning("token=%(token)s", {"token": ctx.secret("token")})

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        ctx.log.info("fetching with %s", ctx.secret("token"))
        await ctx.update_secret("token", REFRESHED)
        ctx.log.info("refreshed to %s", ctx.secret("token"))
        yield Checkpoint({"done": True})


class ChattyOAuth(Connector):
    name = "test-chatty-oauth"
    title = "Logs its OAuth token"
    category = "other"
    datasets = ("bank.transaction",)
    needs_authorization = True
    fields = (Field("client_id", "OAuth client id"),)

    async def authorization_url(self, ctx: Context, redirect_uri: str) -> str:
        await ctx.update_secret("pkce_verifier", "verifier-0123456789")
        ctx.log.info("verifier %s", ctx.secret("pkce_verifier"))
        return f"https://consent.example/authorize?client_id={ctx.settings['client_id']}"

    async def complete_authorization(self, ctx: Context, redirect_uri: str, code_or_url: str) -> None:
        await ctx.update_secret("access_token", OAUTH)
        ctx.log.info("got %s after %s", ctx.secret("access_token"), ctx.secret("pkce_verifier"))

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        yield Checkpoint({})


@pytest.fixture
def chatty(monkeypatch: pytest.MonkeyPatch) -> Registry:
    from daemon import plugins

    extra = ",tests.test_context:Chatty,tests.test_context:ChattyOAuth"
    monkeypatch.setenv(plugins.EXTRA_ENV, test_plugins.ALL + extra)
    reg = plugins.load(entries=[])
    assert not reg.problems, reg.problems
    return reg


def connector_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("selfdata.source.")]


def test_source_add_and_edit_never_log_the_token(
    initialised: Path, run: Cli, chatty: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run("source", "add", "loud", "test-chatty", "--set", "user=ann", "--set", f"token={TOKEN}")
    run("source", "edit", "loud", "--set", f"token={TOKEN}-new")
    assert TOKEN not in caplog.text
    assert connector_lines(caplog) == ["checking ann with token ***", "token=***"] * 2


def test_source_authorize_never_logs_the_tokens_it_gets(
    initialised: Path, run: Cli, chatty: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run("source", "add", "health", "test-chatty-oauth", "--set", "client_id=myapp")
    run("source", "authorize", "health", input="http://127.0.0.1:7350/oauth/callback?code=xyz\n")
    assert "verifier-0123456789" not in caplog.text and OAUTH not in caplog.text
    assert connector_lines(caplog) == ["verifier ***", "got *** after ***"]


async def test_sync_redacts_a_token_refreshed_during_the_run(
    vault: Vault, chatty: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    from daemon.sources import SourceStore

    SourceStore(vault).add("loud", "test-chatty", "connector", {"user": "ann"}, {"token": TOKEN})
    caplog.set_level(logging.DEBUG)
    result = await Runner(vault, chatty).sync("loud")
    assert result.run.status == "ok"
    assert TOKEN not in caplog.text and REFRESHED not in caplog.text
    assert connector_lines(caplog) == ["fetching with ***", "refreshed to ***"]


def test_a_context_built_by_hand_redacts_its_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = Context(source="mine", secrets={"token": TOKEN, "pin": "12"})
    ctx.log.debug("debug %s", TOKEN)
    ctx.log.info("pin %s", "12")  # too short to redact without hiding ordinary text
    ctx.log.error("error %r", {"token": TOKEN})
    try:
        raise ValueError(f"vendor said no to {TOKEN}")
    except ValueError:
        ctx.log.exception("failed")
    assert TOKEN not in caplog.text
    assert [r.getMessage().splitlines()[0] for r in caplog.records] == [
        "debug ***",
        "pin 12",
        "error {'token': '***'}",
        "failed",
    ]
    assert "ValueError: vendor said no to ***" in caplog.records[-1].getMessage()
    assert {r.name for r in caplog.records} == {"selfdata.source.mine"}
    assert {r.funcName for r in caplog.records} == {"test_a_context_built_by_hand_redacts_its_secrets"}


async def test_update_secret_is_redacted_and_contexts_of_one_source_stay_apart(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    first = Context(source="same", secrets={"token": "first-secret-value"})
    second = Context(source="same", secrets={"token": "second-secret-value"})
    await first.update_secret("token", "first-refreshed-value")
    first.log.info("%s %s", "first-secret-value", "first-refreshed-value")
    second.log.info("%s", "second-secret-value")
    # the replaced value is still hidden: an old token may stay valid for a while
    assert [r.getMessage() for r in caplog.records] == ["*** ***", "***"]
    assert logging.getLogger("selfdata.source.same").filters == []


class Echoing(Chatty):
    """Fails with the vendor's reply echoing the token, as some error pages do."""

    name = "test-echoing"

    async def fetch(self, ctx: Context, state: dict[str, Any]) -> AsyncIterator[Item]:
        from connectors.sdk import AuthFailed

        raise AuthFailed(f"the vendor refused Authorization: Bearer {ctx.secret('token')}")
        yield Checkpoint({})


async def test_a_connector_error_carrying_the_token_is_redacted_in_the_log_and_run_log(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from daemon import plugins
    from daemon.sources import SourceStore

    monkeypatch.setenv(plugins.EXTRA_ENV, test_plugins.ALL + ",tests.test_context:Echoing")
    registry = plugins.load(entries=[])
    SourceStore(vault).add("echo", "test-echoing", "connector", {"user": "ann"}, {"token": TOKEN})
    caplog.set_level(logging.DEBUG)
    result = await Runner(vault, registry).sync("echo")
    assert result.run.status == "failed"
    assert result.run.error == "the vendor refused Authorization: Bearer ***"
    assert TOKEN not in caplog.text
    assert TOKEN not in (SourceStore(vault).get("echo").health_message or "")
