"""Rendering the dashboard's pages: Jinja2 templates shipped with the package, times in the user's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

HERE = Path(__file__).parent
HEALTH_WORDS = {
    "ok": "ok",
    "retrying": "retrying",
    "failing": "failing",
    "needs_login": "needs you: log in again",
    "needs_action": "needs you: act at the vendor",
    "needs_authorization": "needs you: authorise access",
}


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = lambda n: f"{n:,}" if isinstance(n, int) else ("" if n is None else str(n))
    env.globals["HEALTH_WORDS"] = HEALTH_WORDS
    return env


def zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_time(value: Any, tz: ZoneInfo | None, with_seconds: bool = False) -> str:
    """An ISO 8601 time or epoch ms, shown in the user's zone with its offset."""
    if value is None or value == "":
        return ""
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(value / 1000, UTC)
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return str(value)
    shown = moment.astimezone(tz) if tz is not None else moment.astimezone()
    return shown.strftime("%Y-%m-%d %H:%M:%S %z" if with_seconds else "%Y-%m-%d %H:%M %z")


def render(template: str, **context: Any) -> str:
    tz: ZoneInfo | None = context.get("tz")
    env = environment()
    return env.get_template(template).render(
        when=lambda v, s=False: local_time(v, tz, s), zone_name=str(tz) if tz else "the machine's zone", **context
    )
