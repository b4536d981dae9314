"""A shared inbox: files written by other users, whose writers pause, are never taken half-written."""

from __future__ import annotations

import errno
import logging
import os
import resource
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from daemon.inbox import SETTLE_ENV, Inbox, watcher, worker
from daemon.sources import SourceStore
from daemon.sync import runs
from daemon.vault import Vault
from daemon.vault.files import FileStore

from .conftest import Daemon
from .test_inbox import amounts, wait_for

ROWS = [(f"s{i:03d}", f"2026-03-{1 + i % 28:02d}T09:00:00+00:00", f"-{i}.75") for i in range(72)]
LINES = ["SDLINES 1\n"] + [f"{k};{t};{a}\n" for k, t, a in ROWS]
EVERY = {k: a for k, _, a in ROWS}
NOBODY = 65534


def write_pausing(target: Path, pause_s: float, owner: int | None = None) -> None:
    """Half the file, a pause with the file held open, then the rest: a slow copy over a network share."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660)
    if owner is not None:
        os.fchown(fd, owner, -1)  # the file is another user's, as a group member's drop is
    with os.fdopen(fd, "w") as f:
        f.writelines(LINES[:37])
        f.flush()
        time.sleep(pause_s)
        f.writelines(LINES[37:])


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root (to write as another user) and setpriv"
)
def test_a_group_members_file_is_not_taken_while_its_writer_pauses(daemon: Daemon, home: Path) -> None:
    # Without CAP_LEASE the daemon cannot ask about another user's file, as the system service cannot.
    daemon.prefix = ["setpriv", "--bounding-set=-lease", "--inh-caps=-lease"]
    daemon.env[SETTLE_ENV] = "0.3"
    daemon.start()
    inbox = home / "inbox"
    os.chmod(inbox, 0o2770)  # the documented group drop folder
    target = inbox / "shared.sdl"
    write_pausing(target, pause_s=1.5, owner=NOBODY)  # five times the settle time
    wait_for(lambda: not target.exists(), 20)
    page = daemon.json("query", "bank.transaction", "--source", "sd-lines", "--limit", "1000")
    assert {r["key"]: r["data"]["amount"] for r in page["records"]} == EVERY
    assert [r["status"] for r in daemon.json("runs", "sd-lines")] == ["ok"]


def test_notifications_say_when_a_writer_nobody_can_ask_about_is_done(
    vault: Vault, registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "open_for_writing", lambda path: None)  # another user's file
    root = tmp_path / "inbox"
    inbox = Inbox(vault, registry, root, settle_s=0.2)
    inbox.start()
    try:
        target = root / "slow.sdl"
        write_pausing(target, pause_s=1.2)  # six times the settle time, the file held open
        wait_for(lambda: not target.exists(), 20)
        outside = tmp_path / "written-elsewhere.sdl"
        outside.write_text("".join(LINES[:10]))
        started = time.monotonic()
        outside.rename(root / "moved-in.sdl")  # what the writer should do: taken at once
        wait_for(lambda: not (root / "moved-in.sdl").exists(), 20)
        assert time.monotonic() - started < worker.UNSEEN_SETTLE_S
    finally:
        assert inbox.stop(10)
    assert amounts(vault, "sd-lines") == EVERY
    assert [r.status for r in runs.recent(vault, "sd-lines")] == ["ok", "ok"]


def test_without_notifications_a_file_nobody_vouches_for_must_hold_still_longer(
    vault: Vault, registry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(inbox: Any) -> Any:
        raise OSError(28, "inotify watch limit reached")

    monkeypatch.setattr(watcher, "watch", refused)  # looked for by polling
    monkeypatch.setattr(worker, "open_for_writing", lambda path: None)  # another user's file
    root = tmp_path / "inbox"
    inbox = Inbox(vault, registry, root, settle_s=0.2, unseen_settle_s=3.0, rescan_s=0.2)
    inbox.start()
    try:
        target = root / "slow.sdl"
        write_pausing(target, pause_s=1.2)
        wait_for(lambda: not target.exists(), 20)
    finally:
        assert inbox.stop(10)
    assert amounts(vault, "sd-lines") == EVERY
    assert [r.status for r in runs.recent(vault, "sd-lines")] == ["ok"]


def test_a_file_that_grows_after_its_import_is_kept_and_imported_again(
    vault: Vault, registry: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="selfdata")
    root = tmp_path / "inbox"
    root.mkdir()
    target = root / "growing.sdl"

    def resume(step: str, path: Path) -> None:
        if step == "imported" and path == target and len(path.read_text().splitlines()) == 37:
            with path.open("a") as f:  # the writer resumes after its pause
                f.writelines(LINES[37:])

    (root / ".growing.tmp").write_text("".join(LINES[:37]))
    (root / ".growing.tmp").rename(target)
    inbox = Inbox(vault, registry, root, settle_s=0.2, hook=resume)
    inbox.start()
    try:
        wait_for(lambda: not target.exists(), 20)
    finally:
        assert inbox.stop(10)
    assert amounts(vault, "sd-lines") == EVERY  # none of the rows written after the first import is lost
    assert [r.new for r in reversed(runs.recent(vault, "sd-lines"))] == [36, 36]
    [stored] = FileStore(vault).list()
    FileStore(vault).get(stored.id, tmp_path / "back.sdl")
    assert (tmp_path / "back.sdl").read_text() == "".join(LINES)
    assert "growing.sdl changed while it was imported (run 1 stored what it held then)" in caplog.text


@contextmanager
def no_file_descriptors_left() -> Iterator[None]:
    """The process at its limit of open files, as under an idle-connection flood."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    fillers: list[int] = []
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, highest + 64), hard))  # fewer to fill
    try:
        while len(fillers) < 100_000:
            try:
                fillers.append(os.open("/dev/null", os.O_RDONLY))
            except OSError as err:
                assert err.errno == errno.EMFILE
                break
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("when", ["before its import", "while its importer reads it"])
def test_a_file_met_with_too_many_open_files_is_tried_again_not_failed(
    vault: Vault, registry: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    caplog.set_level(logging.INFO, logger="selfdata")
    root = tmp_path / "inbox"
    flood = no_file_descriptors_left()
    target = root / "during-the-flood.sdl"

    def flood_now(step: str, path: Path) -> None:
        if step == "taken" and when != "before its import" and not caplog.text.count("cannot import"):
            flood.__enter__()  # the format is known: the importer's own open meets EMFILE

    inbox = Inbox(vault, registry, root, settle_s=0.2, hook=flood_now)
    inbox.start()
    try:
        (root / ".flood.tmp").write_text("".join(LINES))
        if when == "before its import":
            flood.__enter__()
        (root / ".flood.tmp").rename(target)
        wait_for(lambda: inbox.health()[1], what="the inbox meeting EMFILE")
        watched, problem = inbox.health()
        time.sleep(2.5)  # several tries, all refused
        flood.__exit__(None, None, None)
        assert watched and problem is not None and problem.startswith("cannot import files now (")
        assert "Too many open files" in problem
        wait_for(lambda: not target.exists(), 40)
        wait_for(lambda: inbox.health() == (True, None), what="the inbox saying all is well again")
    finally:
        assert inbox.stop(10)
    assert amounts(vault, "sd-lines") == EVERY
    assert not (root / "failed" / "during-the-flood.sdl").exists()
    assert caplog.text.count("cannot import files now") == 1  # logged once, however many tries
    assert caplog.text.count("the inbox imports files again") == 1
    assert [r.levelname for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert SourceStore(vault).get("sd-lines").health == "ok"
