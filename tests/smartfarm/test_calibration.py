"""Calibration raw ADC -> vwc: two-point, polynomial and fitted points (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from smartfarm.calibration import SensorCalibration, calibrate
from smartfarm.config import parse_farm_config
from smartfarm.ingest import ReadingParser
from smartfarm.topics import Topics


def test_two_point_default_reads_lower_when_wetter() -> None:
    cal = SensorCalibration()
    assert calibrate(3200, cal) == pytest.approx(0.0)
    assert calibrate(1300, cal) == pytest.approx(0.5)
    assert calibrate(2250, cal) == pytest.approx(0.25)
    assert calibrate(2000, cal) > calibrate(2500, cal)


def test_values_beyond_the_points_are_clamped_but_visible_unclamped() -> None:
    cal = SensorCalibration()
    assert calibrate(4000, cal) == 0.0
    assert cal.vwc(4000) < 0  # what the out_of_range flag looks at
    assert calibrate(0, SensorCalibration(poly=(-0.001, 2.0))) == 1.0


def test_polynomial_coefficients_highest_power_first() -> None:
    cal = SensorCalibration(poly=(1e-8, -1e-4, 0.5))
    raw = 2000.0
    assert cal.vwc(raw) == pytest.approx(1e-8 * raw**2 - 1e-4 * raw + 0.5)
    assert cal.vwc_array([raw, 1000.0]) == pytest.approx(
        np.polyval([1e-8, -1e-4, 0.5], [raw, 1000.0])
    )


def test_points_are_fitted_by_least_squares() -> None:
    # A soil-specific calibration: gravimetric samples at five wetness levels.
    truth = np.poly1d([2.0e-8, -2.4e-4, 0.72])
    raws = [1300, 1700, 2200, 2700, 3200]
    cal = SensorCalibration(points=tuple((r, float(truth(r))) for r in raws), degree=2)
    assert cal.coefficients == pytest.approx(tuple(truth.coeffs), rel=1e-6)
    assert cal.vwc(2000) == pytest.approx(truth(2000), abs=1e-9)
    assert calibrate(2000, cal) == pytest.approx(truth(2000), abs=1e-9)


def test_scalar_and_array_agree() -> None:
    cal = SensorCalibration(raw_dry=3250, raw_wet=1320)
    raws = np.arange(0, 4096, 97)
    assert cal.vwc_array(raws) == pytest.approx([cal.vwc(int(r)) for r in raws])


@pytest.mark.parametrize(
    "bad",
    [
        {"raw_dry": 2000, "raw_wet": 2000},
        {"poly": (1.0,), "points": ((1, 0.1), (2, 0.2))},
        {"points": ((1000, 0.4), (1000, 0.41), (3000, 0.0)), "degree": 2},
        {"vwc_min": 0.5, "vwc_max": 0.4},
    ],
)
def test_unusable_calibrations_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SensorCalibration(**bad)  # type: ignore[arg-type]


def test_rails_flag_wiring_faults() -> None:
    cal = SensorCalibration()
    assert cal.near_zero(10) and not cal.near_zero(500)
    assert cal.near_max(4090) and not cal.near_max(3500)


def test_a_known_temperature_coefficient_brings_the_count_back_to_the_reference() -> None:
    cal = SensorCalibration(temp_raw_per_c=-3.0, temp_ref_c=25.0)
    assert cal.at_reference(2000, 31.0) == pytest.approx(2018.0)  # 6 degC warm read 18 low
    assert cal.at_reference(2000, None) == 2000  # no temperature sent: as it is
    assert SensorCalibration().at_reference(2000, 31.0) == 2000  # no coefficient: as it is


def test_the_parser_corrects_a_warm_reading_with_the_coefficient() -> None:
    farm = parse_farm_config(
        yaml.safe_dump(
            {
                "farm": {"id": "f", "name": "f", "pump": {"capacity_lph": 1000}},
                "zones": [
                    {
                        "id": "z1",
                        "name": "z1",
                        "crop": "coffee",
                        "soil": "loam",
                        "area_m2": 100,
                        "emitters": 50,
                        "emitter_flow_lph": 2,
                        "valve": "v1",
                        "sensors": ["s1"],
                    }
                ],
                "calibration": {"s1": {"temp_raw_per_c": -3.0}},
            }
        )
    )
    parser = ReadingParser(farm, Topics("farm", "f"))
    now = datetime(2026, 3, 1, tzinfo=UTC)
    body = {"v": 1, "device": "s1", "ts": "2026-03-01T00:00:00Z", "seq": 1, "raw": 2232}
    warm = parser.parse(parser.topic_of("s1"), json.dumps({**body, "temp_c": 31.0}).encode(), now)
    plain = parser.parse(parser.topic_of("s1"), json.dumps(body).encode(), now)
    # 2232 at 31 degC is 2250 at 25 degC: vwc 0.25; without a temperature, 2232 as it is.
    assert warm.vwc == pytest.approx(0.25, abs=1e-4)
    assert plain.vwc == pytest.approx(SensorCalibration().vwc(2232), abs=1e-4)
