"""The farmer's words and the next run, pure and table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.status import moisture_word, next_run_at
from smartfarm.agronomy import Thresholds
from smartfarm.config import ZoneConfig

HCM = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7
T = Thresholds(0.25, 0.30)
ZONE = ZoneConfig.model_validate(
    {
        "id": "z1",
        "name": "Cà phê",
        "crop": "coffee",
        "soil": "loam",
        "area_m2": 100,
        "emitters": 10,
        "emitter_flow_lph": 2,
        "valve": "v1",
        "sensors": ["s1"],
        "windows": ["05:00-09:00", "16:00-18:00"],
    }
)


@pytest.mark.parametrize(
    ("moisture", "stale", "word"),
    [
        (None, False, "unknown"),
        (0.1, True, "unknown"),
        (0.2, False, "dry"),
        (0.25, False, "good"),
        (0.299, False, "good"),
        (0.30, False, "wet"),
    ],
)
def test_moisture_word(moisture: float | None, stale: bool, word: str) -> None:
    assert moisture_word(moisture, stale, T) == word


def local(hh: int, mm: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=HCM).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "held", "expected"),
    [
        (local(6), (None, None), local(6)),  # inside a window: now
        (local(10), (None, None), local(16)),  # between windows: the next one
        (local(19), (None, None), local(5, day=24)),  # after the last: tomorrow
        (local(6), (local(12), None), local(16)),  # paused till noon: the afternoon window
        (local(6), (None, local(7)), local(7)),  # held after a Stop: when the hold ends
        (local(6), (local(5), None), local(6)),  # a pause already over changes nothing
    ],
)
def test_next_run_of_a_dry_zone(
    now: datetime, held: tuple[datetime | None, datetime | None], expected: datetime
) -> None:
    assert next_run_at(ZONE, True, held, now, HCM) == expected


def test_no_next_run_unless_dry_and_any_time_without_windows() -> None:
    now = local(10)
    assert next_run_at(ZONE, False, (None, None), now, HCM) is None
    anytime = ZONE.model_copy(update={"windows": []})
    assert next_run_at(
        anytime, True, (None, now + timedelta(hours=1)), now, HCM
    ) == now + timedelta(hours=1)
