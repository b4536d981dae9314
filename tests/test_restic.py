"""`selfdata backup --to restic:REPO` and `selfdata restore --from restic:REPO`, against the real restic.

`make test` installs the distribution's restic (tests/install-tools.sh); a repository in a
temporary folder stands for the user's off-site one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .conftest import Daemon, readings_jsonl

pytestmark = pytest.mark.skipif(
    shutil.which("restic") is None, reason="no restic: `make test` installs the distribution's (tests/install-tools.sh)"
)


def _import(daemon: Daemon, tmp_path: Path, n: int, prefix: str) -> None:
    daemon.cli(
        "import-jsonl", str(readings_jsonl(tmp_path, n, prefix)), "--source", "meter", "--dataset", "energy.reading"
    )


@pytest.fixture
def password(daemon: Daemon, tmp_path: Path) -> Path:
    secret = tmp_path / "restic-password"
    secret.write_text("a restic password kept apart from the vault\n")
    secret.chmod(0o600)
    daemon.env.pop("RESTIC_PASSWORD", None)
    daemon.env["RESTIC_PASSWORD_FILE"] = str(secret)
    return secret


def _snapshots(repo: Path, password: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        ["restic", "-r", str(repo), "--password-file", str(password), "snapshots", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout) or []


def test_backup_to_restic_then_restore_a_chosen_snapshot(daemon: Daemon, tmp_path: Path, password: Path) -> None:
    repo = tmp_path / "offsite"
    _import(daemon, tmp_path, 3, "first")
    missing = daemon.cli("backup", "--to", f"restic:{repo}", ok=False)
    assert (
        missing.returncode == 1 and "there is no restic repository at" in missing.stderr and "--init" in missing.stderr
    )
    daemon.start()
    out = daemon.cli("backup", "--to", f"restic:{repo}", "--init").stdout  # through the running daemon
    assert "Created the restic repository" in out and "Backed up 3 records" in out
    daemon.stop()
    _import(daemon, tmp_path, 5, "later")
    second = daemon.cli("backup", "--to", f"restic:{repo}").stdout
    assert "Backed up 8 records" in second
    snaps = _snapshots(repo, password)
    assert len(snaps) == 2 and all("selfdata" in s["tags"] for s in snaps)  # type: ignore[operator]
    assert snaps[0]["paths"] == snaps[1]["paths"]  # one staging path: the second has the first as parent
    assert not (daemon.home / "backup-staging").exists()
    # Nothing unencrypted left restic's hands: the vault file in the repository is restic-encrypted
    # over the vault's own encryption; no record text is in any repository file.
    assert not any(b"first0" in f.read_bytes() for f in repo.rglob("*") if f.is_file())

    listed = daemon.cli("restore", "--from", f"restic:{repo}", "--list").stdout
    first_id = str(snaps[0]["short_id"])
    assert first_id in listed and str(snaps[1]["short_id"]) in listed

    restored = daemon.cli("restore", "--from", f"restic:{repo}", "--snapshot", first_id, "--yes").stdout
    assert "Restored 3 records" in restored
    assert daemon.json("status")["datasets"][0]["records"] == 3
    latest = daemon.cli("restore", "--from", f"restic:{repo}", "--yes").stdout
    assert "Restored 8 records" in latest
    assert not any(p.name.startswith(".restic-restore-") for p in daemon.home.iterdir())

    doctor = {c["check"]: c for c in json.loads(daemon.cli("doctor", "--json", ok=False).stdout)["checks"]}
    assert doctor["backup"]["status"] == "ok" and f"restic:{repo}" in doctor["backup"]["detail"]


def test_restic_mistakes_are_said_and_change_nothing(daemon: Daemon, tmp_path: Path, password: Path) -> None:
    repo = tmp_path / "offsite"
    _import(daemon, tmp_path, 2, "kept")
    daemon.cli("backup", "--to", f"restic:{repo}", "--init")
    password.write_text("not the password\n")
    wrong = daemon.cli("backup", "--to", f"restic:{repo}", ok=False)
    assert wrong.returncode == 1 and f"wrong password for the repository {repo}" in wrong.stderr
    assert "not the password" not in wrong.stdout + wrong.stderr
    assert not (daemon.home / "backup-staging").exists()
    before = (daemon.home / "vault" / "vault.db").read_bytes()
    assert "wrong password" in daemon.cli("restore", "--from", f"restic:{repo}", "--yes", ok=False).stderr
    assert (daemon.home / "vault" / "vault.db").read_bytes() == before

    del daemon.env["RESTIC_PASSWORD_FILE"]
    nopass = daemon.cli("backup", "--to", f"restic:{repo}", ok=False)
    assert "restic needs the repository's password" in nopass.stderr and "backup.restic_password_file" in nopass.stderr

    noname = daemon.cli("backup", "--to", "restic", ok=False)
    assert "which restic repository?" in noname.stderr

    config = daemon.home / "config.toml"
    config.write_text(
        config.read_text()
        .replace('restic_repository = ""', f'restic_repository = "{repo}"')
        .replace('restic_password_file = ""', 'restic_password_file = "missing-file"')
    )
    gone = daemon.cli("backup", "--to", "restic", ok=False)
    assert "backup.restic_password_file" in gone.stderr and "does not exist" in gone.stderr

    config.write_text(config.read_text().replace('restic_password_file = "missing-file"', 'restic_password_file = ""'))
    daemon.env["RESTIC_PASSWORD_FILE"] = str(password)
    daemon.env["PATH"] = str(tmp_path / "no-bin")
    absent = daemon.cli("backup", "--to", f"restic:{repo}", ok=False)
    assert "restic was not found" in absent.stderr and "apt install restic" in absent.stderr
    assert (daemon.home / "vault" / "vault.db").read_bytes() == before


def test_doctor_reports_the_age_of_the_last_backup(daemon: Daemon, tmp_path: Path) -> None:
    def check() -> dict[str, str]:
        checks = json.loads(daemon.cli("doctor", "--json", ok=False).stdout)["checks"]
        return next(c for c in checks if c["check"] == "backup")

    assert check()["status"] == "warn" and check()["detail"] == "no backup recorded"
    daemon.cli("backup", str(tmp_path / "copy"))
    fresh = check()
    assert fresh["status"] == "ok" and str(tmp_path / "copy") in fresh["detail"]
    last = daemon.home / "last-backup.json"
    entry = json.loads(last.read_text())
    entry["at"] = (datetime.now(UTC) - timedelta(days=9)).isoformat()
    last.write_text(json.dumps(entry))
    stale = check()
    assert stale["status"] == "warn" and "9 day(s) ago" in stale["detail"] and "more than 7 days" in stale["detail"]
