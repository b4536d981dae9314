"""The systemd units: every directive the install relies on, agreement with the daemon's own
paths and names, and `systemd-analyze verify` where systemd is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from daemon.cli import cli
from daemon.paths import SYSTEM_CONFIG_DIR, SYSTEM_STATE_DIR, system_paths
from daemon.server import GRACE_S
from daemon.vault.keysources import CREDENTIAL_NAME

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_UNIT = ROOT / "systemd" / "selfdata.service"
USER_UNIT = ROOT / "systemd" / "selfdata-user.service"
SYSTEM_EXEC = "/opt/selfdata/venv/bin/selfdata"
USER_EXEC = "%h/.local/bin/selfdata"

Unit = dict[str, dict[str, list[str]]]


def parse_unit(path: Path) -> Unit:
    """Sections -> directive -> values in order (systemd allows a directive several times)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            section = unit.setdefault(header.group(1), {})
            continue
        assert section is not None, f"{path.name}:{number}: a directive before any section"
        assert "=" in line and not line.endswith("\\"), f"{path.name}:{number}: not a plain directive: {raw!r}"
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key)
    assert values, f"[{section}] {key}= is missing"
    return values[-1]


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)\s*([a-z]*)", value)
    assert match, f"not a simple time span: {value}"
    return int(match.group(1)) * units[match.group(2) or "s"]


def mebibytes(value: str) -> float:
    match = re.fullmatch(r"(\d+)([KMG])", value)
    assert match, f"not a simple size: {value}"
    return int(match.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024}[match.group(2)]


@pytest.fixture(scope="module")
def system() -> Unit:
    return parse_unit(SYSTEM_UNIT)


@pytest.fixture(scope="module")
def user() -> Unit:
    return parse_unit(USER_UNIT)


def test_system_unit_runs_the_daemon_as_a_notify_service_with_a_watchdog(system: Unit) -> None:
    assert one(system, "Service", "Type") == "notify"
    assert one(system, "Service", "ExecStart") == f"{SYSTEM_EXEC} --system run"
    assert one(system, "Service", "User") == "selfdata"
    assert one(system, "Service", "Group") == "selfdata"
    assert 10 <= seconds(one(system, "Service", "WatchdogSec")) <= 300
    # SIGTERM lets syncs reach a checkpoint for GRACE_S seconds; systemd must wait longer.
    assert seconds(one(system, "Service", "TimeoutStopSec")) == 30 > GRACE_S + 5
    assert one(system, "Service", "Restart") == "on-failure"
    assert seconds(one(system, "Service", "RestartSec")) >= 5
    assert seconds(one(system, "Unit", "StartLimitIntervalSec")) >= 60
    assert 1 <= int(one(system, "Unit", "StartLimitBurst")) <= 10
    assert one(system, "Install", "WantedBy") == "multi-user.target"


def test_system_unit_waits_for_the_clock_and_the_network(system: Unit) -> None:
    for key in ("After", "Wants"):
        targets = " ".join(system["Unit"][key]).split()
        assert "time-sync.target" in targets and "network-online.target" in targets, key


def test_system_unit_directories_and_key_match_the_daemon(system: Unit) -> None:
    assert one(system, "Service", "StateDirectory") == SYSTEM_STATE_DIR.name
    assert SYSTEM_STATE_DIR.parent == Path("/var/lib")
    # Group members reach the admin socket (0660, group selfdata) through the state directory.
    assert one(system, "Service", "StateDirectoryMode") == "0750"
    assert one(system, "Service", "ConfigurationDirectory") == SYSTEM_CONFIG_DIR.name
    assert SYSTEM_CONFIG_DIR.parent == Path("/etc")
    assert one(system, "Service", "UMask") == "0027"
    name, _, source = one(system, "Service", "LoadCredential").partition(":")
    assert name == CREDENTIAL_NAME
    assert Path(source) == system_paths().default_key_file == Path("/etc/selfdata/selfdata.key")
    text = SYSTEM_UNIT.read_text()
    assert "LoadCredentialEncrypted=selfdata.key:" in text and "systemd-creds encrypt" in text


def test_system_unit_hardening(system: Unit) -> None:
    service = system["Service"]
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "LockPersonality": "yes",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "RestrictRealtime": "yes",
        "MemoryDenyWriteExecute": "yes",
        "SystemCallArchitectures": "native",
        "SystemCallFilter": "@system-service",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    }
    wrong = {k: service.get(k) for k, v in expected.items() if service.get(k) != [v]}
    assert not wrong, f"hardening directives missing or different: {wrong}"
    # The admin socket is chowned to the group selfdata: chown must stay allowed.
    assert not any("@privileged" in v or "@chown" in v for v in service["SystemCallFilter"])
    assert 128 <= mebibytes(one(system, "Service", "MemoryMax")) <= 2048
    assert mebibytes(one(system, "Service", "MemoryHigh")) < mebibytes(one(system, "Service", "MemoryMax"))


