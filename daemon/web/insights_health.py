"""The health view: a chart per measure with its 7-day mean and sources, workouts per week,
clinical records; read through the same operation as `selfdata health trends`."""

from __future__ import annotations

from aiohttp import web

from ..errors import SelfdataError
from . import trendcharts
from .common import html, op, user_zone
from .guard import page

CHOICES = (30, 90, 365)


def chosen_days(request: web.Request) -> int:
    try:
        days = int(request.query.get("days", "90"))
    except ValueError:
        return 90
    return days if days in CHOICES else 90


@page()
async def health_page(request: web.Request) -> web.StreamResponse:
    tz = user_zone(request)
    days = chosen_days(request)
    error = None
    try:
        result = await op(request, "health.trends", days=days, zone=str(tz) if tz else "UTC")
    except SelfdataError as err:
        result, error = {"series": [], "workouts": [], "clinical": [], "start": "", "end": ""}, str(err)
    charts = []
    for s in result["series"]:
        with_data = [d for d in s["days"] if d["value"] is not None]
        s["last"] = with_data[-1] if with_data else None
        s["with_data"] = len(with_data)
        if with_data:
            charts.append((s, trendcharts.trend(s["days"], s["title"], s["unit"])))
    weeks = [(w["week"], [w["count"]]) for w in result["workouts"]]
    return html(
        request,
        "insights_health.html",
        title="Health",
        result=result,
        charts=charts,
        workouts_chart=trendcharts.stacked(weeks, ["workouts"], "Workouts per week"),
        days=days,
        choices=CHOICES,
        error=error,
    )
