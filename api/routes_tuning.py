"""The technician's tools: thresholds with a preview, programs and windows, device health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError

from api import schemas
from api.access import CurrentUser
from api.context import ApiContext
from api.errors import NOT_FOUND, invalid, problem
from api.routes_zones import replay
from smartfarm.agronomy import Thresholds
from smartfarm.calibration import SensorCalibration
from smartfarm.config import ZoneConfig
from smartfarm.models import ValveStatus

# A sensor not heard from for this long is offline (it reports every few minutes).
SENSOR_OFFLINE_AFTER = timedelta(minutes=15)
# Li-ion cell of a sensor node: empty at 3.3 V, full at 4.2 V.
BATTERY_EMPTY_V, BATTERY_FULL_V = 3.3, 4.2


def _pct(v: float) -> float:
    return round(v * 100, 1)


def thresholds_state(ctx: ApiContext, zone: ZoneConfig) -> schemas.ThresholdsState:
    preset = zone.effective_thresholds
    now = ctx.thresholds(zone)
    override = "thresholds" in ctx.zone_tuning(zone.id)
    return schemas.ThresholdsState(
        start_pct=_pct(now.start),
        stop_pct=_pct(now.stop),
        source="override" if override else "preset",
        preset=schemas.ThresholdPair(start_pct=_pct(preset.start), stop_pct=_pct(preset.stop)),
    )


def _checked(body: schemas.ThresholdPair) -> Thresholds:
    if body.start_pct >= body.stop_pct:
        raise invalid(
            "start_pct", f"start ({body.start_pct}%) must be below stop ({body.stop_pct}%)"
        )
    return Thresholds(body.start_pct / 100, body.stop_pct / 100)


def program_of(zone: ZoneConfig) -> schemas.ProgramIO:
    return schemas.ProgramIO(
        windows=[str(w) for w in zone.windows],
        min_off_minutes=zone.min_off_minutes,
        max_run_minutes=zone.max_run_minutes,
        max_daily_minutes=zone.max_daily_minutes,
        max_daily_litres=zone.max_daily_litres,
        cycle_minutes=zone.cycle_soak.run_minutes if zone.cycle_soak else None,
        soak_minutes=zone.cycle_soak.soak_minutes if zone.cycle_soak else None,
        fallback_schedule=[
            {"at": f"{e.at:%H:%M}", "minutes": e.minutes, "days": e.days}
            for e in zone.fallback_schedule
        ],
    )


def _program_changes(body: schemas.ProgramIO) -> dict[str, Any]:
    if (body.cycle_minutes is None) != (body.soak_minutes is None):
        raise invalid("soak_minutes", "cycle_minutes and soak_minutes go together")
    cycle = (
        {"run_minutes": body.cycle_minutes, "soak_minutes": body.soak_minutes}
        if body.cycle_minutes is not None
        else None
    )
    return {
        "windows": body.windows,
        "min_off_minutes": body.min_off_minutes,
        "max_run_minutes": body.max_run_minutes,
        "max_daily_minutes": body.max_daily_minutes,
        "max_daily_litres": body.max_daily_litres,
        "cycle_soak": cycle,
        "fallback_schedule": body.fallback_schedule,
    }


def build(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["technician"])

    @router.get(
        "/zones/{zone_id}/thresholds", response_model=schemas.ThresholdsState, responses=NOT_FOUND
    )
    def get_thresholds(zone_id: str) -> schemas.ThresholdsState:
        return thresholds_state(ctx, ctx.zone(zone_id))

    @router.put(
        "/zones/{zone_id}/thresholds", response_model=schemas.ThresholdsState, responses=NOT_FOUND
    )
    def put_thresholds(
        zone_id: str, body: schemas.ThresholdsIn, user: CurrentUser
    ) -> schemas.ThresholdsState:
        """Set the zone's thresholds; the controller uses them from its next evaluation."""
        zone = ctx.zone(zone_id)
        t = _checked(body)
        before = thresholds_state(ctx, zone)
        changes = ctx.zone_tuning(zone.id)
        changes["thresholds"] = {"start": t.start, "stop": t.stop}
        ctx.set_zone_tuning(zone.id, changes, user)
        after = thresholds_state(ctx, zone)
        ctx.audit(
            user,
            "zone.thresholds",
            f"zone {zone.id}",
            before.model_dump(include={"start_pct", "stop_pct", "source"}),
            after.model_dump(include={"start_pct", "stop_pct", "source"}),
        )
        return after

    @router.post(
        "/zones/{zone_id}/thresholds/preview",
        response_model=schemas.DryRunOut,
        responses=NOT_FOUND,
    )
    def preview_thresholds(zone_id: str, body: schemas.PreviewIn) -> schemas.DryRunOut:
        """What the controller would have done with these thresholds; changes nothing."""
        zone = ctx.zone(zone_id)
        return replay(ctx, ctx.tuned(zone), _checked(body), body.days)

    @router.get("/zones/{zone_id}/program", response_model=schemas.ProgramIO, responses=NOT_FOUND)
    def get_program(zone_id: str) -> schemas.ProgramIO:
        return program_of(ctx.tuned(ctx.zone(zone_id)))

    @router.put("/zones/{zone_id}/program", response_model=schemas.ProgramIO, responses=NOT_FOUND)
    def put_program(zone_id: str, body: schemas.ProgramIO, user: CurrentUser) -> schemas.ProgramIO:
        """Windows and limits of automatic watering; checked like the farm config file."""
        zone = ctx.zone(zone_id)
        before = program_of(ctx.tuned(zone))
        changes = {**ctx.zone_tuning(zone.id), **_program_changes(body)}
        try:
            ZoneConfig.model_validate({**zone.model_dump(), **changes})
        except ValidationError as err:
            first = err.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "program"
            raise invalid(field, first["msg"]) from err
        ctx.set_zone_tuning(zone.id, changes, user)
        after = program_of(ctx.tuned(zone))
        ctx.audit(user, "zone.program", f"zone {zone.id}", before.model_dump(), after.model_dump())
        return after

    @router.get("/devices", response_model=list[schemas.DeviceOut])
    def list_devices() -> list[schemas.DeviceOut]:
        """Every sensor and valve of the farm with battery, last seen and calibration."""
        return devices(ctx, datetime.now(UTC))

    @router.put(
        "/devices/{device_id}/calibration", response_model=schemas.DeviceOut, responses=NOT_FOUND
    )
    def put_calibration(
        device_id: str, body: SensorCalibration, user: CurrentUser
    ) -> schemas.DeviceOut:
        """Set a sensor's calibration (raw ADC counts to moisture).

        Two points (`raw_dry`/`raw_wet`), polynomial coefficients (`poly`) or measured
        `points` fitted by least squares. The gateway and the controller use it for
        readings from then on, within about ten seconds; stored readings keep their raw
        counts. The farm config file is not changed.
        """
        if ctx.farm.zone_of_sensor(device_id) is None:
            raise problem(404, "no_such_device", f"Sensor {device_id!r} does not exist.")
        before = _calibration(ctx, device_id)
        ctx.tuning.put_calibration(device_id, body.model_dump(exclude_none=True), user.username)
        ctx.notify_tuning(user)
        after = _calibration(ctx, device_id)
        ctx.audit(user, "device.calibration", f"sensor {device_id}", before, after)
        return next(d for d in devices(ctx, datetime.now(UTC)) if d.device_id == device_id)

    return router


