"""The FRITZ!Box connector against a fake TR-064 box on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sdk import AuthFailed, Context, Fatal, Http, InvalidRecord, Retryable, UserActionNeeded
from connectors.telecom.fritzbox import (
    DEVICE_INFO,
    ON_TEL,
    WAN_COMMON,
    FritzBox,
    call_record,
    control_urls,
    usage_between,
)
from connectors.testing.contract import ConnectorContract
from connectors.testing.fakeserver import FakeServer
from connectors.testing.harness import Outcome, run_connector
from connectors.testing.memory import MemoryStore
from connectors.testing.vendors.fritzbox import (
    DEVICE,
    PASSWORD,
    USERNAME,
    FritzBoxDevice,
    TlsFakeServer,
    igd_description,
    make_server,
    tr64_description,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SAMPLE = Path("/work/shared/samples/telecom/fritzbox_tr64desc.xml")


class TestFritzBoxContract(ConnectorContract):
    connector = FritzBox
    now = NOW

    def vendor(self) -> FakeServer:
        return make_server()

    def settings(self, vendor: FakeServer) -> dict[str, Any]:
        return {"url": vendor.url, "username": USERNAME}

    def secrets(self, vendor: FakeServer) -> dict[str, str]:
        return {"password": PASSWORD}


def context(server: FakeServer, *, password: str = PASSWORD, now: datetime = NOW, **settings: Any) -> Context:
    return Context(
        source="box",
        settings={"url": server.url, "username": USERNAME, "region": "DE", "timezone": "Europe/Berlin", **settings},
        secrets={"password": password},
        http=Http(),
        now=lambda: now,
    )


async def run(
    server: FakeServer, state: dict[str, Any] | None = None, store: MemoryStore | None = None, **kw: Any
) -> Outcome:
    ctx = context(server, **kw)
    try:
        return await run_connector(FritzBox(), ctx, state=state, store=store)
    finally:
        await ctx.http.close()


def device(server: FakeServer) -> FritzBoxDevice:
    return server.app[DEVICE]


def calls_of(out: Outcome) -> list[Any]:
    return [r for r in out.yielded if r.dataset == "telecom.call"]


def usage_of(out: Outcome) -> list[Any]:
    return [r for r in out.yielded if r.dataset == "telecom.usage"]


def call_xml(*calls: dict[str, str]) -> bytes:
    body = "".join("<Call>" + "".join(f"<{k}>{v}</{k}>" for k, v in c.items()) + "<Path /></Call>" for c in calls)
    return f'<?xml version="1.0" encoding="utf-8"?>\n<root><timestamp>1</timestamp>{body}</root>'.encode()


def entry(id: int, type: int, date: str, **fields: str) -> dict[str, str]:
    base = {"Id": str(id), "Type": str(type), "Called": "", "Caller": "", "Name": "", "Numbertype": "sip"}
    return {**base, "Device": "", "Port": "", "Date": date, "Duration": "0:00", "Count": "", **fields}


# Description files: the fake must read like the real box, and the parser must read the real box.


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared samples not present")
def test_real_box_description_gives_the_control_urls() -> None:
    real = control_urls(SAMPLE.read_bytes())
    assert real[DEVICE_INFO] == "/upnp/control/deviceinfo"
    assert real[ON_TEL] == "/upnp/control/x_contact"
    assert real[WAN_COMMON] == "/upnp/control/wancommonifconfig1"
    fake = control_urls(tr64_description("989BCB2B93B0").encode())
    assert {k: fake[k] for k in (DEVICE_INFO, ON_TEL, WAN_COMMON)} == {
        k: real[k] for k in (DEVICE_INFO, ON_TEL, WAN_COMMON)
    }


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared samples not present")
def test_fake_description_has_the_real_structure() -> None:
    from defusedxml import ElementTree

    def shape(xml: bytes) -> set[str]:
        root = ElementTree.fromstring(xml)
        return {el.tag.split("}")[-1] for el in root.iter()}

    assert shape(tr64_description("X").encode()) <= shape(SAMPLE.read_bytes())
    assert "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1" in control_urls(igd_description("X").encode())


# Calls


async def test_every_type_code_and_field_is_mapped() -> None:
    server = make_server()
    device(server).calls = []
    device(server).calllist_body = call_xml(
        entry(5, 1, "31.05.26 09:15", Caller="030 12345678", Called="SIP: 03055512345", CalledNumber="03055512345",
              Name="Anna Schmidt", Device="FRITZ!Fon C6", Port="10", Duration="1:05"),
        entry(6, 3, "31.05.26 10:00", Called="0033612345678", Caller="03055512346", CallerNumber="03055512346",
              Device="Telefon Flur", Port="1", Duration="0:03"),
        entry(7, 2, "31.05.26 11:00", Caller="", CalledNumber="03055512345"),
        entry(8, 10, "31.05.26 12:00", Caller="+49 (0)40 7654321", CalledNumber="03055512345"),
    )  # fmt: skip
    async with server:
        out = await run(server)
    got = {r.key: r.data for r in calls_of(out)}
    assert got["5-202605310915"] == {
        "direction": "in",
        "number": "+493012345678",
        "name": "Anna Schmidt",
        "started_at": "2026-05-31T09:15:00+02:00",
        "duration_s": 3900,
        "line": "+493055512345",
        "device": "FRITZ!Fon C6",
        "port": "10",
    }
    assert got["6-202605311000"]["direction"] == "out"
    assert got["6-202605311000"]["number"] == "+33612345678"
    assert got["6-202605311000"]["line"] == "+493055512346"
    assert got["7-202605311100"]["direction"] == "missed" and got["7-202605311100"]["number"] is None
    assert got["8-202605311200"]["direction"] == "rejected"
    assert got["8-202605311200"]["number"] == "+49407654321"


async def test_call_in_progress_is_left_for_the_next_sync() -> None:
    server = make_server()
    device(server).calllist_body = call_xml(
        entry(1, 1, "31.05.26 09:00", Caller="03012345678"),
        entry(2, 9, "31.05.26 09:30", Caller="03012345679"),
        entry(3, 3, "31.05.26 09:31", Called="03012345670"),
    )
    async with server:
        out = await run(server)
        assert [r.key for r in calls_of(out)] == ["1-202605310900"]
        assert out.state["last_id"] == 1
        device(server).calllist_body = call_xml(
            entry(1, 1, "31.05.26 09:00", Caller="03012345678"),
            entry(2, 1, "31.05.26 09:30", Caller="03012345679", Duration="0:12"),
            entry(3, 3, "31.05.26 09:31", Called="03012345670"),
        )
        again = await run(server, state=out.state, store=out.store)
    assert [r.key for r in calls_of(again)] == ["2-202605310930", "3-202605310931"]


async def test_unknown_type_code_fails_before_storing_anything() -> None:
    server = make_server()
    device(server).calllist_body = call_xml(entry(1, 1, "31.05.26 09:00"), entry(2, 7, "31.05.26 10:00"))
    async with server:
        ctx = context(server)
        store = MemoryStore()
        with pytest.raises(InvalidRecord, match="type code 7"):
            await run_connector(FritzBox(), ctx, store=store)
        await ctx.http.close()
    assert store.records == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'<?xml version="1.0"?><root><Call><Id>1</Id><Type>1</Type>', "not valid XML"),
        (b"<html><body>Login</body></html>", "not <root>"),
        (call_xml(entry(1, 1, "2026-05-31 09:00")), "dd.mm.yy"),
        (call_xml({"Type": "1", "Date": "31.05.26 09:00"}), "numeric Id"),
    ],
)
async def test_malformed_call_list_is_a_clear_error_and_stores_nothing(body: bytes, message: str) -> None:
    server = make_server()
    device(server).calllist_body = body
    async with server:
        ctx = context(server)
        store = MemoryStore()
        with pytest.raises(Fatal, match=message):
            await run_connector(FritzBox(), ctx, store=store)
        await ctx.http.close()
    assert store.records == {}


async def test_next_sync_asks_for_recent_days_and_adds_only_new_calls() -> None:
    server = make_server(days=20)
    async with server:
        first = await run(server)
        box = device(server)
        last = max(box.calls, key=lambda c: c.id)
        box.calls.append(type(last)(last.id + 1, 1, last.at + timedelta(hours=1), "03012345678", "", "03055512345",
                                    "FRITZ!Fon C6", "10", 3))  # fmt: skip
        second = await run(server, state=first.state, store=first.store, now=NOW + timedelta(hours=1))
        listing = [r for r in server.requests if r.path == "/calllist.lua"]
    assert [r.key for r in calls_of(second)] == [f"{last.id + 1}-{(last.at + timedelta(hours=1)):%Y%m%d%H%M}"]
    assert "days" not in listing[0].query and listing[-1].query["days"] == "2"
    assert second.counts.new == 2  # the call and the traffic since the first sync


async def test_ids_restarting_after_a_factory_reset_are_still_new() -> None:
    server = make_server()
    device(server).calllist_body = call_xml(entry(3, 1, "01.06.26 08:00", Caller="03012345678"))
    async with server:
        out = await run(server, state={"last_id": 5000, "last_date": "2026-05-31T20:00"})
    assert [r.key for r in calls_of(out)] == ["3-202606010800"]


# Auth and faults


async def test_wrong_password_is_auth_failed_without_a_retry_storm() -> None:
    async with make_server() as server:
        with pytest.raises(AuthFailed, match="user name or password"):
            await run(server, password="wrong")
        assert server.count("/upnp/control") == 2  # the challenge, one answer
        assert device(server).failed_logins == 1


async def test_expired_nonce_is_answered_once() -> None:
    server = make_server()
    device(server).nonce_uses = 1
    async with server:
        out = await run(server)
    assert calls_of(out) and usage_of(out)


@pytest.mark.parametrize(
    ("code", "description", "error"),
    [
        (606, "Action not authorized", UserActionNeeded),
        (401, "Invalid Action", Fatal),
        (820, "Internal Error", Retryable),
    ],
)
async def test_soap_fault_becomes_the_error_it_means(code: int, description: str, error: type[Exception]) -> None:
    server = make_server()
    device(server).soap_faults["GetCallList"] = (code, description)
    async with server:
        with pytest.raises(error, match=f"UPnP error {code}"):
            await run(server)


async def test_tls_with_a_pinned_certificate() -> None:
    server = make_server(tls=True)
    assert isinstance(server, TlsFakeServer)
    async with server:
        out = await run(server, tls_fingerprint=server.fingerprint)
        assert calls_of(out)
        assert usage_of(out)[0].data["bytes_up"] < 2**32  # TLS: TR-064's 32-bit counters
        with pytest.raises(Fatal, match="fingerprint"):
            await run(server, tls_fingerprint="00" * 32)


# Traffic counters


async def test_usage_between_syncs_then_across_a_reboot_and_a_reset() -> None:
    server = make_server(days=3)
    box = device(server)
    box.frozen = True
    async with server:
        first = await run(server)
        [initial] = usage_of(first)
        assert initial.data["start"] == (NOW - timedelta(seconds=box.uptime())).isoformat()

        box.advance(3600)
        hour = await run(server, state=first.state, store=first.store, now=NOW + timedelta(hours=1))
        [u] = usage_of(hour)
        assert (u.data["start"], u.data["end"]) == (NOW.isoformat(), (NOW + timedelta(hours=1)).isoformat())
        assert (u.data["bytes_up"], u.data["bytes_down"]) == (box.rate_up * 3600, box.rate_down * 3600)

        box.advance(1800)
        box.reboot()
        box.advance(600)  # booted 10 minutes before the next sync
        after = await run(server, state=hour.state, now=NOW + timedelta(hours=2))
        [u] = usage_of(after)
        assert u.data["start"] == (NOW + timedelta(hours=2) - timedelta(seconds=600)).isoformat()
        assert (u.data["bytes_up"], u.data["bytes_down"]) == (box.rate_up * 600, box.rate_down * 600)

        box.advance(3000)
        box.set_counters(1000, 5000)  # the provider reconnected: counters restart, the box stays up
        box.advance(60)
        reset = await run(server, state=after.state, now=NOW + timedelta(hours=3))
        [u] = usage_of(reset)
        assert u.data["start"] == (NOW + timedelta(hours=2)).isoformat()
        assert (u.data["bytes_up"], u.data["bytes_down"]) == (1000 + box.rate_up * 60, 5000 + box.rate_down * 60)


async def test_without_the_upnp_status_service_32bit_counters_wrap_correctly() -> None:
    server = make_server(days=3)
    box = device(server)
    box.frozen, box.igd_enabled = True, False
    box.set_counters(2**32 - 1000, 2**33 - 10)
    async with server:
        first = await run(server)
        assert first.state["traffic"]["bits"] == 32
        box.advance(60)
        second = await run(server, state=first.state, now=NOW + timedelta(minutes=1))
    [u] = usage_of(second)
    assert (u.data["bytes_up"], u.data["bytes_down"]) == (box.rate_up * 60, box.rate_down * 60)


async def test_second_sync_in_the_same_second_stores_no_empty_interval() -> None:
    async with make_server(days=3) as server:
        first = await run(server)
        again = await run(server, state=first.state)
    assert usage_of(again) == []


samples = st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, 10**6), st.booleans())


@given(st.lists(samples, min_size=2, max_size=8), st.sampled_from([32, 64]))
def test_usage_is_never_negative(points: list[tuple[int, int, int, bool]], bits: int) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    boot = at - timedelta(days=1)
    previous: dict[str, Any] | None = None
    for sent, received, gap, rebooted in points:
        at += timedelta(seconds=gap + 1)
        if rebooted:
            boot = at - timedelta(seconds=gap // 2)
        current = {"at": at.isoformat(), "boot_at": boot.isoformat(), "sent": sent % 2**bits,
                   "received": received % 2**bits, "bits": bits}  # fmt: skip
        span = usage_between(previous, current)
        if span is None:  # only a first sample taken the second the box booted has no interval
            assert previous is None and boot >= at
        else:
            start, up, down = span
            assert up >= 0 and down >= 0 and start < at
        previous = current


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=10))
def test_usage_adds_up_while_counters_only_grow(steps: list[int]) -> None:
    at, total, previous = datetime(2026, 1, 1, tzinfo=UTC), 10**12, None
    boot, summed = at - timedelta(days=3), 0
    for step in steps:
        at, total = at + timedelta(minutes=5), total + step
        current = {"at": at.isoformat(), "boot_at": boot.isoformat(), "sent": total, "received": 2 * total}
        span = usage_between(previous, current)
        assert span is not None
        if previous is not None:
            summed += span[1]
            assert span[2] == 2 * span[1]
        previous = current
    assert summed == sum(steps[1:])


def test_call_record_is_a_pure_function_of_the_entry() -> None:
    raw = {**entry(9, 1, "01.02.26 07:05", Caller="0301234567", Duration="12:30"), "timezone": "Europe/Berlin",
           "region": "DE"}  # fmt: skip
    first, second = call_record(raw), call_record(dict(raw))
    assert first == second
    assert first.data["started_at"] == "2026-02-01T07:05:00+01:00" and first.data["duration_s"] == 45000


async def test_busy_box_is_retryable_with_its_retry_after() -> None:
    async with make_server(days=3) as server:
        server.fail(503, path_prefix="/calllist.lua", headers={"Retry-After": "30"})
        with pytest.raises(Retryable) as err:
            await run(server)
        assert err.value.retry_after == 30
        server.fail(500, path_prefix="/upnp/control/x_contact", body="<HTML>500 internal error</HTML>")
        with pytest.raises(Retryable, match="failed on GetCallList"):
            await run(server)
