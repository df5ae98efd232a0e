"""The simulator's simple soil layer and its daylight ET curve (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from firmware_sim.soil import SoilLayer, daylight_et0_mm, irrigation_rate_mm_h
from smartfarm.agronomy import CROPS, SOILS

VN = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = 24 * 3600


def layer(theta: float, soil: str = "clay_loam", crop: str = "coffee") -> SoilLayer:
    return SoilLayer(SOILS[soil], CROPS[crop], theta)


def test_a_day_without_water_dries_by_crop_et() -> None:
    soil = layer(0.33)
    soil.step(DAY, 0.0)
    # 5 mm/d x Kc 0.95 over the 52.5 mm the probe senses.
    assert soil.theta == pytest.approx(0.33 - 5.0 * 0.95 / soil.depth_mm, abs=1e-9)


def test_drying_slows_past_the_readily_available_water() -> None:
    wet, dry = layer(0.33), layer(0.25)  # clay loam: RAW ends at 0.304
    assert wet.stress_factor() == 1.0
    assert 0.0 < dry.stress_factor() < 1.0
    wet.step(3600, 0.0)
    dry.step(3600, 0.0)
    assert 0.33 - wet.theta > 0.25 - dry.theta > 0.0


def test_drip_wets_the_sensed_layer_and_water_above_field_capacity_drains() -> None:
    soil = layer(0.30)
    soil.step(3600, 1.1)  # zone z1 of the example farm: 4400 L/h over 4000 m2
    assert soil.theta > 0.34
    soil.theta = 0.45
    soil.step(12 * 3600, 0.0)
    # Most of the excess over field capacity (0.36) drains within the 12 h time constant.
    assert SOILS["clay_loam"].theta_fc < soil.theta < 0.45 - (0.45 - 0.36) * 0.5


def test_the_layer_stays_within_physical_bounds() -> None:
    soil = layer(0.47)
    soil.step(DAY, 100.0)
    assert soil.theta <= SOILS["clay_loam"].theta_sat
    soil = layer(0.12)
    for _ in range(30):
        soil.step(DAY, 0.0)
    assert soil.theta >= SOILS["clay_loam"].theta_wp * 0.5


def test_an_explicit_et0_replaces_the_even_share() -> None:
    a, b = layer(0.33), layer(0.33)
    a.step(3600, 0.0)
    b.step(3600, 0.0, et0_mm=5.0 / 24)
    assert a.theta == pytest.approx(b.theta)
    c = layer(0.33)
    c.step(3600, 0.0, et0_mm=0.0)  # night
    assert c.theta == 0.33


def test_irrigation_rate_is_litres_per_hour_over_area() -> None:
    assert irrigation_rate_mm_h(4400, 4000) == pytest.approx(1.1)


def at(day: int, hour: float) -> datetime:
    return datetime(2026, 3, day, tzinfo=VN) + timedelta(hours=hour)


def test_daylight_et0_sums_to_the_day_and_is_zero_at_night() -> None:
    assert daylight_et0_mm(5.0, at(1, 0), at(2, 0), VN) == pytest.approx(5.0)
    assert daylight_et0_mm(5.0, at(1, 0), at(1, 6), VN) == 0.0
    assert daylight_et0_mm(5.0, at(1, 18), at(2, 6), VN) == pytest.approx(0.0)
    assert daylight_et0_mm(5.0, at(1, 6), at(1, 12), VN) == pytest.approx(2.5)
    # Symmetric around noon, strongest at noon.
    morning = daylight_et0_mm(5.0, at(1, 9), at(1, 10), VN)
    assert daylight_et0_mm(5.0, at(1, 14), at(1, 15), VN) == pytest.approx(morning)
    assert daylight_et0_mm(5.0, at(1, 11.5), at(1, 12.5), VN) > morning


def test_daylight_et0_is_additive_across_steps_and_midnight() -> None:
    whole = daylight_et0_mm(4.0, at(1, 15), at(3, 10), VN)
    # 15:00-18:00 is 14.6% of a day's ET, a whole day 100%, 06:00-10:00 25%.
    assert whole == pytest.approx(4.0 * (0.1464 + 1.0 + 0.25), rel=1e-3)
    t, parts = at(1, 15), 0.0
    while t < at(3, 10):
        nxt = min(t + timedelta(seconds=317), at(3, 10))
        parts += daylight_et0_mm(4.0, t, nxt, VN)
        t = nxt
    assert parts == pytest.approx(whole)
    # Instants in another zone are converted: 22:00 UTC is 05:00 in Vietnam.
    utc = ZoneInfo("UTC")
    start = datetime(2026, 3, 1, 22, tzinfo=utc)
    assert daylight_et0_mm(5.0, start, start + timedelta(hours=1), VN) == 0.0
