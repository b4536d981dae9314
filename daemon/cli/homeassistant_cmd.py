"""`selfdata homeassistant setup|push|status|remove`: energy as Home Assistant statistics."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..operations import homeassistant as ops
from ..operations.registry import NoParams
from . import render
from .base import cli, invoke

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@cli.group("homeassistant")
def homeassistant() -> None:
    """Your energy readings in Home Assistant's Energy dashboard, on the right hours (docs/homeassistant.md)."""


def _read_token(token_file: Path | None) -> str | None:
    if token_file is not None:
        text = token_file.read_text(encoding="utf-8").strip().splitlines()
        if not text or not text[0].strip():
            raise click.UsageError(f"{token_file} is empty: put the long-lived access token on its first line")
        return text[0].strip()
    env = os.environ.get("SELFDATA_HA_TOKEN", "").strip()
    if env:
        return env
    return str(click.prompt("Home Assistant long-lived access token", hide_input=True)).strip()


@homeassistant.command("setup")
@click.argument("url")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the token from this file's first line (else $SELFDATA_HA_TOKEN, else it is asked for).",
)
@click.option("--keep-token", is_flag=True, help="Keep the token already stored (a new URL only).")
@click.option("--no-auto", is_flag=True, help="Push only when asked (selfdata homeassistant push), not after syncs.")
@click.option("--no-check", is_flag=True, help="Store without trying to connect to Home Assistant.")
@click.pass_context
def setup(
    ctx: click.Context, url: str, token_file: Path | None, keep_token: bool, no_auto: bool, no_check: bool
) -> None:
    """Push to Home Assistant at URL (e.g. http://homeassistant.local:8123) with a long-lived access token."""
    token = None if keep_token else _read_token(token_file)
    result = invoke(ctx, ops.homeassistant_setup, ops.Setup(url, token, auto=not no_auto, check=not no_check))
    who = f" as {result['user']}" if result.get("user") else ""
    version = f" (Home Assistant {result['ha_version']})" if result.get("ha_version") else ""
    if no_check:
        click.echo(
            f"Home Assistant at {result['url']}: stored, not tried (--no-check); the token is encrypted in the vault."
        )
    else:
        click.echo(f"Home Assistant at {result['url']}{version}: token accepted{who}, stored encrypted in the vault.")
    if result["auto"]:
        click.echo("The daemon pushes energy statistics after each sync; `selfdata homeassistant push` does it now.")
    else:
        click.echo("Push with `selfdata homeassistant push` (after each sync, or from cron).")


@homeassistant.command("push")
@click.option("--full", is_flag=True, help="Send every hour again, not only what changed (after a restore, say).")
@JSON
@click.pass_context
def push(ctx: click.Context, full: bool, as_json: bool) -> None:
    """Send the energy readings changed since the last push as hourly statistics."""
    result = invoke(ctx, ops.homeassistant_push, ops.Push(full))
    if as_json:
        render.print_json(result)
        return
    for problem in result["problems"]:
        click.secho(f"not pushed: {problem}", fg="yellow")
    if not result["statistics"]:
        click.echo(f"Home Assistant at {result['url']} is up to date.")
        return
    render.table(
        f"Pushed to Home Assistant at {result['url']}",
        ["statistic", "unit", "hours sent", "from", "to", "total"],
        [
            (
                s["statistic_id"],
                s["unit"],
                f"{s['hours']:,}",
                render.local(s["first"]),
                render.local(s["last"]),
                s["sum"],
            )
            for s in result["statistics"]
        ],
    )
    left_out = sum(s["left_out"] for s in result["statistics"])
    if left_out:
        click.echo(f"{left_out:,} readings longer than a day were left out (a month on one hour would mislead).")


@homeassistant.command("status")
@JSON
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Where statistics go, what each holds, and what the next push would send."""
    result = invoke(ctx, ops.homeassistant_status, NoParams())
    if as_json:
        render.print_json(result)
        return
    if not result["configured"]:
        click.echo("Home Assistant is not set up: selfdata homeassistant setup URL (see docs/homeassistant.md)")
        return
    mode = "after each sync" if result["auto"] else "when asked"
    click.echo(f"Home Assistant at {result['url']}, pushed {mode}.")
    if not result["statistics"]:
        click.echo("Nothing pushed yet.")
    else:
        render.table(
            None,
            ["statistic", "unit", "last hour", "total", "pushed"],
            [
                (s["statistic_id"], s["unit"], render.local(s["last"]), s["sum"], render.local(s["pushed_at"]))
                for s in result["statistics"]
            ],
        )
    pending = sum(p["hours"] for p in result["pending"])
    click.echo(f"Next push: {pending:,} hours of {len(result['pending'])} statistics." if pending else "Up to date.")


@homeassistant.command("remove")
@click.pass_context
def remove(ctx: click.Context) -> None:
    """Forget Home Assistant's address and token; the statistics stay in Home Assistant."""
    invoke(ctx, ops.homeassistant_remove, NoParams())
    click.echo(
        "Forgot Home Assistant. Its statistics stay there: delete them in Developer tools > Statistics if you wish."
    )
