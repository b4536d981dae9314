"""A `selfdata import` killed with SIGKILL: what its transaction wrote never outlives the next command or an erase."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from daemon.paths import Paths, home_paths
from daemon.plugins import Registry
from daemon.rights.erase import erase
from daemon.session import Session
from daemon.sync import importing, runs
from daemon.sync.importing import import_file
from daemon.vault import BatchCounts, RecordIn, Vault, unlock
from daemon.vault.db import connect

from .conftest import ROOT
from .pages import vault_pages
from .plugins import write_lines
from .test_rights import plaintext_vault

ERASED = re.compile(rb"-9133(\d{6})\.77")  # every amount of the source that is erased
KEPT = b"-4242000001.11"  # an amount of another source, which stays
SPILLED = 2 << 20  # WAL bytes: past what the first commits wrote, so pages of the killed transaction


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "daemon", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def lines(path: Path, n: int, amount: str) -> Path:
    with path.open("w") as f:
        f.write("SDLINES 1\n")
        for i in range(n):
            f.write(f"k{i};2026-01-01T10:00:00+01:00;{amount.format(i)}\n")
    return path


def db_key(paths: Paths, tmp_path: Path) -> bytes:
    return unlock(paths.keyslots_file, config_key_file=tmp_path / "machine.key").master.db_key


def running(paths: Paths, key: bytes) -> bool:
    conn = connect(paths.vault_file, key, readonly=True)
    try:
        return conn.execute("SELECT count(*) FROM runs WHERE status='running'").fetchone()[0] > 0
    finally:
        conn.close()


def staged(paths: Paths, key: bytes) -> int:
    conn = connect(paths.vault_file, key, readonly=True)
    try:
        return int(conn.execute("SELECT count(*) FROM staging").fetchone()[0])
    finally:
        conn.close()


def kill_an_import(env: dict[str, str], paths: Paths, key: bytes, big: Path) -> int:
    """Import `big` into bank2 and SIGKILL it inside its transaction, once that has spilled
    pages of records into the WAL; the WAL's size then."""
    wal = Path(f"{paths.vault_file}-wal")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "import", str(big), "--source", "bank2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (paths.vault_file.exists() and running(paths, key) and wal.exists() and wal.stat().st_size > SPILLED):
            assert proc.poll() is None, "the import ended before it was killed"
            assert time.monotonic() < deadline, "the import wrote nothing"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return wal.stat().st_size


@pytest.fixture
def killed(env: dict[str, str], home: Path, tmp_path: Path, registry: Registry) -> tuple[Paths, bytes, int]:
    """bank2 with 300 published records and a killed import's uncommitted pages; `keep` beside it."""
    paths = home_paths(home)
    key = db_key(paths, tmp_path)
    vault, _ = Session.from_env().open()
    import_file(vault, registry, lines(tmp_path / "first.sdl", 300, "-9133{:06d}.77"), source="bank2")
    import_file(vault, registry, lines(tmp_path / "keep.sdl", 3, "-4242{:06d}.11"), source="keep")
    vault.close()
    left = kill_an_import(env, paths, key, lines(tmp_path / "big.sdl", 300_000, "-9133{:06d}.77"))
    assert left > SPILLED
    return paths, key, left


def test_erase_after_a_killed_import_leaves_no_erased_value_on_any_page(
    env: dict[str, str], killed: tuple[Paths, bytes, int]
) -> None:
    paths, key, _ = killed
    assert "Erased 300 records" in cli(env, "erase", "--source", "bank2", "--yes").stdout
    pages = list(vault_pages(paths.vault_file, key))
    assert any(KEPT in page for page in pages)  # the check sees values: the kept source's are there
    found = [n for n, page in enumerate(pages) if ERASED.search(page)]
    assert found == [], f"erased amounts on {len(found)} of {len(pages)} decrypted pages"


def test_the_next_command_clears_what_the_killed_import_staged(
    env: dict[str, str], killed: tuple[Paths, bytes, int]
) -> None:
    paths, key, _ = killed
    listed = json.loads(cli(env, "runs", "bank2", "--json").stdout)
    assert [(r["status"], r["error"]) for r in listed] == [
        ("interrupted", "the process stopped during the run"),  # the killed one, no longer 'running'
        ("ok", None),
    ]
    assert staged(paths, key) == 0
    # Only the 300 published amounts remain on the pages: none of those the killed import wrote.
    amounts = {int(m) for page in vault_pages(paths.vault_file, key) for m in ERASED.findall(page)}
    assert amounts and max(amounts) < 300


def test_a_vault_another_process_has_open_keeps_its_staging(vault: Vault, paths: Paths) -> None:
    run_id = runs.start(vault, "bank2", "import")
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT INTO staging (run_id, op, dataset, key) VALUES (?, 'upsert', 'bank.transaction', 'k')", (run_id,)
        )
    other = Vault.open(paths, vault._master)  # a second opener (its own lock, as another process has)
    assert other.leftovers.staged_rows == 0
    other.close()
    assert vault.conn.execute("SELECT count(*) FROM staging").fetchone()[0] == 1
    vault.close()
    alone = Vault.open(paths, vault._master)
    assert alone.leftovers.staged_rows == 1
    assert alone.conn.execute("SELECT count(*) FROM staging").fetchone()[0] == 0
    alone.close()


