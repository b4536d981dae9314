"""How readings become Home Assistant's hourly rows: resolutions, duplicates, ids, running sums."""

from __future__ import annotations

from decimal import Decimal

from daemon.homeassistant import statistics as st

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
