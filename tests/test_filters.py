"""Filters on a dataset's declared fields: records, NDJSON, changes, `selfdata query --where`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import orjson
import pytest

from connectors.sdk import datasets as schemas
from daemon.api.routes import CHANGES_PARAMS, RECORDS_PARAMS
from daemon.plugins import Registry
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault

from .conftest import Cli
from .test_api import T0, Api, serve

CODES = ("8867-4", "55423-8", "41981-2")


def observations(n: int) -> list[RecordIn]:
    out = []
    for i in range(n):
        at = T0 + timedelta(minutes=i)
        out.append(
            RecordIn(
                "watch",
                "health.observation",
                f"o{i:05d}",
                to_ms(at),
                {
                    "code": CODES[i % 3],
                    "code_system": "http://loinc.org",
                    "value": f"{50 + i % 50}.5" if i % 2 else str(50 + i % 50),
                    "unit": "/min",
                    "start": at.isoformat(),
                },
            )
        )
    return out


def transactions() -> list[RecordIn]:
    rows = [
        ("a1", "-12.50", "food", "2026-05-01"),
        ("a1", "-7.5", "energy", "2026-05-03"),
        ("a2", "1000.00", "salary", "2026-05-02"),
    ]
    return [
        RecordIn(
            "bank",
            "bank.transaction",
            f"t{i}",
            to_ms(T0 + timedelta(days=i)),
            {
                "account_id": acc,
                "amount": amount,
                "currency": "EUR",
                "status": "booked",
                "category": cat,
                "booked_on": day,
            },
        )
        for i, (acc, amount, cat, day) in enumerate(rows)
    ]


@pytest.fixture
async def api(vault: Vault, registry: Registry) -> AsyncIterator[Api]:
    vault.writer.upsert(observations(300))
    vault.writer.upsert(transactions())
    async with serve(vault, registry) as api:
        _, api.token = api.grants.create_token("budget", "my spending", ["read:health.*", "read:bank.*"])
        yield api


async def records(api: Api, dataset: str, query: str) -> tuple[int, Any]:
    return await api.get(f"/api/v1/datasets/{dataset}/records?{query}")


async def test_equality_and_any_of_several_values(api: Api) -> None:
    status, body = await records(api, "health.observation", "code=8867-4&limit=1000")
    assert status == 200 and len(body["records"]) == 100
    assert {r["data"]["code"] for r in body["records"]} == {"8867-4"}
    status, body = await records(api, "health.observation", "code=8867-4&code=41981-2&limit=1000")
    assert len(body["records"]) == 200 and {r["data"]["code"] for r in body["records"]} == {"8867-4", "41981-2"}


async def test_a_filtered_page_pages_on_with_the_same_filter(api: Api) -> None:
    seen: list[str] = []
    query = "code=55423-8&limit=30"
    while True:
        _, body = await records(api, "health.observation", query)
        seen += [r["key"] for r in body["records"]]
        if not body["next"]:
            break
        query = f"code=55423-8&limit=30&cursor={body['next']}"
    assert len(seen) == 100 == len(set(seen))


async def test_decimals_compare_as_numbers_not_as_text(api: Api) -> None:
    _, body = await records(api, "bank.transaction", "amount__lt=-8")
    assert [r["data"]["amount"] for r in body["records"]] == ["-12.50"]  # text would put "-7.5" below "-8"
    _, body = await records(api, "bank.transaction", "amount=-7.50")  # equal as numbers
    assert [r["key"] for r in body["records"]] == ["t1"]
    _, body = await records(api, "health.observation", "value__gte=99&value__lt=99.6&code=8867-4")
    assert {r["data"]["value"] for r in body["records"]} == {"99.5"}


async def test_dates_and_instants_compare_as_dates(api: Api) -> None:
    _, body = await records(api, "bank.transaction", "booked_on__gte=2026-05-02")
    assert sorted(r["key"] for r in body["records"]) == ["t1", "t2"]
    # 02:00+02:00 is midnight UTC: instants compare as instants, whatever their offset
    _, body = await records(api, "health.observation", "start__lt=2026-05-01T02:03:00%2B02:00&limit=1000")
    assert len(body["records"]) == 3


async def test_the_ndjson_export_and_the_changes_feed_take_the_same_filters(api: Api) -> None:
    status, body = await api.get(
        "/api/v1/datasets/bank.transaction/records?account_id=a1", headers={"Accept": "application/x-ndjson"}
    )
    assert status == 200 and [orjson.loads(line)["key"] for line in body.splitlines()] == ["t0", "t1"]
    _, body = await api.get("/api/v1/changes?dataset=bank.transaction&category=salary")
    assert [c["key"] for c in body["changes"]] == ["t2"]
    api.services.vault.writer.delete(source="bank", dataset="bank.transaction", keys=["t0"])
    _, body = await api.get("/api/v1/changes?dataset=bank.transaction&category=salary")
    assert [(c["key"], c.get("deleted", False)) for c in body["changes"]] == [("t2", False), ("t0", True)]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("colour=red", "colour", "not a field of health.observation"),
        ("value=high", "value", "is not a number"),
        ("value__gte=1.0000000000000001", "value", "significant digits"),
        ("code__gte=8867", "code", "equality"),
        ("code__like=88%25", "code", "not a filter"),
        ("components=x", "components", "cannot be filtered"),
        ("start__gte=yesterday", "start", "date-time"),
        ("value__gte=1&value__gte=2", "value", "twice"),
    ],
)
async def test_a_bad_filter_is_a_400_naming_the_field(api: Api, query: str, field: str, says: str) -> None:
    status, body = await records(api, "health.observation", query)
    assert status == 400 and body["error"]["code"] == "bad_filter"
    assert field in body["error"]["message"] and says in body["error"]["message"]


@pytest.mark.parametrize(
    ("dataset", "query", "says"),
    [
        ("bank.transaction", "status=cancelled", "expected one of booked, pending"),
        ("bank.transaction", "booked_on=2026-5-1", "is a date"),
        ("bank.transaction", "currency=euro", "ISO 4217"),
        ("app.budget.notes", "note=x", "no declared fields"),
    ],
)
async def test_values_are_typed_by_the_schema(api: Api, dataset: str, query: str, says: str) -> None:
    _, api.token = api.grants.create_token("x", "everything", ["read:*"])
    status, body = await records(api, dataset, query)
    assert status == 400 and says in body["error"]["message"], body


async def test_filters_never_reach_past_the_grant(api: Api) -> None:
    _, api.token = api.grants.create_token("hr", "my heart rate", ["read:health.*"])
    status, body = await records(api, "bank.transaction", "account_id=a1")
    assert status == 403 and "records" not in body
    status, body = await api.get("/api/v1/changes?dataset=bank.transaction&account_id=a1")
    assert status == 403
    status, body = await api.get("/api/v1/changes?dataset=bank.*&account_id=a1")
    assert status == 400 and "changes" not in body
    status, body = await api.get("/api/v1/changes?account_id=a1")  # no dataset: the filter names none
    assert status == 400 and "one dataset" in body["error"]["message"]


def test_no_declared_field_is_shadowed_by_a_route_parameter() -> None:
    for shape in schemas.ALL:
        assert not set(shape.fields()) & (RECORDS_PARAMS | CHANGES_PARAMS | {"fn", "field", "bucket", "zone", "group"})


def test_a_filtered_query_is_served_by_the_dataset_s_filter_index(vault: Vault) -> None:
    from daemon.vault import filters
    from daemon.vault.recordjson import RecordSelect
    from daemon.vault.records import record_filter

    for dataset, field in (("health.observation", "code"),):
        clauses, args = record_filter(dataset, 0, 10**12, None, filters.parse(dataset, [(field, "x")]))
        sql, params = RecordSelect(clauses, args).sql(None, 101)
        plan = " ".join(str(r[3]) for r in vault.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "USING INDEX records_" in plan and "(<expr>=? AND ts>? AND ts<?)" in plan, plan
        assert "TEMP B-TREE" not in plan


def test_selfdata_query_where(initialised: Any, run: Cli, tmp_path: Any) -> None:
    lines = [{"key": r.key, "ts": T0.isoformat(), "data": r.data} for r in transactions()]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(orjson.dumps(x).decode() + "\n" for x in lines))
    run("import-jsonl", str(path), "--source", "bank", "--dataset", "bank.transaction")
    out = run("query", "bank.transaction", "--where", "amount__lt=0", "--where", "category=food", "--json")
    assert [r["key"] for r in orjson.loads(out.stdout)["records"]] == ["t0"]
    bad = run("query", "bank.transaction", "--where", "amount__lt=lots", ok=False)
    assert bad.exit_code == 1 and "amount is a decimal: 'lots' is not a number" in bad.output
    bad = run("query", "bank.transaction", "--where", "amount", ok=False)
    assert bad.exit_code == 1 and "field=value" in bad.output
