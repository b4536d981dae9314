"""What the library functions behind commands work with: the open vault and its helpers.

The CLI builds one for a single command when no daemon runs; the daemon holds one for
its whole life and serves commands over the admin socket with it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .config import Config
from .events import EventBus
from .insights.cache import ViewCache
from .paths import Paths
from .plugins import Registry
from .session import Session
from .vault import Unlocked, Vault

if TYPE_CHECKING:  # built on first use: a command that needs neither pays for neither
    from .accesslog import AccessLog
    from .grants import GrantStore
    from .inbox import Inbox
    from .sync.runner import Runner


class SchedulerView(Protocol):
    """What commands ask of the daemon's scheduler (daemon.sync.scheduler.Scheduler, which
    itself works with Services: so the dependency is this protocol, not the class)."""

    def wake(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class DaemonInfo:
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    api_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "running": True,
            "pid": self.pid,
            "uptime_s": round(time.time() - self.started_at, 1),
            "api_url": self.api_url,
        }


@dataclass
class Services:
    paths: Paths
    config: Config
    vault: Vault
    unlocked: Unlocked
    registry: Registry
    events: EventBus = field(default_factory=EventBus)
    daemon: DaemonInfo | None = None
    scheduler: SchedulerView | None = None  # while the daemon runs
    runner: Runner | None = None  # shared, so a source never runs twice at once
    grants: GrantStore | None = None  # shared, so a revocation reaches the API at once
    access: AccessLog | None = None  # the running API's access log
    inbox: Inbox | None = None  # while the daemon watches it
    views: ViewCache = field(default_factory=ViewCache)  # the insights' views, kept while their data stays
    insights: dict[str, Any] = field(default_factory=dict)  # the insights' caches, kept while it runs

    def get_runner(self) -> Runner:
        if self.runner is None:
            from .sync.runner import Runner

            self.runner = Runner(self.vault, self.registry, events=self.events.publish)
        return self.runner

    def get_grants(self) -> GrantStore:
        if self.grants is None:
            from .grants import GrantStore

            self.grants = GrantStore(self.vault, self.unlocked.master.secrets_key)
        return self.grants

    def close(self) -> None:
        self.vault.close()


def open_services(session: Session, *, check: bool = False) -> Services:
    vault, unlocked = session.open(check=check)
    return Services(session.paths, session.config, vault, unlocked, session.registry())


@contextmanager
def local_services(session: Session) -> Iterator[Services]:
    services = open_services(session)
    try:
        yield services
    finally:
        services.close()
