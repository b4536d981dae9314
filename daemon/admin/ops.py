"""Every command as a named operation over Services, returning JSON.

The CLI runs an operation itself when no daemon runs, or asks the daemon to run it
over the admin socket: the same function either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from .. import __version__
from ..ops import jsonl as jsonl_ops
from ..ops import keys as key_ops
from ..ops import sources as source_ops
from ..ops.status import vault_status
from ..services import Services
from ..sources import SourceStore
from ..sync import runs as run_log
from ..times import iso, parse_instant
from ..vault import DEFAULT_KDF, INSECURE_TEST_KDF, KdfProfile, recordjson
from ..vault.names import check_dataset, check_source

Emit = Callable[[dict[str, Any]], None]
Op = Callable[[Services, dict[str, Any], Emit], Awaitable[Any]]
OPS: dict[str, Op] = {}


class OpError(ValueError):
    """A request the operation cannot serve (unknown op, bad parameters)."""


def op(name: str) -> Callable[[Op], Op]:
    def register(fn: Op) -> Op:
        OPS[name] = fn
        return fn

    return register


async def run(services: Services, name: str, params: dict[str, Any], emit: Emit | None = None) -> Any:
    fn = OPS.get(name)
    if fn is None:
        raise OpError(f"unknown operation {name!r}")
    try:
        return await fn(services, params, emit or (lambda event: None))
    except KeyError as err:
        if err.args and isinstance(err.args[0], str) and err.args[0] not in params:
            raise OpError(f"operation {name!r} needs the parameter {err.args[0]!r}") from err
        raise


def _kdf(params: dict[str, Any]) -> KdfProfile:
    return INSECURE_TEST_KDF if params.get("insecure_test_kdf") else DEFAULT_KDF


def _wake(services: Services) -> None:
    if services.scheduler is not None:
        services.scheduler.wake()


@op("ping")
async def ping(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return {"version": __version__, **(services.daemon.to_json() if services.daemon else {"running": False})}


@op("status")
async def status(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    report = vault_status(services.vault, services.unlocked).to_json()
    report["daemon"] = services.daemon.to_json() if services.daemon else {"running": False}
    sources = []
    for src in SourceStore(services.vault).list():
        last = run_log.recent(services.vault, src.name, limit=1)
        sources.append(
            {
                **src.to_json(),
                "next_run": iso(src.next_run) if src.next_run else None,
                "last_run": last[0].to_json() if last else None,
            }
        )
    report["sources"] = sources
    if services.scheduler is not None:
        report["scheduler"] = services.scheduler.describe()
    report["notifications"] = _recent_notifications(services)
    from ..inbox import summary  # not at import: it loads watchdog, which the CLI rarely needs

    # A walk of the folder: off the daemon's loop.
    report["inbox"] = await asyncio.to_thread(summary, services.config.inbox_dir, services.inbox is not None)
    return report


def _recent_notifications(services: Services) -> list[dict[str, Any]]:
    rows = services.vault.conn.execute(
        "SELECT at, source, kind, message, delivered FROM notifications ORDER BY id DESC LIMIT 10"
    ).fetchall()
    return [{"at": iso(at), "source": s, "kind": k, "message": m, "delivered": d} for at, s, k, m, d in rows]


# keys


@op("keys.list")
async def keys_list(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return [s.describe() for s in key_ops.list_slots(services.unlocked)]


@op("keys.add_passphrase")
async def keys_add_passphrase(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    slot = key_ops.add_passphrase(
        services.unlocked, params["passphrase"], _kdf(params), params.get("label") or "passphrase"
    )
    return slot.describe()


@op("keys.add_keyfile")
async def keys_add_keyfile(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    slot, created = key_ops.add_keyfile(services.unlocked, Path(params["path"]))
    return {**slot.describe(), "created": created}


@op("keys.add_keyring")
async def keys_add_keyring(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return key_ops.add_keyring(services.unlocked).describe()


@op("keys.add_recovery")
async def keys_add_recovery(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    slot, text = key_ops.add_recovery(services.unlocked)
    return {**slot.describe(), "recovery_key": text}


@op("keys.remove")
async def keys_remove(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return key_ops.remove(services.unlocked, params["slot"]).describe()


@op("keys.change_passphrase")
async def keys_change_passphrase(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    slot = key_ops.change_passphrase(services.unlocked, params.get("slot"), params["passphrase"], _kdf(params))
    return slot.describe()


# records


@op("query")
async def query(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    start, end = params.get("from"), params.get("to")
    check_dataset(params["dataset"])
    if params.get("source") is not None:
        check_source(params["source"])
    lines, nxt = recordjson.query(
        services.vault.conn,
        params["dataset"],
        limit=int(params.get("limit", 100)),
        cursor=params.get("cursor"),
        source=params.get("source"),
        start_ms=parse_instant(start) if start else None,
        end_ms=parse_instant(end) if end else None,
    )
    # The JSON the API gives, parsed back: the CLI renders records as tables too.
    return {"records": [orjson.loads(line) for line in lines], "next": nxt}


@op("import_jsonl")
async def import_jsonl(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    def progress(done: int, total: int) -> None:
        emit({"type": "progress", "done": done, "total": total})

    result = await asyncio.to_thread(
        jsonl_ops.import_jsonl,
        services.vault,
        Path(params["path"]),
        source=params.get("source"),
        dataset=params.get("dataset"),
        progress=progress,
    )
    c = result.counts
    return {
        "file": params.get("filename") or result.file.name,
        "records": result.records,
        "new": c.new,
        "changed": c.changed,
        "unchanged": c.unchanged,
    }


# sources


@op("source.list")
async def source_list(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return [s.to_json() for s in SourceStore(services.vault).list()]


@op("source.show")
async def source_show(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    name = params["name"]
    src = SourceStore(services.vault).get(name)
    return {
        **src.to_json(),
        "secrets": services.vault.secrets.names(name),
        "runs": [r.to_json() for r in run_log.recent(services.vault, name, limit=5)],
    }


@op("source.add")
async def source_add(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    src = await source_ops.add_source(
        services.vault,
        services.registry,
        params["name"],
        params["connector"],
        params.get("values", {}),
        schedule=params.get("schedule"),
        check=params.get("check", True),
    )
    _wake(services)
    return src.to_json()


@op("source.edit")
async def source_edit(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    src = await source_ops.edit_source(
        services.vault,
        services.registry,
        params["name"],
        params.get("values", {}),
        schedule=params.get("schedule"),
        check=params.get("check", True),
    )
    _wake(services)
    return src.to_json()


@op("source.authorization_url")
async def source_authorization_url(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    url = await source_ops.authorization_url(services.vault, services.registry, params["name"], params["redirect_uri"])
    return {"url": url}


@op("source.authorize")
async def source_authorize(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    src = await source_ops.complete_authorization(
        services.vault, services.registry, params["name"], params["redirect_uri"], params["code"]
    )
    _wake(services)
    return src.to_json()


@op("source.enable")
async def source_enable(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    src = SourceStore(services.vault).update(params["name"], enabled=bool(params["enabled"]))
    _wake(services)
    return src.to_json()


@op("source.remove")
async def source_remove(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    name = params["name"]
    if params.get("keep_records"):
        SourceStore(services.vault).remove(name)
        return {"name": name, "deleted": 0}
    # Records go the way of `selfdata erase`: stored files too, and nothing left on disk.
    from ..rights.erase import erase

    result = await asyncio.to_thread(erase, services.vault, source=name)
    services.events.publish(
        {"type": "records.changed", "source": name, "datasets": list(result.datasets), "deleted": result.records}
    )
    return {"name": name, "deleted": result.records}


# runs


@op("sync")
async def sync(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    result = await services.get_runner().sync(params["name"], on_event=emit)
    src = SourceStore(services.vault).get(params["name"])
    return {"run": result.run.to_json(), "health": result.health, "action": src.action if not result.ok else ""}


@op("runs")
async def runs(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return [r.to_json() for r in run_log.recent(services.vault, params.get("name"), int(params.get("limit", 20)))]


@op("import")
async def import_file(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    from ..sync.importing import import_file as do_import

    result = await asyncio.to_thread(
        do_import,
        services.vault,
        services.registry,
        Path(params["path"]),
        source=params.get("source"),
        fmt=params.get("format"),
        values=params.get("values") or None,
        progress=lambda n: emit({"type": "progress", "records": n}),
    )
    services.events.publish(
        {
            "type": "run.finished",
            "source": result.source.name,
            "run": result.run.id,
            "status": result.run.status,
            "new": result.run.new,
            "changed": result.run.changed,
            "unchanged": result.run.unchanged,
            "deleted": result.run.deleted,
            "error": result.run.error,
            "health": result.source.health,
        }
    )
    return {
        "file": params.get("filename") or result.file.name,
        "importer": result.importer,
        "source": result.source.name,
        "run": result.run.to_json(),
    }


@op("renormalize")
async def renormalize(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    from ..sync.renormalize import renormalize as do_renormalize

    run = await asyncio.to_thread(do_renormalize, services.vault, services.registry, params["name"])
    return run.to_json()


# grants and the access log


@op("grants.list")
async def grants_list(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    if services.access is not None:
        services.access.flush()
    return [g.to_json() for g in services.get_grants().all()]


@op("grants.pending")
async def grants_pending(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return services.get_grants().pending(params["code"]).to_json()


@op("grants.decide")
async def grants_decide(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    grant = services.get_grants().decide(params["code"], bool(params["approve"]), int(params.get("expires_days", 90)))
    services.events.publish({"type": "grant.decided", "grant": grant.id, "status": grant.status})
    return grant.to_json()


@op("grants.revoke")
async def grants_revoke(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    return services.get_grants().revoke(params["id"]).to_json()


@op("token.create")
async def token_create(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    grant, token = services.get_grants().create_token(
        params["app"],
        params["purpose"],
        list(params["scopes"]),
        expires_days=int(params.get("expires_days", 90)),
        origins=params.get("origins") or None,
    )
    return {**grant.to_json(), "token": token}


@op("access_log")
async def access_log(services: Services, params: dict[str, Any], emit: Emit) -> Any:
    from .. import accesslog

    if services.access is not None:
        services.access.flush()
    since = params.get("since")
    entries = accesslog.query(
        services.vault,
        app=params.get("app"),
        since_ms=parse_instant(since) if since else None,
        limit=int(params.get("limit", 500)),
    )
    return [e.to_json() for e in entries]


from . import files_ops as _files_ops  # noqa: E402,F401  (registers files.list and files.get)
from . import rights_ops as _rights_ops  # noqa: E402,F401  (registers export and erase)
