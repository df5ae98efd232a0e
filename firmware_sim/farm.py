"""The simulated farm: one soil layer per zone, its sensor nodes and its valve node."""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import partial

from tqdm import tqdm

from firmware_sim.balance import RootZone
from firmware_sim.clock import Clock, VirtualClock, WallClock
from firmware_sim.faults import FaultKind, FaultSpec, check_devices
from firmware_sim.nodes import SensorNode, ValveNode, ValveObserver
from firmware_sim.soil import SoilLayer, daylight_et0_mm, irrigation_rate_mm_h
from firmware_sim.weather import Weather
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.mqtt import MqttLink
from smartfarm.settings import MqttEndpoint
from smartfarm.topics import Topics

log = logging.getLogger(__name__)


class SimZone:
    """A zone's soil: the fast drip-bulb layer of the demo, or the FAO-56 root zone."""

    def __init__(
        self,
        zone: ZoneConfig,
        sensors: list[SensorNode],
        valve: ValveNode,
        theta: float,
        *,
        root_zone: bool = False,
    ) -> None:
        self.zone = zone
        self.sensors = sensors
        self.valve = valve
        self.layer = SoilLayer(zone.soil_preset, zone.crop_preset, theta)
        self.root = RootZone(zone.soil_preset, zone.crop_preset, theta) if root_zone else None
        # Water held at the start, mm over the zone: the balance's reference.
        self.start_storage_mm = self.root.storage_mm if self.root is not None else 0.0
        # Per local day (root-zone model only): irrigation, rain, actual and potential ET, mm.
        self.daily: dict[date, list[float]] = {}

    @property
    def theta(self) -> float:
        return self.root.theta if self.root is not None else self.layer.theta

    def step(
        self,
        sim_dt_s: float,
        et0_mm: float | None = None,
        rain_mm: float = 0.0,
        day: date | None = None,
    ) -> None:
        # The water that flows is what the valve really passes (a stuck valve differs).
        flowing = self.valve.flowing
        if self.root is None:
            rate = irrigation_rate_mm_h(self.zone.flow_lph, self.zone.area_m2)
            self.layer.step(sim_dt_s, rate if flowing else 0.0, et0_mm)
            return
        litres = self.zone.flow_lph * sim_dt_s / 3600 if flowing else 0.0
        led = self.root.ledger
        before = (led.irrigation_mm, led.rain_mm, led.et_mm, led.et_potential_mm)
        self.root.step(sim_dt_s, litres / self.zone.area_m2, rain_mm, et0_mm or 0.0)
        if day is not None:
            after = (led.irrigation_mm, led.rain_mm, led.et_mm, led.et_potential_mm)
            sums = self.daily.setdefault(day, [0.0, 0.0, 0.0, 0.0])
            for i, (a, b) in enumerate(zip(before, after, strict=True)):
                sums[i] += b - a


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
        weather: Weather | None = None,
        progress: bool = False,
        link_type: type[MqttLink] = MqttLink,
    ) -> None:
        self.farm = farm
        # With weather, each zone is an FAO-56 root zone fed by that weather's ET0 and rain.
        self.weather = weather
        self.progress = progress
        self.speed = speed
        self.report_seconds = report_seconds
        self.rng = random.Random(seed)
        self.clock: Clock = clock or WallClock()
        self.daylight = daylight
        self.faults = list(faults)
        valves = [z.valve for z in farm.zones]
        if farm.farm.pump.master_valve:
            valves.append(farm.farm.pump.master_valve)
        check_devices(self.faults, [s for z in farm.zones for s in z.sensors], valves)
        self.zones: list[SimZone] = []
        for i, zone in enumerate(farm.zones):
            sensors = [
                SensorNode(
                    s, topics, endpoint, farm.calibration_of(s), self.clock, link_type=link_type
                )
                for s in zone.sensors
            ]
            valve = ValveNode(
                zone.valve,
                topics,
                endpoint,
                self.clock,
                observer=valve_observer,
                sync_topic=sync_topic,
                flow_lph=zone.flow_lph,
                link_type=link_type,
            )
            theta = (
                zone.effective_thresholds.stop
                if weather is not None
                else initial_theta(zone, i, len(farm.zones))
            )
            self.zones.append(SimZone(zone, sensors, valve, theta, root_zone=weather is not None))
        master = farm.farm.pump.master_valve
        self.master = (
            ValveNode(
                master,
                topics,
                endpoint,
                self.clock,
                observer=valve_observer,
                sync_topic=sync_topic,
                link_type=link_type,
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

    def valve(self, device: str) -> ValveNode:
        for node in self.valves():
            if node.device == device:
                return node
        raise KeyError(device)

    async def start(self) -> None:
        """Connect every node; faults given at construction start counting from now."""
        await asyncio.gather(*(node.start() for node in self.nodes()))
        now = self.clock.now()
        self.soil_time = now
        for fault in self.faults:
            at = now + timedelta(seconds=fault.after_s)
            if isinstance(fault.kind, FaultKind):
                self.sensor(fault.device).inject(fault.kind, at)
            else:
                self.clock.call_at(at, partial(self.valve(fault.device).inject, fault.kind))
            log.info("%s: %s after %gs", fault.device, fault.kind.value, fault.after_s)

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes()), return_exceptions=True)

    def step_soil(self, dt_s: float) -> None:
        """Advance every zone's soil by ``dt_s`` seconds of soil time."""
        if dt_s <= 0:
            return
        end = self.soil_time + timedelta(seconds=dt_s)
        tz = self.farm.farm.tz
        if self.weather is not None:
            et0, rain = self.weather.between(self.soil_time, end, tz)
            day = self.soil_time.astimezone(tz).date()
            for zone in self.zones:
                zone.step(dt_s, et0, rain, day)
        else:
            for zone in self.zones:
                et0_or_none = None
                if self.daylight:
                    et0_or_none = daylight_et0_mm(zone.layer.et0_mm_day, self.soil_time, end, tz)
                zone.step(dt_s, et0_or_none)
        self.soil_time = end

    def soil_temp_c(self) -> float:
        """The probe's temperature: 27 degC, or with weather a damped copy of the air's."""
        if self.weather is None:
            return 27.0
        local = self.soil_time.astimezone(self.farm.farm.tz)
        # The season's closing midnight belongs to its last day.
        w = self.weather.day(min(local.date(), self.weather.days[-1].day))
        hour = local.hour + local.minute / 60
        # Air: coolest at 06:00, hottest at 14:00, cosine segments between.
        if 6.0 <= hour < 14.0:
            share = (1 - math.cos(math.pi * (hour - 6.0) / 8.0)) / 2
        else:
            share = (1 + math.cos(math.pi * ((hour - 14.0) % 24) / 16.0)) / 2
        mean = (w.tmax_c + w.tmin_c) / 2
        air = w.tmin_c + (w.tmax_c - w.tmin_c) * share
        # At the probe's depth the daily swing is about a third of the air's.
        return mean + 0.35 * (air - mean)

    def report(self) -> None:
        """Every sensor publishes a reading of its zone's soil now."""
        temp = self.soil_temp_c()
        for zone in self.zones:
            for sensor in zone.sensors:
                sensor.publish(zone.theta, temp + self.rng.gauss(0, 0.3), self.rng)

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

    def season_end(self) -> datetime | None:
        """Midnight after the weather's last day: a run with weather ends there."""
        if self.weather is None:
            return None
        last = self.weather.days[-1].day + timedelta(days=1)
        return datetime(last.year, last.month, last.day, tzinfo=self.farm.farm.tz)

    async def run(self) -> None:
        """Start every node, then step and report until cancelled or the season ends."""
        await self.start()
        end = self.season_end()
        log.info("simulated farm up: %d zones, soil time x%g", len(self.zones), self.speed)
        start = self.soil_time
        total_days = (end - start).total_seconds() / 86400 if end is not None else 0.0
        bar = tqdm(
            total=round(total_days, 2), unit="day", disable=not (self.progress and end), leave=True
        )
        try:
            last = time.monotonic()
            while end is None or self.soil_time < end:
                now = time.monotonic()
                dt = (now - last) * self.speed
                if end is not None:
                    dt = min(dt, (end - self.soil_time).total_seconds())
                self.step_soil(dt)
                self.report()
                bar.update(round((self.soil_time - start).total_seconds() / 86400, 2) - bar.n)
                last = now
                await asyncio.sleep(self.report_seconds)
            log.info("season over at %s", self.soil_time.isoformat())
        finally:
            bar.close()
            await self.stop()
