"""The simulated farm: one soil layer per zone, its sensor nodes and its valve node."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from firmware_sim.clock import Clock, VirtualClock, WallClock
from firmware_sim.faults import FaultSpec, check_devices
from firmware_sim.nodes import SensorNode, ValveNode, ValveObserver
from firmware_sim.soil import SoilLayer, daylight_et0_mm, irrigation_rate_mm_h
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.settings import MqttEndpoint
from smartfarm.topics import Topics

log = logging.getLogger(__name__)


class SimZone:
    def __init__(
        self, zone: ZoneConfig, sensors: list[SensorNode], valve: ValveNode, theta: float
    ) -> None:
        self.zone = zone
        self.sensors = sensors
        self.valve = valve
        self.layer = SoilLayer(zone.soil_preset, zone.crop_preset, theta)

    def step(self, sim_dt_s: float, et0_mm: float | None = None) -> None:
        rate = irrigation_rate_mm_h(self.zone.flow_lph, self.zone.area_m2)
        self.layer.step(sim_dt_s, rate if self.valve.is_open else 0.0, et0_mm)


def initial_theta(zone: ZoneConfig, index: int, count: int) -> float:
    """Spread zones over their band so a new user sees one need water within seconds."""
    t = zone.effective_thresholds
    fraction = 0.05 + 0.9 * index / max(1, count - 1) if index else -0.05
    return t.start + fraction * (t.stop - t.start)


class SimFarm:
    """The farm's devices and soil.

    On the wall clock (``smartfarm up``, ``smartfarm sim``) soil physics runs ``speed``
    times faster than the clock while devices keep real time. On a ``VirtualClock`` a
    driver moves time with ``advance``: soil, device timers and timestamps all follow it.
    """

    def __init__(
        self,
        farm: FarmConfig,
        endpoint: MqttEndpoint,
        topics: Topics,
        *,
        speed: float = 600.0,
        report_seconds: float = 2.0,
        seed: int = 1,
        clock: Clock | None = None,
        faults: Sequence[FaultSpec] = (),
        daylight: bool = False,
        valve_observer: ValveObserver | None = None,
        sync_topic: str | None = None,
    ) -> None:
        self.farm = farm
        self.speed = speed
        self.report_seconds = report_seconds
        self.rng = random.Random(seed)
        self.clock: Clock = clock or WallClock()
        self.daylight = daylight
        self.faults = list(faults)
        check_devices(self.faults, [s for z in farm.zones for s in z.sensors])
        self.zones: list[SimZone] = []
        for i, zone in enumerate(farm.zones):
            sensors = [
                SensorNode(s, topics, endpoint, farm.calibration_of(s), self.clock)
                for s in zone.sensors
            ]
            valve = ValveNode(
                zone.valve,
                topics,
                endpoint,
                self.clock,
                observer=valve_observer,
                sync_topic=sync_topic,
            )
            self.zones.append(
                SimZone(zone, sensors, valve, initial_theta(zone, i, len(farm.zones)))
            )
        master = farm.farm.pump.master_valve
        self.master = (
            ValveNode(
                master, topics, endpoint, self.clock, observer=valve_observer, sync_topic=sync_topic
            )
            if master
            else None
        )
        # Soil time: the clock's time on a virtual clock; runs ``speed`` times faster otherwise.
        self.soil_time = self.clock.now()

    def sensors(self) -> list[SensorNode]:
        return [s for zone in self.zones for s in zone.sensors]

    def valves(self) -> list[ValveNode]:
        return [zone.valve for zone in self.zones] + ([self.master] if self.master else [])

    def nodes(self) -> list[SensorNode | ValveNode]:
        return [*self.sensors(), *self.valves()]

    def sensor(self, device: str) -> SensorNode:
        for node in self.sensors():
            if node.device == device:
                return node
        raise KeyError(device)

    async def start(self) -> None:
        """Connect every node; faults given at construction start counting from now."""
        await asyncio.gather(*(node.start() for node in self.nodes()))
        now = self.clock.now()
        self.soil_time = now
        for fault in self.faults:
            self.sensor(fault.device).inject(fault.kind, now + timedelta(seconds=fault.after_s))
            log.info("sensor %s: %s after %gs", fault.device, fault.kind.value, fault.after_s)

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes()), return_exceptions=True)

    def step_soil(self, dt_s: float) -> None:
        """Advance every zone's soil by ``dt_s`` seconds of soil time."""
        if dt_s <= 0:
            return
        end = self.soil_time + timedelta(seconds=dt_s)
        for zone in self.zones:
            et0 = None
            if self.daylight:
                et0 = daylight_et0_mm(zone.layer.et0_mm_day, self.soil_time, end, self.farm.farm.tz)
            zone.step(dt_s, et0)
        self.soil_time = end

    def report(self) -> None:
        """Every sensor publishes a reading of its zone's soil now."""
        for zone in self.zones:
            for sensor in zone.sensors:
                sensor.publish(zone.layer.theta, 27.0 + self.rng.gauss(0, 0.3), self.rng)

    def advance(self, until: datetime) -> datetime:
        """Virtual clock: run soil and clock to ``until`` or the next device timer, if sooner.

        The timers due then have fired (a valve closed itself); returns the time reached.
        """
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise TypeError("advance needs a VirtualClock; the wall clock moves by itself")
        due = clock.next_due()
        upto = min(until, due) if due is not None else until
        self.step_soil((upto - clock.now()).total_seconds())
        clock.advance_to(upto)
        self.soil_time = upto
        return upto

    async def run(self) -> None:
        """Start every node, then step and report until cancelled; nodes stop on the way out."""
        await self.start()
        log.info("simulated farm up: %d zones, soil time x%g", len(self.zones), self.speed)
        try:
            last = time.monotonic()
            while True:
                now = time.monotonic()
                self.step_soil((now - last) * self.speed)
                self.report()
                last = now
                await asyncio.sleep(self.report_seconds)
        finally:
            await self.stop()
