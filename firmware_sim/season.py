"""``smartfarm bench season``: the controller against a farmer's timer over one season.

The same farm and weather run twice on a virtual clock against a Mosquitto of our own:
once under the real controller (``firmware_sim.virtual.ClosedLoop``), once under a fixed
timer sized for peak demand and blind to rain (``firmware_sim.timer``). Each run's water,
pump energy, interventions, stress days and ET deficit come from the soil's own ledger.
Prints a table on stderr and one JSON line on stdout, and writes a PNG plot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from controller.settings import ControllerSettings
from firmware_sim.farm import SimFarm, SimZone
from firmware_sim.nodes import TEMP_RAW_PER_C
from firmware_sim.timer import TimerLoop, timer_schedule
from firmware_sim.virtual import ClosedLoop
from firmware_sim.weather import Weather, choose
from smartfarm.config import FarmConfig, parse_farm_config
from smartfarm.settings import parse_mqtt_url
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.topics import Topics

log = logging.getLogger(__name__)

# Pump: lift from a farm well plus drip pressure (about 20 m + 10 m), a small
# centrifugal pump's wire-to-water efficiency.
PUMP_HEAD_M = 30.0
PUMP_EFFICIENCY = 0.45
# A day whose Ks (FAO-56's daily value: actual over potential ETc) is below this is a
# stress day; 0.995 so that rounding noise of a sub-hourly step does not count.
STRESS_KS = 0.995
# Rain a farmer would pause a timer for (mm in a day).
PAUSE_RAIN_MM = 5.0
# (crop, soil, area m2) of the benchmark farm's zones, taken in order, cycling.
ZONES = [
    ("coffee", "clay_loam", 2000),
    ("coffee", "loam", 1800),
    ("black_pepper", "loam", 1200),
    ("black_pepper", "sandy_loam", 1000),
    ("durian", "clay_loam", 2500),
    ("cashew", "sandy_loam", 2500),
    ("cacao", "loam", 1500),
    ("rubber", "clay", 2500),
    ("coffee", "sandy_loam", 2000),
    ("durian", "loam", 2000),
]
SEASON_START = date(2026, 2, 1)  # the Central Highlands' dry season, February to April


def bench_farm(zones: int) -> FarmConfig:
    """A smallholding of ``zones`` drip blocks: one emitter of 3 L/h per 2 m2 (1.5 mm/h)."""
    rows: list[dict[str, Any]] = []
    total_flow = max_flow = 0.0
    for i in range(zones):
        crop, soil, area = ZONES[i % len(ZONES)]
        emitters = area // 2
        total_flow += emitters * 3.0
        max_flow = max(max_flow, emitters * 3.0)
        rows.append(
            {
                "id": f"z{i + 1}",
                "name": f"{crop} {i + 1}",
                "crop": crop,
                "soil": soil,
                "area_m2": area,
                "emitters": emitters,
                "emitter_flow_lph": 3.0,
                "valve": f"v-z{i + 1}",
                "sensors": [f"s-z{i + 1}-a"],
            }
        )
    data = {
        "farm": {
            "id": "season-bench",
            "name": "Season benchmark farm",
            "timezone": "Asia/Ho_Chi_Minh",
            # A third of the zones at once: the pump is a real constraint.
            "pump": {"capacity_lph": max(total_flow / 3, max_flow)},
        },
        "defaults": {"max_run_minutes": 120, "min_off_minutes": 30, "max_daily_minutes": 720},
        "zones": rows,
        # The default two-point calibration, with the probe's temperature coefficient as its
        # datasheet would give it (exact here, as the two points are).
        "calibration": {
            sensor: {"temp_raw_per_c": TEMP_RAW_PER_C} for row in rows for sensor in row["sensors"]
        },
    }
    return parse_farm_config(yaml.safe_dump(data), "season benchmark farm")


@dataclass
class RunResult:
    water_m3: float
    energy_kwh: float
    interventions: int
    stress_days: int
    deficit_mm: float
    balance_error_mm: float
    wall_s: float
    # The least irrigation any schedule could have given without stress (floor_mm).
    floor_m3: float = 0.0
    # What the counts are made of: alarm kinds (or pauses), and each stress day's zone.
    intervention_kinds: dict[str, int] = field(default_factory=dict)
    stress_zone_days: list[str] = field(default_factory=list)
    # For the plot: sample times, moisture per zone, daily irrigation per zone, daily rain.
    times: list[datetime] = field(default_factory=list)
    moisture: dict[str, list[float]] = field(default_factory=dict)
    daily_irrigation: dict[str, dict[date, float]] = field(default_factory=dict)
    daily_rain: dict[date, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        keys = ("water_m3", "energy_kwh", "interventions", "stress_days", "deficit_mm")
        out = {k: v for k, v in asdict(self).items() if k in keys}
        out["wall_s"] = round(self.wall_s, 1)
        out["intervention_kinds"] = self.intervention_kinds
        out["stress_zone_days"] = self.stress_zone_days[:20]
        return out


def pump_energy_kwh(water_m3: float) -> float:
    """E = rho g H V / eta: joules to kWh."""
    return 1000 * 9.81 * PUMP_HEAD_M * water_m3 / PUMP_EFFICIENCY / 3.6e6


def floor_mm(z: SimZone) -> float:
    """The least irrigation that keeps this zone unstressed over the run, mm over the zone.

    Without stress the crop transpires its potential ETc, whatever the schedule. Rain that
    entered, and the soil's store from where it started down to the start threshold (the
    MAD point, where Ks drops below 1), may cover part of it; nothing may drain. Any
    controller needs at least the rest; a real one, whose soil ends somewhere in its band
    and whose probe is noisy, a little more.
    """
    assert z.root is not None
    start = z.zone.effective_thresholds.start
    usable_store = max(0.0, z.start_storage_mm - start * z.root.depth_mm)
    led = z.root.ledger
    return max(0.0, led.et_potential_mm - led.rain_in_mm - usable_store)


def measure(sim: SimFarm, interventions: dict[str, int], wall_s: float) -> RunResult:
    water = deficit_weighted = area = error = floor = 0.0
    stressed: list[str] = []
    for z in sim.zones:
        if z.root is None:
            raise ValueError("a season needs the root-zone model (a farm with weather)")
        led = z.root.ledger
        water += led.irrigation_mm * z.zone.area_m2 / 1000
        floor += floor_mm(z) * z.zone.area_m2 / 1000
        deficit_weighted += led.deficit_mm * z.zone.area_m2
        area += z.zone.area_m2
        stressed += [
            f"{z.zone.id} {day} Ks {v[2] / v[3]:.3f}"
            for day, v in sorted(z.daily.items())
            if v[3] > 0 and v[2] / v[3] < STRESS_KS
        ]
        inflow = led.irrigation_mm + led.rain_in_mm
        outflow = led.et_mm + led.drainage_mm + led.runoff_mm
        stored = z.root.storage_mm - z.start_storage_mm
        error = max(error, abs(inflow - outflow - stored))
    return RunResult(
        water_m3=round(water, 2),
        energy_kwh=round(pump_energy_kwh(water), 1),
        interventions=sum(interventions.values()),
        stress_days=len(stressed),
        deficit_mm=round(deficit_weighted / area, 1),
        balance_error_mm=error,
        wall_s=wall_s,
        floor_m3=round(floor, 1),
        intervention_kinds=interventions,
        stress_zone_days=stressed,
    )


class Sampler:
    """Moisture of each zone once an hour, for the plot."""

    def __init__(self, sim: SimFarm) -> None:
        self.sim = sim
        self.times: list[datetime] = []
        self.moisture: dict[str, list[float]] = {z.zone.id: [] for z in sim.zones}

    def __call__(self, now: datetime) -> None:
        if self.times and now - self.times[-1] < timedelta(hours=1):
            return
        self.times.append(now)
        for z in self.sim.zones:
            self.moisture[z.zone.id].append(z.theta)

    def attach(self, result: RunResult, weather: Weather) -> RunResult:
        result.times, result.moisture = self.times, self.moisture
        result.daily_irrigation = {
            z.zone.id: {d: v[0] for d, v in z.daily.items()} for z in self.sim.zones
        }
        result.daily_rain = {d.day: d.rain_mm for d in weather.days}
        return result


async def _steps(
    n: int,
    advance: Callable[[], Awaitable[Any]],
    sample: Sampler,
    now: Callable[[], datetime],
    what: str,
) -> None:
    with tqdm(total=n, desc=what, unit="step", file=sys.stderr, mininterval=1.0) as bar:
        for _ in range(n):
            await advance()
            sample(now())
            bar.update()


async def run_controller(
    farm: FarmConfig, weather: Weather, broker_url: str, workdir: Path, step_s: float, seed: int
) -> RunResult:
    settings = ControllerSettings(
        mqtt_url=broker_url,
        var_dir=workdir,
        state_db_url=f"sqlite:///{workdir / 'state.db'}",
        topic_prefix="farm",
    )
    start = datetime.combine(weather.start, datetime.min.time(), tzinfo=farm.farm.tz)
    steps = round(len(weather.days) * 86400 / step_s)
    began = time.perf_counter()
    async with ClosedLoop(
        farm, settings, start=start, step_s=step_s, seed=seed, weather=weather
    ) as loop:
        # The loop keeps every step's observation for tests; a season only needs the soil.
        sampler = Sampler(loop.sim)
        await _steps(steps, loop.advance, sampler, loop.clock.now, "controller")
        loop.observations.clear()
        kinds: dict[str, int] = {}
        for alarm in loop.state.alarms(active_only=False, limit=100_000):
            kinds[alarm.kind] = kinds.get(alarm.kind, 0) + 1
        result = measure(loop.sim, kinds, time.perf_counter() - began)
    return sampler.attach(result, weather)


async def run_timer(
    farm: FarmConfig, weather: Weather, broker_url: str, step_s: float, seed: int
) -> RunResult:
    start = datetime.combine(weather.start, datetime.min.time(), tzinfo=farm.farm.tz)
    steps = round(len(weather.days) * 86400 / step_s)
    schedule = timer_schedule(farm, weather)
    topics = Topics("farm", farm.farm.id)
    began = time.perf_counter()
    async with TimerLoop(
        farm,
        parse_mqtt_url(broker_url),
        topics,
        schedule,
        start=start,
        weather=weather,
        step_s=step_s,
        seed=seed,
    ) as loop:
        sampler = Sampler(loop.sim)
        await _steps(steps, loop.advance, sampler, loop.clock.now, "timer")
        # Blind to rain: each day with real rain is a day the farmer must pause it by hand.
        pauses = sum(1 for d in weather.days if d.rain_mm >= PAUSE_RAIN_MM)
        result = measure(loop.sim, {"pause_for_rain": pauses}, time.perf_counter() - began)
    return sampler.attach(result, weather)


def saving_pct(timer: float, controller: float) -> float:
    return round(100 * (timer - controller) / timer, 1) if timer else 0.0


def table(controller: RunResult, timer: RunResult) -> str:
    rows = [
        ("water (m3)", controller.water_m3, timer.water_m3),
        ("pump energy (kWh)", controller.energy_kwh, timer.energy_kwh),
        ("interventions", controller.interventions, timer.interventions),
        ("stress days (zone-days)", controller.stress_days, timer.stress_days),
        ("ET deficit (mm)", controller.deficit_mm, timer.deficit_mm),
        ("no-stress floor (m3)", controller.floor_m3, timer.floor_m3),
        ("wall time (s)", round(controller.wall_s, 1), round(timer.wall_s, 1)),
    ]
    lines = [f"{'':26}{'controller':>12}{'timer':>12}"]
    lines += [f"{name:26}{c!s:>12}{t!s:>12}" for name, c, t in rows]
    return "\n".join(lines)


def plot(path: Path, farm: FarmConfig, controller: RunResult, timer: RunResult) -> None:
    """Moisture (both runs), thresholds, daily irrigation and rain, one panel per zone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(farm.zones), 1, figsize=(12, 2.4 * len(farm.zones)), sharex=True)
    axes = axes if len(farm.zones) > 1 else [axes]
    days = sorted(controller.daily_rain)
    noon = [datetime.combine(d, datetime.min.time()) + timedelta(hours=12) for d in days]
    for ax, zone in zip(axes, farm.zones, strict=True):
        local = [t.astimezone(farm.farm.tz).replace(tzinfo=None) for t in controller.times]
        ax.plot(local, controller.moisture[zone.id], color="tab:blue", lw=1, label="controller")
        local_t = [t.astimezone(farm.farm.tz).replace(tzinfo=None) for t in timer.times]
        ax.plot(local_t, timer.moisture[zone.id], color="tab:orange", lw=1, label="timer")
        t = zone.effective_thresholds
        ax.axhline(t.start, color="tab:red", ls="--", lw=0.8, label="start")
        ax.axhline(t.stop, color="tab:green", ls="--", lw=0.8, label="stop")
        ax.set_ylabel("m3/m3")
        ax.set_title(f"{zone.id}: {zone.crop} on {zone.soil}", fontsize=9, loc="left")
        bars = ax.twinx()
        width = timedelta(hours=8)
        irr_c = [controller.daily_irrigation[zone.id].get(d, 0.0) for d in days]
        irr_t = [timer.daily_irrigation[zone.id].get(d, 0.0) for d in days]
        bars.bar([n - width / 2 for n in noon], irr_c, width, color="tab:blue", alpha=0.3)
        bars.bar([n + width / 2 for n in noon], irr_t, width, color="tab:orange", alpha=0.3)
        bars.bar(noon, [controller.daily_rain[d] for d in days], width, color="tab:cyan", alpha=0.6)
        bars.set_ylabel("mm/day")
    axes[0].legend(loc="upper right", fontsize=7, ncol=4)
    fig.suptitle("Season: soil moisture (lines), irrigation and rain per day (bars)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="smartfarm bench season", description=__doc__)
    parser.add_argument("--zones", type=int, default=10, help="zones of the farm (10)")
    parser.add_argument("--days", type=int, default=90, help="days of the season (90)")
    parser.add_argument("--scenario", default="dry", help="weather scenario: dry, rainy (dry)")
    parser.add_argument("--weather", help="daily weather CSV instead of a scenario")
    parser.add_argument("--seed", type=int, default=1, help="weather and noise seed (1)")
    parser.add_argument("--step-s", type=float, default=600.0, help="sensor interval, s (600)")
    parser.add_argument("--png", default="season.png", help="plot file (season.png)")
    args = parser.parse_args(argv)
    if not 1 <= args.zones <= 100 or args.days < 1 or args.step_s < 60:
        parser.error("--zones 1 to 100, --days 1 or more, --step-s 60 or more")
    return args


async def season(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    farm = bench_farm(args.zones)
    weather = choose(
        None if args.weather else args.scenario, args.weather, SEASON_START, args.days, args.seed
    )
    assert weather is not None
    with MosquittoServer(workdir / "mosquitto") as broker:
        controller = await run_controller(
            farm, weather, broker.url, workdir, args.step_s, args.seed
        )
        timer = await run_timer(farm, weather, broker.url, args.step_s, args.seed)
    sys.stderr.write(table(controller, timer) + "\n")
    plot(Path(args.png), farm, controller, timer)
    return {
        "bench": "season",
        "weather": weather.name,
        "days": len(weather.days),
        "zones": len(farm.zones),
        "step_s": args.step_s,
        "controller": controller.summary(),
        "timer": timer.summary(),
        "water_saving_pct": saving_pct(timer.water_m3, controller.water_m3),
        "energy_saving_pct": saving_pct(timer.energy_kwh, controller.energy_kwh),
        # The most any schedule could save against this timer without a stress day.
        "floor_m3": controller.floor_m3,
        "best_saving_pct": saving_pct(timer.water_m3, controller.floor_m3),
        "balance_error_mm": max(controller.balance_error_mm, timer.balance_error_mm),
        "png": args.png,
    }


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with tempfile.TemporaryDirectory(prefix="season-") as tmp:
            result = asyncio.run(season(args, Path(tmp)))
    except ValueError as err:
        sys.stderr.write(f"smartfarm bench season: {err}\n")
        return 2
    sys.stdout.write(json.dumps(result) + "\n")
    return 0