@pytest.mark.parametrize("unit", ["system", "user"])
def test_units_give_the_api_its_whole_connection_cap(unit: str, request: pytest.FixtureRequest) -> None:
    from daemon.api import listener

    limit = int(one(request.getfixturevalue(unit), "Service", "LimitNOFILE"))
    assert limit >= 2 * listener.MAX_CONNECTIONS + listener.RESERVED_FDS


def test_user_unit_runs_with_the_users_own_files_and_key(user: Unit) -> None:
    assert one(user, "Service", "Type") == "notify"
    assert one(user, "Service", "ExecStart") == f"{USER_EXEC} run"
    assert "SELFDATA_KEY_FILE=%h/.config/selfdata/selfdata.key" in user["Service"]["Environment"]
    assert not any(k in user["Service"] for k in ("User", "Group", "StateDirectory", "LoadCredential"))
    assert "--system" not in one(user, "Service", "ExecStart")
    assert seconds(one(user, "Service", "WatchdogSec")) >= 10
    assert seconds(one(user, "Service", "TimeoutStopSec")) > GRACE_S + 5
    assert one(user, "Service", "Restart") == "on-failure"
    assert one(user, "Service", "NoNewPrivileges") == "yes"
    assert one(user, "Service", "SystemCallFilter") == "@system-service"
    assert one(user, "Install", "WantedBy") == "default.target"


@pytest.mark.parametrize("argv", [["--system", "run", "--help"], ["run", "--help"]])
def test_the_units_command_lines_are_valid(argv: list[str]) -> None:
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, result.output


def _verify(text: str, name: str, exec_path: str, stub: Path, where: Path, *extra: str) -> str:
    """`systemd-analyze verify` on a copy whose ExecStart points at an existing executable;
    returns what it complained about (nothing when the unit is fine)."""
    assert f"ExecStart={exec_path} " in text
    copy = where / name
    copy.write_text(text.replace(f"ExecStart={exec_path} ", f"ExecStart={stub} "))
    runtime = where / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    result = subprocess.run(
        ["systemd-analyze", "verify", *extra, str(copy)], capture_output=True, text=True, env=env, timeout=60
    )
    if "Failed to initialize manager" in result.stderr:
        pytest.skip(f"systemd-analyze cannot start a manager here: {result.stderr.strip()}")
    return (result.stderr.strip() + (f" (exit status {result.returncode})" if result.returncode else "")).strip()


@pytest.fixture
def stub(tmp_path: Path) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    path = tmp_path / "bin" / "selfdata"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_systemd_analyze_verify_system_unit(stub: Path, tmp_path: Path) -> None:
    assert _verify(SYSTEM_UNIT.read_text(), "selfdata.service", SYSTEM_EXEC, stub, tmp_path) == ""


def test_systemd_analyze_verify_user_unit(stub: Path, tmp_path: Path) -> None:
    assert _verify(USER_UNIT.read_text(), "selfdata.service", USER_EXEC, stub, tmp_path, "--user") == ""


def test_systemd_analyze_catches_a_broken_unit(stub: Path, tmp_path: Path) -> None:
    """The verify tests can fail: a wrong value is reported."""
    text = SYSTEM_UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictest")
    assert "strictest" in _verify(text, "selfdata.service", SYSTEM_EXEC, stub, tmp_path)


def test_the_backup_timer_runs_the_restic_backup_as_the_service_user() -> None:
    service = (ROOT / "systemd" / "selfdata-backup.service").read_text()
    timer = (ROOT / "systemd" / "selfdata-backup.timer").read_text()
    assert "ExecStart=/opt/selfdata/venv/bin/selfdata --system backup --to restic\n" in service
    assert "User=selfdata" in service and "LoadCredential=selfdata.key:/etc/selfdata/selfdata.key" in service
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    result = CliRunner().invoke(cli, ["--system", "backup", "--help"])
    assert result.exit_code == 0 and "--to" in result.output


def test_systemd_analyze_verify_backup_unit(stub: Path, tmp_path: Path) -> None:
    text = (ROOT / "systemd" / "selfdata-backup.service").read_text()
    complaints = _verify(text, "selfdata-backup.service", "/opt/selfdata/venv/bin/selfdata", stub, tmp_path)
    assert complaints == "", complaints
