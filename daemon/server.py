"""`selfdata run`: start the daemon's parts, serve until SIGTERM/SIGINT, stop cleanly.

Parts start and stop as aiohttp cleanup_ctx contexts of one application — the notifier,
the scheduler and the inbox — served on the admin socket; the API is a second
application on TCP, so admin routes never reach the network.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from . import __version__, daemonlock, logs
from .admin.server import SERVICES, admin_app, secure_socket
from .api.app import UnsafeBind, api_app, check_bind
from .api.listener import ConnectionGuard, GuardedSite, HttpLog, connection_cap, tcp_sockets, unix_socket
from .errors import SelfdataError
from .events import RunFinished, RunStarted
from .inbox import GRACE_S as INBOX_GRACE_S
from .inbox import daemon_inbox
from .notify import Notifier
from .ports import PortInUse, check_free, in_use_message
from .sdnotify import SdNotify
from .services import DaemonInfo, Services, open_services
from .session import Session
from .sync import runs
from .sync.scheduler import Scheduler
from .vault import VaultNotFound
from .vault.keysources import load_slots

log = logging.getLogger("selfdata.daemon")
GRACE_S = 10.0
API_KEEPALIVE_S = 15.0  # an idle API connection is closed after this
API_LINGER_S = 2.0  # after an answer, the rest of an unread body is awaited this long


def serve(session: Session) -> int:
    try:
        load_slots(session.paths.keyslots_file)  # no vault: say so before making any file
    except VaultNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    logs.configure(session.config.log_level)
    try:
        lock = daemonlock.hold(session.paths.state_dir)
    except daemonlock.AlreadyRunning as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        services = open_services(session, check=True)  # never writes for months to a damaged file
    except SelfdataError as err:
        print(f"error: {err}", file=sys.stderr)
        lock.close()
        return 1
    try:
        return asyncio.run(_main(services))
    finally:
        services.close()
        lock.close()


async def _inbox_ctx(app: web.Application) -> AsyncIterator[None]:
    """Watch the inbox while the daemon runs."""
    services = app[SERVICES]
    inbox = daemon_inbox(services.vault, services.registry, services.config, services.events)
    try:
        await asyncio.to_thread(inbox.start)
    except OSError as err:
        log.error("the inbox %s cannot be used, so dropped files are not imported: %s", inbox.root, err)
        yield
        return
    services.inbox = inbox
    yield
    services.inbox = None
    if not await asyncio.to_thread(inbox.stop, INBOX_GRACE_S):
        log.warning("the inbox was still importing a file when the daemon stopped; it stays for the next start")


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    scheduler = Scheduler(services)
    services.scheduler = scheduler
    task = asyncio.create_task(scheduler.run(), name="scheduler")
    yield
    await scheduler.stop(GRACE_S)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _notifier_ctx(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
    task = asyncio.create_task(Notifier(services.config, services.vault, services.events).run(), name="notifier")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _requests_ctx(app: web.Application) -> AsyncIterator[None]:
    """Requests to organisations: answers linked as they are imported, passed deadlines told once."""
    from .vrm.reminders import watch

    task = asyncio.create_task(watch(app[SERVICES]), name="vrm-requests")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _money_ctx(app: web.Application) -> AsyncIterator[None]:
    from .insights.report import machine_zone
    from .operations import insights

    task = asyncio.create_task(insights.watch(app[SERVICES], machine_zone()), name="money-watch")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _warm_views(services: Services, zone: str) -> None:
    """The dashboard's templates compiled and this machine's energy view computed (its months
    of half-hour sums then kept), so the first page after a start finds them ready."""
    from .insights import energy
    from .operations.energy import slot_cache
    from .web import render

    env = render.environment()
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    try:
        energy.view(services.vault.conn, zone, cache=slot_cache(services))
    except SelfdataError as err:  # a zone the energy views refuse: the page says why when asked
        log.debug("energy view not prepared: %s", err)


async def _views_ctx(app: web.Application) -> AsyncIterator[None]:
    from .insights.report import machine_zone

    async def warm() -> None:
        try:
            await asyncio.to_thread(_warm_views, app[SERVICES], machine_zone())
        except Exception:  # a page computes it when asked; nothing is lost
            log.exception("could not prepare the views ahead")

    task = asyncio.create_task(warm(), name="views-warm")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _homeassistant_ctx(app: web.Application) -> AsyncIterator[None]:
    """Energy statistics pushed to Home Assistant after syncs, when set up (docs/homeassistant.md)."""
    from .homeassistant.watch import watch

    task = asyncio.create_task(watch(app[SERVICES]), name="homeassistant")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def build_app(services: Services) -> web.Application:
    app = admin_app(services)
    app.cleanup_ctx.append(_notifier_ctx)
    app.cleanup_ctx.append(_homeassistant_ctx)
    app.cleanup_ctx.append(_requests_ctx)
    app.cleanup_ctx.append(_money_ctx)
    app.cleanup_ctx.append(_views_ctx)
    app.cleanup_ctx.append(_scheduler_ctx)
    app.cleanup_ctx.append(_inbox_ctx)
    return app


async def _start_api(services: Services) -> web.AppRunner:
    cfg = services.config
    runner = web.AppRunner(
        api_app(services),
        access_log=None,
        shutdown_timeout=2.0,
        keepalive_timeout=API_KEEPALIVE_S,
        lingering_time=API_LINGER_S,
        logger=HttpLog(),
    )
    await runner.setup()
    guard = ConnectionGuard(connection_cap())
    try:
        tcp = GuardedSite(runner, tcp_sockets(cfg.api_bind, cfg.api_port), guard)
        await tcp.start()
        if cfg.api_unix_socket is not None:
            cfg.api_unix_socket.unlink(missing_ok=True)
            sock = unix_socket(str(cfg.api_unix_socket))
            os.chmod(cfg.api_unix_socket, 0o600)  # before it listens
            await GuardedSite(runner, [sock], guard).start()
    except OSError:
        await runner.cleanup()
        raise
    assert services.daemon is not None
    services.daemon.api_url = tcp.name
    return runner


async def _main(services: Services) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def ready() -> None:
        assert services.daemon is not None
        print(
            f"selfdata {__version__} running (pid {os.getpid()}), API at {services.daemon.api_url}. Stop with Ctrl-C.",
            flush=True,
        )
        print(dashboard_line(services), flush=True)

    return await run_services(services, stop, ready)


def dashboard_line(services: Services) -> str:
    """On a terminal, a sign-in link; elsewhere (a journal) never: a link there is a secret in a log."""
    if not sys.stdout.isatty():
        return "Dashboard: run selfdata dashboard for a sign-in link."
    from .web import signin

    assert services.daemon is not None
    code = signin.create_link(services.vault)
    return f"Dashboard: {services.daemon.api_url}/signin?code={code} (works once, for 15 minutes)"


def status_text(running: set[str], last: str | None) -> str:
    """What systemctl status shows the daemon doing."""
    if running:
        return f"syncing {', '.join(sorted(running))}"
    return "idle" + (f"; last run: {last}" if last else "")


async def _report_status(services: Services, sd: SdNotify) -> None:
    """STATUS= lines as syncs start and finish (systemctl status shows the latest)."""
    if not sd.enabled:
        return
    queue = services.events.subscribe()
    running: set[str] = set()
    try:
        while True:
            match await queue.get():
                case RunStarted(source=source):
                    running.add(source)
                    sd.status(status_text(running, None))
                case RunFinished(source=source, status=status):
                    running.discard(source)
                    sd.status(status_text(running, f"{source} {status}"))
    finally:
        services.events.unsubscribe(queue)


def _api_failed(reason: object) -> int:
    log.error("%s", reason)
    print(f"error: {reason}", file=sys.stderr)
    return 1


async def run_services(services: Services, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> int:
    """The daemon's parts around an open vault, until `stop` is set (`selfdata run`, the demo)."""
    loop = asyncio.get_running_loop()
    services.events.bind(loop)
    services.daemon = DaemonInfo()
    cfg = services.config
    try:  # before the inbox or the scheduler start: a taken port stops the daemon with nothing done
        check_bind(cfg.api_bind, cfg.api_unsafe_allow_remote_bind)
        check_free(cfg.api_bind, cfg.api_port, services.paths.config_file)
    except (UnsafeBind, PortInUse) as err:
        return _api_failed(err if isinstance(err, PortInUse) else f"the API cannot start: {err}")
    sd = SdNotify()
    interrupted = await asyncio.to_thread(runs.close_interrupted, services.vault)
    if interrupted:
        log.info(
            "%d run(s) were interrupted when the daemon last stopped; their sources resume from their checkpoints",
            interrupted,
        )
    app = build_app(services)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    sock = services.paths.admin_socket
    sock.unlink(missing_ok=True)
    site = web.UnixSite(runner, str(sock))
    await site.start()
    secure_socket(sock, services.paths.system)
    try:
        api_runner = await _start_api(services)
    except OSError as err:  # taken between the check and the bind
        await runner.cleanup()
        sock.unlink(missing_ok=True)
        return _api_failed(in_use_message(cfg.api_bind, cfg.api_port, services.paths.config_file, err))
    watchdog = asyncio.create_task(sd.watchdog(), name="watchdog")
    status = asyncio.create_task(_report_status(services, sd), name="sd-status")
    # Everything loaded so far lives as long as the daemon: keep the collector off it, and
    # collect young objects less often. Measured: ~28% more API requests a second, shorter tails.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)

    api = services.daemon.api_url
    sd.send("READY=1", f"STATUS=serving on {api}; vault {services.paths.vault_dir}")
    log.info("selfdata %s daemon ready (pid %d); API %s; admin socket %s", __version__, os.getpid(), api, sock)
    if ready is not None:
        ready()

    await stop.wait()
    sd.send("STOPPING=1", "STATUS=stopping: letting running syncs reach a checkpoint")
    log.info("stopping")
    watchdog.cancel()
    status.cancel()
    await api_runner.cleanup()
    await runner.cleanup()
    sock.unlink(missing_ok=True)
    log.info("stopped")
    return 0
