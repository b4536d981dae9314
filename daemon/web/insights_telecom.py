"""The telecom view: calls and messages per day, contacts, missed calls, data per month
against the plan's cap; read through the same operation as `selfdata telecom summary`."""

from __future__ import annotations

from aiohttp import web

from ..errors import SelfdataError
from . import trendcharts
from .common import html, op, user_zone
from .guard import page
from .insights_health import CHOICES, chosen_days

MB = 10**6


@page()
async def telecom_page(request: web.Request) -> web.StreamResponse:
    tz = user_zone(request)
    days = chosen_days(request)
    error = None
    try:
        result = await op(request, "telecom.summary", days=days, zone=str(tz) if tz else "UTC")
    except SelfdataError as err:
        result = {"days": [], "contacts": [], "missed": [], "usage": [], "plan": {}, "start": "", "end": ""}
        error = str(err)
    per_day = [(d["day"], [d["calls_in"], d["calls_out"], d["missed"] + d["rejected"]]) for d in result["days"]]
    texts = [(d["day"], [d["messages_in"], d["messages_out"]]) for d in result["days"]]
    cap = result["plan"].get("cap_bytes")
    usage = [(u["month"], [u["used_bytes"] // MB]) for u in result["usage"]]
    totals = {
        k: sum(d[k] for d in result["days"]) for k in ("calls_in", "calls_out", "missed", "messages_in", "messages_out")
    }
    return html(
        request,
        "insights_telecom.html",
        title="Telecom",
        result=result,
        totals=totals,
        calls_chart=trendcharts.stacked(per_day, ["calls in", "calls out", "missed"], "Calls per day"),
        messages_chart=trendcharts.stacked(texts, ["messages in", "messages out"], "Messages per day"),
        usage_chart=trendcharts.stacked(usage, ["MB"], "Data per month", cap // MB if cap else None),
        days=days,
        choices=CHOICES,
        error=error,
    )
