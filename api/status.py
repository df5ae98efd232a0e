"""Domain values to response bodies: zone status, decisions, alarms."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from api import schemas
from api.live import LiveState
from smartfarm.agronomy import Thresholds
from smartfarm.config import ZoneConfig
from smartfarm.models import Alarm, DecisionRecord, ValveStatus
from smartfarm.stores.base import TelemetryStore
from smartfarm.stores.state import StateStore

# Older than this, the page marks a reading stale (sensors report every few minutes).
STALE_AFTER = timedelta(minutes=15)


def moisture_word(moisture: float | None, stale: bool, t: Thresholds) -> str:
    """The farmer's word for the soil: below start is dry, at or above stop is wet."""
    if moisture is None or stale:
        return "unknown"
    if moisture < t.start:
        return "dry"
    if moisture >= t.stop:
        return "wet"
    return "good"


def next_window_start(zone: ZoneConfig, now: datetime, tz: object) -> datetime | None:
    """When the zone's next watering window opens (None: no windows, any time will do)."""
    if not zone.windows:
        return None
    local = now.astimezone(tz)  # type: ignore[arg-type]
    if any(w.contains(local.time()) for w in zone.windows):
        return now
    starts = []
    for w in zone.windows:
        candidate = local.replace(hour=w.start.hour, minute=w.start.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        starts.append(candidate)
    return min(starts)


def decision_out(d: DecisionRecord) -> schemas.DecisionOut:
    return schemas.DecisionOut(
        ts=d.ts,
        zone=d.zone,
        action=d.action.value,
        reason=d.reason,
        by=d.by,
        command_id=d.command_id,
        duration_s=d.duration_s,
        code=d.code,
        run_id=d.run_id,
    )


def alarm_out(a: Alarm) -> schemas.AlarmOut:
    assert a.id is not None
    return schemas.AlarmOut(
        id=a.id,
        raised_at=a.raised_at,
        source=a.source,
        kind=a.kind,
        zone=a.zone,
        message=a.message,
        active=a.active,
        cleared_at=a.cleared_at,
        acknowledged_by=a.acknowledged_by,
        acknowledged_at=a.acknowledged_at,
    )


def zone_status(
    zone: ZoneConfig,
    thresholds: Thresholds,
    telemetry: TelemetryStore,
    state: StateStore,
    live: LiveState,
    alarms: list[Alarm],
    now: datetime,
    tz: object,
) -> schemas.ZoneStatus:
    latest = telemetry.latest(zone.sensors)
    moisture = statistics.median(r.vwc for r in latest.values()) if latest else None
    moisture_at = max((r.ts for r in latest.values()), default=None)
    stale = moisture_at is None or now - moisture_at > STALE_AFTER
    valve = live.valve(zone.valve)
    last = state.decisions(zone.id, limit=1)
    last_alarm = next((a for a in alarms if a.zone == zone.id), None)
    word = moisture_word(moisture, stale, thresholds)
    return schemas.ZoneStatus(
        id=zone.id,
        name=zone.name,
        crop=zone.crop,
        crop_estimate=not zone.crop_preset.fao56,
        soil=zone.soil,
        thresholds=schemas.ThresholdsOut(start=thresholds.start, stop=thresholds.stop),
        moisture=round(moisture, 4) if moisture is not None else None,
        moisture_at=moisture_at,
        moisture_stale=stale,
        moisture_word=word,
        valve=schemas.ValveOut(
            id=zone.valve,
            state=valve.status.value if valve else ValveStatus.UNKNOWN.value,
            since=valve.since if valve else None,
            until=valve.until if valve else None,
            command_id=valve.command_id if valve else None,
        ),
        last_decision=decision_out(last[0]) if last else None,
        last_alarm=alarm_out(last_alarm) if last_alarm else None,
        next_run_at=next_window_start(zone, now, tz) if word == "dry" else None,
    )
