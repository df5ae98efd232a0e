"""Dry run: the real core replayed over recorded readings with changed thresholds (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from controller.dryrun import dry_run
from smartfarm.agronomy import Thresholds
from smartfarm.config import load_farm_config
from smartfarm.models import Reading
from tests.conftest import EXAMPLE_FARM

FARM = load_farm_config(EXAMPLE_FARM)
SINCE = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def drying(days: int = 3, start: float = 0.36, end: float = 0.26) -> list[Reading]:
    """z2's one sensor, every 15 minutes, drying steadily (the soil as recorded)."""
    steps = days * 96
    return [
        Reading(
            "demo-farm",
            "z2",
            "s-z2-a",
            SINCE + timedelta(minutes=15 * i),
            i,
            start + (end - start) * i / steps,
            raw=2000,
        )
        for i in range(steps)
    ]


def test_lower_start_threshold_waters_later_and_less() -> None:
    readings = drying()
    until = SINCE + timedelta(days=3)
    usual = dry_run(FARM, "z2", Thresholds(0.304, 0.346), readings, SINCE, until)
    lower = dry_run(FARM, "z2", Thresholds(0.28, 0.346), readings, SINCE, until)
    assert usual.runs and lower.runs
    assert lower.runs[0].started_at > usual.runs[0].started_at
    assert lower.minutes < usual.minutes
    assert lower.litres < usual.litres
    first_code, first_reason = usual.decisions[0][1:]
    assert first_code == "open_auto"
    assert "below start threshold 30.4%" in first_reason


def test_limits_still_apply_in_the_dry_run() -> None:
    readings = drying(days=2, start=0.30, end=0.29)  # dry the whole time, never reaching stop
    result = dry_run(
        FARM, "z2", Thresholds(0.304, 0.346), readings, SINCE, SINCE + timedelta(days=2)
    )
    per_day: dict[str, float] = {}
    for run in result.runs:
        day = run.started_at.astimezone(FARM.farm.tz).date().isoformat()
        per_day[day] = per_day.get(day, 0.0) + run.minutes
    assert per_day and max(per_day.values()) <= FARM.zone("z2").max_daily_minutes + 0.01
    assert all(run.minutes <= 60.01 for run in result.runs)  # max run per cycle
    starts = [r.started_at for r in result.runs]
    gaps = [(b - a).total_seconds() / 60 for a, b in zip(starts, starts[1:], strict=False)]
    assert all(g >= 60 for g in gaps)  # a run (up to 60 min) then the rest period
