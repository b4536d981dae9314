from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import settings

from daemon.cli import cli
from daemon.paths import Paths, home_paths
from daemon.vault import INSECURE_TEST_KDF, SlotSetup, Vault

PASSPHRASE = "correct horse battery staple"

# Speed is measured in bench/, never in tests: on a loaded 2-core CI machine an example can take
# longer than hypothesis's default 200 ms deadline without anything being wrong.
settings.register_profile("selfdata", deadline=None)
settings.load_profile("selfdata")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own selfdata files, key or keyring."""
    for var in ("SELFDATA_HOME", "SELFDATA_KEY_FILE", "CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user-home" / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-home" / ".local" / "share"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("SELFDATA_INSECURE_TEST_KDF", "1")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("SELFDATA_HOME", str(h))
    return h


@pytest.fixture
def paths(home: Path) -> Paths:
    return home_paths(home)


@pytest.fixture
def machine_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def vault(paths: Paths, machine_key: bytes) -> Iterator[Vault]:
    v, _ = Vault.create(paths, SlotSetup(passphrase=PASSPHRASE, machine_key=machine_key, kdf=INSECURE_TEST_KDF))
    yield v
    v.close()


@pytest.fixture
def passphrase_file(tmp_path: Path) -> Path:
    p = tmp_path / "passphrase.txt"
    p.write_text(PASSPHRASE + "\n")
    p.chmod(0o600)
    return p


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, ok: bool = True) -> Result:
        result = self.runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"selfdata {' '.join(args)} exited {result.exit_code}:\n{result.output}")
        return result


@pytest.fixture
def run() -> Cli:
    return Cli()


@pytest.fixture
def initialised(home: Path, run: Cli, passphrase_file: Path, tmp_path: Path) -> Path:
    """A vault made by `selfdata init` with a passphrase and a key file; returns the key file."""
    key_file = tmp_path / "machine.key"
    run("init", "--passphrase-file", str(passphrase_file), "--key-file", str(key_file))
    return key_file


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The test plugins of tests/plugins.py, loaded the way third-party ones are."""
    from daemon import plugins

    from . import plugins as test_plugins

    monkeypatch.setenv(plugins.EXTRA_ENV, test_plugins.ALL)
    reg = plugins.load(entries=[])
    assert not reg.problems, reg.problems
    return reg


@contextmanager
def threaded(server: Any) -> Iterator[Any]:
    """Serve a FakeServer from its own thread and loop, for synchronous tests and subprocesses."""
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


ROOT = Path(__file__).resolve().parent.parent


def author_pytest(folder: Path, *files: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """pytest on a connector author's own files, as they run it: their folder, strict asyncio, no cache."""
    options = ["-o", "asyncio_mode=strict", "-o", "asyncio_default_fixture_loop_scope=function"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, *files],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def readings_jsonl(folder: Path, n: int, prefix: str = "r") -> Path:
    """A JSON Lines file of N energy readings for `selfdata import-jsonl`, keyed PREFIX0..."""
    path = folder / f"{prefix}.jsonl"
    path.write_text(
        "".join(
            json.dumps({"key": f"{prefix}{i}", "ts": f"2026-01-{1 + i:02d}T00:00+01:00", "data": {"quantity": "1.5"}})
            + "\n"
            for i in range(n)
        )
    )
    return path


class Daemon:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.prefix: list[str] = []  # a command the daemon runs under (setpriv, say)

    def start(self, wait: bool = True) -> Daemon:
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "daemon", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait:
            deadline = time.monotonic() + 20
            while not (self.home / "admin.sock").exists():
                assert self.proc.poll() is None, self.proc.communicate()
                assert time.monotonic() < deadline, "the daemon did not start"
                time.sleep(0.02)
            self.cli("status")  # answers
        return self

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "daemon", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )
        if ok:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)


@pytest.fixture
def env(home: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    e = dict(os.environ)
    from . import plugins as test_plugins

    e.update({"SELFDATA_HOME": str(home), "SELFDATA_CONNECTORS": test_plugins.ALL, "PYTHONPATH": str(ROOT)})
    key = tmp_path / "machine.key"
    subprocess.run(
        [sys.executable, "-m", "daemon", "init", "--key-file", str(key), "--no-passphrase"],
        cwd=ROOT,
        env=e,
        check=True,
        capture_output=True,
    )
    config = home / "config.toml"  # a free port each: tests run in parallel
    config.write_text(config.read_text().replace("port = 7350", "port = 0"))
    yield e


@pytest.fixture
def daemon(home: Path, env: dict[str, str]) -> Iterator[Daemon]:
    d = Daemon(home, env)
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait(10)
