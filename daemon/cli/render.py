"""Rendering results for people (rich tables) and for scripts (JSON)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table


def console(stderr: bool = False) -> Console:
    con = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not con.is_terminal:
        con.width = max(con.width, 160)  # piped output: do not fold tables at 80 columns
    return con


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console().print(t)


def local(text: str | None, precision: str = "minute") -> str:
    """An ISO 8601 time from a result, shown in this machine's time zone with its offset
    (`2026-01-31 08:19 -05:00`); `precision` is "minute", "second" or "date"."""
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return text
    if precision == "date":
        return moment.strftime("%Y-%m-%d")
    clock = "%H:%M:%S" if precision == "second" else "%H:%M"
    offset = moment.strftime("%z")
    return moment.strftime(f"%Y-%m-%d {clock} ") + f"{offset[:3]}:{offset[3:]}"


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
