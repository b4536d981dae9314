"""`selfdata doctor`: checks and explains, so a user knows what is wrong and what to do."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import RELEASE_EPOCH
from .admin.client import DaemonUnreachable
from .errors import SelfdataError
from .files import InsecurePermissions, check_private_file
from .session import Session
from .vault import VaultCorrupt, VaultNotFound
from .vault.damage import RESCUE
from .vault.keysources import machine_key_candidates

MIN_FREE_BYTES = 1_000_000_000
LOG_ACTION = "look at the daemon's log (journalctl -u selfdata)"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn, fail
    detail: str
    action: str = ""

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "status": self.status, "detail": self.detail, "action": self.action}


def check_clock() -> Check:
    now = time.time()
    if now < RELEASE_EPOCH:
        return Check(
            "clock",
            "fail",
            time.strftime("the system clock says %Y-%m-%d %H:%M UTC", time.gmtime(now)),
            "set the time (is NTP running? `timedatectl`); the scheduler waits until then",
        )
    return Check("clock", "ok", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now)))


def check_key_files(session: Session) -> list[Check]:
    out = []
    try:
        opens = {use.origin: use for use in session.key_files()}
    except SelfdataError:  # no vault: the vault check says so
        opens = {}
    for origin, path in machine_key_candidates(session.config.key_file):
        if not path.exists():
            out.append(
                Check(
                    f"key file ({origin})",
                    "warn",
                    f"{path} does not exist",
                    "point it at your key file, or remove the setting",
                )
            )
            continue
        try:
            check_private_file(path)
        except InsecurePermissions as err:
            out.append(Check(f"key file ({origin})", "fail", str(err), f"chmod 600 '{path}'"))
            continue
        use = opens.get(origin)
        if use is not None and use.slot is None:
            out.append(
                Check(
                    f"key file ({origin})",
                    "fail",
                    f"{path}: {use.problem}",
                    f"unlock another way and add it back: selfdata keys add-keyfile '{path}'; "
                    "or point the setting at the key file that opens the vault",
                )
            )
        else:
            slot = f", opens key slot {use.slot}" if use is not None else ""
            out.append(Check(f"key file ({origin})", "ok", f"{path}, readable by its owner only{slot}"))
    return out


def check_disk(path: Path) -> Check:
    probe = path
    while not probe.exists() and probe != probe.parent:  # not made yet: the disk it will be on
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free = f"{usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB"
    if usage.free < MIN_FREE_BYTES or usage.free / usage.total < 0.05:
        return Check("disk space", "warn", f"{free} at {probe}", "free some space: syncs and exports need room")
    return Check("disk space", "ok", f"{free} at {probe}")


def check_backup(session: Session) -> Check:
    """The age of the last backup (`selfdata backup`, to a folder or to restic)."""
    from datetime import UTC, datetime

    from .rights.backup import last_backup

    last = last_backup(session.paths.state_dir)
    todo = "selfdata backup --to restic:REPO (or selfdata backup FOLDER), e.g. from a daily timer (docs/install.md)"
    if last is None:
        return Check("backup", "warn", "no backup recorded", todo)
    at = datetime.fromisoformat(last["at"])
    days = (datetime.now(UTC) - at).total_seconds() / 86400
    age = f"{days:.0f} day(s) ago" if days >= 1 else f"{days * 24:.0f} hour(s) ago"
    detail = f"last backup {age} ({at.astimezone().strftime('%Y-%m-%d %H:%M')}) to {last.get('to', '?')}"
    limit = session.config.backup_warn_after_days
    if days > limit:
        return Check("backup", "warn", detail + f", more than {limit} days", todo)
    return Check("backup", "ok", detail)


def check_api(url: str | None) -> Check:
    if not url:
        return Check("API", "warn", "the daemon reports no API address")
    try:
        with urllib.request.urlopen(f"{url}/api/v1/health", timeout=5) as r:
            ok = r.status == 200
    except urllib.error.HTTPError as err:
        if err.code == 503:
            return Check("API", "fail", f"{url} answers that the vault is damaged", RESCUE)
        return Check("API", "fail", f"{url} answers HTTP {err.code}", LOG_ACTION)
    except OSError as err:
        return Check(
            "API", "fail", f"{url} does not answer ({err})", "look at the daemon's log (journalctl -u selfdata)"
        )
    return Check("API", "ok" if ok else "fail", f"{url} answers")


def check_systemd() -> Check | None:
    if not shutil.which("systemctl"):
        return None
    try:
        state = subprocess.run(
            ["systemctl", "is-active", "selfdata"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if state in ("", "unknown"):
        return None
    status = "ok" if state == "active" else "warn"
    return Check(
        "systemd unit",
        status,
        f"selfdata.service is {state}",
        "" if status == "ok" else "sudo systemctl enable --now selfdata",
    )


def source_checks(status: dict[str, Any]) -> list[Check]:
    out = []
    for src in status.get("sources", []):
        last = src.get("last_run")
        what = "import" if src.get("kind") == "importer" else "run"
        when = f"last {what} {last['status']} at {last['started_at'][:16]}" if last else "never run"
        if last and last["status"] == "failed" and what == "import" and src["health"] == "ok":
            when += f" (that file's fault, not the source's: selfdata runs {src['name']} says why)"
        if not src["enabled"]:
            out.append(Check(f"source {src['name']}", "ok", f"disabled; {when}"))
        elif src["health"] == "ok" and src.get("kind") == "connector" and not src.get("schedule"):
            out.append(
                Check(
                    f"source {src['name']}",
                    "warn",
                    f"manual: it runs only when you run selfdata sync {src['name']} ({when})",
                    f"to sync it on a schedule: selfdata source edit {src['name']} --schedule 'every 6h'",
                )
            )
        elif src["health"] == "ok":
            out.append(Check(f"source {src['name']}", "ok", when))
        else:
            level = "warn" if src["health"] == "retrying" else "fail"
            out.append(
                Check(
                    f"source {src['name']}",
                    level,
                    f"{src['health']}: {src.get('health_message') or ''} ({when})",
                    src.get("action") or "",
                )
            )
        if src.get("warning"):
            out.append(Check(f"source {src['name']}", "warn", src["warning"]))
    return out


def pages_check(damage: dict[str, Any] | None, full: dict[str, Any] | None) -> Check | None:
    """The vault's pages: what `--full` found when it ran, else what was noted of them before."""
    if full is not None:
        if full["ok"]:
            return Check("vault pages", "ok", f"every page reads back (full check, {full['seconds']} s)")
        return Check("vault pages", "fail", full["detail"], full["action"])
    if damage is not None:
        return Check("vault pages", "fail", damage["detail"], RESCUE)
    return None


