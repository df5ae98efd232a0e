"""Quality flags (pure, table-driven): wiring faults on their own, spikes and stuck probes
over a sensor's series."""

from __future__ import annotations

import pytest

from smartfarm.calibration import SensorCalibration
from smartfarm.quality import SeriesQuality, SeriesRules, reading_quality

CAL = SensorCalibration()  # raw 3200 dry (0.0), 1300 wet (0.5), 12-bit ADC
MIN = 60_000_000  # a minute in microseconds


@pytest.mark.parametrize(
    ("raw", "vwc", "expected"),
    [
        (2200, 0.26, "good"),
        (5, 0.84, "disconnected"),  # near 0: looks saturated
        (4093, -0.23, "shorted"),  # near full scale: looks bone dry
        (3900, -0.18, "out_of_range"),  # drier than dry air
        (None, 0.3, "good"),  # a node that sends vwc only
        (None, 0.9, "out_of_range"),
    ],
)
def test_reading_quality(raw: int | None, vwc: float, expected: str) -> None:
    assert reading_quality(raw, vwc, CAL) == expected


def judge_all(series: SeriesQuality, values: list[tuple[int, float]]) -> list[str]:
    return [series.judge("s", minute * MIN, None, vwc, "good") for minute, vwc in values]


def test_spike_is_flagged_and_the_series_goes_on() -> None:
    got = judge_all(SeriesQuality(), [(0, 0.25), (1, 0.26), (2, 0.40), (3, 0.26), (4, 0.27)])
    assert got == ["good", "good", "spike", "good", "good"]


def test_a_real_step_is_accepted_after_a_few_readings() -> None:
    # Heavy rain: the probe jumps and stays there.
    got = judge_all(SeriesQuality(), [(0, 0.20), (1, 0.35), (2, 0.35), (3, 0.36), (4, 0.36)])
    assert got == ["good", "spike", "spike", "good", "good"]


def test_slow_change_is_not_a_spike() -> None:
    # 0.1 over a day is drying, not a spike.
    got = judge_all(SeriesQuality(), [(0, 0.30), (1440, 0.20)])
    assert got == ["good", "good"]


def test_stuck_after_n_identical_values() -> None:
    series = SeriesQuality(SeriesRules(stuck_count=4))
    got = [series.judge("s", m * MIN, 2000, 0.27, "good") for m in range(6)]
    assert got == ["good", "good", "good", "stuck", "stuck", "stuck"]
    assert series.judge("s", 6 * MIN, 2001, 0.27, "good") == "good"


def test_replays_and_faults_do_not_disturb_the_series() -> None:
    series = SeriesQuality(SeriesRules(stuck_count=3))
    assert series.judge("s", 10 * MIN, 2000, 0.27, "good") == "good"
    # A replay of an older reading is judged on its own only.
    assert series.judge("s", 5 * MIN, 2000, 0.27, "good") == "good"
    assert series.judge("s", 11 * MIN, 2000, 0.27, "good") == "good"
    # A wiring fault keeps its flag and restarts the series.
    assert series.judge("s", 12 * MIN, 3, 0.84, "disconnected") == "disconnected"
    assert series.judge("s", 13 * MIN, 2000, 0.27, "good") == "good"
    # Sensors are judged apart.
    assert series.judge("t", 13 * MIN, 2000, 0.9, "good") == "good"
