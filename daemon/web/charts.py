"""Charts drawn on the server as SVG: they need no script, and a screen reader gets the numbers."""

from __future__ import annotations

from datetime import date, timedelta
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 720, 160, 28


def daily_bars(days: list[dict[str, Any]], title: str) -> str:
    """Bars of records per day, gaps included, with the busiest day labelled."""
    if not days:
        return ""
    counts = {date.fromisoformat(d["day"]): d["count"] for d in days}
    first, last = min(counts), max(counts)
    span = (last - first).days + 1
    top = max(counts.values())
    step = (WIDTH - PAD) / span
    bars = []
    for i in range(span):
        day = first + timedelta(days=i)
        n = counts.get(day, 0)
        if not n:
            continue
        h = max(1.0, (HEIGHT - PAD) * n / top)
        bars.append(
            f'<rect x="{PAD + i * step:.1f}" y="{HEIGHT - PAD / 2 - h:.1f}" width="{max(step - 0.5, 0.8):.1f}"'
            f' height="{h:.1f}"><title>{day.isoformat()}: {n:,}</title></rect>'
        )
    total = sum(counts.values())
    label = f"{escape(title)}: {total:,} records over {span} days from {first} to {last}; at most {top:,} in a day"
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<text x="0" y="12" class="axis">{top:,}</text>'
        f'<text x="0" y="{HEIGHT - 2}" class="axis">{first}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 2}" class="axis end">{last}</text>'
        f'<line x1="{PAD}" x2="{WIDTH}" y1="{HEIGHT - PAD / 2}" y2="{HEIGHT - PAD / 2}" class="base"/>'
        + "".join(bars)
        + "</svg>"
    )
