"""How readings become Home Assistant's hourly rows: resolutions, duplicates, ids, running sums."""

from __future__ import annotations

from decimal import Decimal

from daemon.homeassistant import push
from daemon.homeassistant import statistics as st
from daemon.times import iso
from daemon.vault import RecordIn, Vault

H = st.HOUR_MS
HALF = H // 2
DAY = 24 * H


def r(start: int, length: int, q: str, seq: int = 1) -> st.Reading:
    return st.Reading(start, start + length, Decimal(q), seq)


def test_half_hours_sum_into_their_hour() -> None:
    hours = st.hourly([r(0, HALF, "0.25"), r(HALF, HALF, "0.5"), r(H, HALF, "1")])
    assert hours.values == {0: Decimal("0.75"), H: Decimal("1")}


def test_a_daily_total_counts_only_where_no_half_hour_covers_its_day() -> None:
    day1 = [r(i * HALF, HALF, "0.1") for i in range(48)]
    hours = st.hourly([*day1, r(0, DAY, "9.9"), r(DAY, DAY, "5")])  # day 2 only has its total
    assert sum(hours.values.values()) == Decimal("4.8") + Decimal("5")
    assert hours.values[DAY] == Decimal("5") and hours.replaced == 1


def test_a_daily_total_over_a_clock_change_still_counts_but_a_month_does_not() -> None:
    hours = st.hourly([r(0, 25 * H, "12"), r(DAY * 2, 30 * DAY, "300")])
    assert hours.values == {0: Decimal("12")} and hours.too_long == 1


def test_the_same_interval_from_two_sources_counts_once_the_latest() -> None:
    hours = st.hourly([r(0, HALF, "0.4", seq=5), r(0, HALF, "0.3", seq=9)])
    assert hours.values == {0: Decimal("0.3")}


def test_rows_carry_the_running_sum_and_zero_the_hours_ha_may_hold() -> None:
    values = {0: Decimal("1"), 3 * H: Decimal("2")}
    assert st.rows(values, None, None) == [st.Row(0, Decimal(1), Decimal(1)), st.Row(3 * H, Decimal(2), Decimal(3))]
    # From hour 1, HA holding up to hour 5: the gap and the tail are sent at 0, sums carried.
    got = st.rows(values, H, 5 * H)
    assert [(x.start // H, x.state, x.sum) for x in got] == [
        (1, 0, 1),
        (2, 0, 1),
        (3, 2, 3),
        (4, 0, 3),
        (5, 0, 3),
    ]


def test_statistic_ids_are_valid_for_home_assistant_and_keep_units_apart() -> None:
    a, _ = st.stream_of("1200012345678", "electricity", "consumption", "Wh")
    gas_m3, _ = st.stream_of("G4W-0051 2341", "gas", "consumption", "m3")
    gas_kwh, factor = st.stream_of("G4W-0051 2341", "gas", "consumption", "kWh")
    therm, therm_factor = st.stream_of("x", "gas", "consumption", "therm")
    ids = st.statistic_ids([a, gas_m3, gas_kwh, therm])
    assert a.unit == "kWh" and ids[a] == "selfdata:electricity_consumption_1200012345678"
    assert ids[gas_m3] == "selfdata:gas_consumption_g4w_0051_2341_m3"
    assert ids[gas_kwh] == "selfdata:gas_consumption_g4w_0051_2341_kwh" and factor == 1
    assert therm.unit == "MJ" and therm_factor == Decimal("105.505585262")


def test_two_meters_with_the_same_slug_get_apart() -> None:
    one, _ = st.stream_of("A-1", "electricity", "consumption", "kWh")
    two, _ = st.stream_of("a_1", "electricity", "consumption", "kWh")
    ids = st.statistic_ids([one, two])
    assert ids[one] != ids[two] and all(i.startswith("selfdata:electricity_consumption_a_1_") for i in ids.values())


# --- planning a push from the vault's changes (no Home Assistant needed) -------------------


def _readings(meter: str, n: int, q: str = "0.5") -> list[RecordIn]:
    return [
        RecordIn(
            "octopus",
            "energy.reading",
            f"{meter}:{i}",
            i * HALF,
            {
                "meter_id": meter,
                "commodity": "electricity",
                "direction": "consumption",
                "start": iso(i * HALF),
                "end": iso((i + 1) * HALF),
                "quantity": q,
                "unit": "kWh",
            },
        )
        for i in range(n)
    ]


def _pretend_pushed(vault: Vault) -> None:
    top, plans, _ = push.plan(vault.conn)
    for p in plans:
        push._mark(vault, p, top)
    push._mark_seq(vault, top)


def test_a_deleted_source_sends_zeros_so_no_stale_sum_stays(vault: Vault) -> None:
    vault.writer.upsert(_readings("m1", 8) + [*_readings("m2", 4)])
    _pretend_pushed(vault)
    assert push.plan(vault.conn)[1] == []  # nothing changed: nothing to send
    vault.writer.delete(source="octopus", dataset="energy.reading", keys=[f"m1:{i}" for i in range(4, 8)])
    _, plans, _ = push.plan(vault.conn)
    by_id = {p.statistic_id: p for p in plans}
    m1 = by_id["selfdata:electricity_consumption_m1"]
    assert [(r.start // H, r.state, r.sum) for r in m1.rows] == [(0, 1, 1), (1, 1, 2), (2, 0, 2), (3, 0, 2)]
    assert m1.last == 3 * H and m1.total == 2


def test_a_late_reading_resends_from_a_day_before_it(vault: Vault) -> None:
    vault.writer.upsert(_readings("m1", 48 * 3))
    _pretend_pushed(vault)
    late = _readings("m1", 48 * 4)[48 * 3 :]
    vault.writer.upsert(late)
    (p,) = push.plan(vault.conn)[1]
    assert p.rows[0].start == (72 - 25) * H and len(p.rows) == 25 + 24 and p.total == Decimal("0.5") * 48 * 4
    assert push.plan(vault.conn, full=True)[1][0].rows[0].start == 0  # --full: every hour
