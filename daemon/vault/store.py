"""The vault: an encrypted database plus its key slots."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..files import ensure_private_dir
from ..paths import Paths
from ..times import now_ms
from . import damage, keys, records, schema
from .damage import Damage
from .db import Connection, DatabaseError, connect, corrupt
from .errors import VaultCorrupt, VaultDamaged, VaultExists, VaultNotFound
from .keyslots import KeySlots, MasterKeys
from .openlock import OpenLock
from .records import RecordWriter
from .salvage import Salvaged, salvage
from .secrets import SecretStore

log = logging.getLogger("selfdata.vault")


@dataclass(frozen=True)
class Leftovers:
    """What killed processes had left half done, cleared as the vault opened with no other user."""

    staged_rows: int = 0
    partial_files: int = 0
    interrupted_runs: int = 0


class Vault:
    """An open vault. One per process; it owns the single writer connection."""

    def __init__(self, paths: Paths, master: MasterKeys, conn: Connection, lock: OpenLock | None = None) -> None:
        self.paths = paths
        self._master = master
        self._lock = lock or OpenLock(None)
        self.writer = RecordWriter(conn)
        self.secrets = SecretStore(self.writer, master.secrets_key)
        self.leftovers = Leftovers()
        self.damage: Damage | None = damage.read(paths.vault_dir)  # what a check or a read found

    def __repr__(self) -> str:
        return f"Vault({self.paths.vault_file})"

    @property
    def vault_id(self) -> str:
        return self._master.vault_id

    @property
    def conn(self) -> Connection:
        """The writer's connection; reads on it see the latest commits."""
        return self.writer.conn

    @classmethod
    def create(cls, paths: Paths, slots_setup: SlotSetup) -> tuple[Vault, KeySlots]:
        """A new vault with fresh random keys, wrapped in the slots `slots_setup` adds."""
        if paths.keyslots_file.exists() or paths.vault_file.exists():
            raise VaultExists(f"a vault already exists at {paths.vault_dir}")
        ensure_private_dir(paths.state_dir)
        ensure_private_dir(paths.vault_dir)
        master = MasterKeys(secrets.token_hex(8), keys.random_key(), keys.random_key())
        slots = KeySlots.new(paths.keyslots_file, master.vault_id)
        slots_setup.apply(slots, master)
        lock, _ = OpenLock.take(paths.vault_dir)
        lock.share()
        try:
            conn = connect(paths.vault_file, master.db_key)
        except BaseException:
            lock.release()
            raise
        try:
            schema.migrate(conn)
            conn.execute("INSERT INTO meta (name, value) VALUES ('vault_id', ?)", (master.vault_id,))
            conn.execute("INSERT INTO meta (name, value) VALUES ('created_at', ?)", (str(now_ms()),))
            slots.save()
        except BaseException:
            conn.close()
            lock.release()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{paths.vault_file}{suffix}").unlink(missing_ok=True)
            raise
        for suffix in ("", "-wal", "-shm"):
            p = Path(f"{paths.vault_file}{suffix}")
            if p.exists():
                os.chmod(p, 0o600)
        return cls(paths, master, conn, lock), slots

    @classmethod
    def open(cls, paths: Paths, master: MasterKeys, *, check: bool = False) -> Vault:
        """The vault, opened for reading and writing.

        With `check` (the daemon, which writes for months), every page in use is read first
        (SQLite's quick check, about 4 s a million records) and a damaged file is refused
        (`VaultDamaged`) before anything is written to it."""
        if not paths.vault_file.exists():
            raise VaultNotFound(f"no vault database at {paths.vault_file}")
        if paths.vault_file.stat().st_size == 0:  # SQLite would take it for a new database and write one
            raise VaultCorrupt(
                f"the vault database '{paths.vault_file}' is empty (0 bytes): it was truncated or replaced, and "
                "selfdata writes no new vault over it. Restore the vault folder from a backup (docs/security.md)"
            )
        lock, alone = OpenLock.take(paths.vault_dir)
        try:
            conn = connect(paths.vault_file, master.db_key)
        except BaseException:
            lock.release()
            raise
        try:
            if check:
                _quick_check(paths, master, conn)
            schema.migrate(conn)
            row = conn.execute("SELECT value FROM meta WHERE name='vault_id'").fetchone()
            if row is None or row[0] != master.vault_id:
                raise VaultCorrupt(
                    f"the key slots in {paths.keyslots_file} belong to another vault than {paths.vault_file}"
                )
            vault = cls(paths, master, conn, lock)
            if alone:
                vault.leftovers = vault._clear_leftovers()
            lock.share()
        except BaseException as err:
            conn.close()
            lock.release()
            if isinstance(err, DatabaseError):
                if damage.is_damage(err):
                    damage.record(paths.vault_dir, "read", [str(err)])
                raise corrupt(paths.vault_file, err) from err
            raise
        return vault

    def _clear_leftovers(self) -> Leftovers:
        """Runs still marked running, staged rows of an import and contents of a file half stored:
        with no other process using the vault, only killed ones left them."""
        with self.writer.transaction() as conn:
            interrupted = conn.execute(
                "UPDATE runs SET status='interrupted', ended_at=?, error='the process stopped during the run'"
                " WHERE status='running'",
                (now_ms(),),
            ).rowcount
            staged = conn.execute("DELETE FROM staging").rowcount
            partial = [r[0] for r in conn.execute("SELECT id FROM file_contents WHERE complete=0")]
            for content_id in partial:
                conn.execute("DELETE FROM file_chunks WHERE content_id=?", (content_id,))
                conn.execute("DELETE FROM file_contents WHERE id=?", (content_id,))
        if staged or partial or interrupted:
            # The WAL's older copies of those pages go too (secure_delete zeroed the rest), and so do
            # the pages a killed import's transaction had spilled there, never committed.
            self.checkpoint()
        return Leftovers(int(staged), len(partial), int(interrupted))

    def reader(self, cache_kib: int = 16000) -> Connection:
        """A separate read-only connection (API handlers; exports, which scan, with a small cache)."""
        return connect(self.paths.vault_file, self._master.db_key, readonly=True, cache_kib=cache_kib)

    def reader_of(self, copy: Path) -> Connection:
        """A read-only connection to a copy of this vault's database (a backup, a rescued copy)."""
        return connect(copy, self._master.db_key, readonly=True, cache_kib=2000)

    def counts(self) -> list[records.StreamCount]:
        return records.counts(self.conn)

    def integrity_errors(self) -> list[str]:
        """SQLCipher's page HMAC check plus SQLite's own; empty when all is well."""
        return self.check(full=True)

    def check(self, full: bool = False) -> list[str]:
        """The problems a check finds, on a connection of its own (a damaged page spoils the
        connection that reads it): quick, every page in use; full, every page of the file
        (its HMAC) and then SQLite's integrity check. What it finds is noted; a pass clears
        what a check no more thorough had noted."""
        by = "full" if full else "quick"
        try:
            conn = self.reader(cache_kib=2000)
        except VaultCorrupt as err:
            problems = [str(err.__cause__ or err)]
        else:
            try:
                problems = _pages_problems(conn) if full else []
                if not problems:
                    pragma = "integrity_check" if full else "quick_check"
                    problems = [r[0] for r in conn.execute(f"PRAGMA {pragma}") if r[0] != "ok"]
            except DatabaseError as err:
                problems = [str(err)]
            finally:
                conn.close()
        if problems:
            self.damage = damage.record(self.paths.vault_dir, by, problems)
        elif damage.clear(self.paths.vault_dir, by):
            self.damage = None
        return problems

    def note_damage(self, err: BaseException) -> None:
        """A read met a damaged page: say so once, and keep it for status, doctor and /health."""
        first = self.damage is None
        self.damage = damage.record(self.paths.vault_dir, "read", [str(damage.database_error(err) or err)])
        if first:
            log.error("the vault's database %s is damaged (%s). %s", self.paths.vault_file, err, damage.RESCUE)

    def salvage(self, target: Path) -> Salvaged:
        """Every row still readable, copied into the new database `target` under the vault's key."""
        result = salvage(self.paths.vault_file, self._master.db_key, target, self.vault_id)
        lost = ", ".join(sorted({u.table for u in result.unreadable}))
        found = f"rows of {lost} could not be read" if lost else "a damaged page was met; every row was read around it"
        self.damage = damage.record(self.paths.vault_dir, "read", [found])
        return result

    def checkpoint(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        try:
            self.checkpoint()
        except DatabaseError:
            pass
        self.conn.close()
        self._lock.release()


def _pages_problems(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute("PRAGMA cipher_integrity_check")]


def _quick_check(paths: Paths, master: MasterKeys, conn: Connection) -> None:
    """Refuse a vault whose pages in use do not all read back; clear what a quick check may clear."""
    try:
        problems = [r[0] for r in conn.execute("PRAGMA quick_check") if r[0] != "ok"]
    except DatabaseError as err:
        problems = [str(err)]
    if not problems:
        damage.clear(paths.vault_dir, "quick")
        return
    try:  # which pages: the quick check's own list is noise after the first bad page
        pages = connect(paths.vault_file, master.db_key, readonly=True, cache_kib=2000)
        try:
            problems = _pages_problems(pages) or problems
        finally:
            pages.close()
    except (DatabaseError, VaultCorrupt):
        pass
    found = damage.record(paths.vault_dir, "quick", problems)
    raise VaultDamaged(
        f"the vault database '{paths.vault_file}' is damaged: {damage.summary(list(found.problems))}. "
        f"The daemon does not start on it, so nothing more is written to the damaged file. {damage.RESCUE}"
    )


class SlotSetup:
    """The slots a new vault starts with."""

    def __init__(
        self,
        passphrase: str | None = None,
        machine_key: bytes | None = None,
        recovery: bool = True,
        kdf: keys.KdfProfile = keys.DEFAULT_KDF,
    ) -> None:
        self.passphrase = passphrase
        self.machine_key = machine_key
        self.recovery = recovery
        self.kdf = kdf
        self.recovery_key: str | None = None

    def apply(self, slots: KeySlots, master: MasterKeys) -> None:
        if self.passphrase is None and self.machine_key is None:
            raise ValueError("a new vault needs a passphrase or a machine key")
        if self.passphrase is not None:
            slots.add_passphrase(master, self.passphrase, self.kdf)
        if self.machine_key is not None:
            slots.add_machine(master, self.machine_key)
        if self.recovery:
            _, self.recovery_key = slots.add_recovery(master)
