"""The source commands end to end, against a fake vendor on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.testing.fakeserver import FakeServer
from daemon.plugins import Registry

from .conftest import Cli, threaded
from .plugins import TOKEN, bank_api


@pytest.fixture
def api() -> Iterator[FakeServer]:
    with threaded(bank_api(pages=3, per_page=4)) as server:
        yield server


def test_connectors_lists_plugins_with_their_fields(run: Cli, registry: Registry) -> None:
    out = json.loads(run("connectors", "--json").output)
    bank = next(c for c in out if c["name"] == "test-bank")
    assert bank["kind"] == "connector" and bank["datasets"] == ["bank.transaction"]
    assert {"name": "token", "type": "text", "required": True, "help": "API token", "secret": True} in bank["fields"]
    assert any(c["name"] == "sd-lines" and c["kind"] == "importer" for c in out)
    assert "test-bank" in run("connectors").output


def test_a_broken_plugin_is_reported_and_skipped(run: Cli, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from daemon import plugins

    from . import plugins as test_plugins

    monkeypatch.setenv(plugins.EXTRA_ENV, test_plugins.ALL + ",tests.nowhere:Missing")
    result = run("connectors")
    assert "tests.nowhere:Missing" in result.output and "failed to load" in result.output
    assert "test-bank" in result.output


def test_source_lifecycle(initialised: Path, run: Cli, registry: Registry, api: FakeServer) -> None:
    bad = run("source", "add", "bank", "test-bank", "--set", f"url={api.url}", "--set", "token=wrong", ok=False)
    assert bad.exit_code == 1 and "refused the credentials" in bad.output
    assert "wrong" not in bad.output
    run(
        "source",
        "add",
        "bank",
        "test-bank",
        "--set",
        f"url={api.url}",
        "--set",
        f"token={TOKEN}",
        "--schedule",
        "every 6h",
    )
    listed = json.loads(run("source", "list", "--json").output)
    assert [(s["name"], s["health"], s["schedule"]) for s in listed] == [("bank", "ok", "every 6h")]
    shown = run("source", "show", "bank").output
    assert "token = (secret, stored encrypted)" in shown and TOKEN not in shown
    assert TOKEN not in run("source", "show", "bank", "--json").output
    synced = run("sync", "bank").output
    assert "bank: 12 new, 0 changed, 0 unchanged, 0 deleted" in synced
    assert json.loads(run("query", "bank.transaction", "--json").output)["records"][0]["source"] == "bank"
    runs = json.loads(run("runs", "--json").output)
    assert runs[0]["status"] == "ok" and runs[0]["new"] == 12
    run("source", "disable", "bank")
    assert json.loads(run("source", "list", "--json").output)[0]["enabled"] is False
    run("source", "enable", "bank")
    bad_schedule = run("source", "edit", "bank", "--schedule", "sometimes", ok=False)
    assert bad_schedule.exit_code == 1 and "not understood" in bad_schedule.output
    removed = run("source", "remove", "bank", "--yes").output
    assert "Removed bank and 12 records" in removed
    assert json.loads(run("status", "--json").output)["datasets"] == []
    erased = json.loads(run("erasures", "--json").output)
    assert [(e["source"], e["records"], e["secrets"]) for e in erased] == [("bank", 12, 1)]


def test_remove_keeping_records_forgets_only_the_source(
    initialised: Path, run: Cli, registry: Registry, api: FakeServer
) -> None:
    run("source", "add", "bank", "test-bank", "--set", f"url={api.url}", "--set", f"token={TOKEN}")
    run("sync", "bank")
    assert "Removed bank." in run("source", "remove", "bank", "--keep-records", "--yes").output
    assert json.loads(run("source", "list", "--json").output) == []
    assert len(json.loads(run("query", "bank.transaction", "--json").output)["records"]) == 12
    assert json.loads(run("erasures", "--json").output) == []


def test_sync_after_401_says_what_to_do(initialised: Path, run: Cli, registry: Registry, api: FakeServer) -> None:
    run("source", "add", "bank", "test-bank", "--set", f"url={api.url}", "--set", f"token={TOKEN}")
    run("source", "edit", "bank", "--set", "token=revoked", "--no-check")
    r = run("sync", "bank", ok=False)
    assert r.exit_code == 1 and "log in again" in r.output
    assert json.loads(run("source", "list", "--json").output)[0]["health"] == "needs_login"
    run("source", "edit", "bank", "--set", f"token={TOKEN}")
    assert json.loads(run("source", "list", "--json").output)[0]["health"] == "ok"
    assert "12 new" in run("sync", "bank").output


def test_authorize_flow(initialised: Path, run: Cli, registry: Registry) -> None:
    out = run("source", "add", "health", "test-consent", "--set", "client_id=myapp").output
    assert "selfdata source authorize health" in out
    r = run("source", "authorize", "health", input="http://127.0.0.1:7350/oauth/callback?code=xyz\n")
    assert "https://consent.example/authorize?client_id=myapp" in r.output and "Authorised health" in r.output
    assert "1 new" in run("sync", "health").output


def test_unknown_connector_and_settings_are_clear(initialised: Path, run: Cli, registry: Registry) -> None:
    r = run("source", "add", "x", "nope", ok=False)
    assert r.exit_code == 1 and "no connector or importer named 'nope'" in r.output
    r = run("source", "add", "x", "test-bank", "--set", "url=ftp://x", "--set", "token=t", ok=False)
    assert r.exit_code == 1 and "url must be an http(s) URL" in r.output
    r = run(
        "source", "add", "Bad Name", "test-bank", "--set", "url=http://x", "--set", "token=t", "--no-check", ok=False
    )
    assert r.exit_code == 1 and "not a source name" in r.output


def test_connectors_new_writes_a_scaffold(run: Cli, tmp_path: Path) -> None:
    out = run("connectors", "new", "my-energy", "--dir", str(tmp_path)).output
    assert (tmp_path / "my_energy.py").exists() and (tmp_path / "test_my_energy.py").exists()
    assert "Run its tests" in out


def test_edit_keeps_secrets_the_connector_saved_and_stores_new_ones(
    initialised: Path, run: Cli, registry: Registry, api: FakeServer
) -> None:
    run("source", "add", "bank", "test-self-saving", "--set", f"url={api.url}", "--set", f"token={TOKEN}")
    shown = json.loads(run("source", "show", "bank", "--json").output)
    assert sorted(shown["secrets"]) == ["session_id", "token"]
    run("source", "edit", "bank", "--schedule", "daily")  # not a declared field: session_id stays
    run("source", "edit", "bank", "--set", f"token={TOKEN}")
    from daemon.services import local_services
    from daemon.session import Session

    s = Session.from_env()
    with local_services(s) as svc:
        assert svc.vault.secrets.get("bank", "session_id") == f"session-for-{TOKEN[:4]}"
    bad = run("source", "edit", "bank", "--set", "token=wrong-token", ok=False)
    assert bad.exit_code == 1
    with local_services(s) as svc:
        assert svc.vault.secrets.get("bank", "token") == TOKEN  # refused credentials are not kept


def test_a_source_added_without_schedule_runs_on_its_connectors_own(
    initialised: Path, run: Cli, registry: Registry, api: FakeServer
) -> None:
    settings = ["--set", f"url={api.url}", "--set", f"token={TOKEN}"]
    run("source", "add", "bank", "test-bank", *settings)
    run("source", "add", "asked", "test-bank", *settings, "--schedule", "manual")
    listed = {s["name"]: s["schedule"] for s in json.loads(run("source", "list", "--json").output)}
    assert listed == {"bank": registry.get("test-bank").schedule, "asked": None}
    assert "manual (selfdata sync)" in run("status").output
    doctor = run("doctor", ok=False).output
    assert "manual: it runs only when you run selfdata sync asked" in doctor
    run("source", "edit", "bank", "--schedule", "manual")
    assert json.loads(run("source", "show", "bank", "--json").output)["schedule"] is None


def test_a_failed_add_never_offers_editing_the_unsaved_source_and_names_are_checked_first(
    initialised: Path, run: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    failed = run("source", "add", "my-bank", "simplefin", ok=False)
    print(failed.output)
    assert failed.exit_code == 1 and "source edit" not in failed.output
    assert "set it with: selfdata source add my-bank simplefin again (my-bank was not saved)" in failed.output
    assert json.loads(run("source", "list", "--json").output) == []
    from daemon.cli import sources as source_cmds

    monkeypatch.setattr(source_cmds, "_on_terminal", lambda: True)
    bad = run("source", "add", "My Bank", "simplefin", input="\n" * 10, ok=False)
    print(bad.output)
    assert bad.exit_code == 1 and "'My Bank' is not a source name" in bad.output and "setup_token" not in bad.output
    run("source", "add", "notes", "bank-csv", input="\n" * 20)
    taken = run("source", "add", "notes", "bank-csv", input="\n" * 20, ok=False)
    print(taken.output)
    assert "a source named 'notes' already exists" in taken.output and "profile" not in taken.output
