"""`selfdata tariffs add|list|import|remove` and `selfdata energy costs|profile`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ..insights import tariffs as tariff_mod
from ..operations import energy as ops
from ..operations.registry import NoParams
from . import render
from .base import cli, invoke


def default_zone() -> str:
    name = os.environ.get("TZ", "").lstrip(":")
    return name if name and "/" in name else "UTC"


ZONE = click.option(
    "--zone", default=default_zone, show_default="$TZ or UTC", help="Local time zone of days and hours."
)
MONTHS = click.option("--months", default=12, show_default=True, type=click.IntRange(1, 120), help="The last N months.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@cli.group()
def tariffs() -> None:
    """Energy tariffs: prices with their validity, to cost your readings (docs/energy-costs.md)."""


@tariffs.command("add")
@click.argument("tariff_id")
@click.option("--supplier", required=True)
@click.option("--product", required=True, help="The product's name or code.")
@click.option("--from", "valid_from", required=True, help="Valid from (ISO 8601 date-time with offset, or a date).")
@click.option("--to", "valid_to", help="Valid until, exclusive (none: still valid).")
@click.option("--currency", required=True, help="ISO 4217: EUR, GBP...")
@click.option("--commodity", type=click.Choice(["electricity", "gas"]), default="electricity", show_default=True)
@click.option("--direction", type=click.Choice(["consumption", "production"]), default="consumption", show_default=True)
@click.option(
    "--kind", type=click.Choice(["fixed", "time_of_use", "tempo", "half_hourly"]), default="fixed", show_default=True
)
@click.option("--price", "unit_price", help="Price per kWh of a fixed tariff.")
@click.option(
    "--bands", help="Time bands: name=price@HH:MM-HH:MM[/weekdays|weekends][/blue|white|red], comma-separated."
)
@click.option("--standing", "standing_charge", help="Standing charge per day.")
@click.option("--timezone", "zone", default="UTC", show_default=True, help="Zone the bands' times are read in.")
@click.option("--tax", "tax_percent", help="Tax (VAT) in percent added on top; leave out when prices include it.")
@click.option("--held", is_flag=True, help="Your own tariff over its validity (what you paid), not an offer.")
@click.option("--calorific-value", help="Gas read in m3: MJ/m3 from your bill.")
@click.option("--volume-correction", help="Gas read in m3: the bill's correction factor (default 1.02264).")
@click.pass_context
def tariffs_add(ctx: click.Context, /, tariff_id: str, **opts: Any) -> None:
    """Store tariff TARIFF_ID (the same id replaces it)."""
    data: dict[str, Any] = {"tariff_id": tariff_id}
    for name in ("supplier", "product", "currency", "commodity", "direction", "kind"):
        data[name] = opts[name]
    for name in ("valid_from", "valid_to"):
        if opts[name]:
            data[name] = _instant(opts[name])
    for name in ("unit_price", "standing_charge", "tax_percent", "calorific_value", "volume_correction"):
        if opts[name]:
            data[name] = opts[name]
    if opts["bands"]:
        data["bands"] = tariff_mod.parse_bands(opts["bands"])
    data["timezone"] = opts["zone"]
    data["held"] = "yes" if opts["held"] else "no"
    result = invoke(ctx, ops.tariffs_add, ops.TariffAdd(data))
    verb = "Added" if result["new"] else "Updated" if result["changed"] else "Unchanged:"
    click.echo(f"{verb} tariff {result['tariff_id']}")


def _instant(text: str) -> str:
    return text if "T" in text else f"{text}T00:00:00+00:00"


@tariffs.command("list")
@JSON
@click.pass_context
def tariffs_list(ctx: click.Context, as_json: bool) -> None:
    """Every stored tariff with its validity and prices."""
    result = invoke(ctx, ops.tariffs_list, NoParams())
    if as_json:
        render.print_json(result)
        return
    if not result["tariffs"]:
        click.echo("No tariffs yet: selfdata tariffs add ... (see docs/energy-costs.md)")
        return
    rows = []
    for t in result["tariffs"]:
        if t["kind"] == "fixed":
            prices = f"{t['unit_price']}/kWh"
        elif t["kind"] == "half_hourly":
            prices = f"{t['prices']:,} half-hour prices"
        else:
            prices = ", ".join(
                f"{b.get('colour', '') + ' ' if b.get('colour') else ''}{b['name']} {b['price']}" for b in t["bands"]
            )
        rows.append(
            (
                t["tariff_id"],
                f"{t['supplier']} {t['product']}",
                t["commodity"],
                t["valid_from"][:10],
                (t.get("valid_to") or "")[:10],
                t["currency"],
                t.get("standing_charge", ""),
                prices,
                "yes" if t.get("held") == "yes" else "",
            )
        )
    render.table(
        None, ["tariff", "product", "commodity", "from", "to", "currency", "standing/day", "prices", "yours"], rows
    )
    if result["day_colours"]:
        click.echo(f"{result['day_colours']:,} Tempo day colours stored")


@tariffs.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--tariff", "tariff_id", help="FILE holds half-hour prices (start,price) of this half_hourly tariff.")
@click.option("--colours", is_flag=True, help="FILE holds Tempo day colours (day,colour).")
@click.option("--calendar", default="tempo", show_default=True, help="The calendar the colours belong to.")
@click.option("--octopus", "octopus_code", help="Instead of a file: this Octopus tariff code's public rates.")
@click.option("--from", "start", help="With --octopus: rates from this date.")
@click.option("--to", "end", help="With --octopus: rates until this date (default: now).")
@click.option("--held", is_flag=True, help="With --octopus: it is your own tariff over that period.")
@click.option(
    "--night", default="00:30-07:30", show_default=True, help="With --octopus, a 2R tariff: night hours (UTC)."
)
@click.option("--base-url", default=ops.OCTOPUS_URL, show_default=True, help="With --octopus: the API's address.")
@click.pass_context
def tariffs_import(
    ctx: click.Context,
    file: Path | None,
    tariff_id: str | None,
    colours: bool,
    calendar: str,
    octopus_code: str | None,
    start: str | None,
    end: str | None,
    held: bool,
    night: str,
    base_url: str,
) -> None:
    """Half-hour prices or Tempo colours from a CSV FILE, or a tariff from Octopus (--octopus)."""
    if octopus_code:
        if not start:
            raise click.UsageError("--octopus needs --from")
        params = ops.TariffOctopus(
            octopus_code, _instant(start), _instant(end) if end else None, held, night, base_url=base_url
        )
        result = invoke(ctx, ops.tariffs_octopus, params)
        click.echo(
            f"Octopus {result['tariff_code']}: {len(result['versions'])} versions, {result['prices']:,} half-hour"
            f" prices ({result['new']:,} new, {result['changed']:,} changed)"
        )
        return
    if file is None or colours == bool(tariff_id):
        raise click.UsageError("give FILE with --tariff ID (prices) or --colours, or --octopus CODE")
    what = "colours" if colours else "prices"
    params_file = ops.TariffImport(str(file.absolute()), what, tariff_id, calendar, file.name)
    result = invoke(ctx, ops.tariffs_import, params_file, upload=file)
    click.echo(f"{result['file']}: {result['records']:,} {what} ({result['new']:,} new, {result['changed']:,} changed)")


@tariffs.command("remove")
@click.argument("tariff_id")
@click.pass_context
def tariffs_remove(ctx: click.Context, tariff_id: str) -> None:
    """Remove tariff TARIFF_ID and its half-hour prices."""
    result = invoke(ctx, ops.tariffs_remove, ops.TariffRemove(tariff_id))
    click.echo(f"Removed tariff {result['tariff_id']} ({result['prices_removed']:,} half-hour prices)")


@cli.group()
def energy() -> None:
    """Your energy: costs under each tariff, the average day (docs/energy-costs.md)."""


@energy.command("costs")
@MONTHS
@ZONE
@JSON
@click.pass_context
def energy_costs(ctx: click.Context, months: int, zone: str, as_json: bool) -> None:
    """What the last N months of readings cost under each tariff, side by side, with the method."""
    view = invoke(ctx, ops.energy_view, ops.EnergyView(zone, months))
    if as_json:
        render.print_json({k: view[k] for k in ("zone", "start", "end", "costs")})
        return
    if not view["streams"]:
        click.echo("No energy readings yet.")
        return
    click.echo(f"{render.local(view['start'], 'date')} to {render.local(view['end'], 'date')} ({zone})")
    if not view["costs"]:
        click.echo("No tariffs for these readings: selfdata tariffs add ... (see docs/energy-costs.md)")
    for group in view["costs"]:
        rows = [
            (
                r["label"],
                f"{r['total_rounded']} {r['currency']}",
                r["energy"][: r["energy"].find(".") + 3] if "." in r["energy"] else r["energy"],
                r["standing"],
                r["tax"][: r["tax"].find(".") + 3] if "." in r["tax"] else r["tax"],
                r["kwh"],
                f"{r['unpriced_slots']:,}" if r["unpriced_slots"] else "",
            )
            for r in group["rows"]
        ]
        render.table(group["stream"], ["tariff", "total", "energy", "standing", "tax", "kWh", "unpriced"], rows)
        for r in group["rows"]:
            click.echo(f"  {r['label']}:")
            for line in r["method"]:
                click.echo(f"    - {line}")
        for err in group["errors"]:
            click.secho(f"  not priced: {err}", fg="yellow")


@energy.command("profile")
@MONTHS
@ZONE
@JSON
@click.pass_context
def energy_profile(ctx: click.Context, months: int, zone: str, as_json: bool) -> None:
    """The average half-hour at each time of day, weekdays and weekends, and the monthly totals."""
    view = invoke(ctx, ops.energy_view, ops.EnergyView(zone, months, costs=False))
    if as_json:
        render.print_json(
            {
                "zone": view["zone"],
                "streams": [
                    {k: s[k] for k in ("name", "unit", "profile", "months", "missing")} for s in view["streams"]
                ],
            }
        )
        return
    if not view["streams"]:
        click.echo("No energy readings yet.")
        return
    for s in view["streams"]:
        render.table(
            f"{s['name']}: average half-hour ({zone})",
            ["time", "weekday", "weekend"],
            [
                (f"{i // 2:02d}:{i % 2 * 30:02d}", s["profile"]["weekday"][i] or "", s["profile"]["weekend"][i] or "")
                for i in range(48)
            ],
        )
        render.table(
            f"{s['name']}: per month",
            ["month", s["unit"], "half-hours read", "missing"],
            [(m["month"][:7], m["total"], m["slots"], m["expected"] - m["slots"] or "") for m in s["months"]],
        )
