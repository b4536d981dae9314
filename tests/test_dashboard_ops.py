"""What the dashboard's pages read: records per local day, datasets, the inbox listing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.config import Config
from daemon.operations import dispatch
from daemon.operations.registry import OperationError
from daemon.plugins import Registry
from daemon.services import Services
from daemon.session import Unlocked
from daemon.vault import RecordIn, Vault

PARIS = ZoneInfo("Europe/Paris")


def services(vault: Vault) -> Services:
    return Services(vault.paths, Config(paths=vault.paths), vault, Unlocked(vault._master, None, "test"), Registry())  # type: ignore[arg-type]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def reading(key: str, at: str, source: str = "meter") -> RecordIn:
    return RecordIn(source, "energy.reading", key, ms(at), {"quantity": "0.5"})


async def test_records_per_local_day_across_a_dst_change(vault: Vault) -> None:
    # 2026-03-29 in Paris has 23 hours: 00:30 local is 23:30 UTC the day before.
    vault.writer.upsert(
        [
            reading("a", "2026-03-28T23:30:00+00:00"),  # 2026-03-29 00:30 in Paris
            reading("b", "2026-03-29T21:59:00+00:00"),  # 23:59 in Paris (CEST, +02:00)
            reading("c", "2026-03-29T22:00:00+00:00"),  # 2026-03-30 00:00 in Paris
            reading("d", "2026-03-29T12:00:00+00:00", source="other"),
        ]
    )
    svc = services(vault)
    paris = await dispatch.run(svc, "records.daily", {"dataset": "energy.reading", "zone": "Europe/Paris"})
    assert paris["days"] == [{"day": "2026-03-29", "count": 3}, {"day": "2026-03-30", "count": 1}]
    utc = await dispatch.run(svc, "records.daily", {"dataset": "energy.reading"})
    assert utc["days"] == [{"day": "2026-03-28", "count": 1}, {"day": "2026-03-29", "count": 3}]
    # Tombstones are not records; a source filter counts one source.
    vault.writer.delete(source="meter", keys=["b"])
    paris = await dispatch.run(svc, "records.daily", {"dataset": "energy.reading", "zone": "Europe/Paris"})
    assert paris["days"] == [{"day": "2026-03-29", "count": 2}, {"day": "2026-03-30", "count": 1}]
    one = await dispatch.run(
        svc, "records.daily", {"dataset": "energy.reading", "zone": "Europe/Paris", "source": "other"}
    )
    assert one["days"] == [{"day": "2026-03-29", "count": 1}]
    window = await dispatch.run(
        svc,
        "records.daily",
        {"dataset": "energy.reading", "zone": "Europe/Paris", "start": "2026-03-29T22:00:00+00:00"},
    )
    assert window["days"] == [{"day": "2026-03-30", "count": 1}]


async def test_records_per_day_refuses_what_it_cannot_answer(vault: Vault) -> None:
    svc = services(vault)
    with pytest.raises(OperationError, match="unknown time zone 'Mars/Olympus'"):
        await dispatch.run(svc, "records.daily", {"dataset": "energy.reading", "zone": "Mars/Olympus"})
    with pytest.raises(OperationError, match="at most"):
        await dispatch.run(
            svc, "records.daily", {"dataset": "energy.reading", "start": "1990-01-01", "end": "2026-01-01"}
        )


async def test_datasets_sum_their_sources(vault: Vault) -> None:
    vault.writer.upsert([reading("a", "2026-01-01T00:00:00+00:00"), reading("b", "2026-02-01T00:00:00+00:00", "other")])
    [energy] = await dispatch.run(services(vault), "datasets", {})
    assert energy["name"] == "energy.reading" and energy["count"] == 2
    assert energy["first"].startswith("2026-01-01") and energy["last"].startswith("2026-02-01")
    assert energy["sources"] == [{"name": "meter", "count": 1}, {"name": "other", "count": 1}]


async def test_inbox_listing_gives_each_failed_file_its_reason_whatever_its_name(vault: Vault) -> None:
    svc = services(vault)
    inbox: Path = svc.config.inbox_dir
    failed = inbox / "failed"
    failed.mkdir(parents=True)
    odd = failed / bytes("relev\xe9.ofx", "latin-1").decode("utf-8", "surrogateescape")
    odd.write_text("x")
    odd.with_name(odd.name + ".error.txt").write_text("no importer recognises this file\nmore detail\n")
    (inbox / "waiting.csv").write_text("a,b\n")
    (inbox / ".hidden.part").write_text("")
    listing = await dispatch.run(svc, "inbox.files", {})
    assert listing["failed_files"][0]["reason"] == "no importer recognises this file"
    assert listing["failed_files"][0]["file"] == "failed/relev\\xe9.ofx"
    assert [f["file"] for f in listing["waiting_files"]] == ["waiting.csv"]


async def test_records_per_local_day_in_a_zone_of_quarter_hours(vault: Vault) -> None:
    # Kathmandu is UTC+05:45: 18:15 UTC is the next local day, 18:14 is not.
    vault.writer.upsert([reading("a", "2026-05-01T18:14:00+00:00"), reading("b", "2026-05-01T18:15:00+00:00")])
    out = await dispatch.run(services(vault), "records.daily", {"dataset": "energy.reading", "zone": "Asia/Kathmandu"})
    assert out["days"] == [{"day": "2026-05-01", "count": 1}, {"day": "2026-05-02", "count": 1}]


@pytest.mark.parametrize("day_by_day", [False, True])
async def test_both_ways_of_counting_per_day_agree_with_the_records(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, day_by_day: bool
) -> None:
    from collections import Counter
    from datetime import timedelta

    from daemon.operations import dashboard

    monkeypatch.setattr(dashboard, "DAY_BY_DAY_ABOVE", 0 if day_by_day else 10**9)
    start = datetime(2026, 10, 20, tzinfo=ZoneInfo("UTC"))  # across the end of summer time in Paris
    moments = [start + timedelta(minutes=37 * i) for i in range(600)]
    vault.writer.upsert([reading(f"r{i}", m.isoformat()) for i, m in enumerate(moments)])
    vault.writer.delete(source="meter", keys=[f"r{i}" for i in range(0, 600, 7)])
    kept = [m for i, m in enumerate(moments) if i % 7]
    svc = services(vault)
    for window in ({}, {"start": "2026-10-24T00:00:00+00:00", "end": "2026-10-27T12:00:00+00:00"}):
        out = await dispatch.run(svc, "records.daily", {"dataset": "energy.reading", "zone": "Europe/Paris", **window})
        lo = datetime.fromisoformat(window["start"]) if window else None
        hi = datetime.fromisoformat(window["end"]) if window else None
        expected = Counter(
            m.astimezone(PARIS).date().isoformat() for m in kept if (lo is None or m >= lo) and (hi is None or m < hi)
        )
        assert {d["day"]: d["count"] for d in out["days"]} == dict(expected), window
