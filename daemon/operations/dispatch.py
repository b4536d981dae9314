"""The table of operations, and running one by name with JSON parameters.

The CLI (here or through the admin socket), the admin socket's server and the dashboard
all run operations through `run`. Only a request's own faults (an unknown name, a missing
or mistyped parameter) are `OperationError`s; an error a user can act on passes as it is;
anything else raised inside is a fault of what the operation called, logged with its cause
and reported as `OperationFailed`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..errors import SelfdataError
from ..services import Services
from ..vault.damage import RESCUE, is_damage
from ..vault.errors import VaultDamaged
from . import dashboard, energy, files, grants, healthviews, insights, keys, records, rights, runs, sources, status, vrm
from . import homeassistant as homeassistant_ops
from .registry import Emit, Operation, OperationError, OperationFailed, Result

log = logging.getLogger("selfdata.operations")

OPERATIONS: Mapping[str, Operation[Any]] = {
    op.name: op
    for module in (
        status,
        keys,
        records,
        sources,
        runs,
        grants,
        files,
        rights,
        dashboard,
        vrm,
        healthviews,
        insights,
        energy,
        homeassistant_ops,
    )
    for op in module.OPERATIONS
}


def get(name: str) -> Operation[Any]:
    op = OPERATIONS.get(name)
    if op is None:
        raise OperationError(f"unknown operation {name!r}")
    return op


async def run(services: Services, name: str, raw: Mapping[str, Any], emit: Emit | None = None) -> Result:
    op = get(name)
    params = op.decode(raw)
    try:
        return await op.handler(services, params, emit or _ignore)
    except (SelfdataError, OSError) as err:
        if is_damage(err):
            services.vault.note_damage(err)
        raise  # the user can act on these: their message says what to do
    except Exception as err:
        if is_damage(err):
            services.vault.note_damage(err)
            raise VaultDamaged(f"{name} could not read the vault: its database is damaged ({err}). {RESCUE}") from err
        log.error("operation %s failed", name, exc_info=err)
        raise OperationFailed(
            f"{name} failed: {type(err).__name__}: {err} (a fault in selfdata or a connector; the log has the details)"
        ) from err


def _ignore(event: dict[str, Any]) -> None:
    return None
