"""Farm config: a YAML file describing the farm, its pump and its zones.

Errors name the file, the line and the key, so a technician can fix the file
without reading Python tracebacks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from smartfarm.agronomy import CROPS, SOILS, Crop, Soil, Thresholds, default_thresholds
from smartfarm.calibration import SensorCalibration
from smartfarm.policy import CycleSoak, RainPolicy, ScheduleEntry, Window

# Ids end up in MQTT topics and line protocol: no wildcards, slashes, spaces or commas.
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


class FarmConfigError(ValueError):
    """A farm config file that cannot be used; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdOverride(_Strict):
    start: Fraction
    stop: Fraction

    @model_validator(mode="after")
    def _start_below_stop(self) -> ThresholdOverride:
        if self.start >= self.stop:
            raise ValueError(f"start ({self.start}) must be below stop ({self.stop})")
        return self


class ZoneConfig(_Strict):
    id: Id
    name: str = Field(min_length=1, max_length=80)
    crop: str
    soil: str
    area_m2: float = Field(gt=0, le=1_000_000)
    emitters: int = Field(gt=0, le=1_000_000)
    emitter_flow_lph: float = Field(gt=0, le=100)
    valve: Id
    sensors: list[Id] = Field(min_length=1)
    thresholds: ThresholdOverride | None = None
    # Longest single run (one cycle); the valve command never lasts longer.
    max_run_minutes: int = Field(60, ge=1, le=720)
    # Local time windows for automatic watering; empty means any time. Manual is not limited.
    windows: list[Window] = Field(default_factory=list)
    min_off_minutes: int = Field(30, ge=0, le=1440)
    # In a window's last hour, start a zone that is still in band but, at its present rate
    # of drying, would fall below its start threshold before the next window opens.
    top_up: bool = True
    max_daily_minutes: int = Field(240, ge=1, le=1440)
    max_daily_litres: float | None = Field(None, gt=0)
    cycle_soak: CycleSoak | None = None
    # Used only while the zone has no good reading (sensor fault): the technician's plan B.
    fallback_schedule: list[ScheduleEntry] = Field(default_factory=list)

    @field_validator("crop")
    @classmethod
    def _known_crop(cls, value: str) -> str:
        if value not in CROPS:
            raise ValueError(f"unknown crop {value!r}; known: {', '.join(sorted(CROPS))}")
        return value

    @field_validator("soil")
    @classmethod
    def _known_soil(cls, value: str) -> str:
        if value not in SOILS:
            raise ValueError(f"unknown soil {value!r}; known: {', '.join(sorted(SOILS))}")
        return value

    @property
    def flow_lph(self) -> float:
        """Design flow of the zone when its valve is open (litres per hour)."""
        return self.emitters * self.emitter_flow_lph

    @property
    def soil_preset(self) -> Soil:
        return SOILS[self.soil]

    @property
    def crop_preset(self) -> Crop:
        return CROPS[self.crop]

    @cached_property
    def effective_thresholds(self) -> Thresholds:
        if self.thresholds is not None:
            return Thresholds(self.thresholds.start, self.thresholds.stop)
        return default_thresholds(self.soil_preset, self.crop_preset)


class PumpConfig(_Strict):
    capacity_lph: float = Field(gt=0, le=10_000_000)
    # A master valve or pump relay (a valve node) opened before any zone and closed after.
    master_valve: Id | None = None
    lead_seconds: int = Field(3, ge=0, le=300)


