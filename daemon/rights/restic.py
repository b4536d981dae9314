"""Backups handed to restic: `selfdata backup --to restic:REPO` and `selfdata restore --from restic:REPO`.

selfdata makes its usual online copy of the vault (already encrypted under the vault's key)
into a fixed staging folder, and restic stores that folder deduplicated in its own encrypted
repository (a local folder, SFTP, S3-compatible, B2, ...). The staging path never changes, so
restic finds the previous snapshot as the parent and reads only what changed. restic itself
is the user's: found on PATH (or `backup.restic`), with its own password and its own
environment (RESTIC_PASSWORD_FILE, AWS_*, B2_*, ...) passed through; selfdata stores no
restic secret, because a repository password kept only inside the vault would be lost with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import SelfdataError

PREFIX = "restic:"
TAG = "selfdata"
TIMEOUT_S = 6 * 3600  # an off-site upload of a large vault over a slow line
INSTALL = "install it (sudo apt install restic, or a release from restic.net); selfdata does not bundle it"


class ResticError(SelfdataError, ValueError):
    pass


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: datetime
    host: str
    paths: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time.isoformat(), "host": self.host, "paths": list(self.paths)}


def target(value: str | None, configured: str, environ: Mapping[str, str]) -> str:
    """The repository named by `restic:REPO`, or by `restic` alone with the config or RESTIC_REPOSITORY."""
    if value is None:
        raise ResticError("no restic repository given")
    repo = value[len(PREFIX) :] if value.startswith(PREFIX) else "" if value == "restic" else None
    if repo is None:
        raise ResticError(
            f"{value!r} is not a restic target: write restic:REPO (or restic, with backup.restic_repository)"
        )
    repo = repo or configured or environ.get("RESTIC_REPOSITORY", "")
    if not repo:
        raise ResticError(
            "which restic repository? write restic:REPO (a folder, sftp:host:/path, s3:..., b2:...),"
            " or set backup.restic_repository in the config or RESTIC_REPOSITORY"
        )
    return repo


class Restic:
    def __init__(
        self,
        repository: str,
        *,
        binary: str | Path = "restic",
        password_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.repository = repository
        found = shutil.which(str(binary))
        if found is None:
            raise ResticError(f"restic was not found ({binary}): {INSTALL}")
        self.binary = found
        env = dict(os.environ if environ is None else environ)
        env["RESTIC_REPOSITORY"] = repository
        if password_file is not None:
            if not password_file.is_file():
                raise ResticError(f"backup.restic_password_file: {password_file} does not exist")
            env["RESTIC_PASSWORD_FILE"] = str(password_file)
        if not any(env.get(k) for k in ("RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND")):
            raise ResticError(
                "restic needs the repository's password: set backup.restic_password_file in the config"
                " (a file only you can read), or RESTIC_PASSWORD_FILE; keep a copy of it apart from the vault"
            )
        self.env = env

    def _run(self, args: Sequence[str], *, what: str) -> str:
        try:
            done = subprocess.run(
                [self.binary, *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ResticError(
                f"restic {what} did not finish within {TIMEOUT_S // 3600} h; nothing was changed"
            ) from None
        stdout = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0:
            raise ResticError(self._explain(what, done.stderr.decode("utf-8", "replace")))
        return stdout

    def _explain(self, what: str, stderr: str) -> str:
        text = stderr.strip()
        if "wrong password" in text:
            return f"restic {what}: wrong password for the repository {self.repository}"
        if re.search(r"unable to open config file|Is there a repository at the following location", text):
            return (
                f"restic {what}: there is no restic repository at {self.repository}: create it with"
                " selfdata backup --to restic:REPO --init (or restic init)"
            )
        if "already initialized" in text or "config file already exists" in text:
            return f"restic {what}: {self.repository} already holds a restic repository; leave out --init"
        last = [line for line in text.splitlines() if line.strip()][-3:]
        return f"restic {what} failed: {' / '.join(last) or 'no message'}"

    def check(self) -> None:
        """That the repository is there and the password opens it: said before a vault copy is made."""
        self._run(["cat", "config"], what="backup")

    def init(self) -> None:
        self._run(["init"], what="init")

    def backup(self, folder: Path, host: str) -> str:
        """Store FOLDER as a new snapshot; its id."""
        out = self._run(["backup", "--json", "--tag", TAG, "--host", host, str(folder)], what="backup")
        for line in reversed(out.splitlines()):
            try:
                msg = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(msg, dict) and msg.get("message_type") == "summary" and msg.get("snapshot_id"):
                return str(msg["snapshot_id"])
        raise ResticError(
            "restic backup finished without naming its snapshot; check the repository with restic snapshots"
        )

    def snapshots(self) -> list[Snapshot]:
        out = self._run(["snapshots", "--json", "--tag", TAG], what="snapshots")
        try:
            rows = orjson.loads(out or b"[]")
        except orjson.JSONDecodeError:
            raise ResticError("restic snapshots answered something that is not JSON") from None
        snaps = [
            Snapshot(
                str(r.get("short_id") or r["id"][:8]),
                datetime.fromisoformat(_seconds(str(r["time"]))),
                str(r.get("hostname", "")),
                tuple(r.get("paths") or ()),
            )
            for r in rows or []
        ]
        return sorted(snaps, key=lambda s: s.time)

    def restore(self, snapshot: str, into: Path) -> None:
        self._run(["restore", snapshot, "--tag", TAG, "--target", str(into)], what="restore")


def _seconds(stamp: str) -> str:
    """restic writes nanoseconds (2026-12-07T21:03:04.123456789+01:00); Python reads at most microseconds."""
    return re.sub(r"(\.\d{6})\d+", r"\1", stamp.replace("Z", "+00:00"))


def find_vault(root: Path) -> Path:
    """The folder of a restored snapshot that holds vault.db and keyslots.json."""
    for db in sorted(root.rglob("vault.db")):
        if (db.parent / "keyslots.json").is_file():
            return db.parent
    raise ResticError("the restic snapshot holds no selfdata vault (vault.db and keyslots.json)")
