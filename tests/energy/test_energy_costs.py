"""Energy views and tariff pricing against hand-computed answers: DST weeks (46- and
50-half-hour days), a Tempo red day, a tariff changing mid-period, a gap, gas from m3."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.insights import energy, tariffs
from daemon.times import to_ms
from daemon.vault import RecordIn, Vault

LONDON, PARIS = ZoneInfo("Europe/London"), ZoneInfo("Europe/Paris")
HALF = timedelta(minutes=30)


def reading(
    at: datetime, qty: str, commodity: str = "electricity", unit: str = "kWh", direction: str = "consumption"
) -> RecordIn:
    return RecordIn(
        "meter",
        "energy.reading",
        f"{commodity}:{direction}:{at.isoformat()}",
        to_ms(at),
        {
            "meter_id": "m1",
            "commodity": commodity,
            "direction": direction,
            "start": at.isoformat(),
            "end": (at + HALF).isoformat(),
            "quantity": qty,
            "unit": unit,
        },
    )


def half_hours(
    start: datetime, end: datetime, qty: str = "0.1", skip: set[datetime] | None = None, **kw: Any
) -> list[RecordIn]:
    out, at = [], start.astimezone(UTC)
    while at < end:
        if not skip or at not in skip:
            out.append(reading(at, qty, **kw))
        at += HALF
    return out


def tariff_record(data: dict[str, Any]) -> RecordIn:
    t = tariffs.from_data(data)
    return RecordIn("tariffs", "energy.tariff", t.tariff_id, t.from_ms, tariffs.to_data(t))


def fixed(
    tid: str, price: str, standing: str, valid_from: str, valid_to: str | None = None, **kw: Any
) -> dict[str, Any]:
    return {
        "tariff_id": tid,
        "supplier": "Octopus",
        "product": kw.pop("product", "Flexible"),
        "commodity": kw.pop("commodity", "electricity"),
        "valid_from": valid_from,
        "valid_to": valid_to,
        "currency": kw.pop("currency", "GBP"),
        "kind": "fixed",
        "unit_price": price,
        "standing_charge": standing,
        "timezone": "Europe/London",
        **kw,
    }


def local(y: int, m: int, d: int, tz: ZoneInfo, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=tz)


ELEC = energy.Stream("electricity", "consumption", "kWh")


def test_dst_weeks_have_46_and_50_half_hour_days_and_cost_what_hand_computes(vault: Vault) -> None:
    spring = half_hours(local(2025, 3, 24, LONDON), local(2025, 3, 31, LONDON))
    autumn = half_hours(local(2025, 10, 20, LONDON), local(2025, 10, 27, LONDON))
    vault.writer.upsert(spring + autumn)
    flat = tariffs.from_data(fixed("flat", "0.25", "0.50", "2025-01-01T00:00:00+00:00"))
    for (start, end), sunday, week_total, slots, cost in (
        ((local(2025, 3, 24, LONDON), local(2025, 3, 31, LONDON)), "2025-03-30", "33.4", 46, "11.85"),
        ((local(2025, 10, 20, LONDON), local(2025, 10, 27, LONDON)), "2025-10-26", "33.8", 50, "11.95"),
    ):
        r = energy.load(vault.conn, "Europe/London", to_ms(start), to_ms(end))
        days = {d["day"]: d for d in energy.days(r, ELEC)}
        assert len(days) == 7
        assert (days[sunday]["slots"], days[sunday]["expected"]) == (slots, slots)
        assert days[sunday]["total"] == Decimal(slots) / 10
        assert [d["slots"] for d in days.values()][:6] == [48] * 6
        (week,) = energy.rollup(list(days.values()), "week")
        assert week["total"] == Decimal(week_total) and week["slots"] == week["expected"]
        assert energy.gaps(r, ELEC) == ([], 0)  # a short or long day is not a gap
        costing = tariffs.price(r.slots[ELEC], [flat], period=(r.start, r.end))
        # 33.4 kWh x 0.25 + 7 days x 0.50 = 8.35 + 3.50
        assert (costing.energy + costing.standing, costing.total_rounded) == (Decimal(cost), Decimal(cost))
        assert costing.standing_days == 7


def test_dst_days_in_the_heatmap_and_economy_7_read_in_utc_or_local_time(vault: Vault) -> None:
    vault.writer.upsert(half_hours(local(2025, 10, 26, LONDON), local(2025, 10, 27, LONDON)))
    vault.writer.upsert(half_hours(local(2025, 3, 30, LONDON), local(2025, 3, 31, LONDON)))
    r = energy.load(vault.conn, "Europe/London", to_ms(local(2025, 10, 1, LONDON)), to_ms(local(2025, 11, 1, LONDON)))
    hm = energy.heatmap(r, ELEC, "2025-10")
    col = hm["days"].index("2025-10-26")
    assert hm["cells"][2][col] == Decimal("0.2") and hm["cells"][3][col] == Decimal("0.2")  # 01:00 and 01:30 twice
    assert ["2025-10-26", 2] in hm["twice"] and hm["cells"][4][col] == Decimal("0.1")
    assert hm["cells"][0][0] == "gap"  # 1 October: no readings, shown as such
    spring = energy.load(
        vault.conn, "Europe/London", to_ms(local(2025, 3, 30, LONDON)), to_ms(local(2025, 3, 31, LONDON))
    )
    hm = energy.heatmap(spring, ELEC, "2025-03")
    assert hm["days"] == ["2025-03-30"]
    assert [hm["cells"][s][0] for s in (1, 2, 3, 4)] == [Decimal("0.1"), "none", "none", Decimal("0.1")]

    def e7(zone: str) -> dict[str, Any]:
        return {
            "tariff_id": f"e7-{zone}",
            "supplier": "EDF",
            "product": "Economy 7",
            "commodity": "electricity",
            "valid_from": "2025-01-01T00:00:00+00:00",
            "currency": "GBP",
            "kind": "time_of_use",
            "timezone": zone,
            "bands": [
                {"name": "night", "price": "0.10", "start": "00:30", "end": "07:30"},
                {"name": "day", "price": "0.30", "start": "07:30", "end": "00:30"},
            ],
        }

    autumn = energy.load(
        vault.conn, "Europe/London", to_ms(local(2025, 10, 26, LONDON)), to_ms(local(2025, 10, 27, LONDON))
    )
    # the meter's clock in UTC: night 00:30-07:30 UTC is 14 of the 50 half-hours
    utc = tariffs.price(autumn.slots[ELEC], [tariffs.from_data(e7("UTC"))], period=(autumn.start, autumn.end))
    assert {k: v[0] for k, v in utc.by_band.items()} == {"night": Decimal("1.4"), "day": Decimal("3.6")}
    assert utc.energy == Decimal("1.22")  # 1.4 x 0.10 + 3.6 x 0.30
    # local time: 00:30-07:30 holds 01:00 and 01:30 twice, 16 half-hours
    london = tariffs.price(
        autumn.slots[ELEC], [tariffs.from_data(e7("Europe/London"))], period=(autumn.start, autumn.end)
    )
    assert london.energy == Decimal("1.18")  # 1.6 x 0.10 + 3.4 x 0.30


TEMPO_PRICES = {"blue": ("0.1288", "0.1552"), "white": ("0.1447", "0.1792"), "red": ("0.1518", "0.6586")}


def tempo() -> dict[str, Any]:
    bands = []
    for colour, (hc, hp) in TEMPO_PRICES.items():
        bands += [
            {"name": "HC", "price": hc, "start": "22:00", "end": "06:00", "colour": colour},
            {"name": "HP", "price": hp, "start": "06:00", "end": "22:00", "colour": colour},
        ]
    return {
        "tariff_id": "edf-tempo-2025",
        "supplier": "EDF",
        "product": "Tempo",
        "commodity": "electricity",
        "valid_from": "2025-02-01T00:00:00+01:00",
        "currency": "EUR",
        "kind": "tempo",
        "timezone": "Europe/Paris",
        "standing_charge": "0.50",
        "bands": bands,
    }


def test_a_tempo_red_day_costs_its_peak_hours_at_the_red_price(vault: Vault) -> None:
    vault.writer.upsert(half_hours(local(2026, 1, 14, PARIS), local(2026, 1, 16, PARIS), "0.5"))
    t = tariffs.from_data(tempo())
    r = energy.load(vault.conn, "Europe/Paris", to_ms(local(2026, 1, 14, PARIS)), to_ms(local(2026, 1, 16, PARIS)))
    colours = {date(2026, 1, 13): "white", date(2026, 1, 14): "red", date(2026, 1, 15): "blue"}
    c = tariffs.price(r.slots[ELEC], [t], period=(r.start, r.end), colours=colours)
    # 00:00-06:00 on the 14th is the white day of the 13th; the red day runs 06:00 to 06:00
    assert {k: (v[0], v[1]) for k, v in c.by_band.items()} == {
        "white HC": (Decimal("6.0"), Decimal("0.86820")),
        "red HP": (Decimal("16.0"), Decimal("10.53760")),
        "red HC": (Decimal("8.0"), Decimal("1.21440")),
        "blue HP": (Decimal("16.0"), Decimal("2.48320")),
        "blue HC": (Decimal("2.0"), Decimal("0.25760")),
        "white HP": (Decimal(0), Decimal(0)),
    }
    assert c.energy == Decimal("15.3610")
    assert (c.standing_days, c.standing) == (2, Decimal("1.00"))
    assert c.total_rounded == Decimal("16.36")
    # without the 13th's colour its six hours are not priced, and the method says so
    c = tariffs.price(
        r.slots[ELEC], [t], period=(r.start, r.end), colours={date(2026, 1, 14): "red", date(2026, 1, 15): "blue"}
    )
    assert (c.unpriced_slots, c.unpriced_kwh) == (12, Decimal("6.0"))
    assert any("1 Tempo days have no colour" in line for line in c.method)


def test_a_tariff_change_mid_period_costs_each_half_hour_at_the_price_then_valid(vault: Vault) -> None:
    vault.writer.upsert(half_hours(local(2026, 1, 31, LONDON), local(2026, 2, 2, LONDON), "0.25"))
    old = fixed("v1", "0.20", "0.40", "2025-01-01T00:00:00+00:00", "2026-02-01T12:00:00+00:00", held="yes")
    new = fixed("v2", "0.30", "0.60", "2026-02-01T12:00:00+00:00", held="yes")
    vault.writer.upsert([tariff_record(old), tariff_record(new)])
    r = energy.load(vault.conn, "Europe/London", to_ms(local(2026, 1, 31, LONDON)), to_ms(local(2026, 2, 2, LONDON)))
    (group,) = energy.costs(vault.conn, r)
    held, product = group["rows"]
    # 31 Jan: 12 kWh x 0.20; 1 Feb before noon 6 kWh x 0.20, after 6 kWh x 0.30; both midnights under v1
    assert held["label"] == "Your tariffs"
    assert Decimal(held["energy"]) == Decimal("5.40") and Decimal(held["standing"]) == Decimal("0.80")
    assert held["total_rounded"] == "6.20"
    assert product["total_rounded"] == "6.20" and product["borrowed_slots"] == 0


def test_a_gap_is_shown_counted_and_never_priced(vault: Vault) -> None:
    start = local(2026, 1, 10, LONDON)
    missing = {(start + HALF * i).astimezone(UTC) for i in (20, 21, 22)}
    vault.writer.upsert(half_hours(start, start + timedelta(days=1), "0.2", skip=missing))
    r = energy.load(vault.conn, "Europe/London", to_ms(start), to_ms(start + timedelta(days=1)))
    (day,) = energy.days(r, ELEC)
    assert (day["slots"], day["expected"], day["total"]) == (45, 48, Decimal("9.0"))
    gaps, n = energy.gaps(r, ELEC)
    assert n == 3 and gaps == [{"start": "2026-01-10T10:00:00+00:00", "end": "2026-01-10T11:30:00+00:00", "slots": 3}]
    c = tariffs.price(
        r.slots[ELEC], [tariffs.from_data(fixed("f", "0.5", "0", "2026-01-01T00:00:00+00:00"))], period=(r.start, r.end)
    )
    assert (c.slots, c.energy) == (45, Decimal("4.50"))
    assert [energy.heatmap(r, ELEC)["cells"][s][0] for s in (19, 20, 23)] == [Decimal("0.2"), "gap", Decimal("0.2")]


def test_gas_in_m3_is_priced_in_kwh_with_the_bills_calorific_value(vault: Vault) -> None:
    start = local(2026, 1, 10, LONDON)
    vault.writer.upsert(half_hours(start, start + timedelta(days=1), "0.5", commodity="gas", unit="m3"))
    r = energy.load(vault.conn, "Europe/London", to_ms(start), to_ms(start + timedelta(days=1)))
    gas = energy.Stream("gas", "consumption", "m3")
    t = tariffs.from_data(
        fixed("gas", "0.06", "0.30", "2026-01-01T00:00:00+00:00", commodity="gas", calorific_value="39.6")
    )
    c = tariffs.price(r.slots[gas], [t], period=(r.start, r.end), unit="m3")
    # 24 m3 x 1.02264 x 39.6 / 3.6 = 269.97696 kWh, to 0.001: 269.977 kWh x 0.06
    assert c.kwh == Decimal("269.977") and c.energy == Decimal("16.19862")
    assert c.total_rounded == Decimal("16.50")
    with pytest.raises(tariffs.TariffError, match="calorific value"):
        tariffs.price(
            r.slots[gas],
            [tariffs.from_data(fixed("g2", "0.06", "0", "2026-01-01T00:00:00+00:00", commodity="gas"))],
            period=(r.start, r.end),
            unit="m3",
        )


def test_a_half_hourly_tariff_multiplies_each_half_hour_by_its_price() -> None:
    t = tariffs.from_data(
        {**fixed("agile", "0", "0.45", "2026-01-01T00:00:00Z"), "kind": "half_hourly", "unit_price": None}
    )
    t0 = to_ms(datetime(2026, 1, 5, tzinfo=UTC))
    slots = [(t0, Decimal("0.5")), (t0 + 1_800_000, Decimal("0.25")), (t0 + 3_600_000, Decimal("1"))]
    prices = {"agile": {t0: Decimal("0.1512"), t0 + 1_800_000: Decimal("-0.021")}}
    c = tariffs.price(slots, [t], period=(t0, t0 + 86_400_000), prices=prices)
    assert c.energy == Decimal("0.0756") - Decimal("0.00525")
    assert (c.unpriced_slots, c.unpriced_kwh, c.standing_days) == (1, Decimal("1"), 1)


def test_bad_tariffs_and_files_are_refused_naming_the_problem() -> None:
    data = {
        **fixed("hphc", "0", "0", "2026-01-01T00:00:00+01:00"),
        "kind": "time_of_use",
        "bands": tariffs.parse_bands("HC=0.18@22:00-06:00,HP=0.24@06:00-23:00"),
    }
    with pytest.raises(tariffs.TariffError, match="bands HC and HP both cover 22:00 on weekdays"):
        tariffs.from_data(data)
    data["bands"] = tariffs.parse_bands("HC=0.18@23:00-06:00,HP=0.24@06:00-22:00")
    with pytest.raises(tariffs.TariffError, match="no band covers 22:00"):
        tariffs.from_data(data)
    with pytest.raises(tariffs.TariffError, match="half hour"):
        tariffs.from_data({**data, "bands": tariffs.parse_bands("HC=0.18@22:15-06:00")})
    with pytest.raises(tariffs.TariffError, match="fixed tariff needs unit_price"):
        tariffs.from_data({**fixed("x", "0", "0", "2026-01-01T00:00:00Z"), "unit_price": None})
    with pytest.raises(tariffs.TariffError, match="prices.csv, line 3"):
        tariffs.read_price_csv("start,price\n2026-01-01T00:00:00Z,0.1\n2026-01-01T00:30:00,0.2\n", "prices.csv")
    with pytest.raises(tariffs.TariffError, match="tempo.csv, line 2"):
        tariffs.read_colour_csv("day,colour\n2026-01-14,purple\n", "tempo.csv")
    assert tariffs.read_colour_csv("day,colour\n2026-01-14,rouge\n", "t") == [(date(2026, 1, 14), "red")]
