"""Aggregates: local-time buckets across DST, exact decimal sums, units never mixed, grants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from daemon.plugins import Registry
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault
from daemon.vault.aggregate import Aggregate, run

from .conftest import Cli
from .test_api import Api, serve

# 2025-03-30 (clocks forward) to 2025-04-01, and 2025-10-26 (clocks back), in Paris
WINDOWS = (datetime(2025, 3, 29, 23, tzinfo=UTC), datetime(2025, 10, 25, 22, tzinfo=UTC))


def readings(meter: str = "m1", unit: str = "kWh", commodity: str = "electricity") -> list[RecordIn]:
    out = []
    for w, start in enumerate(WINDOWS):
        for i in range(2 * 24 * 3):  # three days of half hours
            at = start + timedelta(minutes=30 * i)
            out.append(
                RecordIn(
                    "meter",
                    "energy.reading",
                    f"{meter}:{w}:{i}",
                    to_ms(at),
                    {
                        "meter_id": meter,
                        "commodity": commodity,
                        "direction": "consumption",
                        "start": at.isoformat(),
                        "end": (at + timedelta(minutes=30)).isoformat(),
                        "quantity": "0.1",
                        "unit": unit,
                    },
                )
            )
    return out


def transactions() -> list[RecordIn]:
    rows = [
        ("a1", "-0.10", "food", "2026-01-31T23:30:00+00:00"),  # February in Paris
        ("a1", "-0.20", "food", "2026-01-15T12:00:00+00:00"),
        ("a1", "-30.00", "energy", "2026-01-20T12:00:00+00:00"),
        ("a2", "-0.7", "food", "2026-01-10T12:00:00+00:00"),
        ("a2", "2500.00", "salary", "2026-01-28T12:00:00+00:00"),
    ]
    return [
        RecordIn(
            "bank",
            "bank.transaction",
            f"t{i}",
            to_ms(datetime.fromisoformat(at)),
            {"account_id": acc, "amount": amount, "currency": "EUR", "status": "booked", "category": cat},
        )
        for i, (acc, amount, cat, at) in enumerate(rows)
    ]


@pytest.fixture
async def api(vault: Vault, registry: Registry) -> AsyncIterator[Api]:
    vault.writer.upsert(readings("m1") + readings("m2"))
    vault.writer.upsert(transactions())
    async with serve(vault, registry) as api:
        _, api.token = api.grants.create_token("home", "my energy and spending", ["read:energy.*", "read:bank.*"])
        yield api


async def aggregate(api: Api, dataset: str, query: str) -> tuple[int, Any]:
    return await api.get(f"/api/v1/datasets/{dataset}/aggregate?{query}")


async def test_daily_totals_per_meter_in_a_named_zone_have_23_and_25_hour_days(api: Api) -> None:
    status, body = await aggregate(
        api, "energy.reading", "fn=sum&field=quantity&bucket=day&zone=Europe/Paris&group=meter_id"
    )
    assert status == 200, body
    m1 = {r["start"]: (r["count"], r["value"], r["unit"]) for r in body["rows"] if r["meter_id"] == "m1"}
    assert m1["2025-03-30T00:00:00+01:00"] == (46, "4.6", "kWh")  # 23 hours
    assert m1["2025-03-31T00:00:00+02:00"] == (48, "4.8", "kWh")
    assert m1["2025-10-26T00:00:00+02:00"] == (50, "5.0", "kWh")  # 25 hours
    assert len([r for r in body["rows"] if r["meter_id"] == "m2"]) == len(m1)


async def test_a_month_starts_at_local_midnight_and_sums_are_exact(api: Api) -> None:
    _, body = await aggregate(
        api,
        "bank.transaction",
        "fn=sum&field=amount&bucket=month&zone=Europe/Paris&group=account_id,category&amount__lt=0",
    )
    rows = [(r["start"], r["account_id"], r["category"], r["value"], r["currency"]) for r in body["rows"]]
    assert rows == [
        ("2026-01-01T00:00:00+01:00", "a1", "energy", "-30.00", "EUR"),
        ("2026-01-01T00:00:00+01:00", "a1", "food", "-0.20", "EUR"),
        ("2026-01-01T00:00:00+01:00", "a2", "food", "-0.7", "EUR"),
        ("2026-02-01T00:00:00+01:00", "a1", "food", "-0.10", "EUR"),
    ]
    _, body = await aggregate(api, "bank.transaction", "fn=avg&field=amount&category=food")
    assert body["rows"] == [{"currency": "EUR", "count": 3, "value": "-0.3333333333333333333333333333"}]


async def test_a_local_hour_shown_twice_when_clocks_go_back_is_two_buckets(api: Api) -> None:
    _, body = await aggregate(
        api,
        "energy.reading",
        "fn=count&bucket=hour&zone=Europe/Paris&meter_id=m1&from=2025-10-25T23:00:00Z&to=2025-10-26T03:00:00Z",
    )
    assert [r["start"] for r in body["rows"]] == [
        "2025-10-26T01:00:00+02:00",
        "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:00:00+01:00",
        "2025-10-26T03:00:00+01:00",
    ]
    assert {r["count"] for r in body["rows"]} == {2}


def test_decimal_sums_never_drift_even_past_nine_decimals_or_64_bits(vault: Vault) -> None:
    values = ["0.1"] * 10 + ["0.0000000001", "12345678901.123456789"]
    vault.writer.upsert(
        [
            RecordIn(
                "bank",
                "bank.transaction",
                f"x{i}",
                i,
                {"account_id": "a", "amount": v, "currency": "EUR", "status": "booked"},
            )
            for i, v in enumerate(values)
        ]
    )
    rows = run(vault.conn, Aggregate("bank.transaction", "sum", "amount"))["rows"]
    assert rows[0]["value"] == str(sum(Decimal(v) for v in values)) == "12345678902.1234567891"
    rows = run(vault.conn, Aggregate("bank.transaction", "max", "amount"))["rows"]
    assert rows[0]["value"] == "12345678901.1234567890"
    big = [str(9 * 10**17)] * 3  # 64-bit sums of 10^-9 units overflow: summed as Decimals
    vault.writer.upsert(
        [
            RecordIn(
                "bank",
                "bank.transaction",
                f"b{i}",
                i,
                {"account_id": "b", "amount": v, "currency": "EUR", "status": "booked"},
            )
            for i, v in enumerate(big)
        ]
    )
    spec = Aggregate("bank.transaction", "sum", "amount", group=("account_id",))
    assert [r["value"] for r in run(vault.conn, spec)["rows"]] == ["12345678902.1234567891", "2700000000000000000"]


async def test_units_are_carried_and_never_summed_together(api: Api, vault: Vault) -> None:
    vault.writer.upsert(readings("g1", unit="m3", commodity="gas"))
    status, body = await aggregate(api, "energy.reading", "fn=sum&field=quantity&group=meter_id")
    assert status == 200 and {(r["meter_id"], r["unit"]) for r in body["rows"]} == {
        ("m1", "kWh"),
        ("m2", "kWh"),
        ("g1", "m3"),
    }
    status, body = await aggregate(api, "energy.reading", "fn=sum&field=quantity&bucket=month")
    assert status == 400 and body["error"]["code"] == "mixed_units"
    assert "kWh, m3" in body["error"]["message"] and "rows" not in body
    status, body = await aggregate(api, "energy.reading", "fn=sum&field=quantity&bucket=year&unit=m3")
    assert status == 200 and [(r["unit"], r["value"]) for r in body["rows"]] == [("m3", "28.8")]


@pytest.mark.parametrize(
    ("dataset", "query", "code", "says"),
    [
        ("energy.reading", "fn=sum&field=quantity&bucket=fortnight", "bad_bucket", "'fortnight' is not a bucket"),
        ("energy.reading", "fn=sum&field=quantity&bucket=day&zone=Mars/Olympus", "bad_zone", "unknown time zone"),
        ("energy.reading", "fn=sum&field=meter_id", "bad_filter", "'meter_id' is not a number"),
        ("bank.transaction", "fn=sum&field=description", "bad_filter", "'description' is not a number"),
        ("energy.reading", "fn=sum&field=volume", "bad_filter", "'volume' is not a field of energy.reading"),
        ("energy.reading", "fn=sum", "bad_field", "sum needs field="),
        ("energy.reading", "fn=median&field=quantity", "bad_fn", "'median' is not an aggregate"),
        ("energy.reading", "fn=count&group=meter_id,direction,unit", "bad_group", "at most 2"),
        ("energy.reading", "fn=count&group=colour", "bad_filter", "'colour' is not a field"),
        ("energy.reading", "fn=count&group=start", "bad_filter", "cannot be grouped"),
        ("energy.reading", "fn=count&quantity__gte=lots", "bad_filter", "is not a number"),
    ],
)
async def test_bad_aggregates_are_400s_saying_what_is_wrong(
    api: Api, dataset: str, query: str, code: str, says: str
) -> None:
    status, body = await aggregate(api, dataset, query)
    assert status == 400 and body["error"]["code"] == code and says in body["error"]["message"], body


async def test_aggregates_stay_inside_the_grant_and_are_in_the_access_log(api: Api) -> None:
    _, api.token = api.grants.create_token("energy", "my energy", ["read:energy.*"])
    status, body = await aggregate(api, "bank.transaction", "fn=sum&field=amount")
    assert status == 403 and "rows" not in body
    status, body = await aggregate(api, "bank.*", "fn=count")
    assert status == 400 and "rows" not in body
    status, body = await aggregate(api, "energy.reading", "fn=count&meter_id=m1")
    assert status == 200 and body["rows"] == [{"count": 288}]
    api.services.access.flush()  # type: ignore[union-attr]
    logged = api.services.vault.conn.execute(
        "SELECT endpoint, dataset, requests, records FROM access_log WHERE endpoint='aggregate'"
    ).fetchall()
    assert logged == [("aggregate", "energy.reading", 1, 288)]


async def test_an_answer_is_kept_only_until_the_vault_changes(api: Api, vault: Vault) -> None:
    _, first = await aggregate(api, "energy.reading", "fn=count&meter_id=m1")
    vault.writer.upsert([RecordIn("meter", "energy.reading", "m1:new", 0, readings("m1")[0].data)])
    _, second = await aggregate(api, "energy.reading", "fn=count&meter_id=m1")
    assert (first["rows"][0]["count"], second["rows"][0]["count"]) == (288, 289)


def test_selfdata_query_aggregate(initialised: Any, run: Cli, tmp_path: Any) -> None:
    path = tmp_path / "t.jsonl"
    lines = [
        {"key": r.key, "ts": datetime.fromtimestamp(r.ts / 1000, UTC).isoformat(), "data": r.data}
        for r in transactions()
    ]
    path.write_text("".join(orjson.dumps(x).decode() + "\n" for x in lines))
    run("import-jsonl", str(path), "--source", "bank", "--dataset", "bank.transaction")
    out = run(
        "query",
        "bank.transaction",
        "--aggregate",
        "sum",
        "--field",
        "amount",
        "--bucket",
        "month",
        "--zone",
        "Europe/Paris",
        "--group",
        "category",
        "--where",
        "amount__lt=0",
        "--json",
    )
    rows = orjson.loads(out.stdout)["rows"]
    assert [(r["start"], r["category"], r["value"]) for r in rows] == [
        ("2026-01-01T00:00:00+01:00", "energy", "-30.00"),
        ("2026-01-01T00:00:00+01:00", "food", "-0.90"),
        ("2026-02-01T00:00:00+01:00", "food", "-0.10"),
    ]
    out = run("query", "bank.transaction", "--aggregate", "count", "--group", "category")
    assert "salary" in out.output
    bad = run("query", "bank.transaction", "--aggregate", "sum", "--field", "amount", "--bucket", "fortnight", ok=False)
    assert bad.exit_code == 1 and "'fortnight' is not a bucket" in bad.output
