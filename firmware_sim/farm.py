"""The simulated farm: one soil layer per zone, its sensor nodes and its valve node."""

from __future__ import annotations

import asyncio
import logging
import random
import time

from firmware_sim.nodes import SensorNode, ValveNode
from firmware_sim.soil import SoilLayer, irrigation_rate_mm_h
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

    def step(self, sim_dt_s: float) -> None:
        rate = irrigation_rate_mm_h(self.zone.flow_lph, self.zone.area_m2)
        self.layer.step(sim_dt_s, rate if self.valve.is_open else 0.0)


def initial_theta(zone: ZoneConfig, index: int, count: int) -> float:
    """Spread zones over their band so a new user sees one need water within seconds."""
    t = zone.effective_thresholds
    fraction = 0.05 + 0.9 * index / max(1, count - 1) if index else -0.05
    return t.start + fraction * (t.stop - t.start)


class SimFarm:
    """Runs the farm's devices; soil physics runs ``speed`` times faster than the clock."""

    def __init__(
        self,
        farm: FarmConfig,
        endpoint: MqttEndpoint,
        topics: Topics,
        *,
        speed: float,
        report_seconds: float,
        seed: int = 1,
    ) -> None:
        self.speed = speed
        self.report_seconds = report_seconds
        self.rng = random.Random(seed)
        self.zones: list[SimZone] = []
        for i, zone in enumerate(farm.zones):
            sensors = [
                SensorNode(s, topics, endpoint, farm.calibration_of(s)) for s in zone.sensors
            ]
            valve = ValveNode(zone.valve, topics, endpoint)
            self.zones.append(
                SimZone(zone, sensors, valve, initial_theta(zone, i, len(farm.zones)))
            )

    def nodes(self) -> list[SensorNode | ValveNode]:
        out: list[SensorNode | ValveNode] = []
        for zone in self.zones:
            out.extend(zone.sensors)
            out.append(zone.valve)
        return out

    async def run(self) -> None:
        """Start every node, then step and report until cancelled; nodes stop on the way out."""
        await asyncio.gather(*(node.start() for node in self.nodes()))
        log.info("simulated farm up: %d zones, soil time x%g", len(self.zones), self.speed)
        try:
            last = time.monotonic()
            while True:
                now = time.monotonic()
                for zone in self.zones:
                    zone.step((now - last) * self.speed)
                    for sensor in zone.sensors:
                        sensor.publish(zone.layer.theta, 27.0 + self.rng.gauss(0, 0.3), self.rng)
                last = now
                await asyncio.sleep(self.report_seconds)
        finally:
            await asyncio.gather(*(node.stop() for node in self.nodes()), return_exceptions=True)
