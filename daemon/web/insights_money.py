"""Money: a month's in, out and net, balances, spending by category, recurring payments;
the category rules and money alerts, edited here. Every figure comes from `money.view`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from html import escape
from typing import Any

from aiohttp import web

from ..errors import SelfdataError
from ..insights.report import machine_zone
from .charts import HEIGHT, PAD, WIDTH
from .common import back, dashboard_of, html, op, user_zone
from .guard import page


def _lang(request: web.Request) -> str:
    return "fr" if request.headers.get("Accept-Language", "").lower().startswith("fr") else "en"


def _shift(month: str, n: int) -> str:
    y, m = divmod(int(month[:4]) * 12 + int(month[5:7]) - 1 + n, 12)
    return f"{y:04d}-{m + 1:02d}"


def flow_bars(months: list[dict[str, Any]], currency: str) -> str:
    """Money in and out per month, side by side, each bar titled with its figures."""
    if not months:
        return ""
    top = max(max(Decimal(m["in"]), -Decimal(m["out"])) for m in months) or Decimal(1)
    step = (WIDTH - PAD) / len(months)
    base = HEIGHT - PAD / 2
    bars = []
    for i, m in enumerate(months):
        for j, (side, value) in enumerate((("in", Decimal(m["in"])), ("out", -Decimal(m["out"])))):
            h = float((HEIGHT - PAD) * value / top)
            x = PAD + i * step + j * step * 0.42 + step * 0.08
            bars.append(
                f'<rect class="{side}" x="{x:.1f}" y="{base - h:.1f}" width="{step * 0.4:.1f}" height="{h:.1f}">'
                f"<title>{m['month']} {side}: {escape(m[side])} {escape(currency)}</title></rect>"
            )
    label = (
        f"Money in and out per month in {escape(currency)}, {months[0]['month']} to {months[-1]['month']};"
        f" at most {top} in a month"
    )
    return (
        f'<svg class="chart money" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<text x="0" y="12" class="axis">{top}</text>'
        f'<text x="0" y="{HEIGHT - 2}" class="axis">{months[0]["month"]}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 2}" class="axis end">{months[-1]["month"]}</text>'
        f'<line x1="{PAD}" x2="{WIDTH}" y1="{base}" y2="{base}" class="base"/>' + "".join(bars) + "</svg>"
    )


def balance_line(b: dict[str, Any]) -> str:
    """An account's balance day by day, as a step line."""
    points = [(date.fromisoformat(p["day"]), Decimal(p["balance"])) for p in b["points"]]
    if not points:
        return ""
    first, last = points[0][0], points[-1][0]
    span = max((last - first).days, 1)
    low, high = min(v for _, v in points), max(v for _, v in points)
    rng = (high - low) or Decimal(1)
    xy: list[str] = []
    for i, (day, value) in enumerate(points):
        x = PAD + (WIDTH - PAD) * (day - first).days / span
        y = HEIGHT - PAD / 2 - float((HEIGHT - PAD) * (value - low) / rng)
        if i:
            xy.append(f"{x:.1f},{xy[-1].split(',')[1]}")
        xy.append(f"{x:.1f},{y:.1f}")
    label = (
        f"Balance of {escape(b['name'])} in {escape(b['currency'])} from {first} to {last}:"
        f" between {low} and {high}, {escape(b['balance'])} at the last known balance"
    )
    return (
        f'<svg class="chart balance" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<text x="0" y="12" class="axis">{high}</text><text x="0" y="{HEIGHT - PAD / 2}" class="axis">{low}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 2}" class="axis end">{last}</text>'
        f'<polyline class="line" points="{" ".join(xy)}"/></svg>'
    )


@page()
async def money_page(request: web.Request) -> web.StreamResponse:
    tz = user_zone(request)
    month = request.query.get("month") or None
    error = None
    try:
        zone = str(tz) if tz else machine_zone()
        view = await op(request, "money.view", month=month, zone=zone, lang=_lang(request))
    except SelfdataError as err:
        error, view = str(err), None
    alerts = await op(request, "money.alerts")
    shown = view["month"] if view else (month or date.today().isoformat()[:7])
    return html(
        request,
        "money.html",
        title="Money",
        view=view,
        error=error,
        alerts=alerts,
        month=shown,
        previous=_shift(shown, -1) if len(shown) == 7 and shown[4] == "-" else None,
        following=_shift(shown, 1) if len(shown) == 7 and shown[4] == "-" else None,
        flow_charts=[(t["currency"], flow_bars(t["months"], t["currency"])) for t in (view or {}).get("totals", [])],
        balance_charts=[(b, balance_line(b)) for b in (view or {}).get("balances", [])],
    )


@page(change=True)
async def rule_add(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = dashboard_of(request)
    try:
        rule = await op(
            request,
            "money.rule_add",
            pattern=str(form.get("pattern", "")),
            category=str(form.get("category", "")),
            field=str(form.get("field", "any")),
        )
        dash.flash(request, "ok", f"Rule added: {rule['pattern']!r} -> {rule['category']}, past months included.")
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
    return back(request, "/money")


@page(change=True)
async def rule_remove(request: web.Request) -> web.StreamResponse:
    dash = dashboard_of(request)
    try:
        await op(request, "money.rule_remove", id=int(request.match_info["id"]))
        dash.flash(request, "ok", "Rule removed.")
    except (SelfdataError, ValueError) as err:
        dash.flash(request, "error", str(err))
    return back(request, "/money")


@page(change=True)
async def alert_set(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    dash = dashboard_of(request)
    tz = user_zone(request)
    kind = str(form.get("kind", ""))
    threshold = str(form.get("threshold", "")).strip() or None
    try:
        await op(
            request,
            "money.alert_set",
            kind=kind,
            enabled=form.get("enabled") == "on",
            threshold=threshold if kind in ("low_balance", "high_bill", "energy_month") else None,
            zone=str(tz) if tz else machine_zone(),
        )
        dash.flash(request, "ok", f"{kind}: {'on' if form.get('enabled') == 'on' else 'off'}.")
    except SelfdataError as err:
        dash.flash(request, "error", str(err))
    return back(request, "/money")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/money", money_page)
    app.router.add_post("/money/rules", rule_add)
    app.router.add_post("/money/rules/{id}/remove", rule_remove)
    app.router.add_post("/money/alerts", alert_set)