def _calibration(ctx: ApiContext, sensor: str) -> dict[str, Any]:
    """The calibration in use for a sensor: a technician's, or the farm config file's."""
    tuned = ctx.tuning.calibrations().get(sensor)
    if tuned is not None:
        return tuned
    return ctx.farm.calibration_of(sensor).model_dump(exclude_none=True)


def devices(ctx: ApiContext, now: datetime) -> list[schemas.DeviceOut]:
    out: list[schemas.DeviceOut] = []
    tuned = ctx.tuning.calibrations()
    for zone in ctx.farm.zones:
        latest = ctx.telemetry.latest(zone.sensors)
        for sensor in zone.sensors:
            r = ctx.live.readings.get(sensor) or latest.get(sensor)
            seen = ctx.live.seen.get(sensor) or (r.ts if r else None)
            battery = None
            if r is not None and r.battery_v is not None:
                span = BATTERY_FULL_V - BATTERY_EMPTY_V
                battery = round(min(100.0, max(0.0, (r.battery_v - BATTERY_EMPTY_V) / span * 100)))
            out.append(
                schemas.DeviceOut(
                    device_id=sensor,
                    kind="sensor",
                    zone_id=zone.id,
                    battery_pct=battery,
                    last_seen=seen,
                    online=seen is not None
                    and now - seen < SENSOR_OFFLINE_AFTER
                    and sensor not in ctx.live.offline,
                    calibration=tuned.get(sensor)
                    or ctx.farm.calibration_of(sensor).model_dump(exclude_none=True),
                )
            )
    valves: list[tuple[str, str | None]] = [(z.valve, z.id) for z in ctx.farm.zones]
    if ctx.farm.farm.pump.master_valve:
        valves.append((ctx.farm.farm.pump.master_valve, None))
    for valve, zone_id in valves:
        state = ctx.live.valve(valve)
        out.append(
            schemas.DeviceOut(
                device_id=valve,
                kind="valve",
                zone_id=zone_id,
                last_seen=ctx.live.seen.get(valve),
                online=state is not None
                and state.status not in (ValveStatus.OFFLINE, ValveStatus.UNKNOWN),
            )
        )
    return out
