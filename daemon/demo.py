"""`selfdata demo`: the whole thing working in a minute, with no account anywhere.

A throwaway home with a vault unlocked by a generated key file; the project's fake
vendor servers on loopback (a bank, an energy supplier, a hospital's FHIR server, a
FRITZ!Box); one source per category; a bank statement dropped in the inbox; and the
daemon with its API. It prints the syncs as they finish, then the API's address, a read
token and curl commands to try. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.testing.fakeserver import FakeServer

from . import config as config_mod
from . import daemonlock
from .events import InboxImported, RunFinished
from .paths import Paths, home_paths
from .services import Services, open_services
from .session import Session
from .setup import init_vault
from .sources import SourceStore
from .sourcesetup import add_source
from .vault import INSECURE_TEST_KDF

Say = Callable[[str], None]
DEFAULT_PORT = 7350
DEMO_APP = "demo app"
DEMO_BANK_DAYS = 430  # over a year: a yearly subscription shows twice


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def prepare_home(home: Path, port: int | None = None) -> Path:
    paths = home_paths(home)
    key_file = home / "demo.key"
    if not paths.keyslots_file.exists():
        # A throwaway vault holding generated data: a key file and no passphrase is enough.
        init_vault(paths, passphrase=None, key_file=key_file, kdf=INSECURE_TEST_KDF, recovery=False)
    text = paths.config_file.read_text()
    if port is None:
        port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else 0
    lines = [f"port = {port}" if line.startswith("port = ") else line for line in text.splitlines()]
    paths.config_file.write_text("\n".join(lines) + "\n")
    return key_file


def vendors() -> dict[str, FakeServer]:
    from connectors.testing.vendors import fritzbox, octopus, simplefin, smart_fhir

    return {
        "bank": simplefin.make_server(days=DEMO_BANK_DAYS, subscriptions=True),
        "energy": octopus.make_server(days=90),
        "health": smart_fhir.make_server(months=6),
        "telecom": fritzbox.make_server(days=90),
    }


async def configure(services: Services, servers: dict[str, FakeServer]) -> list[str]:
    """One source per category, pointed at this run's fake vendors."""
    from connectors.testing.vendors import fritzbox, octopus, smart_fhir

    plans: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        (
            "demo-bank",
            "simplefin",
            {"history_days": DEMO_BANK_DAYS},
            {"access_url": servers["bank"].access_url()},  # type: ignore[attr-defined]
        ),
        (
            "demo-energy",
            "octopus-energy",
            {"base_url": servers["energy"].url, "account_number": octopus.DEMO_ACCOUNT},
            {"api_key": octopus.DEMO_API_KEY},
        ),
        (
            "demo-health",
            "smart-fhir",
            {"fhir_base_url": f"{servers['health'].url}/fhir", "client_id": smart_fhir.CLIENT_ID},
            {"token": smart_fhir.DEMO_TOKEN},
        ),
        (
            "demo-phone",
            "fritzbox",
            {"url": servers["telecom"].url, "username": fritzbox.USERNAME},
            {"password": fritzbox.PASSWORD},
        ),
    ]
    store = SourceStore(services.vault)
    for name, connector, settings, secrets in plans:
        declared = {f.name for f in services.registry.get(connector).fields}
        if store.find(name) is None:
            values = {k: v for k, v in {**settings, **secrets}.items() if k in declared}
            await add_source(
                services.vault, services.registry, name, connector, values, schedule="every 6h", check=False
            )
        else:  # a kept demo home: this run's vendors listen on new ports
            store.update(name, settings={**store.get(name).settings, **settings}, next_run=None)
        for key, value in secrets.items():
            services.vault.secrets.put(name, key, value)
        store.set_health(name, "ok", None, failures=0)
    return [p[0] for p in plans]


def demo_tariffs(services: Services) -> None:
    """Two electricity tariffs to compare (the one held, a time-of-use offer) and a gas tariff."""
    from .operations.energy import tariff_record

    common = {"supplier": "Octopus Energy", "currency": "GBP", "valid_from": "2020-01-01T00:00:00+00:00"}
    plans: list[dict[str, Any]] = [
        {
            **common,
            "tariff_id": "demo-flexible",
            "product": "Flexible Octopus",
            "commodity": "electricity",
            "kind": "fixed",
            "unit_price": "0.2450",
            "standing_charge": "0.5190",
            "timezone": "Europe/London",
            "held": "yes",
        },
        {
            **common,
            "tariff_id": "demo-economy7",
            "product": "Economy 7",
            "commodity": "electricity",
            "kind": "time_of_use",
            "standing_charge": "0.5350",
            "timezone": "UTC",
            "bands": [
                {"name": "night", "price": "0.1420", "start": "00:30", "end": "07:30"},
                {"name": "day", "price": "0.2890", "start": "07:30", "end": "00:30"},
            ],
        },
        {
            **common,
            "tariff_id": "demo-gas",
            "product": "Flexible Octopus gas",
            "commodity": "gas",
            "kind": "fixed",
            "unit_price": "0.0620",
            "standing_charge": "0.3150",
            "timezone": "Europe/London",
            "calorific_value": "39.5",
            "held": "yes",
        },
    ]
    from .insights import tariffs

    services.vault.writer.upsert([tariff_record(tariffs.from_data(p)) for p in plans])


