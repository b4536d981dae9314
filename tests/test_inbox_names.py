"""The inbox takes any file name (a name is bytes), and its worker outlives any error."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.bank.ofx import OfxImporter
from connectors.testing.generators.ofx import write_ofx
from daemon.cli.vault import _inbox_state
from daemon.config import Config
from daemon.filenames import shown
from daemon.inbox import Inbox, summary, worker
from daemon.logs import JsonFormatter
from daemon.operations.registry import NoParams
from daemon.operations.status import status
from daemon.services import Services
from daemon.sync import runs
from daemon.vault import Unlocked, Vault
from daemon.vault.files import FileStore
from daemon.vault.keysources import load_slots

from .conftest import Daemon
from .plugins import write_lines
from .test_inbox import ROWS, amounts, events, wait_for

LATIN1 = b"relev\xe9-ao\xfbt"  # as Windows and old NAS shares write names
NASTY = [
    LATIN1 + b".sdl",
    b"line\nbreak.sdl",
    b"carriage\rreturn\ttab.sdl",
    b"-rf --no-preserve-root.sdl",
    b"--.sdl",
    b"\x1b[31mred\x1b[0m.sdl",
    "rtl\u202elds.txt.sdl".encode(),
    b"%s%n{0}{name}.sdl",
    b"quote\"'`$(id).sdl",
    b"back\\slash.sdl",
    b"x" * 251 + b".sdl",  # the longest name a file system takes
    b"\xff\xfe" * 60 + b".sdl",
    "日本語のファイル.sdl".encode(),
    b"trailing space .sdl",
    b"x.sdl.error.txt",
]
# Any bytes but '/' and NUL, not hidden, ending in .sdl, within the 255-byte limit.
NAMES = (
    st.binary(min_size=1, max_size=251)
    .map(lambda b: b.replace(b"/", b"_").replace(b"\x00", b"_").lstrip(b".") + b".sdl")
    .filter(lambda b: len(b) > 4)
)


KEYS = itertools.count(10_000, 100)


def fs(path: Path) -> bytes:
    return os.fsencode(path)


def names_in(folder: Path) -> set[bytes]:
    return set(os.listdir(fs(folder))) if folder.is_dir() else set()


@pytest.fixture
def json_log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[dict[str, Any]]]:
    """Every line the daemon would log, formatted as its journal gets it."""
    caplog.set_level(logging.INFO, logger="selfdata")

    def lines() -> list[dict[str, Any]]:
        out = []
        for record in caplog.records:
            text = JsonFormatter().format(record)
            assert "\n" not in text
            out.append(json.loads(text))
        return out

    return lines


def drop(root: Path, name: bytes, content: bytes) -> Path:
    """Written under a hidden name, then renamed into place, as a browser does."""
    tmp = root / ".drop.tmp"
    tmp.write_bytes(content)
    target = Path(os.fsdecode(fs(root) + b"/" + name))
    tmp.rename(target)
    return target


def lines(keys: range, tail: str = "") -> bytes:
    rows = "".join(f"n{k:05d};2026-02-01T08:00:00+00:00;-{k}.25\n" for k in keys)
    return ("SDLINES 1\n" + rows + tail).encode()


def check_nasty_names(vault: Vault, registry: Any, root: Path, names: list[bytes], first_key: int) -> None:
    """Each name dropped twice over: a good file (imported, its original kept under its shown
    name) and a bad one (in failed/ under its own bytes, with a readable note)."""
    inbox = Inbox(vault, registry, root, settle_s=0.2)
    inbox.start()
    try:
        good: dict[bytes, range] = {}
        for i, name in enumerate(names):
            keys = range(first_key + i * 3, first_key + i * 3 + 3)
            good[name] = keys
            drop(root, name, lines(keys))
        wait_for(lambda: not names_in(root) - {b"failed"}, 30, "the good files")
        stored = {f.name for f in FileStore(vault).list()}
        assert {shown(os.fsdecode(n)) for n in names} <= stored
        for name in names:
            drop(root, name, lines(range(1), tail="boom\n"))
        wait_for(lambda: not names_in(root) - {b"failed"}, 30, "the bad files")
        in_failed = names_in(root / "failed")
        for name in names:
            assert name in in_failed
            note = name[:245] + b".error.txt"  # cut to fit the 255-byte limit
            text = (root / "failed" / os.fsdecode(note)).read_text(encoding="utf-8")
            assert text.startswith(f"selfdata could not import {shown(os.fsdecode(name))}\n")
            assert "line 3: expected key;time;amount" in text
        assert inbox.health() == (True, None)
        assert summary(root, True)["failed"] == len(names)
    finally:
        assert inbox.stop(10)
    assert set(amounts(vault, "sd-lines")) >= {f"n{k:05d}" for keys in good.values() for k in keys}


def test_hostile_names_are_imported_or_failed_and_never_stop_the_inbox(
    vault: Vault, registry: Any, tmp_path: Path, json_log: Callable[[], list[dict[str, Any]]]
) -> None:
    check_nasty_names(vault, registry, tmp_path / "inbox", NASTY, 0)
    logged = json_log()
    assert not [r for r in logged if r["level"] == "error"]
    assert any(r["msg"].startswith("imported relev\\xe9-ao\\xfbt.sdl into sd-lines") for r in logged)
    assert [r.status for r in runs.recent(vault, "sd-lines", limit=100)].count("failed") == len(NASTY)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=1, max_size=4, unique=True))
def test_any_name_through_the_inbox(vault: Vault, registry: Any, names: list[bytes]) -> None:
    root = Path(tempfile.mkdtemp(prefix="inbox-fuzz-"))
    try:
        check_nasty_names(vault, registry, root / "inbox", names, next(KEYS))
    finally:
        shutil.rmtree(fs(root))


def test_a_latin1_ofx_statement_and_a_truncated_one(
    vault: Vault, registry: Any, tmp_path: Path, json_log: Callable[[], list[dict[str, Any]]]
) -> None:
    registry.add(OfxImporter, "test")
    root = tmp_path / "inbox"
    root.mkdir()
    written = write_ofx(tmp_path / "s.ofx", per_account=5)
    drop(root, LATIN1 + b".ofx", written.path.read_bytes())
    inbox = Inbox(vault, registry, root, settle_s=0.2)
    inbox.start()
    try:
        wait_for(lambda: events(inbox, "inbox.imported"))
        [event] = events(inbox, "inbox.imported")
        assert (event["file"], event["source"]) == ("relev\\xe9-ao\\xfbt.ofx", "ofx")
        assert [f.name for f in FileStore(vault).list()] == ["relev\\xe9-ao\\xfbt.ofx"]
        drop(root, LATIN1 + b" (2).ofx", written.path.read_bytes()[:-400])
        wait_for(lambda: events(inbox, "inbox.failed"))
        note = root / "failed" / os.fsdecode(LATIN1 + b" (2).ofx.error.txt")
        assert "relev\\xe9-ao\\xfbt (2).ofx" in note.read_text(encoding="utf-8")
        [failed] = [r for r in runs.recent(vault, "ofx") if r.status == "failed"]
        assert failed.error is not None and failed.error.startswith("relev\\xe9-ao\\xfbt (2).ofx")
        assert inbox.health() == (True, None)
    finally:
        assert inbox.stop(10)
    assert not [r for r in json_log() if r["level"] == "error"]


def test_a_sub_folder_whose_name_is_not_utf8_fails_its_files_with_the_reason(
    vault: Vault, registry: Any, tmp_path: Path
) -> None:
    root = tmp_path / "inbox"
    folder = Path(os.fsdecode(fs(root) + b"/" + LATIN1))
    folder.mkdir(parents=True)
    write_lines(folder / "a.sdl", ROWS[:3])
    inbox = Inbox(vault, registry, root, settle_s=0.2)
    inbox.start()
    try:
        moved = Path(os.fsdecode(fs(root) + b"/failed/" + LATIN1 + b"/a.sdl"))
        wait_for(moved.exists)
        note = moved.with_name("a.sdl.error.txt").read_text(encoding="utf-8")
        assert "relev\\xe9-ao\\xfbt/a.sdl" in note and "is not a source name" in note
    finally:
        assert inbox.stop(10)


def test_files_that_vanish_mid_import_are_let_go(vault: Vault, registry: Any, tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()

    def vanish(step: str, path: Path) -> None:
        if step == "taken" and path.name.startswith("early") or step == "imported" and path.name.startswith("late"):
            path.unlink()

    inbox = Inbox(vault, registry, root, settle_s=0.2, hook=vanish)
    inbox.start()
    try:
        for name in (b"early.sdl", b"late.sdl", LATIN1 + b".sdl"):
            drop(root, name, lines(range(len(name), len(name) + 2)))
        wait_for(lambda: not names_in(root) - {b"failed"})
        wait_for(lambda: events(inbox, "inbox.imported"))
        assert [e["file"] for e in events(inbox, "inbox.imported")] == ["relev\\xe9-ao\\xfbt.sdl"]
        assert names_in(root / "failed") == set()
        assert inbox.health() == (True, None)
    finally:
        assert inbox.stop(10)


@pytest.fixture
def breaking(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The note of a failed file cannot be written, with an error nothing expects, until set."""
    fixed = threading.Event()
    real = worker.write_note

    def write_note(path: Path, text: str, mode: int) -> None:
        if not fixed.is_set():
            raise RuntimeError("the disk said something odd")
        real(path, text, mode)

    monkeypatch.setattr(worker, "write_note", write_note)
    yield fixed


