"""A real Home Assistant core on loopback, for the tests and `bench homeassistant`: a config
folder with a recorder on SQLite, an administrator's long-lived token made with HA's own
auth store before the first start (no onboarding), then `python -m homeassistant`."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from daemon.homeassistant.client import Connection

# The newest Home Assistant that runs on Python 3.11 (2024.4 needs 3.12). `--skip-pip` start:
# the requirements of the integrations it loads by default are installed with it, and
# josepy < 2 because hass-nabucasa's acme needs the API josepy 2 removed.
HA_REQUIREMENT = "homeassistant==2024.3.3"
HA_EXTRA = (
    "josepy<2",
    "home-assistant-frontend==20240307.0",
    "SQLAlchemy==2.0.27",
    "fnv-hash-fast==0.5.0",
    "psutil-home-assistant==0.0.1",
    "securetar==2024.2.1",
    "Pillow==10.2.0",
    "janus==1.0.0",
)

# Run inside HA's virtualenv before the first start: an administrator and a long-lived token,
# written with HA's own auth store (no onboarding, no password).
MAKE_TOKEN = """
import asyncio, sys
from datetime import timedelta
from homeassistant import auth
from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

async def main(config_dir):
    hass = HomeAssistant(config_dir)
    await dr.async_load(hass)
    await er.async_load(hass)
    hass.auth = await auth.auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    user = await hass.auth.async_create_user("selfdata test", group_ids=["system-admin"])
    refresh = await hass.auth.async_create_refresh_token(
        user, client_name="selfdata", token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=3650))
    token = hass.auth.async_create_access_token(refresh)
    other = await hass.auth.async_create_user("not an admin", group_ids=["system-users"])
    refresh = await hass.auth.async_create_refresh_token(
        other, client_name="selfdata", token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=3650))
    user_token = hass.auth.async_create_access_token(refresh)
    await hass.auth._store._store.async_save(hass.auth._store._data_to_save())
    print(user_token)
    print(token)

asyncio.run(main(sys.argv[1]))
"""

CONFIG = """
homeassistant:
  name: selfdata test
  time_zone: UTC
  unit_system: metric
  currency: EUR
  country: GB
  latitude: 51.5
  longitude: 0
  elevation: 0
http:
  server_host: 127.0.0.1
  server_port: {port}
recorder:
  db_url: sqlite:///{db}
  commit_interval: 0
websocket_api:
"""


@dataclass
class HomeAssistant:
    url: str
    token: str  # an administrator's
    log: Path
    user_token: str  # a user who is not an administrator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _ready(url: str, token: str) -> bool:
    try:
        async with Connection(url, token, timeout=5) as ha:
            info = await ha.command({"type": "recorder/info"})
            return bool(info.get("thread_running")) and not info.get("migration_in_progress")
    except Exception:
        return False


@contextmanager
def started(venv: Path, config: Path, timeout: float = 120) -> Iterator[HomeAssistant]:
    """Home Assistant from `venv`, with its configuration in `config`, until the block ends."""
    python = venv / "bin" / "python"
    port = free_port()
    (config / "configuration.yaml").write_text(CONFIG.format(port=port, db=config / "home-assistant_v2.db"))
    made = subprocess.run(
        [str(python), "-c", MAKE_TOKEN, str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    if made.returncode != 0:
        raise RuntimeError(f"could not make Home Assistant's token: {made.stderr[-2000:]}")
    user_token, token = made.stdout.strip().splitlines()[-2:]
    out_path = config / "hass.out"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [str(python), "-m", "homeassistant", "-c", str(config), "--skip-pip"], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not asyncio.run(_ready(url, token)):
            if proc.poll() is not None:
                raise RuntimeError(f"Home Assistant stopped: {out_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Home Assistant did not start in {timeout:.0f} s: {out_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield HomeAssistant(url, token, config / "home-assistant.log", user_token)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
