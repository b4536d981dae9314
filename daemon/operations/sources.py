"""`selfdata source ...`: adding, editing, authorising, enabling and removing sources."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .. import sourcesetup
from ..events import RecordsChanged
from ..services import Services
from ..sources import SourceStore
from ..sync import runs as run_log
from .registry import Emit, NoParams, Result, operation


@dataclass(frozen=True)
class SourceName:
    name: str


@dataclass(frozen=True)
class AddSource:
    name: str
    connector: str
    values: dict[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    check: bool = True


@dataclass(frozen=True)
class EditSource:
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    check: bool = True


@dataclass(frozen=True)
class AuthorizationUrl:
    name: str
    redirect_uri: str


@dataclass(frozen=True)
class Authorize:
    name: str
    redirect_uri: str
    code: str


@dataclass(frozen=True)
class Answer:
    name: str
    question: str  # the question's id, e.g. otp
    answer: str
    run: bool = True  # run the source now with it, and say how it went


@dataclass(frozen=True)
class EnableSource:
    name: str
    enabled: bool


@dataclass(frozen=True)
class RemoveSource:
    name: str
    keep_records: bool = False


def _wake(services: Services) -> None:
    if services.scheduler is not None:
        services.scheduler.wake()


@operation("source.list", NoParams)
async def source_list(services: Services, params: NoParams, emit: Emit) -> Result:
    """The sources with their health."""
    return [s.to_json() for s in SourceStore(services.vault).list()]


@operation("source.show", SourceName)
async def source_show(services: Services, params: SourceName, emit: Emit) -> Result:
    """One source: settings, the names of its secrets, its last runs."""
    src = SourceStore(services.vault).get(params.name)
    return {
        **src.to_json(),
        "secrets": services.vault.secrets.names(params.name),
        "runs": [r.to_json() for r in run_log.recent(services.vault, params.name, limit=5)],
    }


@operation("source.add", AddSource)
async def source_add(services: Services, params: AddSource, emit: Emit) -> Result:
    """Add a source, proving its settings with the connector's check()."""
    src = await sourcesetup.add_source(
        services.vault,
        services.registry,
        params.name,
        params.connector,
        params.values,
        schedule=params.schedule,
        check=params.check,
    )
    _wake(services)
    return src.to_json()


@operation("source.edit", EditSource)
async def source_edit(services: Services, params: EditSource, emit: Emit) -> Result:
    """Change a source's settings, credentials or schedule."""
    src = await sourcesetup.edit_source(
        services.vault,
        services.registry,
        params.name,
        params.values,
        schedule=params.schedule,
        check=params.check,
    )
    _wake(services)
    return src.to_json()


@operation("source.authorization_url", AuthorizationUrl)
async def source_authorization_url(services: Services, params: AuthorizationUrl, emit: Emit) -> Result:
    """The vendor page where the user gives consent."""
    url = await sourcesetup.authorization_url(services.vault, services.registry, params.name, params.redirect_uri)
    return {"url": url}


@operation("source.authorize", Authorize)
async def source_authorize(services: Services, params: Authorize, emit: Emit) -> Result:
    """Finish a browser authorisation with the code or the redirected URL."""
    src = await sourcesetup.complete_authorization(
        services.vault, services.registry, params.name, params.redirect_uri, params.code
    )
    _wake(services)
    return src.to_json()


@operation("source.question", SourceName)
async def source_question(services: Services, params: SourceName, emit: Emit) -> Result:
    """What the source's website asks during a login (a 2FA code); it may start one that sends the code."""
    src = SourceStore(services.vault).get(params.name)
    if not sourcesetup.asks_questions(services.registry, src):
        return {"asks": False, "question": None}
    asked = await sourcesetup.question(services.vault, services.registry, params.name)
    return {"asks": True, "question": asked.to_json() if asked is not None else None}


@operation("source.answer", Answer)
async def source_answer(services: Services, params: Answer, emit: Emit) -> Result:
    """Give the website's question its answer; the next run (now, unless told not) uses it once.
    When the website asked several values at once, the next one comes back as `question`, and no
    run starts before it is answered too."""
    following = await sourcesetup.answer(services.vault, services.registry, params.name, params.question, params.answer)
    if following is not None or not params.run:  # another value to give first, or the caller runs it
        health = SourceStore(services.vault).get(params.name).health
        question = following.to_json() if following is not None else None
        return {"run": None, "health": health, "action": "", "question": question}
    result = await services.get_runner().sync(params.name, on_event=emit)
    src = SourceStore(services.vault).get(params.name)
    _wake(services)
    return {
        "run": result.run.to_json(),
        "health": result.health,
        "action": src.action if not result.ok else "",
        "question": None,
    }


@operation("source.enable", EnableSource)
async def source_enable(services: Services, params: EnableSource, emit: Emit) -> Result:
    """Turn a source's scheduled runs on or off."""
    src = SourceStore(services.vault).update(params.name, enabled=params.enabled)
    _wake(services)
    return src.to_json()


@operation("source.remove", RemoveSource)
async def source_remove(services: Services, params: RemoveSource, emit: Emit) -> Result:
    """Remove a source and, unless kept, erase its records."""
    name = params.name
    if params.keep_records:
        SourceStore(services.vault).remove(name)
        return {"name": name, "deleted": 0}
    # Records go the way of `selfdata erase`: stored files too, and nothing left on disk.
    from ..rights.erase import erase

    result = await asyncio.to_thread(erase, services.vault, source=name)
    if result.records:
        services.events.publish(RecordsChanged(name, tuple(result.datasets), deleted=result.records))
    return {"name": name, "deleted": result.records}


OPERATIONS = (
    source_list,
    source_show,
    source_add,
    source_edit,
    source_authorization_url,
    source_authorize,
    source_question,
    source_answer,
    source_enable,
    source_remove,
)
