"""The farm, its zones and the farmer's buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from api import schemas
from api.access import CurrentUser
from api.context import ApiContext
from api.errors import CONFLICT, NOT_FOUND, invalid, problem
from api.status import alarm_out, zone_status
from controller.dryrun import dry_run
from smartfarm import payloads
from smartfarm.agronomy import Thresholds
from smartfarm.config import ZoneConfig
from smartfarm.models import ValveStatus


def refuse_unsafe_watering(ctx: ApiContext, zone: ZoneConfig, now: datetime) -> None:
    """409 for what the controller would refuse anyway, so the farmer hears why at once."""
    valve = ctx.live.valve(zone.valve)
    if valve is not None and valve.status is ValveStatus.OFFLINE:
        raise problem(409, "valve_offline", "The zone's valve is not answering; check its power.")
    local = now.astimezone(ctx.farm.farm.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    seconds, litres = ctx.control.delivered_since(midnight).get(zone.id, (0.0, 0.0))
    left = zone.max_daily_minutes * 60 - seconds
    if zone.max_daily_litres is not None:
        left = min(left, (zone.max_daily_litres - litres) / zone.flow_lph * 3600)
    if left < 60:
        raise problem(
            409,
            "daily_limit",
            f"This zone already had {seconds / 60:.0f} minutes of water today, its daily limit.",
        )


def build(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["zones"])

    @router.get("/farm", response_model=schemas.Farm)
    def get_farm() -> schemas.Farm:
        return schemas.Farm(id=ctx.farm.farm.id, name=ctx.farm.farm.name, default_language="vi")

    def status(zone: ZoneConfig, now: datetime) -> schemas.ZoneStatus:
        alarms = ctx.state.alarms(active_only=True, limit=200)
        return zone_status(
            zone,
            ctx.thresholds(zone),
            ctx.telemetry,
            ctx.state,
            ctx.live,
            alarms,
            now,
            ctx.farm.farm.tz,
        )

    @router.get("/zones", response_model=list[schemas.ZoneStatus])
    def list_zones() -> list[schemas.ZoneStatus]:
        now = datetime.now(UTC)
        return [status(z, now) for z in ctx.farm.zones]

    @router.get("/zones/{zone_id}", response_model=schemas.ZoneStatus, responses=NOT_FOUND)
    def get_zone(zone_id: str) -> schemas.ZoneStatus:
        return status(ctx.zone(zone_id), datetime.now(UTC))

    @router.post(
        "/zones/{zone_id}/water",
        status_code=202,
        response_model=schemas.Accepted,
        responses={**NOT_FOUND, **CONFLICT},
    )
    def water_now(zone_id: str, body: schemas.WaterNow, user: CurrentUser) -> schemas.Accepted:
        """Water this zone now for some minutes (bounded by the zone's longest run)."""
        zone = ctx.zone(zone_id)
        refuse_unsafe_watering(ctx, zone, datetime.now(UTC))
        accepted = ctx.ask_controller(user, "water_now", zone=zone.id, minutes=body.minutes)
        ctx.audit(user, "zone.water_now", f"zone {zone.id}", None, body.model_dump())
        return accepted

    @router.post(
        "/zones/{zone_id}/stop",
        status_code=202,
        response_model=schemas.Accepted,
        responses=NOT_FOUND,
    )
    def stop(zone_id: str, user: CurrentUser) -> schemas.Accepted:
        zone = ctx.zone(zone_id)
        accepted = ctx.ask_controller(user, "stop", zone=zone.id)
        ctx.audit(user, "zone.stop", f"zone {zone.id}", None, None)
        return accepted

    @router.post(
        "/zones/{zone_id}/pause",
        status_code=202,
        response_model=schemas.Accepted,
        responses=NOT_FOUND,
    )
    def pause(zone_id: str, body: schemas.Pause, user: CurrentUser) -> schemas.Accepted:
        """No automatic watering until then (a person may still press Water now)."""
        zone = ctx.zone(zone_id)
        if body.until <= datetime.now(UTC):
            raise invalid("until", "must be in the future")
        paused = ctx.control.overrides().get(zone.id, (None, None))[0]
        until = payloads.format_ts(body.until)
        accepted = ctx.ask_controller(user, "pause", zone=zone.id, until=until)
        ctx.audit(user, "zone.pause", f"zone {zone.id}", {"paused_until": paused}, {"until": until})
        return accepted

    @router.post(
        "/zones/{zone_id}/resume",
        status_code=202,
        response_model=schemas.Accepted,
        responses=NOT_FOUND,
    )
    def resume(zone_id: str, user: CurrentUser) -> schemas.Accepted:
        zone = ctx.zone(zone_id)
        paused = ctx.control.overrides().get(zone.id, (None, None))[0]
        accepted = ctx.ask_controller(user, "resume", zone=zone.id)
        ctx.audit(user, "zone.resume", f"zone {zone.id}", {"paused_until": paused}, None)
        return accepted

    @router.post("/water-everything", status_code=202, response_model=schemas.Accepted)
    def water_everything(body: schemas.WaterNow, user: CurrentUser) -> schemas.Accepted:
        """Every zone in turn, the pump's capacity deciding how many at once."""
        accepted = ctx.ask_controller(user, "water_everything", minutes=body.minutes)
        ctx.audit(user, "farm.water_everything", "farm", None, body.model_dump())
        return accepted

    @router.post("/rain", status_code=202, response_model=schemas.Accepted)
    def report_rain(body: schemas.Rain, user: CurrentUser) -> schemas.Accepted:
        accepted = ctx.ask_controller(user, "rain", mm=body.mm)
        ctx.audit(user, "farm.rain", "farm", None, body.model_dump())
        return accepted

    @router.post("/zones/{zone_id}/dry-run", response_model=schemas.DryRunOut, responses=NOT_FOUND)
    def zone_dry_run(zone_id: str, body: schemas.DryRunIn) -> schemas.DryRunOut:
        """What the controller would have done with these thresholds; actuates nothing."""
        zone = ctx.zone(zone_id)
        if body.start >= body.stop:
            raise invalid("start", f"start ({body.start}) must be below stop ({body.stop})")
        return replay(ctx, zone, Thresholds(body.start, body.stop), body.days)

    @router.post("/alarms/{alarm_id}/ack", response_model=schemas.AlarmOut, responses=NOT_FOUND)
    def acknowledge_alarm(
        alarm_id: int, user: CurrentUser, body: schemas.Acknowledge | None = None
    ) -> schemas.AlarmOut:
        """The alarm was seen; it stays active until its cause is gone."""
        alarm = ctx.state.acknowledge_alarm(alarm_id, user.display_name, datetime.now(UTC))
        if alarm is None:
            raise problem(404, "no_such_alarm", f"Alarm {alarm_id} does not exist.")
        ctx.audit(user, "alarm.acknowledge", f"alarm {alarm_id}", {"kind": alarm.kind}, None)
        return alarm_out(alarm)

    return router


def replay(ctx: ApiContext, zone: ZoneConfig, t: Thresholds, days: float) -> schemas.DryRunOut:
    until = datetime.now(UTC)
    since = until - timedelta(days=days)
    readings = ctx.telemetry.history(zone.sensors, since, until)
    result = dry_run(ctx.farm, zone.id, t, readings, since, until)
    actual = ctx.control.cycles(zone.id, since)
    return schemas.DryRunOut(
        zone=zone.id,
        start=t.start,
        stop=t.stop,
        since=since,
        until=until,
        readings=result.readings,
        runs=[
            schemas.ShadowRunOut(started_at=r.started_at, minutes=r.minutes, litres=r.litres)
            for r in result.runs
        ],
        minutes=result.minutes,
        litres=result.litres,
        actual_minutes=sum(c.seconds for c in actual) / 60,
        actual_litres=sum(c.litres for c in actual),
        decisions=[
            schemas.ShadowDecisionOut(ts=ts, code=code, reason=reason)
            for ts, code, reason in result.decisions[-200:]
        ],
    )
