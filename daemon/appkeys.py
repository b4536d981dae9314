"""The typed keys of everything shared on the daemon's aiohttp applications."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .api.state import ApiState
    from .grants import Grant
    from .services import Services

SERVICES: web.AppKey[Services] = web.AppKey("services")
API: web.AppKey[ApiState] = web.AppKey("api")
GRANT: web.RequestKey[Grant] = web.RequestKey("grant")