def run_checks(
    session: Session,
    status_of: Callable[[], dict[str, Any]],
    daemon_running: bool,
    pages_of: Callable[[], dict[str, Any]] | None = None,
) -> list[Check]:
    checks = [check_clock(), *check_key_files(session), check_disk(session.paths.state_dir)]
    try:
        status = status_of()
        checks.append(
            Check("vault", "ok", f"{status['vault']['path']} opens (unlocked by {status['vault']['unlocked_by']})")
        )
        if any(s.get("warning") for s in status["vault"]["slots"]):
            checks.append(
                Check(
                    "key slots",
                    "warn",
                    "a passphrase slot uses the insecure test KDF",
                    "selfdata keys change-passphrase",
                )
            )
        pages = pages_check(status["vault"].get("damage"), pages_of() if pages_of is not None else None)
        if pages is not None:
            checks.append(pages)
        if not any(s["kind"] == "recovery" for s in status["vault"]["slots"]):
            checks.append(
                Check("key slots", "warn", "no recovery key slot", "selfdata keys add-recovery, and write the key down")
            )
    except VaultNotFound as err:
        return [*checks, Check("vault", "fail", str(err), "selfdata init (docs/install.md)")]
    except DaemonUnreachable as err:
        return [*checks, Check("daemon", "fail", str(err), "systemctl restart selfdata (or restart selfdata run)")]
    except Exception as err:  # the point of doctor is to explain any failure
        damaged = isinstance(err, VaultCorrupt) or getattr(err, "kind", "") in ("VaultCorrupt", "VaultDamaged")
        action = RESCUE if damaged else "see docs/security.md: the ways to unlock"
        return [*checks, Check("vault", "fail", str(err), action)]
    if daemon_running:
        checks.append(Check("daemon", "ok", f"running, pid {status['daemon']['pid']}"))
        checks.append(check_api(status["daemon"].get("api_url")))
    else:
        checks.append(
            Check(
                "daemon",
                "warn",
                "not running: sources sync only when you run selfdata sync",
                "selfdata run (or the systemd service)",
            )
        )
    systemd = check_systemd()
    if systemd is not None:
        checks.append(systemd)
    checks.append(check_backup(session))
    checks += source_checks(status)
    checks += [
        Check(
            f"records {d['dataset']} from {d['source']}",
            "warn",
            d["warning"],
            "nothing else of them is lost; to correct a time, write or import the record again (same key)",
        )
        for d in status.get("datasets", [])
        if d.get("warning")
    ]
    return checks


def worst(checks: list[Check]) -> str:
    return (
        "fail"
        if any(c.status == "fail" for c in checks)
        else "warn"
        if any(c.status == "warn" for c in checks)
        else "ok"
    )
