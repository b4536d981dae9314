"""The inbox: files dropped in a folder are imported once complete, kept in the vault, then removed."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.bank.csvfile import BankCsvImporter
from connectors.testing.generators.bank_csv import write_generic, write_midata
from daemon.inbox import KILL_ENV, SETTLE_ENV, Inbox, summary
from daemon.sources import SourceStore
from daemon.sync import runs
from daemon.vault import Vault, records
from daemon.vault.files import FileStore

from . import plugins as test_plugins
from .conftest import Daemon
from .plugins import write_lines

SETTLE = 0.3
ROWS = [(f"k{i:03d}", f"2026-01-{1 + i % 28:02d}T08:00:00+00:00", f"-{i}.50") for i in range(60)]
ROWS_BY_KEY = [(k, a) for k, _, a in ROWS]
EXPECTED = dict(ROWS_BY_KEY)


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "the inbox") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what}: not done after {timeout} s")


def amounts(vault: Vault, source: str) -> dict[str, str]:
    return {r.key: r.data["amount"] for r in records.iter_records(vault.conn, "bank.transaction", source=source)}


def events(inbox: Inbox, kind: str) -> list[dict[str, Any]]:
    return [e.to_json() for e in inbox.events.recent if e.type == kind]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "inbox"


@pytest.fixture
def start(vault: Vault, registry: Any, root: Path) -> Iterator[Callable[..., Inbox]]:
    started: list[Inbox] = []

    def make(settle_s: float = SETTLE, **kw: Any) -> Inbox:
        inbox = Inbox(vault, registry, root, settle_s=settle_s, **kw)
        inbox.start()
        started.append(inbox)
        return inbox

    yield make
    for inbox in started:
        assert inbox.stop(10)


def test_a_file_dropped_while_running_is_imported_kept_and_removed(
    start: Callable[..., Inbox], vault: Vault, root: Path, tmp_path: Path
) -> None:
    inbox = start()
    assert root.is_dir() and root.stat().st_mode & 0o777 == 0o700
    dropped = write_lines(root / "statement.sdl", ROWS)
    original = dropped.read_bytes()
    wait_for(lambda: events(inbox, "inbox.imported"))
    assert not dropped.exists()
    assert amounts(vault, "sd-lines") == EXPECTED  # at the root: the source is named after the importer
    [stored] = FileStore(vault).list()
    assert (stored.name, stored.source, stored.importer) == ("statement.sdl", "sd-lines", "sd-lines")
    assert runs.get(vault, stored.run_id).status == "ok"  # type: ignore[arg-type]
    FileStore(vault).get(stored.id, tmp_path / "back.sdl")
    assert (tmp_path / "back.sdl").read_bytes() == original
    [event] = events(inbox, "inbox.imported")
    assert (event["file"], event["source"], event["new"], event["stored"]) == ("statement.sdl", "sd-lines", 60, "new")


def test_files_dropped_while_stopped_are_imported_at_start(
    start: Callable[..., Inbox], vault: Vault, root: Path
) -> None:
    (root / "my-bank").mkdir(parents=True)
    write_lines(root / "a.sdl", ROWS[:10])
    write_lines(root / "my-bank" / "b.sdl", ROWS[10:])
    start()
    wait_for(lambda: not any(p.is_file() for p in root.rglob("*")))
    assert amounts(vault, "sd-lines") == dict(list(EXPECTED.items())[:10])
    assert amounts(vault, "my-bank") == dict(list(EXPECTED.items())[10:])


def test_a_sub_folder_names_the_source_at_any_depth(start: Callable[..., Inbox], vault: Vault, root: Path) -> None:
    start()
    (root / "joint-account" / "2025").mkdir(parents=True)
    write_lines(root / "joint-account" / "2025" / "march.sdl", ROWS)
    wait_for(lambda: amounts(vault, "joint-account") == EXPECTED)
    assert amounts(vault, "sd-lines") == {}
    # The original is stored after the records: wait for it rather than race it.
    wait_for(lambda: [f.source for f in FileStore(vault).list()] == ["joint-account"], what="the stored original")


def test_a_sub_folder_named_after_a_profile_chooses_it(
    start: Callable[..., Inbox], vault: Vault, registry: Any, root: Path, tmp_path: Path
) -> None:
    registry.add(BankCsvImporter, "test")
    for folder in ("uk-midata", "generic"):
        (root / folder).mkdir(parents=True)
    midata = write_midata(tmp_path / "m.csv", days=20)
    generic = write_generic(tmp_path / "g.csv", days=20)
    midata.path.rename(root / "uk-midata" / "statement.csv")
    generic.path.rename(root / "generic" / "export.csv")
    start()
    wait_for(lambda: len(FileStore(vault).list()) == 2)
    store = SourceStore(vault)
    for name, written in (("uk-midata", midata), ("generic", generic)):
        src = store.get(name)
        assert (src.connector, src.settings["profile"]) == ("bank-csv", name)
        assert sorted(amounts(vault, name).values()) == sorted(r["amount"] for r in written.rows)


def test_a_configured_source_decides_the_format_and_settings(
    start: Callable[..., Inbox], vault: Vault, registry: Any, root: Path
) -> None:
    registry.add(test_plugins.OtherLines, "test")  # two importers now claim SDLINES files
    SourceStore(vault).add("pounds", "sd-lines", "importer", {"currency": "GBP"}, {})
    (root / "pounds").mkdir(parents=True)
    start()
    write_lines(root / "pounds" / "a.sdl", ROWS[:3])
    write_lines(root / "ambiguous.sdl", ROWS[:3])
    wait_for(lambda: (root / "failed" / "ambiguous.sdl").exists() and not (root / "pounds" / "a.sdl").exists())
    assert {r.data["currency"] for r in records.iter_records(vault.conn, "bank.transaction", source="pounds")} == {
        "GBP"
    }
    assert "several importers" in (root / "failed" / "ambiguous.sdl.error.txt").read_text()


def test_a_file_copied_slowly_while_held_open_is_not_taken_half_written(
    start: Callable[..., Inbox], vault: Vault, root: Path
) -> None:
    start()
    lines = ["SDLINES 1\n"] + [f"{k};{t};{a}\n" for k, t, a in ROWS]
    target = root / "slow.sdl"
    with target.open("w") as f:  # pauses longer than the settle time, the file open throughout
        for at in range(0, len(lines), 20):
            f.writelines(lines[at : at + 20])
            f.flush()
            time.sleep(SETTLE * 2)
    wait_for(lambda: not target.exists())
    assert amounts(vault, "sd-lines") == EXPECTED
    assert [r.status for r in runs.recent(vault, "sd-lines")] == ["ok"]


def test_a_file_copied_in_chunks_is_taken_once_its_size_settles(
    start: Callable[..., Inbox], vault: Vault, root: Path
) -> None:
    start(settle_s=1.0)
    lines = ["SDLINES 1\n"] + [f"{k};{t};{a}\n" for k, t, a in ROWS]
    target = root / "chunks.sdl"
    for at in range(0, len(lines), 10):  # reopened for each chunk, as some copy tools do
        with target.open("a") as f:
            f.writelines(lines[at : at + 10])
        time.sleep(0.1)
    wait_for(lambda: not target.exists())
    assert amounts(vault, "sd-lines") == EXPECTED
    assert [r.status for r in runs.recent(vault, "sd-lines")] == ["ok"]


def test_partial_downloads_and_hidden_files_wait_until_renamed(
    start: Callable[..., Inbox], vault: Vault, root: Path
) -> None:
    start()
    waiting = [write_lines(root / name, ROWS) for name in ("a.sdl.part", "b.sdl.crdownload", ".hidden.sdl", "c.sdl~")]
    time.sleep(SETTLE * 4)
    assert all(p.exists() for p in waiting) and runs.recent(vault, None) == []
    waiting[0].rename(root / "a.sdl")  # the browser finished
    wait_for(lambda: amounts(vault, "sd-lines") == EXPECTED)
    assert wait_for(lambda: not (root / "a.sdl").exists())
    assert all(p.exists() for p in waiting[1:])


def test_a_bad_file_moves_to_failed_with_the_reason(start: Callable[..., Inbox], vault: Vault, root: Path) -> None:
    inbox = start()
    (root / "my-bank").mkdir()
    write_lines(root / "my-bank" / "bad.sdl", ROWS[:5], tail="boom\n")
    moved = root / "failed" / "my-bank" / "bad.sdl"
    wait_for(lambda: moved.exists())
    assert not (root / "my-bank" / "bad.sdl").exists()
    reason = (root / "failed" / "my-bank" / "bad.sdl.error.txt").read_text()
    assert "bad.sdl, line 7: expected key;time;amount" in reason and "Nothing from this file was stored" in reason
    assert amounts(vault, "my-bank") == {} and FileStore(vault).list() == []
    assert [r.status for r in runs.recent(vault, "my-bank")] == ["failed"]
    [event] = wait_for(lambda: events(inbox, "inbox.failed"))
    assert event["moved_to"] == "failed/my-bank/bad.sdl"
    assert (root / "failed").stat().st_mode & 0o777 == 0o700
    assert (root / "failed" / "my-bank" / "bad.sdl.error.txt").stat().st_mode & 0o777 == 0o600
    time.sleep(SETTLE * 3)
    assert moved.exists()  # failed/ is not watched: no second attempt
    assert summary(root, True) == {
        "path": str(root),
        "watched": True,
        "exists": True,
        "waiting": 0,
        "failed": 1,
        "problem": None,
    }


def test_the_summary_counts_waiting_and_failed_files(root: Path) -> None:
    assert summary(root, False)["exists"] is False and summary(root, False)["waiting"] == 0
    (root / "failed" / "my-bank").mkdir(parents=True)
    (root / "my-bank").mkdir()
    for name in ("a.ofx", "my-bank/b.csv", "c.ofx.part", ".hidden", "failed/d.xml", "failed/my-bank/e.csv"):
        (root / name).write_text("x")
    (root / "failed" / "d.xml.error.txt").write_text("why")
    assert summary(root, False) == {
        "path": str(root),
        "watched": False,
        "exists": True,
        "waiting": 2,
        "failed": 2,
        "problem": None,
    }


def test_an_inbox_shared_with_a_group_keeps_failed_files_readable_by_it(
    start: Callable[..., Inbox], root: Path
) -> None:
    root.mkdir()
    os.chmod(root, 0o2770)  # as docs/install.md sets up the system service's inbox
    start()
    (root / "phone").mkdir()
    (root / "phone" / "calls.bin").write_bytes(b"\x00\x01")
    note = root / "failed" / "phone" / "calls.bin.error.txt"
    wait_for((root / "failed" / "phone" / "calls.bin").exists)
    for folder in (root / "failed", root / "failed" / "phone"):
        assert folder.stat().st_mode & 0o2770 == 0o2770
    assert note.stat().st_mode & 0o777 == 0o660


def test_an_unrecognised_file_moves_to_failed_and_a_second_keeps_both(
    start: Callable[..., Inbox], vault: Vault, root: Path
) -> None:
    start()
    (root / "notes.txt").write_text("not an export\n")
    wait_for(lambda: (root / "failed" / "notes.txt").exists())  # moved last, after its reason is written
    assert "no importer recognises this file" in (root / "failed" / "notes.txt.error.txt").read_text()
    (root / "notes.txt").write_text("another one\n")
    wait_for(lambda: (root / "failed" / "notes (2).txt").exists())
    assert "no importer" in (root / "failed" / "notes (2).txt.error.txt").read_text()
    assert (root / "failed" / "notes.txt").read_text() == "not an export\n"
    assert (root / "failed" / "notes (2).txt").read_text() == "another one\n"
    assert runs.recent(vault, None) == []


def test_the_same_file_twice_changes_nothing_and_is_stored_once(
    start: Callable[..., Inbox], vault: Vault, root: Path
) -> None:
    inbox = start()
    write_lines(root / "march.sdl", ROWS)
    wait_for(lambda: events(inbox, "inbox.imported"))
    before = [(r.key, r.seq) for r in records.iter_records(vault.conn, "bank.transaction")]
    write_lines(root / "march (1).sdl", ROWS)  # downloaded again
    wait_for(lambda: len(events(inbox, "inbox.imported")) == 2)
    assert [(r.key, r.seq) for r in records.iter_records(vault.conn, "bank.transaction")] == before
    second = events(inbox, "inbox.imported")[1]
    assert (second["new"], second["unchanged"], second["stored"]) == (0, 60, "already stored")
    assert [f.name for f in FileStore(vault).list()] == ["march.sdl"]
    assert not list(root.glob("*.sdl"))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("step", ["imported", "stored", "durable"])
def test_a_crash_at_any_step_leaves_the_file_or_its_records_and_a_restart_finishes(
    vault: Vault, registry: Any, root: Path, step: str
) -> None:
    crashed = threading.Event()

    def crash(name: str, path: Path) -> None:
        if name == step:
            crashed.set()
            raise SystemExit  # the worker dies here, as the process would

    root.mkdir()
    dropped = write_lines(root / "statement.sdl", ROWS)
    first = Inbox(vault, registry, root, settle_s=SETTLE, hook=crash)
    first.start()
    assert crashed.wait(10)
    first.stop(10)
    assert dropped.exists() or amounts(vault, "sd-lines") == EXPECTED
    again = Inbox(vault, registry, root, settle_s=SETTLE)
    again.start()
    try:
        wait_for(lambda: not dropped.exists())
    finally:
        again.stop(10)
    assert amounts(vault, "sd-lines") == EXPECTED
    assert len(FileStore(vault).list()) == 1
    assert vault.conn.execute("SELECT count(*) FROM file_contents").fetchone()[0] == 1


def _daemon_amounts(daemon: Daemon, source: str) -> dict[str, str]:
    page = daemon.json("query", "bank.transaction", "--source", source, "--limit", "1000")
    return {r["key"]: r["data"]["amount"] for r in page["records"]}


def test_selfdata_run_imports_dropped_files_and_gives_the_originals_back(
    daemon: Daemon, home: Path, tmp_path: Path
) -> None:
    daemon.env[SETTLE_ENV] = "0.2"
    daemon.start()
    inbox = home / "inbox"
    (inbox / "my-bank").mkdir()
    dropped = write_lines(inbox / "my-bank" / "a.sdl", ROWS[:20])
    original = dropped.read_bytes()
    wait_for(lambda: not dropped.exists(), 20)
    status = daemon.json("status")["inbox"]
    assert (status["path"], status["watched"], status["waiting"], status["failed"]) == (str(inbox), True, 0, 0)
    assert "(watched)" in daemon.cli("status").stdout
    [stored] = daemon.json("files", "list")
    assert (stored["name"], stored["source"]) == ("a.sdl", "my-bank")
    daemon.cli("files", "get", str(stored["id"]), str(tmp_path / "back.sdl"))
    assert (tmp_path / "back.sdl").read_bytes() == original
    assert daemon.stop() == 0
    write_lines(inbox / "b.sdl", ROWS[20:])  # while the daemon is stopped
    daemon.start()
    wait_for(lambda: not (inbox / "b.sdl").exists(), 20)
    assert _daemon_amounts(daemon, "my-bank") == dict(ROWS_BY_KEY[:20])
    assert _daemon_amounts(daemon, "sd-lines") == dict(ROWS_BY_KEY[20:])


def test_kill_9_right_after_an_import_commits_loses_nothing(daemon: Daemon, home: Path) -> None:
    daemon.env.update({SETTLE_ENV: "0.2", KILL_ENV: "durable"})  # SIGKILL between the commit and the unlink
    daemon.start()
    dropped = write_lines(home / "inbox" / "statement.sdl", ROWS)
    assert daemon.proc is not None and daemon.proc.wait(20) == -signal.SIGKILL
    assert dropped.exists()
    assert _daemon_amounts(daemon, "sd-lines") == EXPECTED  # read by the CLI itself: no daemon runs
    del daemon.env[KILL_ENV]
    (home / "admin.sock").unlink(missing_ok=True)  # left by the killed daemon
    daemon.start()
    wait_for(lambda: not dropped.exists(), 20)
    assert _daemon_amounts(daemon, "sd-lines") == EXPECTED
    assert len(daemon.json("files", "list")) == 1
