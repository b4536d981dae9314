"""The money view against planted facts, each answer computed by hand: three subscriptions
(monthly with a price rise, yearly, one that stopped), a category rule applied to past
months, two currencies never added up, decimals exact; money alerts told once each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from daemon.config import Config
from daemon.operations import dispatch
from daemon.operations.registry import OperationError
from daemon.plugins import Registry
from daemon.services import Services
from daemon.session import Unlocked
from daemon.vault import RecordIn, Vault

TODAY = "2026-04-15"


def services(vault: Vault) -> Services:
    return Services(vault.paths, Config(paths=vault.paths), vault, Unlocked(vault._master, None, "test"), Registry())  # type: ignore[arg-type]


def tx(
    key: str,
    day: str,
    amount: str,
    *,
    account: str = "chk",
    currency: str = "EUR",
    counterparty: str | None = None,
    description: str | None = None,
    category: str | None = None,
) -> RecordIn:
    at = datetime.fromisoformat(day + "T12:00:00+00:00")
    data: dict[str, Any] = {
        "account_id": account,
        "booked_on": day,
        "amount": amount,
        "currency": currency,
        "status": "booked",
    }
    for name, value in (("counterparty", counterparty), ("description", description), ("category", category)):
        if value is not None:
            data[name] = value
    return RecordIn("bank", "bank.transaction", key, int(at.timestamp() * 1000), data)


def account(account_id: str, currency: str, balance: str, at: str, name: str) -> RecordIn:
    when = datetime.fromisoformat(at)
    data = {"account_id": account_id, "currency": currency, "balance": balance, "balance_at": at, "name": name}
    return RecordIn("bank", "bank.account", account_id, int(when.timestamp() * 1000), data)


def planted() -> list[RecordIn]:
    out = [
        account("chk", "EUR", "9000.00", "2026-03-31T18:00:00+00:00", "Compte courant"),
        account("usd", "USD", "-50.00", "2026-03-31T18:00:00+00:00", "Travel card"),
    ]
    # A monthly subscription on the 5th: 10.00 from June 2025, 12.00 from March 2026 (+20%).
    months = [(2025, m) for m in range(6, 13)] + [(2026, m) for m in range(1, 4)]
    for y, m in months:
        price = "-12.00" if (y, m) == (2026, 3) else "-10.00"
        out.append(
            tx(f"stream-{y}-{m}", f"{y}-{m:02d}-05", price, counterparty="StreamCo", description=f"STREAMCO {y}{m:02d}")
        )
    # A yearly one, and a gym paid five times then no more.
    out += [tx(f"ins-{y}", f"{y}-05-10", "-240.00", counterparty="Home Insurance") for y in (2024, 2025)]
    out += [tx(f"gym-{m}", f"2025-{m:02d}-03", "-30.00", counterparty="FitClub") for m in range(7, 12)]
    # Pay, groceries (the starter set knows Carrefour), a bank-categorised train, a bistro no rule knows yet.
    out += [tx(f"pay-{m}", f"2026-{m:02d}-25", "2000.00", counterparty="ACME") for m in (1, 2, 3)]
    out += [
        tx("car-1", "2026-03-07", "-45.30", description="CARREFOUR MARKET 123"),
        tx("car-2", "2026-03-21", "-12.15", description="CARREFOUR MARKET 124"),
        tx("train", "2026-03-10", "-60.00", description="SNCF INTERNET", category="transport"),
        tx("zinc-2", "2026-02-12", "-18.60", description="LE PETIT ZINC 42"),
        tx("zinc-3", "2026-03-14", "-23.40", description="LE PETIT ZINC 42"),
        # Dollars on the card, one the same day and payee as the euro subscription: never added to euros.
        tx(
            "usd-1",
            "2026-03-05",
            "-5.00",
            account="usd",
            currency="USD",
            counterparty="StreamCo",
            description="STREAMCO 202603",
        ),
        tx("usd-2", "2026-03-18", "-0.10", account="usd", currency="USD", description="COFFEE"),
        tx("usd-3", "2026-03-19", "-0.20", account="usd", currency="USD", description="COFFEE"),
    ]
    return out


async def view(svc: Services, month: str = "2026-03", **more: Any) -> dict[str, Any]:
    return await dispatch.run(svc, "money.view", {"month": month, "zone": "UTC", "today": TODAY, **more})  # type: ignore[no-any-return]


def month_of(rows: list[dict[str, Any]], month: str) -> dict[str, Any]:
    return next(r for r in rows if r["month"] == month)


async def test_in_out_net_per_account_and_for_all_per_currency(vault: Vault) -> None:
    vault.writer.upsert(planted())
    v = await view(services(vault))
    assert v["months"][0] == "2025-04" and v["months"][-1] == "2026-03"
    eur = {s["currency"]: s for s in v["summary"]}
    # March in euros: pay 2000.00; out 12.00 + 45.30 + 12.15 + 60.00 + 23.40 = 152.85
    assert (eur["EUR"]["in"], eur["EUR"]["out"], eur["EUR"]["net"]) == ("2000.00", "-152.85", "1847.15")
    # Dollars apart, exact: 5.00 + 0.10 + 0.20
    assert (eur["USD"]["in"], eur["USD"]["out"], eur["USD"]["net"], eur["USD"]["count"]) == ("0", "-5.30", "-5.30", 3)
    chk = next(a for a in v["accounts"] if a["account_id"] == "chk")
    assert chk["name"] == "Compte courant"
    feb = month_of(chk["months"], "2026-02")
    assert (feb["in"], feb["out"], feb["net"]) == ("2000.00", "-28.60", "1971.40")
    # July 2025: the subscription and the gym
    assert month_of(chk["months"], "2025-07")["out"] == "-40.00"
    assert month_of(chk["months"], "2025-04")["count"] == 0


async def test_balance_over_time_from_the_last_balance_and_the_transactions(vault: Vault) -> None:
    vault.writer.upsert(planted())
    v = await view(services(vault))
    chk = next(b for b in v["balances"] if b["account_id"] == "chk")
    ends = {m["month"]: m["balance"] for m in chk["month_ends"]}
    # 9000.00 at the end of March; less March's net 1847.15; less February's 1971.40;
    # less January's (2000.00 - 10.00)
    assert ends["2026-03"] == "9000.00"
    assert ends["2026-02"] == "7152.85"
    assert ends["2026-01"] == "5181.45"
    assert ends["2025-12"] == "3191.45"
    # the day before the train and the day of it
    points = {p["day"]: p["balance"] for p in chk["points"]}
    assert points["2026-03-10"] == "7035.55"  # 9000.00 - 2000.00 + 23.40 + 12.15
    usd = next(b for b in v["balances"] if b["account_id"] == "usd")
    assert {m["month"]: m["balance"] for m in usd["month_ends"]}["2026-02"] == "-44.70"


async def test_three_subscriptions_a_price_rise_and_one_that_stopped(vault: Vault) -> None:
    vault.writer.upsert(planted())
    v = await view(services(vault))
    found = {(r["payee"], r["currency"]): r for r in v["recurring"]}
    assert set(found) == {("StreamCo", "EUR"), ("Home Insurance", "EUR"), ("FitClub", "EUR")}
    stream = found[("StreamCo", "EUR")]
    assert stream["interval"] == "monthly"
    assert stream["amount"] == "12.00" and stream["price_from"] == "10.00"
    assert stream["change"] == "+20% since March 2026"
    assert stream["next_expected"] == "2026-04-05" and not stream["stopped"]
    insurance = found[("Home Insurance", "EUR")]
    assert (insurance["interval"], insurance["next_expected"], insurance["change"]) == ("yearly", "2026-05-10", "")
    gym = found[("FitClub", "EUR")]
    assert gym["stopped"] and gym["next_expected"] is None and gym["last"] == "2025-11-03"
    assert [r["payee"] for r in v["recurring"]] == ["StreamCo", "Home Insurance", "FitClub"]
    # Seen from October 2025, the gym had not stopped yet
    october = await view(services(vault), "2025-10")
    gym_then = next(r for r in october["recurring"] if r["payee"] == "FitClub")
    assert gym_then["next_expected"] == "2025-11-03" and not gym_then["stopped"]


async def test_a_category_rule_applies_to_past_months_and_shows_its_effect(vault: Vault) -> None:
    vault.writer.upsert(planted())
    svc = services(vault)

    def spending(v: dict[str, Any], currency: str = "EUR") -> dict[str, str]:
        rows = next(c for c in v["spending"] if c["currency"] == currency)["rows"]
        return {r["category"]: r["out"] for r in rows}

    before = await view(svc)
    assert spending(before) == {
        "groceries": "-57.45",  # the starter set
        "transport": "-60.00",  # the bank's own category
        "uncategorised": "-35.40",  # the bistro 23.40 and the subscription 12.00
    }
    assert "eating out" not in spending(await view(svc, "2026-02"))
    rule = await dispatch.run(svc, "money.rule_add", {"pattern": "petit zinc", "category": "eating out"})
    # Also "streamco" via a wildcard, on the counterparty only
    await dispatch.run(
        svc, "money.rule_add", {"pattern": "stream*", "category": "subscriptions", "field": "counterparty"}
    )
    after = await view(svc)
    assert spending(after) == {
        "groceries": "-57.45",
        "transport": "-60.00",
        "eating out": "-23.40",
        "subscriptions": "-12.00",
    }
    assert spending(await view(svc, "2026-02"))["eating out"] == "-18.60"
    effect = next(r for r in after["rules"] if r["id"] == rule["id"])["effect"]
    assert effect == {"count": 1, "totals": {"EUR": "-23.40"}, "overridden": 0}
    # A rule never overrides what the bank said
    await dispatch.run(svc, "money.rule_add", {"pattern": "sncf", "category": "travel"})
    assert spending(await view(svc))["transport"] == "-60.00"
    sncf = next(r for r in (await view(svc))["rules"] if r["category"] == "travel")
    assert sncf["effect"]["overridden"] == 1 and sncf["effect"]["count"] == 0
    await dispatch.run(svc, "money.rule_remove", {"id": rule["id"]})
    assert "eating out" not in spending(await view(svc))
    # French category names from the starter set
    assert "courses" in spending(await view(svc, lang="fr"))


async def test_bad_rules_and_months_are_refused_naming_the_part(vault: Vault) -> None:
    svc = services(vault)
    with pytest.raises(Exception, match="pattern"):
        await dispatch.run(svc, "money.rule_add", {"pattern": "  ", "category": "x"})
    with pytest.raises(Exception, match="field"):
        await dispatch.run(svc, "money.rule_add", {"pattern": "a", "category": "x", "field": "amount"})
    with pytest.raises(Exception, match="YYYY-MM"):
        await view(svc, "2026-13")
    with pytest.raises(OperationError, match="time zone"):
        await view(svc, zone="Mars/Olympus")
    with pytest.raises(OperationError, match="no category rule 99"):
        await dispatch.run(svc, "money.rule_remove", {"id": 99})
    assert (await dispatch.run(svc, "money.rules", {}))["rules"] == []


async def test_an_empty_vault_gives_an_empty_view(vault: Vault) -> None:
    v = await view(services(vault))
    assert v["summary"] == [] and v["recurring"] == [] and v["balances"] == [] and v["spending"] == []


async def test_money_alerts_are_off_until_switched_on_and_tell_once(vault: Vault) -> None:
    from daemon.operations.insights import due_alerts

    svc = services(vault)
    vault.writer.upsert(planted())
    assert all(not a["enabled"] for a in await dispatch.run(svc, "money.alerts", {}))
    assert due_alerts(svc, today=TODAY) == []
    await dispatch.run(svc, "money.alert_set", {"kind": "new_recurring", "enabled": True, "today": TODAY})
    await dispatch.run(svc, "money.alert_set", {"kind": "price_change", "enabled": True, "today": TODAY})
    await dispatch.run(
        svc, "money.alert_set", {"kind": "low_balance", "enabled": True, "threshold": "0", "today": TODAY}
    )
    with pytest.raises(Exception, match="threshold"):
        await dispatch.run(svc, "money.alert_set", {"kind": "low_balance", "enabled": True, "threshold": "lots"})
    # What was there when switched on is known already: the card's -50.00 is under 0 since before
    assert due_alerts(svc, today=TODAY) == []
    # A new streaming service, three months running; StreamCo's price rises again; the balance falls
    vault.writer.upsert(
        [tx(f"tune-{m}", f"2026-{m:02d}-02", "-9.99", counterparty="TuneBox") for m in (2, 3, 4)]
        + [tx("stream-2026-4", "2026-04-05", "-13.00", counterparty="StreamCo")]
        + [account("chk", "EUR", "-5.00", "2026-04-10T18:00:00+00:00", "Compte courant")]
    )
    told = {(a.kind, a.subject): a.message for a in due_alerts(svc, today=TODAY)}
    assert set(told) == {
        ("new_recurring", "TuneBox (EUR)"),
        ("price_change", "StreamCo (EUR)"),
        ("low_balance", "Compte courant (EUR)"),
    }
    assert told[("price_change", "StreamCo (EUR)")] == (
        "StreamCo now costs 13.00 EUR instead of 12.00 (+8% since April 2026)"
    )
    assert due_alerts(svc, today=TODAY) == []  # once each


def test_recurring_detection_refuses_irregular_spending() -> None:
    from datetime import date, timedelta
    from decimal import Decimal

    from daemon.insights.recurring import Payment, detect_one

    start = date(2026, 1, 1)
    groceries = [
        Payment(start + timedelta(days=d), Decimal(a)) for d, a in ((0, "45"), (3, "12"), (9, "80"), (11, "30"))
    ]
    assert detect_one("SHOP", "EUR", groceries, date(2026, 2, 1)) is None
    weekly = [Payment(start + timedelta(days=7 * i), Decimal("5.00")) for i in range(6)]
    r = detect_one("PAPER", "EUR", weekly, date(2026, 2, 10))
    assert r is not None and r.interval == "weekly" and r.next_expected == date(2026, 2, 12)


def test_selfdata_report_prints_the_month_and_writes_html(initialised: Any, run: Any, tmp_path: Any) -> None:
    import json

    lines = [
        {
            "key": r.key,
            "ts": datetime.fromtimestamp(r.ts / 1000).astimezone().isoformat(),
            "data": r.data,
            "dataset": r.dataset,
        }
        for r in planted()
    ]
    f = tmp_path / "bank.jsonl"
    f.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run("import-jsonl", str(f), "--source", "bank")
    out = run("report", "--month", "2026-03", "--zone", "UTC", "--html", str(tmp_path / "r.html")).output
    assert "selfdata report for 2026-03" in out
    assert "1847.15" in out and "-57.45" in out and "+20% since March 2026" in out
    assert "StreamCo" in out and "Compte courant" in out
    html = (tmp_path / "r.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "1847.15" in html and "<script" not in html
    assert "Wrote" in out
    added = run("categories", "add", "petit zinc", "eating out").output
    assert "Rule 1" in added
    assert "eating out" in run("report", "--month", "2026-03", "--zone", "UTC").output
    assert "petit zinc" in run("categories", "list").output
    data = json.loads(run("report", "--month", "2026-03", "--zone", "UTC", "--json").output)
    assert [s["title"] for s in data["sections"]] == ["Money"]
    run("categories", "remove", "1")
    assert "off" in run("money-alerts", "list").output
    assert "low_balance is on" in run("money-alerts", "set", "low_balance", "on", "--threshold", "100").output
    bad = run("money-alerts", "set", "low_balance", "on", "--threshold", "lots", ok=False)
    assert "not a number" in bad.output
    bad = run("report", "--month", "March", ok=False)
    assert "YYYY-MM" in bad.output


@pytest.mark.timeout(30)
async def test_the_daemon_tells_a_money_alert_through_the_command_channel_once(
    vault: Vault, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import json

    from daemon.events import RecordsChanged
    from daemon.operations import insights

    told = tmp_path / "told.jsonl"
    svc = Services(
        vault.paths,
        Config(paths=vault.paths, notify_command=f"cat >> {told} && echo >> {told}"),
        vault,
        Unlocked(vault._master, None, "test"),  # type: ignore[arg-type]
        Registry(),
    )
    monkeypatch.setattr(insights, "SETTLE_S", 0.05)
    vault.writer.upsert(planted())
    now = datetime.now().date().isoformat()
    await dispatch.run(svc, "money.alert_set", {"kind": "low_balance", "enabled": True, "threshold": "10"})
    watcher = asyncio.create_task(insights.watch(svc, "UTC"))
    await asyncio.sleep(0.05)
    vault.writer.upsert([account("chk", "EUR", "3.50", now + "T08:00:00+00:00", "Compte courant")])
    svc.events.publish(RecordsChanged("bank", ("bank.account",), changed=1))
    for _ in range(200):
        if told.exists() and told.read_text().strip():
            break
        await asyncio.sleep(0.05)
    svc.events.publish(RecordsChanged("bank", ("bank.account",), changed=1))  # nothing new: nothing told
    await asyncio.sleep(0.3)
    watcher.cancel()
    lines = [json.loads(line) for line in told.read_text().splitlines() if line.strip()]
    assert [(p["source"], p["kind"]) for p in lines] == [("money", "low_balance")]
    assert lines[0]["message"] == "Compte courant: balance 3.50 EUR, under 10"
    row = vault.conn.execute("SELECT source, kind, delivered FROM notifications").fetchall()
    assert row == [("money", "low_balance", "command")]


async def test_a_month_of_last_year_from_kept_rows_equals_it_computed_alone(vault: Vault) -> None:
    # Seen in April 2026 it is sliced from the current month's wider window; seen from 2027, computed on its own.
    vault.writer.upsert(planted())
    svc = services(vault)
    for month in ("2026-03", "2025-10", "2025-04"):
        assert await view(svc, month) == await view(svc, month, today="2027-06-01"), month


async def test_a_bill_and_an_energy_month_far_above_their_usual_are_told_once(vault: Vault) -> None:
    from datetime import UTC, timedelta

    from daemon.operations.insights import due_alerts

    from .energy.test_energy_costs import half_hours

    svc = services(vault)
    # Electricity bills 60.00, 62.00, 58.00, 61.00 (usual: the median, 60.50), then 130.00: +114.9%
    bills = [("2025-12-08", "-60.00"), ("2026-01-08", "-62.00"), ("2026-02-09", "-58.00"), ("2026-03-09", "-61.00")]
    vault.writer.upsert(planted() + [tx(f"edf-{d}", d, a, counterparty="EDF") for d, a in bills])
    # March 2025 at 0.1 kWh a half-hour (148.8 kWh), March 2026 at 0.2 (+100%); February 2026 at 0.5 is not March
    for first, nxt, qty in (("2025-03-01", "2025-04-01", "0.1"), ("2026-02-01", "2026-03-01", "0.5")):
        a, b = (datetime.fromisoformat(x + "T00:00:00+00:00") for x in (first, nxt))
        vault.writer.upsert(half_hours(a, b, qty))
    await dispatch.run(
        svc, "money.alert_set", {"kind": "high_bill", "enabled": True, "threshold": "50%", "today": TODAY}
    )
    await dispatch.run(svc, "money.alert_set", {"kind": "energy_month", "enabled": True, "today": TODAY})
    for bad in ("lots", "-5", "0"):
        with pytest.raises(Exception, match="not a percentage"):
            await dispatch.run(svc, "money.alert_set", {"kind": "high_bill", "enabled": True, "threshold": bad})
    settings = {a["kind"]: a for a in await dispatch.run(svc, "money.alerts", {})}
    assert settings["high_bill"]["threshold"] == "50" and settings["energy_month"]["threshold"] == "30"
    assert due_alerts(svc, today=TODAY) == []
    start = datetime(2026, 3, 1, tzinfo=UTC)
    vault.writer.upsert(
        [tx("edf-2026-04-08", "2026-04-08", "-130.00", counterparty="EDF")]
        + half_hours(start, start + timedelta(days=31), "0.2")
    )
    told = {(a.kind, a.subject): a.message for a in due_alerts(svc, today=TODAY)}
    assert told == {
        ("high_bill", "EDF (EUR)"): "EDF: 130.00 EUR on 2026-04-08, +114.9% over its usual 60.50",
        ("energy_month", "electricity consumption (kWh)"): (
            "electricity consumption (kWh): 297.6 kWh in 2026-03, +100.0% over the usual month (148.800 kWh)"
        ),
    }
    assert due_alerts(svc, today=TODAY) == []  # once each
