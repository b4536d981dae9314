"""Consent: grants, tokens and the access log."""

from __future__ import annotations

import re
from typing import Any

import click

from ..operations import grants as ops
from ..operations.registry import NoParams
from . import render
from .base import cli, invoke


@cli.group()
def grants() -> None:
    """Which apps may read what, for which purpose; approve, deny, revoke."""


@grants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def grants_list(ctx: click.Context, as_json: bool) -> None:
    """Every grant: app, purpose, scopes, dates, and the records it read per dataset."""
    items = invoke(ctx, ops.grants_list, NoParams())
    if as_json:
        render.print_json(items)
        return
    if not items:
        click.echo("No grants yet. Apps ask with POST /api/v1/grants; scripts use: selfdata token create")
        return
    rows = []
    for g in items:
        reads = ", ".join(f"{d}: {n:,}" for d, n in sorted(g.get("records_read", {}).items()))
        pushed = ", ".join(f"pushed {d}: {n:,}" for d, n in sorted(g.get("records_pushed", {}).items()))
        reads = "; ".join(x for x in (reads, pushed) if x)
        rows.append(
            (
                g["id"],
                g["app"],
                g["purpose"],
                " ".join(g["scopes"]),
                g["status"] + (f" ({g['user_code']})" if g.get("user_code") else ""),
                render.local(g["created_at"], "date"),
                render.local(g["expires_at"], "date"),
                render.local(g["last_used_at"]) or "never",
                reads,
            )
        )
    render.table(
        None, ["id", "app", "purpose", "scopes", "status", "created", "expires", "last used", "records read"], rows
    )


def _show(grant: dict[str, Any], expires_days: int) -> None:
    from datetime import datetime, timedelta

    out = render.console()
    out.print(f"App:     [bold]{grant['app']}[/bold] (the name the app gives itself: selfdata cannot check it)")
    out.print(f"Purpose: {grant['purpose']}")
    reads: dict[str, list[str]] = grant.get("reads", {})
    for i, scope in enumerate(grant["scopes"]):
        reach = ""
        if scope in reads:
            reach = f" -> {', '.join(reads[scope])}" if reads[scope] else " -> no dataset yet"
        out.print(f"{'Scopes:' if i == 0 else '':<9}{scope}{reach}")
    if grant.get("origins"):
        out.print(f"Web pages allowed to call the API for it: {' '.join(grant['origins'])}")
    until = (datetime.now().astimezone() + timedelta(days=expires_days)).strftime("%Y-%m-%d")
    out.print(f"Expires: in {expires_days} days ({until}; --expires changes it)")


@grants.command("approve")
@click.argument("code")
@click.option("--expires", default="90d", show_default=True, help="Days until the token expires (90 or 90d).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def grants_approve(ctx: click.Context, code: str, expires: str, yes: bool) -> None:
    """Approve the app request showing CODE (after seeing what it asks for)."""
    expires_days = _days(expires)
    pending = invoke(ctx, ops.grants_pending, ops.GrantCode(code))
    _show(pending, expires_days)
    if not yes and not click.confirm("Give this app this access?", default=False):
        raise click.Abort()
    grant = invoke(ctx, ops.grants_decide, ops.Decide(code, True, expires_days))
    click.echo(
        f"Approved {grant['id']}; the app receives its token when it next asks. Revoke it with: "
        f"selfdata grants revoke {grant['id']}"
    )


@grants.command("deny")
@click.argument("code")
@click.pass_context
def grants_deny(ctx: click.Context, code: str) -> None:
    """Refuse the app request showing CODE."""
    grant = invoke(ctx, ops.grants_decide, ops.Decide(code, False))
    click.echo(f"Denied {grant['app']}'s request.")


@grants.command("revoke")
@click.argument("grant_id")
@click.pass_context
def grants_revoke(ctx: click.Context, grant_id: str) -> None:
    """Revoke a grant: its token stops working on its next request."""
    grant = invoke(ctx, ops.grants_revoke, ops.GrantId(grant_id))
    click.echo(f"Revoked {grant['id']} ({grant['app']}).")


@cli.group()
def token() -> None:
    """Tokens for scripts (apps ask for a grant instead)."""


def _days(text: str) -> int:
    m = re.fullmatch(r"(\d+)\s*d?", text.strip())
    if not m or not 1 <= int(m.group(1)) <= 3650:
        raise click.BadParameter("give a number of days from 1 to 3650, e.g. 90 or 90d", param_hint="--expires")
    return int(m.group(1))


@token.command("create")
@click.option("--app", required=True, help="Who uses the token.")
@click.option("--purpose", required=True, help="What it does with the data (shown in grants list).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="read:<dataset glob>, write:app.<name>.* or write:<dataset glob>@<source>",
)
@click.option("--expires", default="90d", show_default=True, help="Days until it expires.")
@click.option("--origin", "origins", multiple=True, help="A web page origin allowed to use it (CORS).")
@click.pass_context
def token_create(
    ctx: click.Context, app: str, purpose: str, scopes: tuple[str, ...], expires: str, origins: tuple[str, ...]
) -> None:
    """Create a token now and print it once (store it where your script reads it)."""
    grant = invoke(ctx, ops.token_create, ops.CreateToken(app, purpose, scopes, _days(expires), origins))
    click.echo(grant["token"])
    click.echo(f"(grant {grant['id']}, expires {render.local(grant['expires_at'], 'date')}; shown once)", err=True)
    if grant.get("warning"):
        click.secho(f"warning: {grant['warning']}", fg="yellow", err=True)


@cli.command("access-log")
@click.option("--app", help="Only this app.")
@click.option("--since", help="ISO 8601 date-time with offset, or a date.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=500, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def access_log(ctx: click.Context, app: str | None, since: str | None, limit: int, as_json: bool) -> None:
    """Who read what: app, purpose, endpoint, dataset and records, per minute."""
    entries = invoke(ctx, ops.access_log, ops.AccessLogQuery(app, since, limit))
    if as_json:
        render.print_json(entries)
        return
    if not entries:
        click.echo("No reads recorded.")
        return
    render.table(
        None,
        ["minute", "grant", "app", "purpose", "endpoint", "dataset", "requests", "records"],
        [
            (
                render.local(e["minute"]),
                e["grant"],
                e["app"],
                e["purpose"],
                e["endpoint"],
                e["dataset"] or "(the list)",
                e["requests"],
                e["records"],
            )
            for e in entries
        ],
    )
