"""Device nodes as firmware would run them: each has its own MQTT connection and last will."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from datetime import datetime, timedelta
from typing import Any, Protocol

from firmware_sim.clock import Clock, Timer, WallClock
from firmware_sim.faults import (
    ADC_MAX,
    SLOW_CONFIRM_S,
    FaultKind,
    SensorFault,
    ValveFaultKind,
)
from smartfarm import payloads
from smartfarm.calibration import SensorCalibration
from smartfarm.mqtt import Message, MqttLink, Will
from smartfarm.settings import MqttEndpoint
from smartfarm.topics import QOS_COMMAND, QOS_READING, QOS_STATE, Topics

log = logging.getLogger(__name__)

# The valve's own ceiling, whatever a command says: firmware never trusts the network.
VALVE_MAX_OPEN_S = 12 * 3600
# Probe noise (DESIGN.md: about 0.007 m3/m3 for capacitive probes).
NOISE_VWC = 0.007
# Capacitive counts fall as the soil warms (permittivity and electronics): counts per degC.
TEMP_RAW_PER_C = -3.0
TEMP_REF_C = 25.0
# A reading costs the battery this much (a LiPo from 4.15 V to 3.3 V in about a year of
# 10-minute readings); the node stops at 3.3 V.
BATTERY_V_PER_READING = 1.6e-5
BATTERY_EMPTY_V = 3.3
# Readings a node keeps while it has no link (RTC memory / flash ring): oldest dropped.
BUFFER_READINGS = 2000


def raw_from_vwc(vwc: float, cal: SensorCalibration) -> int:
    """Invert the two-point calibration: capacitive probes read lower when wetter."""
    span = (vwc - cal.vwc_dry) / (cal.vwc_wet - cal.vwc_dry)
    return max(0, min(ADC_MAX, round(cal.raw_dry + span * (cal.raw_wet - cal.raw_dry))))


class SensorNode:
    def __init__(
        self,
        device: str,
        topics: Topics,
        endpoint: MqttEndpoint,
        cal: SensorCalibration,
        clock: Clock | None = None,
        *,
        link_type: type[MqttLink] = MqttLink,
    ) -> None:
        self.device = device
        self.topics = topics
        self.cal = cal
        self.clock: Clock = clock or WallClock()
        self.seq = 0
        self.battery_v = 4.15
        self.fault: SensorFault | None = None
        self.fault_from: datetime | None = None
        self.last_good_raw: int | None = None
        # Store and forward: readings taken without a link, replayed in order on reconnect.
        self.buffer: deque[bytes] = deque(maxlen=BUFFER_READINGS)
        self.dropped = 0
        self.link = link_type(
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

    def inject(self, kind: FaultKind, at: datetime | None = None) -> None:
        """Break the probe from ``at`` (default now) until ``repair``."""
        self.fault = SensorFault(kind)
        self.fault_from = at or self.clock.now()

    def repair(self) -> None:
        self.fault = self.fault_from = None

    def measure(self, vwc: float, rng: random.Random, temp_c: float = TEMP_REF_C) -> int:
        """The raw count the probe sends for the soil's ``vwc``: noise, temperature, fault."""
        raw = raw_from_vwc(vwc + rng.gauss(0.0, NOISE_VWC), self.cal)
        raw = max(0, min(ADC_MAX, round(raw + TEMP_RAW_PER_C * (temp_c - TEMP_REF_C))))
        now = self.clock.now()
        if self.fault is None or self.fault_from is None or now < self.fault_from:
            self.last_good_raw = raw
            return raw
        elapsed = (now - self.fault_from).total_seconds()
        return self.fault.apply(
            raw, self.last_good_raw, rng, elapsed_s=elapsed, raw_dry=self.cal.raw_dry
        )

    def publish(self, vwc: float, temp_c: float, rng: random.Random) -> None:
        """Take a reading; send it with what the buffer holds, or buffer it without a link."""
        if self.battery_v <= BATTERY_EMPTY_V:
            return  # flat: a real node browns out and sends nothing
        self.seq += 1
        self.battery_v = max(BATTERY_EMPTY_V, self.battery_v - BATTERY_V_PER_READING)
        body = {
            "v": 1,
            "device": self.device,
            "ts": payloads.format_ts(self.clock.now()),
            "seq": self.seq,
            "raw": self.measure(vwc, rng, temp_c),
            "temp_c": round(temp_c, 1),
            "battery_v": round(self.battery_v, 3),
        }
        if len(self.buffer) == self.buffer.maxlen:
            self.dropped += 1
        self.buffer.append(payloads.encode(body))
        self.flush()

    def flush(self) -> int:
        """Send the buffered readings, oldest first, if the link is up; how many went."""
        if not self.link.connected:
            return 0
        sent = 0
        while self.buffer:
            payload = self.buffer.popleft()
            self.link.publish(self.topics.reading(self.device), payload, QOS_READING)
            sent += 1
        return sent


