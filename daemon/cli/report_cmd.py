"""`selfdata report`, `selfdata categories` and `selfdata money-alerts`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..insights.report import machine_zone as local_zone
from ..operations import insights
from ..operations.registry import NoParams
from . import render
from .base import cli, invoke


def print_report(con: Console, result: dict[str, Any]) -> None:
    con.print(f"[bold]selfdata report for {result['month']}[/bold]  (times in {result['zone']})")
    if not result["sections"]:
        con.print("Nothing to report for this month: no data yet.")
    for section in result["sections"]:
        con.rule(f"[bold]{section['title']}[/bold]", align="left")
        for note in section["notes"]:
            con.print(note)
        for t in section["tables"]:
            table = Table(title=t["title"], title_justify="left", show_edge=False, pad_edge=False)
            for i, c in enumerate(t["columns"]):
                table.add_column(c, justify="right" if i and _numeric(t["rows"], i) else "left", overflow="fold")
            for row in t["rows"]:
                table.add_row(*row)
            con.print(table)
            if not t["rows"]:
                con.print(f"  ({t['empty']})")
            con.print()


def _numeric(rows: list[list[str]], i: int) -> bool:
    return bool(rows) and all(r[i].lstrip("-").replace(".", "", 1).isdigit() for r in rows if r[i])


@cli.command("report")
@click.option("--month", help="The month, YYYY-MM (default: this month).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write it to FILE.")
@click.option("--zone", help="Time zone for months and days (default: this machine's).")
@click.option("--lang", type=click.Choice(insights.LANGS), default="en", show_default=True, help="Category names.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def report(
    ctx: click.Context, month: str | None, html_file: Path | None, zone: str | None, lang: str, as_json: bool
) -> None:
    """A month's summary: money in and out, spending by category, recurring payments."""
    params = insights.MonthParams(month=month, zone=zone or local_zone(), lang=lang)
    result = invoke(ctx, insights.report_op, params)
    if as_json:
        render.print_json(result)
        return
    print_report(render.console(), result)
    if html_file is not None:
        recorder = Console(record=True, width=120, file=open(os.devnull, "w"))  # noqa: SIM115
        print_report(recorder, result)
        html_file.write_text(recorder.export_html(inline_styles=True), encoding="utf-8")
        recorder.file.close()
        click.echo(f"Wrote {html_file}")


@cli.group("categories")
def categories() -> None:
    """Rules that put transactions in categories when the bank sent none."""


@categories.command("list")
@click.option("--starter", is_flag=True, help="Also list the built-in starter set.")
@click.pass_context
def categories_list(ctx: click.Context, starter: bool) -> None:
    """Your rules, in the order they apply."""
    result = invoke(ctx, insights.money_rules, NoParams())
    rows = [[r["id"], r["field"], r["pattern"], r["category"]] for r in result["rules"]]
    if starter:
        rows += [["starter", r["field"], r["pattern"], r["category"]] for r in result["starter"]]
    render.table("Category rules", ["id", "looks at", "contains", "category"], rows)
    if not result["rules"]:
        click.echo("No rules of yours yet: selfdata categories add PATTERN CATEGORY")


@categories.command("add")
@click.argument("pattern")
@click.argument("category")
@click.option(
    "--field",
    type=click.Choice(["any", "counterparty", "description"]),
    default="any",
    show_default=True,
    help="Which text the pattern is looked for in.",
)
@click.pass_context
def categories_add(ctx: click.Context, pattern: str, category: str, field: str) -> None:
    """Put transactions whose text contains PATTERN (* and ? as wildcards) in CATEGORY, past ones too."""
    rule = invoke(ctx, insights.money_rule_add, insights.RuleAdd(pattern, category, field))
    click.echo(f"Rule {rule['id']}: {rule['field']} contains {rule['pattern']!r} -> {rule['category']}")


@categories.command("remove")
@click.argument("rule_id", type=int)
@click.pass_context
def categories_remove(ctx: click.Context, rule_id: int) -> None:
    """Remove rule RULE_ID; what it categorised goes back to what it was."""
    invoke(ctx, insights.money_rule_remove, insights.RuleRemove(rule_id))
    click.echo(f"Removed rule {rule_id}")


@cli.group("money-alerts")
def money_alerts() -> None:
    """Alerts about money through the notification channels, each off until switched on."""


@money_alerts.command("list")
@click.pass_context
def money_alerts_list(ctx: click.Context) -> None:
    """Each money alert and whether it is on."""
    rows = invoke(ctx, insights.money_alerts_list, NoParams())
    render.table(
        "Money alerts",
        ["alert", "on", "threshold", "tells you about"],
        [[r["kind"], "on" if r["enabled"] else "off", r["threshold"] or "", r["about"]] for r in rows],
    )


@money_alerts.command("set")
@click.argument(
    "kind", type=click.Choice(["new_recurring", "price_change", "low_balance", "high_bill", "energy_month"])
)
@click.argument("state", type=click.Choice(["on", "off"]))
@click.option(
    "--threshold",
    help="low_balance: tell me when a balance falls under this; high_bill, energy_month: a percentage above "
    "the usual (default 30).",
)
@click.pass_context
def money_alerts_set(ctx: click.Context, kind: str, state: str, threshold: str | None) -> None:
    """Switch the money alert KIND on or off."""
    invoke(ctx, insights.money_alert_set, insights.AlertSet(kind, state == "on", threshold, zone=local_zone()))
    click.echo(f"{kind} is {state}")
