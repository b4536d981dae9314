"""Adding, editing and authorising sources: the library behind `selfdata source ...`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from connectors.sdk import Connector, Context, Http, Importer, Question, SelfdataError, UserActionNeeded
from connectors.sdk.fields import parse_settings

from .plugins import Registry
from .sources import Source, SourceError, SourceStore
from .sync.context import connector_context
from .vault import Vault

DEFAULT_REDIRECT_URI = "http://127.0.0.1:7350/oauth/callback"
log = logging.getLogger("selfdata.sources")
MANUAL = "manual"  # `--schedule manual`: runs only when asked
T = TypeVar("T")


class ConnectorFault(SelfdataError):
    """A connector's own code failed (a bug, or a vendor reply it did not expect), not the user's settings."""


def _checked_schedule(text: str) -> str | None:
    """The schedule to store for `text`: checked, or None for `manual`."""
    from .sync.schedule import parse_schedule

    if text.strip().lower() == MANUAL:
        return None
    parse_schedule(text)
    return text


async def _run_connector(cls: type[Connector], step: str, call: Awaitable[T]) -> T:
    """Await a connector's step; its errors pass, anything else is its fault, logged with the traceback."""
    try:
        return await call
    except SelfdataError:  # ConnectorError and SettingsError among them: the connector said what is wrong
        raise
    except Exception as err:
        log.error("the connector %s failed in %s", cls.name, step, exc_info=err)
        raise ConnectorFault(
            f"the connector {cls.name} failed in {step}: {type(err).__name__}: {err}"
            " (a fault in the connector or an answer it did not expect; the log has the details)"
        ) from err


def _context(name: str, settings: dict[str, Any], secrets: dict[str, str], store: SourceStore | None) -> Context:
    async def save(key: str, value: str) -> None:
        secrets[key] = value
        if store is not None and store.find(name) is not None:
            store.vault.secrets.put(name, key, value)

    async def drop(key: str) -> None:
        secrets.pop(key, None)
        if store is not None and store.find(name) is not None:
            store.vault.secrets.delete(name, key)

    return connector_context(name, settings, secrets, http=Http(), save_secret=save, drop_secret=drop)


async def check_connector(cls: type[Connector], name: str, settings: dict[str, Any], secrets: dict[str, str]) -> None:
    ctx = _context(name, settings, secrets, None)
    try:
        await _run_connector(cls, "check()", cls().check(ctx))
    finally:
        await ctx.http.close()


async def add_source(
    vault: Vault,
    registry: Registry,
    name: str,
    connector: str,
    values: Mapping[str, Any],
    *,
    schedule: str | None = None,
    check: bool = True,
) -> Source:
    """Validate the settings, prove them with check() (except for browser authorisation), then save."""
    cls = registry.get(connector)
    store = SourceStore(vault)
    if store.find(name) is not None:
        raise SourceError(f"a source named {name!r} already exists")
    settings, secrets = parse_settings(cls.fields, dict(values))
    if issubclass(cls, Importer):
        return store.add(name, cls.name, "importer", settings, secrets)
    schedule = _checked_schedule(cls.schedule if schedule is None else schedule)
    if cls.needs_authorization:
        return store.add(
            name, cls.name, "connector", settings, secrets, schedule=schedule, health="needs_authorization"
        )
    if check:
        try:
            await check_connector(cls, name, settings, secrets)
        except UserActionNeeded as err:
            if not cls.asks_questions:
                raise _not_saved(err, name, cls.name) from None
            # The login was taken and the website asks a question (a second factor): saved, to answer
            added = store.add(name, cls.name, "connector", settings, secrets, schedule=schedule)
            store.set_health(name, "needs_action", str(err), failures=0)
            return store.get(added.name)
        except SelfdataError as err:
            raise _not_saved(err, name, cls.name) from None
    return store.add(name, cls.name, "connector", settings, secrets, schedule=schedule)


def _not_saved(err: SelfdataError, name: str, connector: str) -> SelfdataError:
    """The check's error, said of a source that does not exist yet: connectors advise
    `source edit`, which only a saved source has."""
    text = str(err).replace(f"selfdata source edit {name}", f"selfdata source add {name} {connector} again")
    err.args = (f"{text} ({name} was not saved)",)
    return err


