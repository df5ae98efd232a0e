"""The API's live view of the farm from MQTT: valve states and availability."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from smartfarm import payloads
from smartfarm.models import ValveState, ValveStatus
from smartfarm.mqtt import MqttLink
from smartfarm.payloads import BadPayload
from smartfarm.topics import QOS_STATE, Topics

log = logging.getLogger(__name__)


class LiveState:
    def __init__(self, link: MqttLink, topics: Topics) -> None:
        self.link = link
        self.topics = topics
        self.valves: dict[str, ValveState] = {}
        self.offline: set[str] = set()
        link.subscriptions.extend(
            [(topics.all_valve_states, QOS_STATE), (topics.availability("+"), QOS_STATE)]
        )

    async def follow(self) -> None:
        while True:
            message = await self.link.messages.get()
            if valve := self.topics.device_of(message.topic, "valve", "state"):
                self._on_state(valve, message.payload)
            elif device := self.topics.device_of(message.topic, "device", "availability"):
                if message.payload == b"offline":
                    self.offline.add(device)
                else:
                    self.offline.discard(device)

    def _on_state(self, valve: str, payload: bytes) -> None:
        try:
            data = payloads.decode("valve-state.v1", payload)
        except BadPayload as err:
            log.warning("api: bad state from valve %s: %s", valve, err)
            return

        def ts(key: str) -> datetime | None:
            return payloads.parse_ts(data[key]) if data.get(key) else None

        self.valves[valve] = ValveState(
            valve,
            ValveStatus(data["state"]),
            ts("ts") or datetime.now(UTC),
            data.get("command_id"),
            ts("until"),
            ts("since"),
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
