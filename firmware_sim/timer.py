"""A fixed timer on a virtual clock: what a farmer without sensors sets, over a real broker.

The schedule opens each zone at set local times for set minutes, every day, whatever the
soil or the rain. Commands are the real ``valve-command.v1``, bounded, sent over MQTT to
the simulated valve nodes, which close themselves; a marker after the commands tells the
driver each valve has handled them (as in ``firmware_sim.virtual``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from firmware_sim.clock import VirtualClock
from firmware_sim.farm import SimFarm
from firmware_sim.link import LoopLink
from firmware_sim.virtual import BARRIER_TIMEOUT_S, RESEND_S, ValveRecorder
from firmware_sim.weather import Weather
from smartfarm import payloads
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.settings import MqttEndpoint
from smartfarm.topics import QOS_COMMAND, Topics

# Drip systems are designed for the peak month's ETc over an application efficiency of
# 0.9 (FAO Irrigation and Drainage Paper 24; FAO-56 ch. 8 uses the same gross requirement).
DRIP_EFFICIENCY = 0.9
FIRST_START = time(5, 0)
SLOT_MINUTES = 10


@dataclass(frozen=True, slots=True)
class Slot:
    valve: str
    at: time
    minutes: int


def peak_minutes(zone: ZoneConfig, weather: Weather) -> int:
    """Daily minutes that meet the season's peak ETc (Kc x the highest ET0) at drip efficiency."""
    peak_et0 = max(d.et0_mm for d in weather.days)
    litres = zone.crop_preset.kc_mid * peak_et0 * zone.area_m2 / DRIP_EFFICIENCY
    minutes = 60 * litres / zone.flow_lph
    return SLOT_MINUTES * max(1, round(minutes / SLOT_MINUTES + 0.499))


def timer_schedule(farm: FarmConfig, weather: Weather) -> list[Slot]:
    """One run a day per zone from 05:00, packed so open flows never exceed the pump."""
    capacity = farm.farm.pump.capacity_lph
    placed: list[tuple[int, int, float]] = []  # (start, end) in minutes of the day, flow
    slots = []
    for zone in farm.zones:
        length = peak_minutes(zone, weather)
        start = FIRST_START.hour * 60
        while True:
            if start + length > 24 * 60:
                raise ValueError(f"the pump cannot give zone {zone.id} its peak water in a day")
            edges = [start, *(s for s, _, _ in placed if start < s < start + length)]
            if all(
                zone.flow_lph + sum(f for s, e, f in placed if s <= t < e) <= capacity
                for t in edges
            ):
                break
            start += SLOT_MINUTES
        placed.append((start, start + length, zone.flow_lph))
        slots.append(Slot(zone.valve, time(start // 60, start % 60), length))
    return slots


class TimerLoop:
    """The farm on a virtual clock, its valves driven by a fixed schedule over a broker."""

    def __init__(
        self,
        farm: FarmConfig,
        endpoint: MqttEndpoint,
        topics: Topics,
        schedule: Sequence[Slot],
        *,
        start: datetime,
        weather: Weather,
        step_s: float = 600.0,
        seed: int = 1,
    ) -> None:
        self.farm = farm
        self.schedule = list(schedule)
        self.step = timedelta(seconds=step_s)
        self.clock = VirtualClock(start)
        self.topics = topics
        self._progress = asyncio.Event()
        self.recorder = ValveRecorder(self.clock, self._progress)
        self.down_topic = f"{topics.base}/_sim/down"
        self.sim = SimFarm(
            farm,
            endpoint,
            topics,
            speed=1.0,
            seed=seed,
            clock=self.clock,
            weather=weather,
            valve_observer=self.recorder,
            sync_topic=self.down_topic,
            link_type=LoopLink,
        )
        self.link = LoopLink(endpoint, f"timer-{uuid.uuid4().hex[:8]}")
        self.commands_sent = 0
        self._round = 0

    async def __aenter__(self) -> TimerLoop:
        await self.link.start()
        await self.sim.start()
        await self._settle(resend=True)  # proves every valve's subscription is in place
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sim.stop()
        await self.link.stop()

    async def advance(self) -> None:
        """One step: soil and valve timers to the next step time, then the schedule's opens."""
        before = self.clock.now()
        target = before + self.step
        while self.sim.advance(target) < target:
            pass
        tz = self.farm.farm.tz
        sent = 0
        for slot in self.schedule:
            local = target.astimezone(tz)
            due = datetime.combine(local.date(), slot.at, tzinfo=tz)
            if before < due <= target:
                self._open(slot)
                sent += 1
        if sent:
            await self._settle()

    def _open(self, slot: Slot) -> None:
        body = {
            "v": 1,
            "id": uuid.uuid4().hex,
            "action": "open",
            "duration_s": slot.minutes * 60,
            "issued": payloads.format_ts(self.clock.now()),
            "reason": f"timer: {slot.minutes} min at {slot.at:%H:%M} every day",
        }
        self.link.publish(self.topics.valve_command(slot.valve), payloads.encode(body), QOS_COMMAND)
        self.commands_sent += 1

    async def _settle(self, resend: bool = False) -> None:
        """Publish a marker after the commands; wait until every valve has seen it."""
        self._round += 1
        token = f"timer-{self._round}".encode()
        valves = self.sim.valves()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BARRIER_TIMEOUT_S
        self.link.publish(self.down_topic, token, QOS_COMMAND)
        while not all(self.recorder.marks.get(v.device) == token for v in valves):
            if loop.time() > deadline:
                raise TimeoutError(f"valves did not confirm timer round {self._round}")
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), RESEND_S)
            if resend:
                self.link.publish(self.down_topic, token, QOS_COMMAND)
