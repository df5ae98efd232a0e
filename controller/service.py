"""The controller process: keeps live state from MQTT, runs the rules, sends bounded commands."""

from __future__ import annotations

import asyncio
import logging
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from controller.rules import Decision, ZoneView, decide, decide_manual
from controller.settings import ControllerSettings
from smartfarm import payloads
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.ingest import parse_reading
from smartfarm.models import Action, DecisionRecord, Reading, ValveState, ValveStatus
from smartfarm.mqtt import Message, MqttLink
from smartfarm.payloads import BadPayload
from smartfarm.stores.state import StateStore
from smartfarm.topics import QOS_COMMAND, QOS_READING, QOS_STATE, Topics

log = logging.getLogger(__name__)

# A command the valve has not confirmed by then is given up and re-decided.
CONFIRM_TIMEOUT = timedelta(seconds=15)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class PendingCommand:
    command_id: str
    action: Action
    sent_at: datetime
    manual: bool


class Controller:
    def __init__(
        self,
        farm: FarmConfig,
        settings: ControllerSettings,
        state: StateStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.farm = farm
        self.settings = settings
        self.state = state
        self.clock = clock
        self.topics = Topics(settings.topic_prefix, farm.farm.id)
        self.readings: dict[str, Reading] = {}
        self.valves: dict[str, ValveState] = {}
        self.pending: dict[str, PendingCommand] = {}
        self.manual_runs: set[str] = set()  # command ids of runs started by hand
        self.hold_until: dict[str, datetime] = {}
        self._last_logged: dict[str, tuple[Action, str]] = {}
        self.link = MqttLink(
            settings.mqtt,
            settings.client_id,
            subscriptions=[
                (self.topics.all_readings, QOS_READING),
                (self.topics.all_valve_states, QOS_STATE),
                (self.topics.availability("+"), QOS_STATE),
                (self.topics.controller_request(), QOS_COMMAND),
            ],
        )

    async def run(self) -> None:
        await self.link.start()
        scheduler = AsyncIOScheduler(timezone=UTC)
        # One evaluation at a time; a late one is merged into the next, never queued up.
        scheduler.add_job(
            self.evaluate,
            "interval",
            seconds=self.settings.evaluate_seconds,
            id="evaluate",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=30,
        )
        scheduler.start()
        log.info(
            "controller: %d zones, evaluating every %gs",
            len(self.farm.zones),
            self.settings.evaluate_seconds,
        )
        try:
            while True:
                await self.on_message(await self.link.messages.get())
        finally:
            scheduler.shutdown(wait=False)
            await self.link.stop()

    async def on_message(self, message: Message) -> None:
        if self.topics.device_of(message.topic, "sensor", "reading"):
            self._on_reading(message)
        elif valve := self.topics.device_of(message.topic, "valve", "state"):
            self._on_valve_state(valve, message.payload)
        elif device := self.topics.device_of(message.topic, "device", "availability"):
            self._on_availability(device, message.payload)
        elif message.topic == self.topics.controller_request():
            await self._on_request(message.payload)

    def _on_reading(self, message: Message) -> None:
        try:
            reading = parse_reading(
                message.topic, message.payload, self.farm, self.topics, self.clock()
            )
        except BadPayload:
            return  # the gateway dead-letters it; the controller just ignores it
        known = self.readings.get(reading.sensor)
        if known is None or reading.ts >= known.ts:
            self.readings[reading.sensor] = reading

    def _on_valve_state(self, valve: str, payload: bytes) -> None:
        try:
            data = payloads.decode("valve-state.v1", payload)
        except BadPayload as err:
            log.warning("controller: bad state from valve %s: %s", valve, err)
            return
        status = ValveStatus(data["state"])
        state = ValveState(
            valve=valve,
            status=status,
            ts=payloads.parse_ts(data["ts"]),
            command_id=data.get("command_id"),
            since=payloads.parse_ts(data["since"]) if data.get("since") else None,
            until=payloads.parse_ts(data["until"]) if data.get("until") else None,
        )
        self.valves[valve] = state
        zone = self.farm.zone_of_valve(valve)
        pending = self.pending.get(zone.id) if zone else None
        if zone and pending and state.command_id == pending.command_id:
            del self.pending[zone.id]

    def _on_availability(self, device: str, payload: bytes) -> None:
        known = self.valves.get(device)
        if payload == b"offline" and self.farm.zone_of_valve(device):
            self.valves[device] = ValveState(
                device, ValveStatus.OFFLINE, self.clock(), known.command_id if known else None
            )

    async def _on_request(self, payload: bytes) -> None:
        try:
            req = payloads.decode("controller-request.v1", payload)
            zone = self.farm.zone(req["zone"])
        except (BadPayload, KeyError) as err:
            log.warning("controller: ignored bad request: %s", err)
            return
        now = self.clock()
        views = {v.zone: v for v in self.views(now)}
        in_use = sum(
            v.flow_lph
            for v in views.values()
            if v.valve is ValveStatus.OPEN or v.awaiting_confirmation
        )
        decision = decide_manual(
            views[zone.id],
            req["action"],
            req.get("minutes"),
            req["by"],
            in_use,
            self.farm.farm.pump.capacity_lph,
        )
        if decision.action is Action.CLOSE:
            hold = timedelta(minutes=self.settings.manual_stop_hold_minutes)
            self.hold_until[zone.id] = now + hold
        await self.apply(decision, now, by=req["by"], manual=True)

    def views(self, now: datetime) -> list[ZoneView]:
        return [self._view(zone, now) for zone in self.farm.zones]

    def _view(self, zone: ZoneConfig, now: datetime) -> ZoneView:
        fresh = [r for s in zone.sensors if (r := self.readings.get(s)) is not None]
        moisture = statistics.median(r.vwc for r in fresh) if fresh else None
        age = min((now - r.ts).total_seconds() for r in fresh) if fresh else None
        valve = self.valves.get(zone.valve)
        pending = self.pending.get(zone.id)
        if pending and now - pending.sent_at > CONFIRM_TIMEOUT:
            log.warning(
                "controller: valve %s did not confirm command %s in %ss",
                zone.valve,
                pending.command_id,
                CONFIRM_TIMEOUT.seconds,
            )
            del self.pending[zone.id]
            pending = None
        status = valve.status if valve else ValveStatus.UNKNOWN
        return ZoneView(
            zone=zone.id,
            thresholds=zone.effective_thresholds,
            flow_lph=zone.flow_lph,
            max_run_minutes=zone.max_run_minutes,
            moisture=moisture,
            moisture_age_s=age,
            valve=status,
            open_since=valve.since if valve and status is ValveStatus.OPEN else None,
            manual_run=bool(valve and valve.command_id in self.manual_runs),
            awaiting_confirmation=pending is not None,
            hold_until=self.hold_until.get(zone.id),
        )

    async def evaluate(self) -> list[Decision]:
        now = self.clock()
        decisions = decide(
            self.views(now),
            self.farm.farm.pump.capacity_lph,
            now,
            self.settings.stale_after_seconds,
        )
        for decision in decisions:
            await self.apply(decision, now)
        return decisions

    async def apply(
        self, decision: Decision, now: datetime, by: str = "controller", manual: bool = False
    ) -> None:
        """Send the command a decision calls for and log it (repeats of a hold are not logged)."""
        zone = self.farm.zone(decision.zone)
        command_id: str | None = None
        if decision.action in (Action.OPEN, Action.CLOSE):
            command_id = uuid.uuid4().hex[:16]
            self._send(zone.valve, command_id, decision, now)
            self.pending[zone.id] = PendingCommand(command_id, decision.action, now, manual)
            if manual and decision.action is Action.OPEN:
                self.manual_runs.add(command_id)
        key = (decision.action, decision.code)
        if command_id is None and self._last_logged.get(zone.id) == key:
            log.debug("controller: %s: %s", zone.id, decision.reason)
            return
        self._last_logged[zone.id] = key
        log.info("controller: %s: %s: %s", zone.id, decision.action.value, decision.reason)
        record = DecisionRecord(
            now, zone.id, decision.action, decision.reason, by, command_id, decision.duration_s
        )
        await asyncio.to_thread(self.state.add_decision, record)

    def _send(self, valve: str, command_id: str, decision: Decision, now: datetime) -> None:
        body: dict[str, object] = {
            "v": 1,
            "id": command_id,
            "action": decision.action.value,
            "issued": payloads.format_ts(now),
            "reason": decision.reason[:200],
        }
        if decision.action is Action.OPEN:
            # Never an unbounded open: the valve closes itself when this ends.
            assert decision.duration_s is not None and decision.duration_s > 0
            body["duration_s"] = decision.duration_s
        self.link.publish(self.topics.valve_command(valve), payloads.encode(body), QOS_COMMAND)
