"""The pure decision core, table-driven: no broker, no database, no clock but the one given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from controller.rules import ZoneView, decide, decide_manual
from smartfarm.agronomy import Thresholds
from smartfarm.models import Action, ValveStatus

NOW = datetime(2026, 11, 23, 5, 30, tzinfo=UTC)
STALE = 900.0


def view(**kw: object) -> ZoneView:
    base = ZoneView(
        zone="z1",
        thresholds=Thresholds(0.30, 0.35),
        flow_lph=4000,
        max_run_minutes=60,
        moisture=0.32,
        moisture_age_s=10.0,
        valve=ValveStatus.CLOSED,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "zone", "action", "code", "words"),
    [
        (
            "dry and closed opens, bounded",
            view(moisture=0.28),
            Action.OPEN,
            "below_start",
            "soil at 28.0%, below 30.0%",
        ),
        ("in band stays closed", view(moisture=0.32), Action.HOLD, "in_band", "waters below 30.0%"),
        ("exactly at start does not open", view(moisture=0.30), Action.HOLD, "in_band", ""),
        (
            "no reading never opens",
            view(moisture=None, moisture_age_s=None),
            Action.SKIP,
            "no_reading",
            "no soil reading yet",
        ),
        (
            "stale reading never opens",
            view(moisture=0.2, moisture_age_s=3600.0),
            Action.SKIP,
            "sensor_stale",
            "60 min old",
        ),
        (
            "valve offline is said, not skipped silently",
            view(moisture=0.2, valve=ValveStatus.OFFLINE),
            Action.SKIP,
            "valve_unreachable",
            "valve is offline",
        ),
        (
            "unknown valve",
            view(moisture=0.2, valve=ValveStatus.UNKNOWN),
            Action.SKIP,
            "valve_unreachable",
            "unknown",
        ),
        (
            "open and wet enough closes",
            view(moisture=0.35, valve=ValveStatus.OPEN, open_since=NOW - timedelta(minutes=5)),
            Action.CLOSE,
            "reached_stop",
            "reached 35.0%",
        ),
        (
            "open and still dry keeps watering",
            view(moisture=0.31, valve=ValveStatus.OPEN, open_since=NOW - timedelta(minutes=5)),
            Action.HOLD,
            "watering",
            "stop at 35.0%",
        ),
        (
            "never past max run",
            view(moisture=0.25, valve=ValveStatus.OPEN, open_since=NOW - timedelta(minutes=60)),
            Action.CLOSE,
            "max_run",
            "60 min",
        ),
        (
            "sensor dies while open: close",
            view(moisture=0.25, moisture_age_s=3600.0, valve=ValveStatus.OPEN, open_since=NOW),
            Action.CLOSE,
            "sensor_stale",
            "safe",
        ),
        (
            "manual run is not cut by the stop threshold",
            view(moisture=0.4, valve=ValveStatus.OPEN, open_since=NOW, manual_run=True),
            Action.HOLD,
            "manual_run",
            "",
        ),
        (
            "manual run is cut by max run",
            view(valve=ValveStatus.OPEN, manual_run=True, open_since=NOW - timedelta(minutes=61)),
            Action.CLOSE,
            "max_run",
            "",
        ),
        (
            "after a manual stop, dry waits",
            view(moisture=0.2, hold_until=NOW + timedelta(minutes=10)),
            Action.SKIP,
            "manual_hold",
            "resumes at 05:40",
        ),
        (
            "hold expired: waters again",
            view(moisture=0.2, hold_until=NOW - timedelta(minutes=1)),
            Action.OPEN,
            "below_start",
            "",
        ),
        (
            "awaiting confirmation sends nothing new",
            view(moisture=0.2, awaiting_confirmation=True),
            Action.HOLD,
            "awaiting_valve",
            "",
        ),
    ],
)
def test_single_zone_rules(
    case: str, zone: ZoneView, action: Action, code: str, words: str
) -> None:
    [decision] = decide([zone], pump_capacity_lph=10_000, now=NOW, stale_after_s=STALE)
    assert (decision.action, decision.code) == (action, code), case
    assert words in decision.reason
    if action is Action.OPEN:
        assert decision.duration_s == zone.max_run_minutes * 60


def test_pump_capacity_driest_first_and_the_rest_wait_with_a_reason() -> None:
    zones = [
        view(zone="a", moisture=0.29),
        view(zone="b", moisture=0.20),  # driest relative to its band
        view(zone="c", moisture=0.25),
    ]
    decisions = {d.zone: d for d in decide(zones, 9000, NOW, STALE)}
    assert decisions["b"].action is Action.OPEN
    assert decisions["c"].action is Action.OPEN
    assert decisions["a"].action is Action.SKIP
    assert "waiting for the pump: 8000 of 9000 L/h in use" in decisions["a"].reason


def test_open_valves_count_against_the_pump() -> None:
    zones = [
        view(zone="a", moisture=0.31, valve=ValveStatus.OPEN, open_since=NOW),
        view(zone="b", moisture=0.2),
    ]
    decisions = {d.zone: d for d in decide(zones, 6000, NOW, STALE)}
    assert decisions["b"].code == "pump_busy"


def test_a_closing_valve_frees_the_pump_in_the_same_round() -> None:
    zones = [
        view(zone="a", moisture=0.36, valve=ValveStatus.OPEN, open_since=NOW),
        view(zone="b", moisture=0.2),
    ]
    decisions = {d.zone: d for d in decide(zones, 6000, NOW, STALE)}
    assert decisions["a"].action is Action.CLOSE
    assert decisions["b"].action is Action.OPEN


@pytest.mark.parametrize(
    ("zone", "action", "minutes", "in_use", "expect", "code", "duration"),
    [
        (view(), "water_now", 10, 0.0, Action.OPEN, "manual_water", 600),
        (view(), "water_now", 90, 0.0, Action.OPEN, "manual_water", 3600),  # capped at max run
        (view(), "water_now", 0, 0.0, Action.SKIP, "bad_minutes", None),
        (view(), "water_now", 10, 7000.0, Action.SKIP, "pump_busy", None),
        (view(valve=ValveStatus.OPEN), "water_now", 10, 8000.0, Action.OPEN, "manual_water", 600),
        (
            view(valve=ValveStatus.OFFLINE),
            "water_now",
            10,
            0.0,
            Action.SKIP,
            "valve_unreachable",
            None,
        ),
        (view(valve=ValveStatus.OPEN), "stop", None, 4000.0, Action.CLOSE, "manual_stop", None),
    ],
)
def test_manual_requests(
    zone: ZoneView,
    action: str,
    minutes: int | None,
    in_use: float,
    expect: Action,
    code: str,
    duration: int | None,
) -> None:
    decision = decide_manual(zone, action, minutes, "farmer Lan", in_use, 10_000)
    assert (decision.action, decision.code, decision.duration_s) == (expect, code, duration)
    assert "farmer Lan" in decision.reason


def test_capped_manual_request_says_so() -> None:
    decision = decide_manual(view(), "water_now", 90, "web", 0.0, 10_000)
    assert "asked 90; the most per run is 60" in decision.reason
