"""The energy page: totals per day, week and month, the half-hour heatmap, the average day,
gaps, and the cost under each tariff with its method; a form to enter tariffs.

Charts are SVG drawn here: no script, and each has its numbers for a screen reader (a title
per cell and a table beside it)."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from aiohttp import web

from ..errors import SelfdataError
from ..insights import tariffs as tariff_mod
from .common import dashboard_of, html, op, user_zone
from .guard import page

WIDTH, PAD = 720, 44
ROW_H = 6
TARIFF_FIELDS = (
    "tariff_id",
    "supplier",
    "product",
    "commodity",
    "direction",
    "kind",
    "valid_from",
    "valid_to",
    "currency",
    "unit_price",
    "standing_charge",
    "timezone",
    "tax_percent",
    "calorific_value",
)


def _slot(i: int) -> str:
    return f"{i // 2:02d}:{i % 2 * 30:02d}"


def heatmap_svg(hm: dict[str, Any], unit: str, title: str) -> str:
    """Days across, half-hours down; darker is more. A gap is hatched grey, a time that did not
    exist (clocks forward) is left empty."""
    days, cells = hm["days"], hm["cells"]
    if not days:
        return ""
    values = [Decimal(v) for row in cells for v in row if v not in ("gap", "none")]
    top = max(values, default=Decimal(0)) or Decimal(1)
    step = (WIDTH - PAD) / len(days)
    height = 48 * ROW_H + 30
    twice = {(d, s) for d, s in hm["twice"]}
    rects = []
    gaps = 0
    for s, row in enumerate(cells):
        y = 12 + s * ROW_H
        for i, v in enumerate(row):
            x = PAD + i * step
            when = f"{days[i]} {_slot(s)}"
            if v == "none":
                continue
            if v == "gap":
                gaps += 1
                rects.append(
                    f'<rect class="gap" x="{x:.1f}" y="{y}" width="{step - 0.5:.1f}" height="{ROW_H - 0.5}"'
                    f"><title>{when}: no reading</title></rect>"
                )
                continue
            share = float(Decimal(v) / top)
            note = " (two half-hours: the clocks went back)" if (days[i], s) in twice else ""
            rects.append(
                f'<rect class="cell" x="{x:.1f}" y="{y}" width="{step - 0.5:.1f}" height="{ROW_H - 0.5}"'
                f' fill-opacity="{0.08 + 0.92 * share:.2f}">'
                f"<title>{when}: {v} {unit}{note}</title></rect>"
            )
    label = (
        f"{escape(title)}: half-hours of {hm['month']}, {len(days)} days; at most {top} {unit} in a half-hour;"
        f" {gaps} half-hours without a reading"
    )
    axis = "".join(
        f'<text x="{PAD - 4}" y="{12 + s * ROW_H + ROW_H}" class="axis end">{_slot(s)}</text>' for s in range(0, 48, 12)
    )
    return (
        f'<svg class="chart heatmap" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>{axis}'
        f'<text x="{PAD}" y="{height - 4}" class="axis">{days[0]}</text>'
        f'<text x="{WIDTH}" y="{height - 4}" class="axis end">{days[-1]}</text>' + "".join(rects) + "</svg>"
    )


def profile_svg(profile: dict[str, list[Any]], unit: str, title: str) -> str:
    """The average half-hour of a weekday and of a weekend day, as two lines."""
    values = [Decimal(v) for k in profile for v in profile[k] if v is not None]
    if not values:
        return ""
    top = max(values) or Decimal(1)
    height = 170
    step = (WIDTH - PAD) / 47
    lines = []
    for kind, colour in (("weekday", "#1d4ed8"), ("weekend", "#b45309")):
        points = [
            f"{PAD + i * step:.1f},{height - 20 - float(Decimal(v) / top) * (height - 40):.1f}"
            for i, v in enumerate(profile[kind])
            if v is not None
        ]
        if points:
            lines.append(
                f'<polyline class="{kind}" fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}">'
                f"<title>{kind}</title></polyline>"
            )
    label = f"{escape(title)}: the average half-hour at each time of day, weekdays and weekends; at most {top} {unit}"
    return (
        f'<svg class="chart profile" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<text x="0" y="14" class="axis">{top}</text>'
        f'<text x="{PAD}" y="{height - 4}" class="axis">00:00</text>'
        f'<text x="{WIDTH}" y="{height - 4}" class="axis end">23:30</text>' + "".join(lines) + "</svg>"
    )


def day_bars(days: list[dict[str, Any]], unit: str, title: str) -> str:
    """A bar a day; a day with missing half-hours is drawn grey and says how many."""
    if not days:
        return ""
    top = max((Decimal(d["total"]) for d in days), default=Decimal(0)) or Decimal(1)
    height = 160
    step = (WIDTH - PAD) / len(days)
    bars = []
    for i, d in enumerate(days):
        total = Decimal(d["total"])
        missing = d["expected"] - d["slots"]
        h = max(1.0, float(total / top) * (height - 30)) if d["slots"] else 0
        note = f"; {missing} of {d['expected']} half-hours missing" if missing else ""
        kind = ' class="short"' if missing else ""
        bars.append(
            f'<rect{kind} x="{PAD + i * step:.1f}" y="{height - 14 - h:.1f}" width="{max(step - 0.4, 0.6):.1f}"'
            f' height="{h:.1f}"><title>{d["day"]}: {total} {unit}{note}</title></rect>'
        )
    short = sum(1 for d in days if d["slots"] < d["expected"])
    label = f"{escape(title)}: {len(days)} days from {days[0]['day']} to {days[-1]['day']}; {short} days with gaps"
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{label}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<text x="0" y="12" class="axis">{top}</text>'
        f'<text x="{PAD}" y="{height - 2}" class="axis">{days[0]["day"]}</text>'
        f'<text x="{WIDTH}" y="{height - 2}" class="axis end">{days[-1]["day"]}</text>' + "".join(bars) + "</svg>"
    )


@page()
async def energy_page(request: web.Request) -> web.StreamResponse:
    tz = user_zone(request)
    zone = str(tz) if tz else "UTC"
    q = request.query
    error = None
    try:
        months = int(q.get("months", "12"))
        view = await op(request, "energy.view", zone=zone, months=months, month=q.get("month") or None)
    except (SelfdataError, ValueError) as err:
        error = str(err)
        view = {"streams": [], "costs": [], "start": None, "end": None, "months": 12}
    listed = await op(request, "tariffs.list")
    charts = [
        {
            **s,
            "bars": day_bars(s["days"], s["unit"], s["name"]),
            "heat": heatmap_svg(s["heatmap"], s["unit"], s["name"]),
            "profile_chart": profile_svg(s["profile"], s["unit"], s["name"]),
        }
        for s in view["streams"]
    ]
    return html(
        request,
        "energy.html",
        title="Energy",
        view=view,
        streams=charts,
        tariffs=listed["tariffs"],
        day_colours=listed["day_colours"],
        error=error,
        slot=_slot,
        chosen={"months": q.get("months", "12"), "month": q.get("month", "")},
    )


@page(change=True)
async def tariff_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    data: dict[str, Any] = {}
    for name in TARIFF_FIELDS:
        value = str(form.get(name, "")).strip()
        if value:
            data[name] = value if name not in ("valid_from", "valid_to") or "T" in value else f"{value}T00:00:00+00:00"
    data["held"] = "yes" if form.get("held") else "no"
    dash = dashboard_of(request)
    try:
        bands = str(form.get("bands", "")).strip()
        if bands:
            data["bands"] = tariff_mod.parse_bands(bands)
        result = await op(request, "tariffs.add", tariff=data)
        dash.flash(request, "ok", f"Tariff {result['tariff_id']} saved")
    except SelfdataError as err:
        dash.flash(request, "error", f"The tariff was not saved: {err}")
    return web.HTTPSeeOther("/energy#tariffs")


@page(change=True)
async def tariff_remove(request: web.Request) -> web.StreamResponse:
    tid = request.match_info["id"]
    dash = dashboard_of(request)
    try:
        await op(request, "tariffs.remove", tariff_id=tid)
        dash.flash(request, "ok", f"Tariff {tid} removed")
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
    return web.HTTPSeeOther("/energy#tariffs")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/energy", energy_page)
    app.router.add_post("/energy/tariffs", tariff_add)
    app.router.add_post("/energy/tariffs/{id}/remove", tariff_remove)
