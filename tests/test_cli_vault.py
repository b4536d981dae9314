"""The vault commands end to end, as a user runs them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from daemon import __version__
from daemon.paths import Paths

from .conftest import Cli


def write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def reading(i: int, **extra: object) -> dict[str, object]:
    return {
        "key": f"r{i}",
        "ts": f"2026-01-{1 + i % 28:02d}T00:00:00+01:00",
        "data": {"quantity": f"{i}.5", "unit": "kWh"},
        **extra,
    }


def test_version(run: Cli) -> None:
    assert run("--version").output.strip() == f"selfdata, version {__version__}"


def test_init_makes_private_files_and_shows_the_recovery_key_once(initialised: Path, run: Cli, paths: Paths) -> None:
    assert oct(initialised.stat().st_mode & 0o777) == "0o600"
    assert oct(paths.config_file.stat().st_mode & 0o777) == "0o600"
    assert oct(paths.state_dir.stat().st_mode & 0o777) == "0o700"
    assert f'key_file = "{initialised}"' in paths.config_file.read_text()
    again = run("init", "--key-file", str(initialised), "--no-passphrase", ok=False)
    assert again.exit_code == 1 and "already exists" in again.output


def test_init_uses_an_existing_key_file(home: Path, run: Cli, tmp_path: Path) -> None:
    key = tmp_path / "existing.key"
    key.write_text(os.urandom(32).hex() + "\n")
    key.chmod(0o600)
    out = run("init", "--key-file", str(key), "--no-passphrase").output
    assert f"Using the machine key file {key}" in out
    assert json.loads(run("status", "--json").output)["vault"]["unlocked_by"] == "vault.key_file"


def test_init_without_a_terminal_or_passphrase_file_refuses(home: Path, run: Cli) -> None:
    result = run("init", ok=False)
    assert result.exit_code == 2 and "--passphrase-file" in result.output


def test_recovery_key_from_init_unlocks(
    home: Path, run: Cli, passphrase_file: Path, tmp_path: Path, paths: Paths
) -> None:
    out = run("init", "--passphrase-file", str(passphrase_file)).output
    recovery = next(line.strip() for line in out.splitlines() if line.strip().count("-") == 13)
    rk = tmp_path / "recovery.txt"
    rk.write_text(recovery + "\n")
    status = json.loads(run("--recovery-key-file", str(rk), "status", "--json").output)
    assert status["vault"]["unlocked_by"] == "recovery key"
    assert recovery not in paths.keyslots_file.read_text()


def test_import_jsonl_then_query_and_status(initialised: Path, run: Cli, tmp_path: Path) -> None:
    f = write_jsonl(
        tmp_path / "r.jsonl", [reading(i) for i in range(30)] + [reading(99, source="other", dataset="energy.reading")]
    )
    out = run("import-jsonl", str(f), "--source", "meter", "--dataset", "energy.reading").output
    assert "Imported 31 records" in out and "31 new" in out
    again = run("import-jsonl", str(f), "--source", "meter", "--dataset", "energy.reading").output
    assert "0 new, 0 changed, 31 unchanged" in again
    page = json.loads(
        run(
            "query",
            "energy.reading",
            "--source",
            "meter",
            "--from",
            "2026-01-09T23:00:00Z",
            "--to",
            "2026-01-12T00:00:00+01:00",
            "--json",
        ).output
    )
    # r9 is at 2026-01-10T00:00+01:00 (the start, inclusive); r11 at the end (exclusive)
    assert sorted(r["key"] for r in page["records"]) == ["r10", "r9"]
    by_date = json.loads(
        run(
            "query", "energy.reading", "--source", "meter", "--from", "2026-01-10", "--to", "2026-01-11", "--json"
        ).output
    )
    assert [r["key"] for r in by_date["records"]] == ["r10"]
    assert page["records"][0]["ts"].endswith("Z") and page["next"] is None
    first = json.loads(run("query", "energy.reading", "--limit", "10", "--json").output)
    second = json.loads(run("query", "energy.reading", "--limit", "100", "--cursor", first["next"], "--json").output)
    assert len(first["records"]) + len(second["records"]) == 31
    status = json.loads(run("status", "--json").output)
    assert {(d["dataset"], d["source"], d["records"]) for d in status["datasets"]} == {
        ("energy.reading", "meter", 30),
        ("energy.reading", "other", 1),
    }
    table = run("query", "energy.reading", "--limit", "2").output
    assert "r0" in table and "More records: add --cursor" in table
    # The dataset's own fields are columns, so a quantity is never cut out of a `data` blob.
    header = next(line for line in table.splitlines() if "time" in line and "source" in line)
    assert "quantity" in header and "unit" in header
    assert "0.5" in table and "kWh" in table


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"key": "x", "ts": "2026-01-01T00:00:00", "data": {}}', "no UTC offset"),
        ('{"key": "", "ts": "2026-01-01T00:00:00Z", "data": {}}', "'key' must be a non-empty string"),
        ('{"key": "x", "ts": "2026-01-01T00:00:00Z", "data": 3}', "'data' must be a JSON object"),
        ('{"key": "x", "ts": "2026-01-01T00:00:00Z", "data": {}, "dataset": "../etc"}', "not a dataset name"),
        ('{"key": "x", "ts": "2026-01-01T00:00:00Z", "data": {}, "extra": 1}', "unknown field"),
    ],
)
def test_a_bad_line_rejects_the_whole_file_with_its_line_number(
    initialised: Path, run: Cli, tmp_path: Path, bad: str, message: str
) -> None:
    f = write_jsonl(tmp_path / "r.jsonl", [reading(i) for i in range(5)] + [bad] + [reading(i) for i in range(5, 9)])
    result = run("import-jsonl", str(f), "--source", "meter", "--dataset", "energy.reading", ok=False)
    assert result.exit_code == 1
    assert f"{f}, line 6" in result.output and message in result.output
    assert json.loads(run("status", "--json").output)["datasets"] == []


def test_query_with_a_bad_name_date_or_cursor_is_a_clear_error(initialised: Path, run: Cli) -> None:
    r = run("query", "../etc", ok=False)
    assert r.exit_code == 1 and "not a dataset name" in r.output
    r = run("query", "energy.reading", "--source", "../x", ok=False)
    assert r.exit_code == 1 and "not a source name" in r.output
    r = run("query", "energy.reading", "--from", "yesterday", ok=False)
    assert r.exit_code == 1 and "not an ISO 8601 date-time" in r.output
    r = run("query", "energy.reading", "--cursor", "garbage!", ok=False)
    assert r.exit_code == 1 and "cursor" in r.output


def test_keys_commands(initialised: Path, run: Cli, tmp_path: Path, passphrase_file: Path) -> None:
    slots = json.loads(run("keys", "list", "--json").output)
    assert sorted(s["kind"] for s in slots) == ["machine", "passphrase", "recovery"]
    second = tmp_path / "second.key"
    assert "Created key file" in run("keys", "add-keyfile", str(second)).output
    assert oct(second.stat().st_mode & 0o777) == "0o600"
    new_pw = tmp_path / "new.txt"
    new_pw.write_text("a brand new passphrase\n")
    run("keys", "change-passphrase", "--new-passphrase-file", str(new_pw))
    old = run("--passphrase-file", str(passphrase_file), "keys", "list", ok=False)
    assert old.exit_code == 1 and "wrong passphrase" in old.output
    run("--passphrase-file", str(new_pw), "keys", "list")
    added = run("keys", "add-recovery").output
    assert "Added key slot" in added
    slots = json.loads(run("keys", "list", "--json").output)
    recovery_ids = [s["id"] for s in slots if s["kind"] == "recovery"]
    assert len(recovery_ids) == 2
    assert "Removed key slot" in run("keys", "remove", recovery_ids[0]).output
    missing = run("keys", "remove", "zzzzzz", ok=False)
    assert missing.exit_code == 1 and "no key slot" in missing.output
    assert any(s.get("warning") == "insecure test KDF" for s in json.loads(run("keys", "list", "--json").output))
    assert "passphrase" in run("keys", "list").output


def test_removing_the_last_slot_is_refused(home: Path, run: Cli, tmp_path: Path) -> None:
    run("init", "--key-file", str(tmp_path / "k.key"), "--no-passphrase")
    slots = json.loads(run("keys", "list", "--json").output)
    machine = next(s for s in slots if s["kind"] == "machine")
    for s in slots:
        if s is not machine:
            run("keys", "remove", s["id"], "--yes")
    last = run("keys", "remove", machine["id"], "--yes", ok=False)
    assert last.exit_code == 1 and "last key slot" in last.output


def test_commands_without_a_vault_say_run_init(home: Path, run: Cli) -> None:
    r = run("status", ok=False)
    assert r.exit_code == 1 and "selfdata init" in r.output


def test_init_with_a_key_file_on_a_terminal_asks_for_a_passphrase(
    home: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from daemon.cli import vault as vault_cmds

    monkeypatch.setattr(vault_cmds, "_on_terminal", lambda: True)
    out = run("init", "--key-file", str(tmp_path / "m.key"), input="correct horse battery\n" * 2).output
    assert "New passphrase" in out
    kinds = sorted(s["kind"] for s in json.loads(run("keys", "list", "--json").output))
    assert kinds == ["machine", "passphrase", "recovery"]
    assert "if you lose the passphrase and the key file" in out


def test_init_with_a_key_file_and_no_terminal_says_there_is_no_passphrase_slot(
    home: Path, run: Cli, tmp_path: Path
) -> None:
    out = run("init", "--key-file", str(tmp_path / "m.key")).output
    assert "No passphrase slot" in out and "selfdata keys add-passphrase" in out
    assert "if you lose the key file" in out


def test_mistyped_names_are_errors_that_list_the_known_ones(initialised: Path, run: Cli, tmp_path: Path) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text(json.dumps({"key": "k", "ts": "2026-01-01T00:00:00Z", "data": {"amount": "-1.00"}}) + "\n")
    run("import-jsonl", str(f), "--source", "my-bank", "--dataset", "bank.transaction")
    cases = [
        (["query", "bank.transactions"], "no dataset named 'bank.transactions'; datasets: "),
        (["query", "bank.transaction", "--source", "octopus"], "no source named 'octopus'; sources: my-bank"),
        (["runs", "my-bnak"], "no source named 'my-bnak'; sources: my-bank"),
        (["export", "--format", "jsonl", "--source", "my-bnak", str(tmp_path / "out")], "no source named 'my-bnak'"),
    ]
    for args, said in cases:
        result = run(*args, ok=False)
        print(result.output)
        assert result.exit_code == 1 and f"error: {said}" in result.output, result.output
    assert "bank.transaction, " in run("query", "bank.transactions", ok=False).output  # the list names the real one
    assert not (tmp_path / "out").exists()
    # A dataset a connector declares has no records yet: an empty answer, not an error.
    assert json.loads(run("query", "energy.reading", "--json").output)["records"] == []
    for scope in ("read:bnak.*", "read:bank"):
        made = run("token", "create", "--app", "a", "--purpose", "try it", "--scope", scope)
        print(made.output)
        assert f"warning: {scope} matches no dataset selfdata knows today" in made.output
    assert "Did you mean read:bank.*?" in made.output
    fine = run("token", "create", "--app", "a", "--purpose", "try it", "--scope", "read:bank.*").output
    assert "warning" not in fine


def test_times_are_shown_in_local_time_with_their_offset(
    initialised: Path, run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    request.addfinalizer(time.tzset)  # after monkeypatch puts TZ back
    f = tmp_path / "r.jsonl"
    f.write_text(json.dumps({"key": "k", "ts": "2026-01-15T13:01:00Z", "data": {"amount": "-1.00"}}) + "\n")
    run("import-jsonl", str(f), "--source", "my-bank", "--dataset", "bank.transaction")
    from daemon.session import Session

    vault, _ = Session.from_env().open()
    with vault.writer.transaction() as conn:
        conn.execute(
            "INSERT INTO access_log (minute, grant_id, app, purpose, endpoint, dataset, requests, records)"
            " VALUES (?, 'g_1', 'notebook', 'explore', '/records', 'bank.transaction', 1, 1)",
            (1_768_482_060_000,),  # 2026-01-15T13:01:00Z
        )
        conn.execute(
            "INSERT INTO runs (source, kind, started_at, ended_at, status) VALUES ('my-bank', 'sync', ?, ?, 'ok')",
            (1_768_482_065_000, 1_768_482_066_000),
        )
    vault.close()
    status = run("status").output
    print(status)
    assert "2026-01-15 08:01 -05:00" in status and "13:01" not in status
    runs = run("runs").output
    print(runs)
    assert "2026-01-15 08:01:05 -05:00" in runs
    log = run("access-log").output
    print(log)
    assert "2026-01-15 08:01 -05:00" in log
    assert json.loads(run("access-log", "--json").output)[0]["minute"] == "2026-01-15T13:01:00.000Z"


def test_removing_the_slot_in_use_or_the_only_recovery_key_asks_first_and_doctor_sees_a_dead_key_file(
    initialised: Path, run: Cli, passphrase_file: Path
) -> None:
    slots = json.loads(run("keys", "list", "--json").output)
    machine = next(s["id"] for s in slots if s["kind"] == "machine")
    recovery = next(s["id"] for s in slots if s["kind"] == "recovery")
    kept = run("keys", "remove", recovery, input="n\n", ok=False)
    print(kept.output)
    assert kept.exit_code == 1 and "is the vault's only recovery key" in kept.output
    asked = run("keys", "remove", machine, input="n\n", ok=False)
    print(asked.output)
    assert asked.exit_code == 1 and f"is the one the key file {initialised} (vault.key_file) opens" in asked.output
    assert len(json.loads(run("keys", "list", "--json").output)) == 3  # nothing removed
    assert "opens key slot " + machine in run("doctor", ok=False).output
    assert "Removed key slot" in run("keys", "remove", machine, input="y\n").output
    doctor = run("--passphrase-file", str(passphrase_file), "doctor", ok=False)
    print(doctor.output)
    assert doctor.exit_code == 1
    assert f"FAIL  key file (vault.key_file): {initialised}: it opens no key slot of this vault" in doctor.output
    assert f"selfdata keys add-keyfile '{initialised}'" in doctor.output


@pytest.mark.parametrize(
    ("passphrase", "weak"),
    [
        ("x", True),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", True),
        ("hunter2!", True),
        ("correct horse battery", False),  # 21 characters
        ("correct horse battery staple", False),
        ("tuba-lamp-kiwi-oak", False),  # four words
    ],
)
def test_the_weak_passphrase_rule(passphrase: str, weak: bool) -> None:
    from daemon.passphrases import weakness

    assert (weakness(passphrase) is not None) == weak


def test_a_weak_passphrase_is_taken_with_a_warning(home: Path, run: Cli, tmp_path: Path) -> None:
    weak = tmp_path / "weak.txt"
    weak.write_text("x\n")
    made = run("init", "--passphrase-file", str(weak))
    print(made.output)
    assert "warning: this passphrase is weak (it repeats one or two characters)" in made.output
    short = tmp_path / "short.txt"
    short.write_text("hunter2!\n")
    added = run("--passphrase-file", str(weak), "keys", "add-passphrase", "--new-passphrase-file", str(short)).output
    print(added)
    assert "weak (it has 8 characters and 1 word; use 4 or more words, or 20 characters or more)" in added
    strong = tmp_path / "strong.txt"
    strong.write_text("tuba lamp kiwi oak\n")
    changed = run("--passphrase-file", str(weak), "keys", "add-passphrase", "--new-passphrase-file", str(strong))
    assert "weak" not in changed.output
    export = run(
        "--passphrase-file",
        str(strong),
        "export",
        "--format",
        "jsonl",
        "--encrypt",
        "--export-passphrase-file",
        str(short),
        str(tmp_path / "e.sdx"),
    ).output
    assert "whoever copies the encrypted export can try guesses offline" in export


def test_doctor_and_run_without_a_vault_say_run_init_and_leave_nothing(home: Path, run: Cli) -> None:
    doctor = run("doctor", ok=False)
    print(doctor.output)
    assert doctor.exit_code == 1 and "-> selfdata init (docs/install.md)" in doctor.output
    started = run("run", ok=False)
    assert started.exit_code == 1 and "run `selfdata init` first" in started.output
    assert not home.exists()  # no stray daemon.lock, not even the folder


def test_status_on_a_backup_copy_says_its_config_file_is_absent(
    initialised: Path, run: Cli, tmp_path: Path, passphrase_file: Path
) -> None:
    assert "(no such file" not in run("status").output
    run("backup", str(tmp_path / "copy"))
    out = run("--home", str(tmp_path / "copy"), "--passphrase-file", str(passphrase_file), "status").output
    print(out)
    assert f"config   {tmp_path / 'copy' / 'config.toml'}  (no such file: the default settings apply)" in out


def test_the_recovery_key_can_be_typed(home: Path, run: Cli, tmp_path: Path) -> None:
    made = run("init", "--key-file", str(tmp_path / "k.key"), "--no-passphrase").output
    key = next(line.strip() for line in made.splitlines() if line.strip().count("-") == 13)
    (tmp_path / "k.key").unlink()
    out = run("--recovery-key-file", "-", "status", "--json", input=key.lower() + "\n").output
    assert json.loads(out)["vault"]["unlocked_by"] == "recovery key"
