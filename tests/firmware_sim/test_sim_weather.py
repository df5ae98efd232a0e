"""Hargreaves ET0, extraterrestrial radiation, scenarios and the weather CSV (pure)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from firmware_sim import weather
from firmware_sim.weather import (
    daylight_hours,
    dry_season,
    extraterrestrial_radiation,
    hargreaves_et0,
    load_csv,
    rainy_season,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def test_hargreaves_check_vector() -> None:
    # DESIGN.md: Tmax 32, Tmin 18, Ra 40 MJ/m2/d gives about 5.9 mm/d (6.01 exactly).
    assert hargreaves_et0(32, 18, 40) == pytest.approx(5.9, abs=0.15)
    assert hargreaves_et0(32, 18, 40) == pytest.approx(
        0.0023 * (25 + 17.8) * math.sqrt(14) * 0.408 * 40
    )


def test_fao56_example_8_extraterrestrial_radiation() -> None:
    # FAO-56 Example 8: 20 degS on 3 September (day 246): Ra = 32.2 MJ m-2 day-1.
    assert extraterrestrial_radiation(-20.0, 246) == pytest.approx(32.2, abs=0.1)


def test_fao56_example_9_daylight_hours() -> None:
    # FAO-56 Example 9: the same place and day has N = 11.7 hours.
    assert daylight_hours(-20.0, 246) == pytest.approx(11.7, abs=0.05)


def test_ra_at_the_equator_and_the_tropics_is_high_all_year() -> None:
    for doy in (1, 80, 172, 266, 355):
        assert 33 < extraterrestrial_radiation(0.0, doy) < 39
        assert 29 < extraterrestrial_radiation(12.67, doy) < 39


def test_hargreaves_refuses_tmax_below_tmin() -> None:
    with pytest.raises(ValueError, match="below"):
        hargreaves_et0(20, 25, 38)


def test_dry_season_matches_its_description_and_is_reproducible() -> None:
    w = dry_season(date(2026, 2, 1), days=90, seed=7)
    assert len(w.days) == 90
    rainy = [d for d in w.days if d.rain_mm > 0]
    assert 1 <= len(rainy) <= 5
    dry = [d for d in w.days if d.rain_mm == 0]
    assert all(32 <= d.tmax_c <= 36 and 20 <= d.tmin_c <= 24 for d in dry)
    assert all(4.0 < d.et0_mm < 7.5 for d in w.days)
    assert dry_season(date(2026, 2, 1), 90, seed=7).days == w.days
    assert dry_season(date(2026, 2, 1), 90, seed=8).days != w.days


def test_rainy_season_is_wetter_and_cooler() -> None:
    dry, wet = dry_season(date(2026, 2, 1)), rainy_season(date(2026, 6, 1))
    assert sum(d.rain_mm for d in wet.days) > 5 * sum(d.rain_mm for d in dry.days)
    assert sum(d.et0_mm for d in wet.days) < sum(d.et0_mm for d in dry.days)


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="dry, rainy"):
        weather.scenario("monsoon", date(2026, 1, 1))


def test_et0_follows_daylight_and_rain_the_afternoon_and_both_sum_to_the_day() -> None:
    w = dry_season(date(2026, 3, 1), days=5, seed=3)
    d0 = w.days[0]
    midnight = datetime(2026, 3, 1, tzinfo=VN)
    et0, rain = w.between(midnight, midnight + timedelta(days=1), VN)
    assert et0 == pytest.approx(d0.et0_mm)
    assert rain == pytest.approx(d0.rain_mm)
    assert w.between(midnight, midnight + timedelta(hours=5), VN) == (0.0, 0.0)
    # Split in 7-minute steps across midnight and two days: the same totals.
    t, total = midnight + timedelta(hours=10), [0.0, 0.0]
    end = midnight + timedelta(days=2, hours=3)
    while t < end:
        nxt = min(end, t + timedelta(minutes=7))
        a, b = w.between(t, nxt, VN)
        total[0] += a
        total[1] += b
        t = nxt
    whole = w.between(midnight + timedelta(hours=10), end, VN)
    assert total == pytest.approx(list(whole))
    # Instants in UTC are converted: 22:00 UTC is 05:00 the next day in Vietnam.
    utc = datetime(2026, 3, 1, 22, tzinfo=UTC)
    assert w.between(utc, utc + timedelta(minutes=30), VN)[0] == 0.0


def test_csv_loads_and_uses_a_stations_et0(tmp_path: Path) -> None:
    f = tmp_path / "station.csv"
    f.write_text(
        "date,tmax_c,tmin_c,rain_mm,et0_mm\n2026-03-01,33,21,0,\n2026-03-02,34.5,22,12.5,4.1\n"
    )
    w = load_csv(f)
    assert [d.rain_mm for d in w.days] == [0.0, 12.5]
    assert w.days[0].et0_mm == pytest.approx(
        hargreaves_et0(33, 21, extraterrestrial_radiation(12.67, 60))
    )
    assert w.days[1].et0_mm == 4.1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("date,tmax_c,rain_mm\n", r":1: missing column\(s\) tmin_c"),
        ("date,tmax_c,tmin_c,rain_mm\n2026-03-01,33,21,0\n2026-03-32,33,21,0\n", r":3: date"),
        ("date,tmax_c,tmin_c,rain_mm\n2026-03-01,hot,21,0\n", r":2: tmax_c 'hot' is not a number"),
        ("date,tmax_c,tmin_c,rain_mm\n2026-03-01,20,21,0\n", r":2: tmax_c 20.0 is below"),
        ("date,tmax_c,tmin_c,rain_mm\n2026-03-01,33,21,-1\n", r":2: rain_mm -1.0 is negative"),
        (
            "date,tmax_c,tmin_c,rain_mm\n2026-03-01,33,21,0\n2026-03-03,33,21,0\n",
            r":3: 2026-03-03 does not follow 2026-03-01",
        ),
        ("date,tmax_c,tmin_c,rain_mm\n", r"no days"),
    ],
)
def test_csv_errors_name_the_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(ValueError, match=message) as err:
        load_csv(f)
    assert "bad.csv" in str(err.value)


def test_a_missing_csv_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read weather file"):
        load_csv(tmp_path / "nope.csv")


def test_a_step_shorter_than_a_second_never_gives_negative_et0_or_rain() -> None:
    # Real-time runs step by wall-clock instants, microseconds and all.
    w = dry_season(date(2026, 3, 1), days=2, seed=1)
    t = datetime(2026, 3, 1, 14, 0, 0, 900_000, tzinfo=VN)
    et0, rain = w.between(t, t + timedelta(microseconds=50_000), VN)
    assert et0 > 0.0
    assert rain >= 0.0
