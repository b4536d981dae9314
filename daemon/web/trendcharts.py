"""SVG charts of the health and telecom views: a daily series with its rolling mean, and
stacked bars. Drawn on the server like `charts`: no script, and each mark has its number."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape
from typing import Any

from .charts import HEIGHT, PAD, WIDTH


def _svg(label: str, body: str, top: str, bottom: str, first: str, last: str) -> str:
    label = escape(label)
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<text x="0" y="12" class="axis">{escape(top)}</text>'
        f'<text x="0" y="{HEIGHT - PAD / 2 - 2}" class="axis">{escape(bottom)}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 2}" class="axis">{escape(first)}</text>'
        f'<text x="{WIDTH}" y="{HEIGHT - 2}" class="axis end">{escape(last)}</text>'
        f'<line x1="{PAD}" x2="{WIDTH}" y1="{HEIGHT - PAD / 2}" y2="{HEIGHT - PAD / 2}" class="base"/>'
        + body
        + "</svg>"
    )


def trend(days: Sequence[dict[str, Any]], title: str, unit: str | None) -> str:
    """Each day's value as a dot and the rolling mean as a line (two of each for blood
    pressure's components); days without data are gaps."""
    values = [Decimal(d[k]) for d in days for k in ("value", "value2", "rolling", "rolling2") if d.get(k) is not None]
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 1, high + 1
    span = high - low
    step = (WIDTH - PAD) / max(len(days), 1)

    def y(v: str) -> float:
        return (HEIGHT - PAD / 2) - float((Decimal(v) - low) / span) * (HEIGHT - PAD - 12)

    body = []
    for value_key, roll_key, dash in (("value", "rolling", ""), ("value2", "rolling2", ' stroke-dasharray="4 3"')):
        line: list[str] = []
        runs: list[list[str]] = []
        for i, d in enumerate(days):
            x = PAD + (i + 0.5) * step
            if d.get(value_key) is not None:
                body.append(
                    f'<circle cx="{x:.1f}" cy="{y(d[value_key]):.1f}" r="2.2" fill="currentColor" opacity="0.4">'
                    f"<title>{d['day']}: {escape(d[value_key])}</title></circle>"
                )
            if d.get(roll_key) is not None:
                line.append(f"{x:.1f},{y(d[roll_key]):.1f}")
            elif line:
                runs.append(line)
                line = []
        if line:
            runs.append(line)
        body += [
            f'<polyline points="{" ".join(r)}" fill="none" stroke="currentColor" stroke-width="1.6"{dash}/>'
            for r in runs
        ]
    shown = [d for d in days if d.get("value") is not None]
    label = f"{title}: {len(shown)} days with data from {days[0]['day']} to {days[-1]['day']}"
    if shown:
        last = shown[-1]
        label += f"; on {last['day']} {last['value']}{' / ' + last['value2'] if last.get('value2') else ''}"
        label += (
            f" {unit or ''}, 7-day mean {last['rolling']}{' / ' + last['rolling2'] if last.get('rolling2') else ''}"
        )
    return _svg(label, "".join(body), str(high), str(low), days[0]["day"], days[-1]["day"])


def stacked(rows: Sequence[tuple[str, Sequence[int]]], parts: Sequence[str], title: str, cap: int | None = None) -> str:
    """Bars of (label, counts per part), parts stacked in order, each lighter than the last;
    `cap`, if given, a line across (a data plan's limit)."""
    if not rows:
        return ""
    top = max([sum(c) for _, c in rows] + [cap or 0]) or 1
    step = (WIDTH - PAD) / len(rows)
    base = HEIGHT - PAD / 2
    body = []
    for i, (label, counts) in enumerate(rows):
        y = base
        for j, n in enumerate(counts):
            if not n:
                continue
            h = max(1.0, (HEIGHT - PAD - 12) * n / top)
            y -= h
            body.append(
                f'<rect x="{PAD + i * step:.1f}" y="{y:.1f}" width="{max(step - 1, 0.8):.1f}" height="{h:.1f}"'
                f' opacity="{1 - 0.3 * j:.1f}"><title>{escape(label)}: {n:,} {escape(parts[j])}</title></rect>'
            )
    if cap:
        cy = base - (HEIGHT - PAD - 12) * cap / top
        body.append(
            f'<line x1="{PAD}" x2="{WIDTH}" y1="{cy:.1f}" y2="{cy:.1f}" stroke="currentColor" stroke-dasharray="6 4"/>'
        )
    totals = [sum(c) for _, c in rows]
    label = f"{title}: {sum(totals):,} over {len(rows)} ({', '.join(parts)}); at most {max(totals):,} in one"
    return _svg(label, "".join(body), f"{top:,}", "0", rows[0][0], rows[-1][0])
