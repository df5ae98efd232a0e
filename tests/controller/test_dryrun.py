"""Dry run: the real core replayed over recorded readings with changed thresholds (pure)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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
            raw=3000 - i,  # a real probe's count moves (a constant one is flagged stuck)
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
    # As live: the drying trend starts it within the hour before it would cross (nearing_start).
    assert "above start threshold 30.4%, watering before it is reached" in first_reason


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
    gaps = [(b - a).total_seconds() / 60 for a, b in itertools.pairwise(starts)]
    assert all(g >= 60 for g in gaps)  # a run (up to 60 min) then the rest period


def test_dry_run_command_reads_the_store_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartfarm.cli import main
    from smartfarm.stores.sqlite import SqliteTelemetryStore

    now = datetime.now(UTC)
    store = SqliteTelemetryStore(tmp_path / "telemetry.db")
    store.write_readings(
        [
            Reading("demo-farm", "z2", "s-z2-a", now - timedelta(minutes=15 * i), i, 0.29, raw=2000)
            for i in range(8)
        ]
    )
    store.close()
    code = main(
        [
            "dry-run",
            "--farm",
            str(EXAMPLE_FARM),
            "--var-dir",
            str(tmp_path),
            "--zone",
            "z2",
            "--days",
            "1",
            "--start",
            "0.30",
            "--stop",
            "0.34",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["readings"] == 8 and report["minutes"] > 0
    assert (
        main(
            [
                "dry-run",
                "--farm",
                str(EXAMPLE_FARM),
                "--var-dir",
                str(tmp_path),
                "--zone",
                "nope",
                "--start",
                "0.3",
                "--stop",
                "0.34",
            ]
        )
        == 2
    )
    assert "--zone 'nope' is not in" in capsys.readouterr().err
