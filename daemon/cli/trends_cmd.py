"""`selfdata health ...` and `selfdata telecom ...`: the health and telecom views, their settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..operations import healthviews as ops
from ..operations.registry import NoParams
from ..vault.timebuckets import ZoneError, zone
from . import render
from .base import cli, invoke


def local_zone() -> str:
    """This machine's zone by name (TZ, else /etc/localtime's link), else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(str(Path("/etc/localtime").resolve()).split("zoneinfo/", 1)[1])
    except (OSError, IndexError):
        pass
    for name in candidates:
        if name:
            try:
                zone(name)
                return name
            except ZoneError:
                continue
    return "UTC"


def _window_options(f: Any) -> Any:
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
    f = click.option("--end", help="Last day shown, YYYY-MM-DD (default: the day of the newest record).")(f)
    f = click.option("--zone", "zone_name", help="Time zone of the days (default: this machine's).")(f)
    return click.option(
        "--days", type=click.IntRange(1, 3700), default=90, show_default=True, help="Days shown, up to --end."
    )(f)


def _alert(ctx: click.Context, category: str, state: str, days: int | None) -> None:
    rule = invoke(ctx, ops.alerts_stopped_set, ops.SetAlert(category, state == "on", days))
    if rule["on"]:
        click.echo(f"Alert on: a {category} source silent for {rule['days']} days is told through the notifications.")
    else:
        click.echo(f"Alert off for {category} sources.")


# ---- health ---------------------------------------------------------------------------


@cli.group()
def health() -> None:
    """Health trends, and which source counts where several measured the same thing."""


@health.command("trends")
@_window_options
@click.pass_context
def health_trends(ctx: click.Context, days: int, zone_name: str | None, end: str | None, as_json: bool) -> None:
    """Resting heart rate, heart rate, weight, blood pressure, steps and sleep with 7-day means; workouts; records."""
    result = invoke(ctx, ops.health_trends, ops.TrendsParams(days, zone_name or local_zone(), end))
    if as_json:
        render.print_json(result)
        return
    rows = []
    for s in result["series"]:
        shown = [d for d in s["days"] if d["value"] is not None]
        last = shown[-1] if shown else None
        value = "" if last is None else last["value"] + (f" / {last['value2']}" if last["value2"] else "")
        mean = "" if last is None else (last["rolling"] or "") + (f" / {last['rolling2']}" if last["rolling2"] else "")
        origins = ", ".join(f"{o['source']}{' (' + o['device'] + ')' if o['device'] else ''}" for o in s["origins"][:3])
        rows.append(
            (
                s["title"],
                s["unit"] or "",
                last["day"] if last else "no data",
                value,
                mean,
                len(shown),
                origins,
                " > ".join(s["priority"]),
            )
        )
    render.table(
        f"Health from {result['start']} to {result['end']} ({result['zone']})",
        ["measure", "unit", "last day", "value", "7-day mean", "days", "sources", "priority"],
        rows,
    )
    if result["workouts"]:
        render.table(
            "Workouts per week",
            ["week of", "workouts", "minutes", "activities"],
            [
                (w["week"], w["count"], w["minutes"], ", ".join(f"{a} {n}" for a, n in w["activities"].items()))
                for w in result["workouts"]
            ],
        )
    if result["clinical"]:
        render.table(
            "Clinical records",
            ["kind", "what", "date", "status", "source"],
            [(c["kind"], c["what"], c["date"] or "", c["status"] or "", c["source"]) for c in result["clinical"]],
        )