class ValveObserver(Protocol):
    """Sees what a valve node does; the virtual-time driver records it for assertions."""

    def command(self, valve: str, payload: bytes, accepted: bool) -> None: ...

    def changed(self, valve: str, is_open: bool, at: datetime) -> None: ...

    def marker(self, valve: str, payload: bytes) -> None: ...


class ValveNode:
    """Obeys bounded commands and closes itself when the duration ends, broker or not.

    ``is_open`` is what the node commands its solenoid; ``flowing`` is whether water
    passes, which a stuck valve makes differ. The state reports ``flow_lph``: the zone's
    emitters times their flow while water passes, as the node's flow meter would.
    """

    def __init__(
        self,
        device: str,
        topics: Topics,
        endpoint: MqttEndpoint,
        clock: Clock | None = None,
        *,
        observer: ValveObserver | None = None,
        sync_topic: str | None = None,
        flow_lph: float | None = None,
        link_type: type[MqttLink] = MqttLink,
    ) -> None:
        self.device = device
        self.topics = topics
        self.flow_lph = flow_lph
        self.fault: ValveFaultKind | None = None
        self.clock: Clock = clock or WallClock()
        self.observer = observer
        self.is_open = False
        self.command_id: str | None = None
        self.since: datetime | None = None
        self.until: datetime | None = None
        self.states_published = 0
        self.last_state: dict[str, Any] | None = None
        self._timer: Timer | None = None
        self._task: asyncio.Task[None] | None = None
        # A driver's markers (virtual time only) arrive here, in order with the commands.
        self.sync_topic = sync_topic
        subscriptions = [(topics.valve_command(device), QOS_COMMAND)]
        if sync_topic is not None:
            subscriptions.append((sync_topic, QOS_COMMAND))
        # Clean session: a command queued while the valve was offline is stale by then.
        self.link = link_type(
            endpoint,
            client_id=f"sim-{device}",
            subscriptions=subscriptions,
            will=Will(topics.availability(device), b"offline"),
            on_connect_publish=[(topics.availability(device), b"online", QOS_STATE, True)],
        )

    @property
    def flowing(self) -> bool:
        if self.fault is ValveFaultKind.STUCK_OPEN:
            return True
        if self.fault is ValveFaultKind.STUCK_CLOSED:
            return False
        return self.is_open

    def inject(self, kind: ValveFaultKind) -> None:
        """Break the valve until ``repair``; a stuck one reports its real flow at once."""
        self.fault = kind
        self._publish_state()

    def repair(self) -> None:
        self.fault = None
        self._publish_state()

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
            if message.topic == self.sync_topic:
                if self.observer is not None:
                    self.observer.marker(self.device, message.payload)
                continue
            self.handle(message)

    def handle(self, message: Message) -> None:
        try:
            command = payloads.decode("valve-command.v1", message.payload)
        except payloads.BadPayload as err:
            log.warning("%s: ignored bad command: %s", self.device, err)
            if self.observer is not None:
                self.observer.command(self.device, message.payload, False)
            return
        if self.observer is not None:
            self.observer.command(self.device, message.payload, True)
        if command["action"] == "open":
            self._open(command)
        else:
            self.command_id = command["id"]
            self._close("command")

    def _open(self, command: dict[str, Any]) -> None:
        duration = min(int(command["duration_s"]), VALVE_MAX_OPEN_S)
        if self._timer is not None:
            self._timer.cancel()
        now = self.clock.now()
        was_open = self.is_open
        if not was_open:
            self.since = now
        self.is_open = True
        self.command_id = command["id"]
        self.until = now + timedelta(seconds=duration)
        self._timer = self.clock.call_at(self.until, self._expire)
        log.info("%s: open for %ds (command %s)", self.device, duration, self.command_id)
        if not was_open and self.observer is not None:
            self.observer.changed(self.device, True, now)
        self._publish_state()

    def _expire(self) -> None:
        self._timer = None
        self._close("timer")

    def _close(self, why: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        was_open = self.is_open
        self.is_open = False
        self.since = self.until = None
        if was_open:
            log.info("%s: closed (%s)", self.device, why)
            if self.observer is not None:
                self.observer.changed(self.device, False, self.clock.now())
        self._publish_state()

    def _publish_state(self) -> None:
        if self.fault is ValveFaultKind.SLOW_CONFIRM:
            # The body is built when the timer fires: the state as it is by then.
            self.clock.call_at(
                self.clock.now() + timedelta(seconds=SLOW_CONFIRM_S), self._send_state
            )
            return
        self._send_state()

    def _send_state(self) -> None:
        flow = None
        if self.flow_lph is not None:
            flow = self.flow_lph if self.flowing else 0.0
        body = {
            "v": 1,
            "device": self.device,
            "state": "open" if self.is_open else "closed",
            "ts": payloads.format_ts(self.clock.now()),
            "command_id": self.command_id,
            "since": payloads.format_ts(self.since) if self.since else None,
            "until": payloads.format_ts(self.until) if self.until else None,
            "flow_lph": flow,
        }
        self.states_published += 1
        self.last_state = body
        self.link.publish(
            self.topics.valve_state(self.device), payloads.encode(body), QOS_STATE, retain=True
        )
