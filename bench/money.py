"""The money view on 100,000 transactions over ten years, through the daemon a user runs.

    python -m bench money [--transactions=100000] [--rounds=10]

Fills a vault with N transactions on three accounts ending today (pay, rent, groceries,
card spending, four subscriptions), starts the real daemon (`python -m daemon run`), signs
in, and times the dashboard's /money page over HTTP for this month and for each of the six
months before (each computed, nothing kept), then `money.view` and `report` over the admin
socket, as `selfdata report` asks them: the first request (this month: computed by the daemon
when it started; other months: computed then) and the median of the next ones (kept until the
bank data changes), against 300 ms.
"""

from __future__ import annotations

import http.client
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import api, dashboard

TARGET_MS = 300.0
WARM_S = 20.0
MERCHANTS = ("CARREFOUR MARKET", "LIDL", "SNCF", "UBER *TRIP", "STARBUCKS", "AMAZON MKTP", "BOULANGERIE", "FNAC")


def transactions(n: int, end: date) -> Iterator[Any]:
    from daemon.vault import RecordIn

    days = 3650
    first = end - timedelta(days=days)
    per_day = n / days
    made = 0
    for d in range(days + 1):
        day = first + timedelta(days=d)
        rows: list[tuple[str, str, str | None, str, str]] = []
        if day.day == 1:
            rows.append(("chk", "-950.00", "Foncia", "LOYER", "EUR"))
        if day.day == 25:
            rows.append(("chk", "2600.00", "ACME SAS", "VIREMENT SALAIRE", "EUR"))
        if day.day == 12:
            rows.append(("card", "-17.99" if d > days - 120 else "-15.49", "Netflix", "NETFLIX.COM", "EUR"))
        if day.day == 3:
            rows.append(("card", "-10.99", "Spotify", "SPOTIFY", "EUR"))
        if day.month == 6 and day.day == 20:
            rows.append(("chk", "-240.00", "MAIF", "ASSURANCE HABITATION", "EUR"))
        target = int((d + 1) * per_day) - made - len(rows)
        for i in range(max(0, target)):
            j = made + i
            account, currency = ("usd", "USD") if j % 17 == 0 else (("chk", "card")[j % 2], "EUR")
            m = MERCHANTS[j % len(MERCHANTS)]
            rows.append((account, f"-{(j * 7919) % 12000 / 100 + 1:.2f}", None, f"{m} {j % 997}", currency))
        for account, amount, cp, desc, currency in rows:
            made += 1
            at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            data = {
                "account_id": account,
                "booked_on": day.isoformat(),
                "amount": amount,
                "currency": currency,
                "status": "booked",
                "description": desc,
            }
            if cp:
                data["counterparty"] = cp
            yield RecordIn("bank", "bank.transaction", f"t{made}", int(at.timestamp() * 1000), data)
    at = datetime(end.year, end.month, end.day, 8, tzinfo=UTC)
    for account, currency, balance in (("chk", "EUR", "3120.55"), ("card", "EUR", "-412.10"), ("usd", "USD", "80.00")):
        data = {
            "account_id": account,
            "currency": currency,
            "balance": balance,
            "balance_at": at.isoformat(),
            "name": account,
        }
        yield RecordIn("bank", "bank.account", account, int(at.timestamp() * 1000), data)


def _months_back(today: date, n: int) -> str:
    y, m = divmod(today.year * 12 + today.month - 1 - n, 12)
    return f"{y:04d}-{m + 1:02d}"


def main(argv: list[str]) -> None:
    n, rounds = 100_000, 10
    for arg in argv:
        name, _, value = arg.partition("=")
        if name == "--transactions":
            n = int(value)
        elif name == "--rounds":
            rounds = int(value)
    from daemon.admin import client

    today = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory(prefix="selfdata-bench-money-") as tmp:
        home = Path(tmp)
        started = time.monotonic()
        api.fill_vault(home, 0, transactions(n, today))
        print(f"money: {n:,} transactions over ten years ({time.monotonic() - started:.0f} s to fill)")
        proc, url, _ = api.start_daemon(home)
        try:
            sock = home / "admin.sock"
            link = client.call(sock, "dashboard.link", {})["url"]
            parts = urlsplit(url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.request("GET", link.removeprefix(url), headers={"Host": f"{host}:{port}"})
            response = conn.getresponse()
            response.read()
            cookie = (response.getheader("Set-Cookie") or "").split(";", 1)[0]
            assert response.status == 303 and cookie.startswith("sd_session="), "signing in failed"
            time.sleep(WARM_S)  # the daemon computes this month's view when it starts
            print(f"  {'what':<44} {'first':>9} {'again':>9}  target {TARGET_MS:.0f} ms")
            cases: list[tuple[str, Any]] = []
            for back in range(7):
                path = "/money" if back == 0 else f"/money?month={_months_back(today, back)}"
                cases.append((f"GET {path}", lambda p=path: _get(host, port, p, cookie)))
            for op in ("money.view", "report"):
                cases.append((f"{op} (admin socket)", lambda o=op: _call(sock, o)))
            for what, fn in cases:
                times = [fn() for _ in range(rounds)]
                again = statistics.median(times[1:])
                mark = "ok" if max(times[0], again) <= TARGET_MS else "OVER"
                print(f"  {what:<44} {times[0]:>7.1f} ms {again:>7.1f} ms  {mark}")
            print(f"  daemon RSS {api.vm_rss_mb(proc.pid):.0f} MB")
        finally:
            proc.terminate()
            proc.wait(30)


def _get(host: str, port: int, path: str, cookie: str) -> float:
    return dashboard.page_ms(host, port, path, cookie, b"money-recurring")


def _call(sock: Path, op: str) -> float:
    from daemon.admin import client
    from daemon.insights.report import machine_zone

    start = time.perf_counter()
    client.call(sock, op, {"zone": machine_zone()})  # as selfdata report asks
    return (time.perf_counter() - start) * 1000