@health.command("priority")
@click.argument("code", required=False)
@click.argument("names", nargs=-1)
@click.option("--clear", is_flag=True, help="Count every source again for CODE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def health_priority(ctx: click.Context, code: str | None, names: tuple[str, ...], clear: bool, as_json: bool) -> None:
    """Which sources or devices count for an observation code, first to last (e.g. 55423-8 "Apple Watch" iPhone).

    Each local hour, the first one named that has records of CODE is counted and the others
    left out, in every view and aggregate; the records stay stored. A name is a selfdata
    source, or the start of a device name. With no CODE: the priorities set.
    """
    if code is None:
        items = invoke(ctx, ops.health_priority, NoParams())
        if as_json:
            render.print_json(items)
        elif not items:
            click.echo("No priorities: every source counts. Set one with: selfdata health priority CODE NAME...")
        else:
            render.table(None, ["code", "counts first to last"], [(i["code"], " > ".join(i["names"])) for i in items])
        return
    if clear:
        done = invoke(ctx, ops.health_priority_clear, ops.ClearPriority(code))
        click.echo(f"Every source counts again for {code}." if done["cleared"] else f"No priority was set for {code}.")
        return
    if not names:
        raise click.UsageError("name the sources or devices that count for CODE, first to last (or use --clear)")
    done = invoke(ctx, ops.health_priority_set, ops.SetPriority(code, names))
    if as_json:
        render.print_json(done)
    else:
        click.echo(f"{code}: {' > '.join(done['names'])} (each hour, the first with data counts)")


@health.command("alert")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--days", type=click.IntRange(1, 365), help="Days of silence before telling (default 3).")
@click.pass_context
def health_alert(ctx: click.Context, state: str, days: int | None) -> None:
    """Be told when a health source's data stops arriving (off until turned on)."""
    _alert(ctx, "health", state, days)


# ---- telecom --------------------------------------------------------------------------


@cli.group()
def telecom() -> None:
    """Calls, messages and data use; the data plan's cap."""


@telecom.command("summary")
@_window_options
@click.option("--region", help="Country of numbers without a country code, e.g. FR (default: the plan's).")
@click.pass_context
def telecom_summary(
    ctx: click.Context, days: int, zone_name: str | None, end: str | None, as_json: bool, region: str | None
) -> None:
    """Calls and messages per contact, missed calls, and data used per month against the cap."""
    result = invoke(ctx, ops.telecom_summary, ops.TelecomParams(days, zone_name or local_zone(), end, region))
    if as_json:
        render.print_json(result)
        return
    d = result["days"]
    totals = {k: sum(day[k] for day in d) for k in ("calls_in", "calls_out", "missed", "messages_in", "messages_out")}
    click.echo(
        f"From {result['start']} to {result['end']}: {totals['calls_in']} calls in, {totals['calls_out']} out,"
        f" {totals['missed']} missed; {totals['messages_in']} messages in, {totals['messages_out']} out."
    )
    render.table(
        "Contacts",
        ["contact", "number", "calls", "missed", "minutes", "messages"],
        [
            (c["name"] or "", c["number"], c["calls"], c["missed"], c["call_minutes"], c["messages"])
            for c in result["contacts"][:20]
        ],
    )
    if result["missed"]:
        render.table(
            "Missed calls",
            ["when", "number", "name"],
            [(render.local(m["at"]), m["number"], m["name"] or "") for m in result["missed"]],
        )
    if result["usage"]:
        render.table(
            "Data per month",
            ["month", "used", "cap", "of cap"],
            [
                (
                    u["month"],
                    render.human_bytes(u["used_bytes"]),
                    render.human_bytes(u["cap_bytes"]) if u["cap_bytes"] else "no cap set",
                    f"{u['percent_of_cap']}%" if u["percent_of_cap"] else "",
                )
                for u in result["usage"]
            ],
        )


@telecom.command("plan")
@click.option("--cap", help="Data a month in the plan, e.g. 50GB.")
@click.option("--no-cap", is_flag=True, help="Remove the cap.")
@click.option("--region", help="Country of numbers without a country code, e.g. FR.")
@click.pass_context
def telecom_plan(ctx: click.Context, cap: str | None, no_cap: bool, region: str | None) -> None:
    """Show or set the data plan: its monthly cap and home region."""
    plan = invoke(ctx, ops.telecom_plan, ops.SetPlan(cap, no_cap, region))
    shown_cap = render.human_bytes(plan["cap_bytes"]) if plan["cap_bytes"] else "none"
    click.echo(f"Data cap: {shown_cap} a month; home region: {plan['region'] or 'not set'}")


@telecom.command("alert")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option("--days", type=click.IntRange(1, 365), help="Days of silence before telling (default 3).")
@click.pass_context
def telecom_alert(ctx: click.Context, state: str, days: int | None) -> None:
    """Be told when a telecom source's data stops arriving (off until turned on)."""
    _alert(ctx, "telecom", state, days)