async def edit_source(
    vault: Vault,
    registry: Registry,
    name: str,
    values: Mapping[str, Any],
    *,
    schedule: str | None = None,
    check: bool = True,
) -> Source:
    """Change settings or credentials; a source that needed a login is healthy again once check() passes.

    Only declared fields are edited: secrets a connector saved itself (tokens, session ids)
    are kept, and what check() saves while proving the new values is stored too.
    """
    store = SourceStore(vault)
    source = store.get(name)
    cls = registry.get(source.connector)
    stored_secrets = store.secrets(name)
    declared = {f.name for f in cls.fields}
    current = {**source.settings, **{k: v for k, v in stored_secrets.items() if k in declared}}
    settings, secrets = parse_settings(cls.fields, {**current, **dict(values)})
    changes: dict[str, Any] = {"settings": settings}
    if schedule is not None:
        changes["schedule"] = _checked_schedule(schedule)
        if changes["schedule"] is None:  # manual: no slot waits
            changes["next_run"] = None
    changed = {k: v for k, v in secrets.items() if stored_secrets.get(k) != v}
    for key, value in changed.items():
        vault.secrets.put(name, key, value)
    if check and issubclass(cls, Connector) and source.health != "needs_authorization":
        ctx = _context(name, settings, {**stored_secrets, **secrets}, store)
        try:
            await _run_connector(cls, "check()", cls().check(ctx))
        except BaseException:
            for key in changed:  # the new credentials do not work: keep the old ones
                if key in stored_secrets:
                    vault.secrets.put(name, key, stored_secrets[key])
            raise
        finally:
            await ctx.http.close()
    updated = store.update(name, **changes)
    if updated.health in ("needs_login", "needs_action", "failing"):
        store.set_health(name, "ok", None, failures=0)
    return store.get(name)


async def authorization_url(vault: Vault, registry: Registry, name: str, redirect_uri: str) -> str:
    store = SourceStore(vault)
    source = store.get(name)
    cls = registry.connector(source.connector)
    if not cls.needs_authorization:
        raise SourceError(f"{source.connector} does not use browser authorisation")
    ctx = _context(name, source.settings, store.secrets(name), store)
    try:
        return await _run_connector(cls, "authorization_url()", cls().authorization_url(ctx, redirect_uri))
    finally:
        await ctx.http.close()


async def complete_authorization(
    vault: Vault, registry: Registry, name: str, redirect_uri: str, code_or_url: str
) -> Source:
    store = SourceStore(vault)
    source = store.get(name)
    cls = registry.connector(source.connector)
    ctx = _context(name, source.settings, store.secrets(name), store)
    try:
        await _run_connector(
            cls, "complete_authorization()", cls().complete_authorization(ctx, redirect_uri, code_or_url.strip())
        )
    finally:
        await ctx.http.close()
    store.set_health(name, "ok", None, failures=0)
    return store.get(name)


def asks_questions(registry: Registry, source: Source) -> bool:
    return source.kind == "connector" and registry.connector(source.connector).asks_questions


async def question(vault: Vault, registry: Registry, name: str) -> Question | None:
    """What the source's vendor asks the user now (a 2FA code): the question its last run met, or one
    a login started now makes it ask. None: it asks nothing."""
    store = SourceStore(vault)
    source = store.get(name)
    if not asks_questions(registry, source):
        raise SourceError(f"{source.connector} never asks questions during a login")
    cls = registry.connector(source.connector)
    ctx = _context(name, source.settings, store.secrets(name), store)
    try:
        return await _run_connector(cls, "question()", cls().question(ctx))
    finally:
        await ctx.http.close()


async def answer(vault: Vault, registry: Registry, name: str, question_id: str, text: str) -> Question | None:
    """Keep the user's answer (encrypted) for the source's next run, which uses it once; the
    next question the website asked at the same time, if any, to answer before that run."""
    store = SourceStore(vault)
    source = store.get(name)
    if not asks_questions(registry, source):
        raise SourceError(f"{source.connector} never asks questions during a login")
    cls = registry.connector(source.connector)
    ctx = _context(name, source.settings, store.secrets(name), store)
    try:
        return await _run_connector(cls, "answer()", cls().answer(ctx, question_id, text))
    finally:
        await ctx.http.close()


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`--set key=value` pairs."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SourceError(f"--set takes key=value, not {pair!r}")
        out[key.strip()] = value
    return out
