"""Device nodes as firmware would run them: each has its own MQTT connection and last will."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from smartfarm import payloads
from smartfarm.calibration import SensorCalibration
from smartfarm.mqtt import Message, MqttLink, Will
from smartfarm.settings import MqttEndpoint
from smartfarm.topics import QOS_COMMAND, QOS_READING, QOS_STATE, Topics

log = logging.getLogger(__name__)

# The valve's own ceiling, whatever a command says: firmware never trusts the network.
VALVE_MAX_OPEN_S = 12 * 3600
ADC_MAX = 4095


def _now() -> datetime:
    return datetime.now(UTC)


def raw_from_vwc(vwc: float, cal: SensorCalibration) -> int:
    """Invert the two-point calibration: capacitive probes read lower when wetter."""
    span = (vwc - cal.vwc_dry) / (cal.vwc_wet - cal.vwc_dry)
    return max(0, min(ADC_MAX, round(cal.raw_dry + span * (cal.raw_wet - cal.raw_dry))))


class SensorNode:
    def __init__(
        self, device: str, topics: Topics, endpoint: MqttEndpoint, cal: SensorCalibration
    ) -> None:
        self.device = device
        self.topics = topics
        self.cal = cal
        self.seq = 0
        self.battery_v = 4.1
        self.link = MqttLink(
            endpoint,
            client_id=f"sim-{device}",
            will=Will(topics.availability(device), b"offline"),
            on_connect_publish=[(topics.availability(device), b"online", QOS_STATE, True)],
        )

    async def start(self) -> None:
        await self.link.start()

    async def stop(self) -> None:
        self.link.publish(self.topics.availability(self.device), b"offline", QOS_STATE, True)
        await self.link.stop()

    def publish(self, vwc: float, temp_c: float, rng: random.Random) -> None:
        self.seq += 1
        self.battery_v = max(3.3, self.battery_v - 0.00001)
        noisy = vwc + rng.gauss(0.0, 0.004)
        body = {
            "v": 1,
            "device": self.device,
            "ts": payloads.format_ts(_now()),
            "seq": self.seq,
            "raw": raw_from_vwc(noisy, self.cal),
            "temp_c": round(temp_c, 1),
            "battery_v": round(self.battery_v, 3),
        }
        self.link.publish(self.topics.reading(self.device), payloads.encode(body), QOS_READING)


class ValveNode:
    """Obeys bounded commands and closes itself when the duration ends, broker or not."""

    def __init__(self, device: str, topics: Topics, endpoint: MqttEndpoint) -> None:
        self.device = device
        self.topics = topics
        self.is_open = False
        self.command_id: str | None = None
        self.since: datetime | None = None
        self.until: datetime | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        # Clean session: a command queued while the valve was offline is stale by then.
        self.link = MqttLink(
            endpoint,
            client_id=f"sim-{device}",
            subscriptions=[(topics.valve_command(device), QOS_COMMAND)],
            will=Will(topics.availability(device), b"offline"),
            on_connect_publish=[(topics.availability(device), b"online", QOS_STATE, True)],
        )

    async def start(self) -> None:
        await self.link.start()
        self._publish_state()
        self._task = asyncio.create_task(self._run(), name=f"valve-{self.device}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._close("shutdown")
        self.link.publish(self.topics.availability(self.device), b"offline", QOS_STATE, True)
        await self.link.stop()

    async def _run(self) -> None:
        while True:
            message = await self.link.messages.get()
            self.handle(message)

    def handle(self, message: Message) -> None:
        try:
            command = payloads.decode("valve-command.v1", message.payload)
        except payloads.BadPayload as err:
            log.warning("%s: ignored bad command: %s", self.device, err)
            return
        if command["action"] == "open":
            self._open(command)
        else:
            self.command_id = command["id"]
            self._close("command")

    def _open(self, command: dict[str, Any]) -> None:
        duration = min(int(command["duration_s"]), VALVE_MAX_OPEN_S)
        if self._timer is not None:
            self._timer.cancel()
        now = _now()
        if not self.is_open:
            self.since = now
        self.is_open = True
        self.command_id = command["id"]
        self.until = now + timedelta(seconds=duration)
        self._timer = asyncio.get_running_loop().call_later(duration, self._close, "timer")
        log.info("%s: open for %ds (command %s)", self.device, duration, self.command_id)
        self._publish_state()

    def _close(self, why: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        was_open = self.is_open
        self.is_open = False
        self.since = self.until = None
        if was_open:
            log.info("%s: closed (%s)", self.device, why)
        self._publish_state()

    def _publish_state(self) -> None:
        body = {
            "v": 1,
            "device": self.device,
            "state": "open" if self.is_open else "closed",
            "ts": payloads.format_ts(_now()),
            "command_id": self.command_id,
            "since": payloads.format_ts(self.since) if self.since else None,
            "until": payloads.format_ts(self.until) if self.until else None,
        }
        self.link.publish(
            self.topics.valve_state(self.device), payloads.encode(body), QOS_STATE, retain=True
        )