class FarmInfo(_Strict):
    id: Id
    name: str = Field(min_length=1, max_length=120)
    timezone: str = "Asia/Ho_Chi_Minh"
    pump: PumpConfig
    rain_sensor: Id | None = None
    rain: RainPolicy = Field(default_factory=RainPolicy)
    # A zone with no good reading for this long is in sensor fault: alarm and fallback schedule.
    sensor_fault_minutes: int = Field(60, ge=1, le=10080)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Ho_Chi_Minh") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class FarmConfig(_Strict):
    farm: FarmInfo
    # Values every zone gets unless it sets its own (any zone key but id and devices).
    defaults: dict[str, Any] = Field(default_factory=dict)
    zones: list[ZoneConfig] = Field(min_length=1)
    calibration: dict[Id, SensorCalibration] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("defaults"), dict):
            return data
        defaults = data["defaults"]
        bad = sorted(set(defaults) & {"id", "name", "valve", "sensors"})
        unknown = sorted(set(defaults) - set(ZoneConfig.model_fields))
        if bad or unknown:
            raise ValueError(f"defaults may not set {', '.join(bad + unknown)}")
        zones = data.get("zones")
        if isinstance(zones, list):
            data = {
                **data,
                "zones": [{**defaults, **z} if isinstance(z, dict) else z for z in zones],
            }
        return data

    @model_validator(mode="after")
    def _unique_devices(self) -> FarmConfig:
        _no_duplicates("zone id", [z.id for z in self.zones])
        _no_duplicates("valve id", [z.valve for z in self.zones])
        _no_duplicates("sensor id", [s for z in self.zones for s in z.sensors])
        valves = [z.valve for z in self.zones]
        sensors = [s for z in self.zones for s in z.sensors]
        others = [d for d in (self.farm.pump.master_valve, self.farm.rain_sensor) if d]
        _no_duplicates("device id", valves + sensors + others)
        for zone in self.zones:
            if zone.flow_lph > self.farm.pump.capacity_lph:
                raise ValueError(
                    f"zone {zone.id} needs {zone.flow_lph:.0f} L/h but the pump gives only "
                    f"{self.farm.pump.capacity_lph:.0f} L/h"
                )
        return self

    def zone(self, zone_id: str) -> ZoneConfig:
        for zone in self.zones:
            if zone.id == zone_id:
                return zone
        raise KeyError(zone_id)

    def zone_of_sensor(self, sensor_id: str) -> ZoneConfig | None:
        for zone in self.zones:
            if sensor_id in zone.sensors:
                return zone
        return None

    def zone_of_valve(self, valve_id: str) -> ZoneConfig | None:
        for zone in self.zones:
            if zone.valve == valve_id:
                return zone
        return None

    def calibration_of(self, sensor_id: str) -> SensorCalibration:
        return self.calibration.get(sensor_id, SensorCalibration())

    def with_calibrations(self, calibrations: Mapping[str, Any]) -> FarmConfig:
        """This farm with some sensors' calibrations replaced (a technician's, from the API)."""
        if not calibrations:
            return self
        merged = {**self.model_dump()["calibration"], **calibrations}
        return FarmConfig.model_validate({**self.model_dump(), "calibration": merged})


def _no_duplicates(what: str, values: Sequence[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def load_farm_config(path: str | Path) -> FarmConfig:
    """Read and validate a farm config file, or raise FarmConfigError naming file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise FarmConfigError(f"{path}: cannot read farm config: {err.strerror}") from err
    return parse_farm_config(text, str(path))


def parse_farm_config(text: str, source: str = "<farm config>") -> FarmConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err)
        raise FarmConfigError(f"{where}: not valid YAML: {problem}") from err
    if not isinstance(data, dict):
        raise FarmConfigError(f"{source}:1: the file must be a mapping with 'farm' and 'zones'")
    try:
        return FarmConfig.model_validate(data)
    except ValidationError as err:
        raise FarmConfigError(_describe(err, root, source)) from err


def _describe(err: ValidationError, root: yaml.Node | None, source: str) -> str:
    lines = []
    for error in err.errors():
        loc = tuple(error["loc"])
        key = _dotted(loc)
        line = _line_of(root, loc)
        message = re.sub(r"^Value error, ", "", error["msg"])
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif error["type"] == "missing":
            message = "required key is missing"
        where = f"{source}:{line}" if line else source
        lines.append(f"{where}: {key or '(top level)'}: {message}")
    return "\n".join(lines)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node that ``loc`` reaches."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    child, line = value_node, key_node.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
