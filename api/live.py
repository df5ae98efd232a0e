"""The API's live view of the farm from MQTT: valve states, availability, and events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from api.events import EventHub
from smartfarm import payloads
from smartfarm.config import FarmConfig
from smartfarm.ingest import ReadingParser
from smartfarm.models import Reading, ValveState, ValveStatus
from smartfarm.mqtt import Message, MqttLink
from smartfarm.payloads import BadPayload
from smartfarm.topics import QOS_STATE, Topics

log = logging.getLogger(__name__)


class LiveState:
    def __init__(self, link: MqttLink, topics: Topics, farm: FarmConfig, hub: EventHub) -> None:
        self.link = link
        self.topics = topics
        self.hub = hub
        self.parser = ReadingParser(farm, topics)
        self.valve_zone = {z.valve: z.id for z in farm.zones}
        self.valves: dict[str, ValveState] = {}
        self.offline: set[str] = set()
        self.flow_lph: dict[str, float] = {}
        # Last reading of each sensor heard live: battery, signal and last seen for devices.
        self.readings: dict[str, Reading] = {}
        self.seen: dict[str, datetime] = {}
        self.bad_payloads = 0
        link.subscriptions.extend(
            [
                (topics.all_valve_states, QOS_STATE),
                (topics.availability("+"), QOS_STATE),
                (topics.all_readings, 0),
                (topics.controller_decision(), 0),
                (topics.alarm("+"), 0),
            ]
        )

    async def follow(self) -> None:
        while True:
            message = await self.link.messages.get()
            try:
                self.on_message(message)
            except BadPayload as err:
                self.bad_payloads += 1
                if self.bad_payloads == 1:
                    log.warning("api: bad payload on %s: %s", message.topic, err)

    def on_message(self, message: Message) -> None:
        topic, payload = message.topic, message.payload
        now = datetime.now(UTC)
        if valve := self.topics.device_of(topic, "valve", "state"):
            self.seen[valve] = now
            self._on_state(valve, payload)
        elif device := self.topics.device_of(topic, "device", "availability"):
            if payload == b"offline":
                self.offline.add(device)
            else:
                self.offline.discard(device)
        elif self.topics.device_of(topic, "sensor", "reading"):
            reading = self.parser.parse(topic, payload, now)
            self.readings[reading.sensor] = reading
            self.seen[reading.sensor] = now
            self.hub.publish(
                "reading",
                {
                    "zone_id": reading.zone,
                    "sensor_id": reading.sensor,
                    "moisture_pct": round(reading.vwc * 100, 1),
                    "quality": reading.quality,
                    "at": reading.ts.isoformat(),
                },
            )
        elif topic == self.topics.controller_decision():
            self.hub.publish("decision", payloads.decode("decision.v1", payload))
        elif topic.startswith(f"{self.topics.base}/alarm/"):
            self.hub.publish("alarm", payloads.decode("alarm.v1", payload))

    def _on_state(self, valve: str, payload: bytes) -> None:
        data = payloads.decode("valve-state.v1", payload)

        def ts(key: str) -> datetime | None:
            return payloads.parse_ts(data[key]) if data.get(key) else None

        state = ValveState(
            valve,
            ValveStatus(data["state"]),
            ts("ts") or datetime.now(UTC),
            data.get("command_id"),
            ts("until"),
            ts("since"),
        )
        self.valves[valve] = state
        if data.get("flow_lph") is not None:
            self.flow_lph[valve] = float(data["flow_lph"])
        self.hub.publish(
            "valve",
            {
                "zone_id": self.valve_zone.get(valve),
                "valve_id": valve,
                "state": state.status.value,
                "until": state.until.isoformat() if state.until else None,
                "command_id": state.command_id,
                "at": state.ts.isoformat(),
            },
        )

    def valve(self, valve: str) -> ValveState | None:
        state = self.valves.get(valve)
        if valve in self.offline:
            return ValveState(valve, ValveStatus.OFFLINE, datetime.now(UTC))
        return state


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
