"""Domain values to response bodies: zone status, decisions, alarms."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from api import schemas
from api.live import LiveState
from controller.store import ControlStore
from smartfarm.agronomy import Thresholds
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.models import Alarm, DecisionRecord, Reading, ValveStatus
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


def next_window_start(zone: ZoneConfig, now: datetime, tz: object) -> datetime:
    """When the zone may next water by its windows: now if inside one or if it has none."""
    if not zone.windows:
        return now
    local = now.astimezone(tz)  # type: ignore[arg-type]
    if any(w.contains(local.time()) for w in zone.windows):
        return now
    starts = []
    for w in zone.windows:
        candidate = local.replace(hour=w.start.hour, minute=w.start.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += timedelta(days=1)
        starts.append(candidate)
    return min(starts).astimezone(now.tzinfo)


def next_run_at(
    zone: ZoneConfig,
    dry: bool,
    held: tuple[datetime | None, datetime | None],
    now: datetime,
    tz: object,
) -> datetime | None:
    """A dry zone's next automatic run: after a pause or a Stop's hold, in a window.

    An estimate for the farmer: the pump, a rest after the last run or rain may still
    delay it, and the decision log says why.
    """
    if not dry:
        return None
    after = max([now, *(t for t in held if t is not None and t > now)])
    return next_window_start(zone, after, tz)


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


@dataclass(frozen=True, slots=True)
class StoreView:
    """What a zone's status needs from the stores, for every zone at once."""

    latest: dict[str, Reading]
    last_decisions: dict[str, DecisionRecord]
    alarms: list[Alarm]
    # zone -> (paused until, held after a Stop until)
    overrides: dict[str, tuple[datetime | None, datetime | None]]


class StatusSnapshot:
    """Reads the stores for zone status at most once per ``max_age_s``, however many phones ask.

    Readings come every few seconds and the page polls every two: a second-old view costs
    nothing in freshness. Valve states do not come from here but live from MQTT.
    """

    def __init__(
        self,
        farm: FarmConfig,
        telemetry: TelemetryStore,
        state: StateStore,
        control: ControlStore,
        max_age_s: float = 1.0,
    ) -> None:
        self.farm = farm
        self.control = control
        self.telemetry = telemetry
        self.state = state
        self.max_age_s = max_age_s
        self._sensors = [s for z in farm.zones for s in z.sensors]
        self._lock = threading.Lock()
        self._view: tuple[float, StoreView] | None = None

    async def aget(self) -> StoreView:
        """From the event loop: the fresh view at once, else refreshed in a thread."""
        view = self._view
        if view is not None and time.monotonic() - view[0] < self.max_age_s:
            return view[1]
        return await asyncio.to_thread(self.get)

    def get(self) -> StoreView:
        with self._lock:  # one reader refreshes; the others wait for its result
            if self._view is not None and time.monotonic() - self._view[0] < self.max_age_s:
                return self._view[1]
            last = {z.id: self.state.decisions(z.id, limit=1) for z in self.farm.zones}
            view = StoreView(
                self.telemetry.latest(self._sensors),
                {zone: records[0] for zone, records in last.items() if records},
                self.state.alarms(active_only=True, limit=200),
                self.control.overrides(),
            )
            self._view = (time.monotonic(), view)
            return view


def zone_status(
    zone: ZoneConfig,
    thresholds: Thresholds,
    view: StoreView,
    live: LiveState,
    now: datetime,
    tz: object,
) -> schemas.ZoneStatus:
    latest = [view.latest[s] for s in zone.sensors if s in view.latest]
    moisture = statistics.median(r.vwc for r in latest) if latest else None
    moisture_at = max((r.ts for r in latest), default=None)
    stale = moisture_at is None or now - moisture_at > STALE_AFTER
    valve = live.valve(zone.valve)
    last_decision = view.last_decisions.get(zone.id)
    last_alarm = next((a for a in view.alarms if a.zone == zone.id), None)
    word = moisture_word(moisture, stale, thresholds)
    paused, hold = view.overrides.get(zone.id, (None, None))
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
        last_decision=decision_out(last_decision) if last_decision else None,
        last_alarm=alarm_out(last_alarm) if last_alarm else None,
        next_run_at=next_run_at(zone, word == "dry", (paused, hold), now, tz),
        paused_until=paused if paused and paused > now else None,
    )
