"""Consent from the terminal: approve, list, revoke, tokens, the access log."""

from __future__ import annotations

import json
from pathlib import Path

from daemon.services import local_services
from daemon.session import Session

from .conftest import Cli


def test_token_create_list_revoke(initialised: Path, run: Cli) -> None:
    result = run(
        "token",
        "create",
        "--app",
        "notebook",
        "--purpose",
        "explore my spending",
        "--scope",
        "read:bank.*",
        "--expires",
        "30d",
    )
    token = result.output.strip().splitlines()[0]
    assert token.startswith("sd_") and len(token) == 46
    grants = json.loads(run("grants", "list", "--json").output)
    assert grants[0]["app"] == "notebook" and grants[0]["scopes"] == ["read:bank.*"] and "token" not in grants[0]
    assert token not in run("grants", "list").output
    assert "Revoked" in run("grants", "revoke", grants[0]["id"]).output
    assert json.loads(run("grants", "list", "--json").output)[0]["status"] == "revoked"
    bad = run("token", "create", "--app", "x", "--purpose", "takes over", "--scope", "admin", ok=False)
    assert bad.exit_code == 1 and "never granted" in bad.output


def test_approve_shows_the_request_and_asks(initialised: Path, run: Cli) -> None:
    with local_services(Session.from_env()) as svc:
        grant, _ = svc.get_grants().request("Energy dashboard", "charts of my electricity", ["read:energy.*"])
    code = grant.user_code
    assert code is not None
    refused = run("grants", "approve", code, input="n\n", ok=False)
    assert "charts of my electricity" in refused.output and "read:energy.*" in refused.output
    assert json.loads(run("grants", "list", "--json").output)[0]["status"] == "pending"
    assert "Approved" in run("grants", "approve", code.lower().replace("-", ""), "--yes").output
    assert json.loads(run("grants", "list", "--json").output)[0]["status"] == "approved"
    again = run("grants", "approve", code, "--yes", ok=False)
    assert again.exit_code == 1 and "no waiting request" in again.output


def test_deny(initialised: Path, run: Cli) -> None:
    with local_services(Session.from_env()) as svc:
        grant, _ = svc.get_grants().request("Spy", "resell it", ["read:*"])
    assert "Denied" in run("grants", "deny", grant.user_code or "").output
    assert json.loads(run("grants", "list", "--json").output)[0]["status"] == "denied"


def test_access_log_empty_then_filtered(initialised: Path, run: Cli) -> None:
    assert "No reads recorded" in run("access-log").output
    assert json.loads(run("access-log", "--app", "x", "--since", "2026-01-01", "--json").output) == []


def test_approve_takes_expiry_days_as_token_create_does(initialised: Path, run: Cli) -> None:
    with local_services(Session.from_env()) as svc:
        grant, _ = svc.get_grants().request("Energy dashboard", "charts", ["read:energy.*"])
    assert grant.user_code is not None
    bad = run("grants", "approve", grant.user_code, "--expires", "0d", "--yes", ok=False)
    assert bad.exit_code == 2 and "from 1 to 3650" in bad.output
    run("grants", "approve", grant.user_code, "--expires", "30d", "--yes")
    approved = json.loads(run("grants", "list", "--json").output)[0]
    assert approved["status"] == "approved" and approved["expires_at"] is not None


def test_approve_shows_what_the_scopes_reach_the_expiry_and_that_the_name_is_the_apps_word(
    initialised: Path, run: Cli, tmp_path: Path
) -> None:
    f = tmp_path / "r.jsonl"
    f.write_text(json.dumps({"key": "k", "ts": "2026-01-01T00:00:00Z", "data": {"amount": "-1.00"}}) + "\n")
    run("import-jsonl", str(f), "--source", "my-bank", "--dataset", "bank.transaction")
    with local_services(Session.from_env()) as svc:
        grant, _ = svc.get_grants().request("Budget", "my spending", ["read:bank.*", "read:bnak.*"])
    shown = run("grants", "approve", grant.user_code or "", "--expires", "30d", input="n\n", ok=False).output
    print(shown)
    assert "Budget (the name the app gives itself: selfdata cannot check it)" in shown
    assert "read:bank.* -> bank.account, bank.transaction" in shown
    assert "read:bnak.* -> no dataset yet" in shown
    assert "Expires: in 30 days (" in shown


def test_access_log_shows_the_grant_of_each_row(initialised: Path, run: Cli) -> None:
    with local_services(Session.from_env()) as svc:
        grant, _ = svc.get_grants().create_token("twin", "one of two apps with one name", ["read:*"])
        with svc.vault.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO access_log VALUES (1768482060000, ?, 'twin', 'p', 'datasets', '', 1, 0)", (grant.id,)
            )
    out = run("access-log").output
    print(out)
    assert grant.id in out and "(the list)" in out