@pytest.mark.parametrize("scope", ["source", "dataset"])
def test_erase_covers_staged_rows_and_the_run_log(tmp_path: Path, scope: str) -> None:
    paths = home_paths(tmp_path / "plain")
    vault = plaintext_vault(paths)
    vault.writer.upsert([RecordIn("bank2", "bank.transaction", "p1", 0, {"amount": "-9133000001.77"})])
    run_id = runs.start(vault, "bank2", "import")  # a run another process was killed in, say
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT INTO staging (run_id, op, dataset, key, ts, data) VALUES (?,'upsert','bank.transaction','s1',0,?)",
            (run_id, '{"amount":"-9133000002.77"}'),
        )
    earlier = runs.start(vault, "bank2", "import")
    runs.finish(vault, earlier, "failed", BatchCounts(), 0, "line 9: '-9133000003.77' is not an amount")
    vault.conn.execute(
        "INSERT INTO notifications (at, source, kind, message) VALUES (0, 'bank2', 'failing', '-9133000004.77')"
    )
    vault.writer.upsert([RecordIn("keep", "bank.workout", "k1", 0, {"amount": KEPT.decode()})])
    if scope == "source":
        erase(vault, source="bank2")
        assert [r.id for r in runs.recent(vault, "bank2")] == [run_id]  # still going: it fails on its own
        gone = [b"-9133000001.77", b"-9133000002.77", b"-9133000003.77", b"-9133000004.77"]
    else:
        erase(vault, dataset="bank.transaction")
        gone = [b"-9133000001.77", b"-9133000002.77"]  # the source's log stays
    on_disk = b"".join(p.read_bytes() for p in paths.vault_dir.iterdir() if p.is_file())
    assert [value for value in gone if value in on_disk] == []
    assert KEPT in on_disk
    assert vault.conn.execute("SELECT count(*) FROM staging").fetchone()[0] == 0
    vault.close()


def test_an_erase_during_an_import_waits_for_it_and_erases_all_of_it(
    vault: Vault, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "BATCH", 7)
    f = write_lines(tmp_path / "s.sdl", [(f"k{i}", "2026-01-01T10:00:00+01:00", "-1.00") for i in range(40)])
    erasing: list[threading.Thread] = []
    erased: list[int] = []

    def progress(n: int) -> None:
        if n >= 14 and not erasing:  # inside the import's transaction: the erase must wait for it
            erasing.append(threading.Thread(target=lambda: erased.append(erase(vault, source="sd-lines").records)))
            erasing[0].start()
            erasing[0].join(0.2)
            assert erasing[0].is_alive()

    result = import_file(vault, registry, f, progress=progress)
    erasing[0].join(10)
    assert result.run.status == "ok" and result.run.new == 40 and erased == [40]
    assert vault.conn.execute("SELECT count(*) FROM records WHERE deleted=0").fetchone()[0] == 0


def test_an_erase_between_the_imports_commit_and_its_run_record_keeps_the_run_and_erases_the_records(
    vault: Vault, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = write_lines(tmp_path / "s.sdl", [(f"k{i}", "2026-01-01T10:00:00+01:00", "-1.00") for i in range(40)])
    finish = runs.finish

    def erase_then_finish(v: Vault, run_id: int, status: str, *args: Any, **kw: Any) -> runs.Run:
        if status == "ok":  # the import's transaction is committed; the waiting erase gets in first
            erase(v, source="sd-lines")
        return finish(v, run_id, status, *args, **kw)

    monkeypatch.setattr(runs, "finish", erase_then_finish)
    result = import_file(vault, registry, f)
    assert result.run.status == "ok" and result.run.new == 40
    assert vault.conn.execute("SELECT count(*) FROM records WHERE deleted=0").fetchone()[0] == 0
    # The erase keeps a run still going; the run then ends as what it did. (An erase that gets in
    # right after the run ends removes it: finish reads the run back inside its own transaction.)
    [(status, new)] = vault.conn.execute("SELECT status, new FROM runs WHERE source='sd-lines'").fetchall()
    assert (status, new) == ("ok", 40)


def test_an_import_whose_source_is_erased_before_its_transaction_stores_nothing(
    vault: Vault, registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = write_lines(tmp_path / "s.sdl", [(f"k{i}", "2026-01-01T10:00:00+01:00", "-1.00") for i in range(40)])
    start = runs.start

    def start_then_erase(v: Vault, source: str, kind: str) -> int:
        run_id = start(v, source, kind)
        erase(v, source=source)
        return run_id

    monkeypatch.setattr(runs, "start", start_then_erase)
    result = import_file(vault, registry, f)
    assert result.run.status == "failed"
    assert "sd-lines was erased before the file was read" in (result.run.error or "")
    assert vault.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0


def test_runs_another_process_may_be_running_stay_running(vault: Vault, paths: Paths) -> None:
    live = runs.start(vault, "bank2", "import")  # this process's, as a daemon's import is
    other = Vault.open(paths, vault._master)
    assert other.leftovers.interrupted_runs == 0 and runs.get(other, live).status == "running"
    other.close()
    runs.finish(vault, live, "ok", BatchCounts())
    killed = runs.start(vault, "bank2", "import")
    vault.close()  # the process is gone: its run stayed 'running'
    alone = Vault.open(paths, vault._master)
    assert runs.close_interrupted(alone) == 1
    assert [(r.id, r.status) for r in runs.recent(alone, "bank2")] == [(killed, "interrupted"), (live, "ok")]
    alone.close()


def test_a_run_gone_once_it_ended_still_gives_its_result(vault: Vault) -> None:
    run_id = runs.start(vault, "gone", "import")
    with vault.writer.transaction() as conn:  # as an erase that gets in the moment the run ends
        conn.execute(
            "CREATE TEMP TRIGGER vanish AFTER UPDATE ON runs WHEN NEW.status='ok'"
            " BEGIN DELETE FROM runs WHERE id=NEW.id; END"
        )
    run = runs.finish(vault, run_id, "ok", BatchCounts(new=3), 0, None, {"file": "s.sdl"})
    assert (run.id, run.status, run.new, run.detail) == (run_id, "ok", 3, {"file": "s.sdl"})