def drop_sample(inbox: Path) -> Path:
    from connectors.testing.generators.ofx import write_ofx

    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = inbox / ".statement.ofx.part"
    write_ofx(tmp, per_account=60)
    final = inbox / "statement.ofx"
    tmp.rename(final)  # renamed into place: the inbox takes it as complete
    return final


def _command() -> str:
    """How the user can run selfdata now: `selfdata` if it is on PATH, else the path they used."""
    import shutil
    import sys

    if shutil.which("selfdata"):
        return "selfdata"
    used = Path(sys.argv[0])
    return str(used) if used.name == "selfdata" else "selfdata"


def curl_commands(api: str, token: str) -> list[str]:
    auth = f'-H "Authorization: Bearer {token}"'
    return [
        f"curl -s {auth} {api}/api/v1/datasets",
        f'curl -s {auth} "{api}/api/v1/datasets/energy.reading/records?limit=5"',
        f'curl -s {auth} "{api}/api/v1/changes?since=0&limit=3"',
    ]


async def run(home: Path, say: Say, duration: float | None = None, port: int | None = None) -> int:
    paths = home_paths(home)
    with daemonlock.hold(paths.state_dir):  # like selfdata run: one daemon, one inbox watcher per home
        return await _run(home, paths, say, duration, port)


async def _run(home: Path, paths: Paths, say: Say, duration: float | None, port: int | None) -> int:
    prepare_home(home, port)
    session = Session(paths, config_mod.load(paths))
    services = open_services(session)
    servers = vendors()
    started = time.monotonic()
    try:
        for server in servers.values():
            await server.start()
        names = await configure(services, servers)
        demo_tariffs(services)
        say(f"selfdata demo in {home}")
        say("  fake vendors on loopback: " + ", ".join(f"{k} {s.url}" for k, s in servers.items()))
        pending = set(names)
        first_sync: dict[str, float] = {}
        done = asyncio.Event()
        queue = services.events.subscribe()

        async def watch() -> None:
            while True:
                event = await queue.get()
                if isinstance(event, RunFinished) and event.source in pending:
                    name = event.source
                    pending.discard(name)
                    first_sync[name] = time.monotonic() - started
                    mark = "ok" if event.status == "ok" else f"{event.status}: {event.error}"
                    say(f"  synced {name}: {event.new:,} new records in {first_sync[name]:.1f} s ({mark})")
                elif isinstance(event, InboxImported):
                    say(f"  inbox: imported {event.file} into {event.source}")
                if not pending:
                    done.set()

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready() -> None:
            say(f"  daemon running (API {services.daemon.api_url if services.daemon else '?'}); first syncs...")
            sample = drop_sample(services.config.inbox_dir)
            say(f"  dropped a bank statement in the inbox: {sample}")

        watcher = asyncio.create_task(watch())

        async def summary() -> None:
            try:
                await asyncio.wait_for(done.wait(), 120)
            except TimeoutError:
                say(f"  still syncing: {', '.join(sorted(pending))}")
            grants = services.get_grants()
            for old in grants.all():  # a kept demo home: one demo token at a time, not one per run
                if old.app == DEMO_APP and old.status == "approved":
                    grants.revoke(old.id)
            token = grants.create_token(DEMO_APP, "try the selfdata API", ["read:*"])[1]
            api = (services.daemon.api_url if services.daemon else None) or ""
            say("")
            say(f"The API is at {api}. A read token for a demo app:")
            say(f"  {token}")
            say("Try:")
            for cmd in curl_commands(api, token):
                say(f"  {cmd}")
            from .web import signin

            say("")
            say("Open the dashboard in your browser (the link works once, for 15 minutes):")
            say(f"  {api}/signin?code={signin.create_link(services.vault)}")
            say(f"  (a new link: {_command()} --home {home} dashboard)")
            say(f"Or the command line: {_command()} --home {home} status")
            say("First syncs: " + ", ".join(f"{n} {t:.1f} s" for n, t in sorted(first_sync.items())))
            say("Ctrl-C stops the demo.")
            if duration is not None:
                await asyncio.sleep(duration)
                stop.set()

        printer = asyncio.create_task(summary())
        code = await _run_daemon(services, stop, ready)
        for task in (watcher, printer):
            task.cancel()
        return code
    finally:
        for server in servers.values():
            await server.stop()
        services.close()


async def _run_daemon(services: Services, stop: asyncio.Event, ready: Callable[[], None]) -> int:
    from .server import run_services

    return await run_services(services, stop, ready)
