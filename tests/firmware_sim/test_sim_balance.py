"""The FAO-56 water balance of a drip zone's wetted root volume (pure)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.balance import RootZone, drainage_tau
from smartfarm.agronomy import CROPS, SOILS, default_thresholds


def zone(soil: str = "clay_loam", crop: str = "coffee", theta: float | None = None) -> RootZone:
    s = SOILS[soil]
    return RootZone(s, CROPS[crop], s.theta_fc if theta is None else theta)


def closes(z: RootZone, start_storage: float) -> float:
    led = z.ledger
    inflow = led.irrigation_mm + led.rain_in_mm
    outflow = led.et_mm + led.drainage_mm + led.runoff_mm
    return inflow - outflow - (z.storage_mm - start_storage)


def test_taw_and_raw_match_fao56_for_coffee_on_clay_loam() -> None:
    # TAW = 1000 (FC - WP) Zr = 1000 x 0.14 x 1.2 = 168 mm (FAO-56 eq. 82), over fw 0.35.
    z = zone()
    assert z.taw_mm == pytest.approx(168 * 0.35)
    # Ks is 1 down to RAW = p TAW (p 0.40), 0.5 halfway to the wilting point, 0 there.
    raw_theta = z.soil.theta_fc - 0.4 * 0.14
    assert default_thresholds(z.soil, z.crop).start == pytest.approx(raw_theta)
    z.theta = raw_theta + 1e-9
    assert z.stress_factor() == 1.0
    z.theta = (raw_theta + z.soil.theta_wp) / 2
    assert z.stress_factor() == pytest.approx(0.5)
    z.theta = z.soil.theta_wp
    assert z.stress_factor() == 0.0


def test_fao56_example_ks_below_raw() -> None:
    # FAO-56 eq. 84 worked through: TAW 100, p 0.5 (RAW 50), Dr 70 -> Ks = 30/50 = 0.6.
    soil = SOILS["loam"]
    crop = CROPS["coffee"].__class__("t", 1.0, 100 / (1000 * 0.14 * 0.35), 0.5, True)
    z = RootZone(soil, crop, soil.theta_fc)
    z.theta = soil.theta_fc - 70 / z.depth_mm
    assert z.taw_mm == pytest.approx(100)
    assert z.stress_factor() == pytest.approx(0.6)


def test_unstressed_day_uses_kc_et0_and_stressed_day_less() -> None:
    z = zone()
    ks = z.step(86400, 0, 0, 5.0)
    assert ks == 1.0
    assert z.ledger.et_mm == pytest.approx(0.95 * 5.0)
    dry = zone(theta=0.25)
    dry.step(3600, 0, 0, 0.5)
    assert dry.ledger.et_mm < dry.ledger.et_potential_mm
    assert dry.ledger.deficit_mm > 0


def test_rain_enters_over_the_wetted_fraction_and_excess_drains() -> None:
    z = zone("sand", "cashew")
    z.step(600, 0, 40.0, 0)
    assert z.ledger.rain_in_mm == pytest.approx(40 * 0.35)
    assert z.theta > z.soil.theta_fc
    for _ in range(6 * 24 * 3):
        z.step(600, 0, 0, 0)
    # Sand drains fast (tau 1): back near field capacity within days.
    assert drainage_tau(z.soil) == 1.0
    assert z.theta == pytest.approx(z.soil.theta_fc, abs=0.005)
    assert z.ledger.drainage_mm > 0


def test_clay_drains_slower_than_sand() -> None:
    assert drainage_tau(SOILS["clay"]) < drainage_tau(SOILS["clay_loam"]) < 1.0


def test_water_above_saturation_runs_off() -> None:
    z = zone()
    z.step(600, 500.0, 0, 0)
    assert z.theta <= z.soil.theta_sat
    assert z.ledger.runoff_mm > 0
    assert closes(z, zone().storage_mm) == pytest.approx(0, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    soil=st.sampled_from(sorted(SOILS)),
    crop=st.sampled_from(sorted(CROPS)),
    seed=st.integers(0, 10_000),
)
def test_the_balance_closes_over_any_run(soil: str, crop: str, seed: int) -> None:
    rng = random.Random(seed)
    s = SOILS[soil]
    z = zone(soil, crop, rng.uniform(s.theta_wp, s.theta_sat))
    start = z.storage_mm
    for _ in range(rng.randint(1, 400)):
        irrigation = rng.choice([0.0, 0.0, rng.uniform(0, 5)])
        rain = rng.choice([0.0, 0.0, 0.0, rng.uniform(0, 30)])
        z.step(rng.uniform(60, 3600), irrigation, rain, rng.uniform(0, 0.8))
        assert s.theta_wp - 1e-9 <= z.theta <= s.theta_sat + 1e-9
    assert closes(z, start) == pytest.approx(0, abs=1e-6)


def test_negative_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        zone().step(600, -1, 0, 0)