def test_an_unexpected_error_is_logged_once_the_worker_starts_again_and_status_says_so(
    vault: Vault, registry: Any, tmp_path: Path, breaking: threading.Event, json_log: Callable[[], list[dict[str, Any]]]
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    unlocked = Unlocked(vault._master, load_slots(vault.paths.keyslots_file), "test")
    services = Services(vault.paths, Config(paths=vault.paths, inbox=root), vault, unlocked, registry)
    inbox = Inbox(vault, registry, root, settle_s=0.2)
    services.inbox = inbox
    inbox.start()
    try:
        bad = drop(root, b"bad.sdl", lines(range(1), tail="boom\n"))
        wait_for(lambda: inbox.health()[1])
        report = asyncio.run(status.handler(services, NoParams(), lambda _: None))["inbox"]
        assert report["watched"] is False
        assert report["problem"] == "the inbox worker met an unexpected error and starts again: RuntimeError"
        assert _inbox_state(report, True).startswith("NOT watched: the inbox worker met an unexpected error")
        drop(root, b"good.sdl", lines(range(5)))
        wait_for(lambda: events(inbox, "inbox.imported"), what="the worker after its restart")
        assert inbox.health() == (True, None)
        assert bad.exists()  # skipped while unchanged: it broke the worker once
        breaking.set()
        bad.write_bytes(lines(range(1), tail="boom again\n"))  # changed: tried again
        wait_for(lambda: (root / "failed" / "bad.sdl").exists())
    finally:
        assert inbox.stop(10)
    errors = [r for r in json_log() if r["level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["msg"].startswith(
        "the inbox met an unexpected error importing bad.sdl: RuntimeError: the disk said something odd at "
    )
    assert any(r["msg"] == "the inbox worker runs again" for r in json_log())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_that_died_is_reported(vault: Vault, registry: Any, tmp_path: Path) -> None:
    def die(step: str, path: Path) -> None:
        raise SystemExit  # what no worker survives

    root = tmp_path / "inbox"
    root.mkdir()
    inbox = Inbox(vault, registry, root, settle_s=0.2, hook=die)
    inbox.start()
    try:
        drop(root, b"a.sdl", lines(range(2)))
        watched, problem = wait_for(lambda: inbox.health()[1] and inbox.health())
        assert not watched and problem == "the inbox worker has stopped: restart the daemon (its log says why)"
    finally:
        inbox.stop(10)


def test_selfdata_run_keeps_importing_after_a_latin1_name_and_after_a_restart(daemon: Daemon, home: Path) -> None:
    daemon.env["SELFDATA_INBOX_SETTLE"] = "0.2"
    daemon.start()
    inbox = home / "inbox"
    drop(inbox, LATIN1 + b".sdl", lines(range(1), tail="boom\n"))
    wait_for(lambda: LATIN1 + b".sdl" in names_in(inbox / "failed"), 20)
    write_lines(inbox / "after.sdl", ROWS[:4])
    wait_for(lambda: not (inbox / "after.sdl").exists(), 20)
    report = daemon.json("status")["inbox"]
    assert (report["watched"], report["problem"], report["failed"]) == (True, None, 1)
    assert daemon.stop() == 0
    drop(inbox, LATIN1 + b" (2).sdl", lines(range(3)))  # found by the scan at the next start
    daemon.start()
    wait_for(lambda: not (inbox / os.fsdecode(LATIN1 + b" (2).sdl")).exists(), 20)
    write_lines(inbox / "later.sdl", ROWS[4:8])
    wait_for(lambda: not (inbox / "later.sdl").exists(), 20)
    assert "(watched, 1 failed: see" in daemon.cli("status").stdout
    assert {f["name"] for f in daemon.json("files", "list")} == {
        "after.sdl",
        "relev\\xe9-ao\\xfbt (2).sdl",
        "later.sdl",
    }


def test_stopped_change_notifications_are_reported_and_files_still_found(
    vault: Vault, registry: Any, tmp_path: Path
) -> None:
    root = tmp_path / "inbox"
    inbox = Inbox(vault, registry, root, settle_s=0.2)
    inbox.start()
    try:
        inbox._observer.stop()  # as if the watcher's thread had died
        inbox._observer.join(5)
        wait_for(lambda: inbox.rescan_s == 5.0)
        assert inbox.health() == (True, "change notifications stopped; looking for new files every 5 s")
        write_lines(root / "found.sdl", ROWS[:3])
        wait_for(lambda: not (root / "found.sdl").exists(), 20)
    finally:
        assert inbox.stop(10)
