"""The one place the daemon builds a connector's Context: for a sync, for check() and for authorisation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from connectors.sdk import Context, Http
from connectors.sdk.context import ProgressFn, no_progress

SaveSecret = Callable[[str, str], Awaitable[None]]


def connector_context(
    source: str,
    settings: Mapping[str, Any],
    secrets: dict[str, str],
    *,
    http: Http,
    save_secret: SaveSecret | None = None,
    drop_secret: Callable[[str], Awaitable[None]] | None = None,
    progress: ProgressFn | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Context:
    """A Context whose `log` hides `secrets` (read when it logs, so a refreshed token too).

    `secrets` is the caller's own dict: what the connector saves with update_secret is
    seen there at once. The caller closes `http`.
    """
    return Context(
        source=source,
        settings=dict(settings),
        secrets=secrets,
        http=http,
        progress=progress or no_progress,
        save_secret=save_secret,
        drop_secret=drop_secret,
        on_warning=on_warning,
    )
