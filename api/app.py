"""The FastAPI application: farm status and the farmer's buttons under /api/v1."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api import schemas
from api.live import LiveState, cancel
from controller.dryrun import dry_run
from controller.store import ControlStore
from smartfarm import payloads
from smartfarm.agronomy import Thresholds
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.models import Alarm, DecisionRecord, ValveStatus
from smartfarm.mqtt import MqttLink
from smartfarm.settings import ApiSettings
from smartfarm.stores.base import TelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.topics import QOS_COMMAND, Topics

STATIC = Path(__file__).parent / "static"
# Older than this, the page marks a reading stale (sensors report every few minutes).
STALE_AFTER = timedelta(minutes=15)


def create_app(
    farm: FarmConfig,
    settings: ApiSettings,
    telemetry: TelemetryStore,
    state: StateStore,
    control: ControlStore,
) -> FastAPI:
    topics = Topics(settings.topic_prefix, farm.farm.id)
    link = MqttLink(settings.mqtt, settings.client_id)
    live = LiveState(link, topics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await link.start()
        follower = asyncio.create_task(live.follow())
        try:
            yield
        finally:
            await cancel(follower)
            await link.stop()

    app = FastAPI(
        title="smartfarm",
        version="0.1.0",
        summary="Soil moisture and drip irrigation for one farm",
        lifespan=lifespan,
    )

    def zone_or_404(zone_id: str) -> ZoneConfig:
        try:
            return farm.zone(zone_id)
        except KeyError:
            raise HTTPException(404, f"zone {zone_id!r} does not exist") from None

    def request(action: str, **fields: object) -> schemas.Accepted:
        """Ask the controller; it applies the safety limits and logs the outcome."""
        if not link.connected:
            raise HTTPException(503, "not connected to the farm's broker; try again shortly")
        body: dict[str, object] = {
            "v": 1,
            "id": uuid.uuid4().hex[:16],
            "action": action,
            "by": "web",
            "issued": payloads.format_ts(datetime.now(UTC)),
        }
        body.update({k: v for k, v in fields.items() if v is not None})
        link.publish(topics.controller_request(), payloads.encode(body), QOS_COMMAND)
        return schemas.Accepted(request_id=str(body["id"]))

    @app.get("/api/v1/farm", response_model=schemas.Farm)
    def get_farm() -> schemas.Farm:
        return schemas.Farm(id=farm.farm.id, name=farm.farm.name)

    @app.get("/api/v1/zones", response_model=list[schemas.ZoneStatus])
    def list_zones() -> list[schemas.ZoneStatus]:
        now = datetime.now(UTC)
        return [zone_status(z, telemetry, state, live, now) for z in farm.zones]

    @app.get("/api/v1/zones/{zone_id}", response_model=schemas.ZoneStatus)
    def get_zone(zone_id: str) -> schemas.ZoneStatus:
        return zone_status(zone_or_404(zone_id), telemetry, state, live, datetime.now(UTC))

    @app.get("/api/v1/zones/{zone_id}/history", response_model=schemas.History)
    def zone_history(
        zone_id: str, hours: Annotated[float, Query(gt=0, le=24 * 366)] = 24
    ) -> schemas.History:
        zone = zone_or_404(zone_id)
        end = datetime.now(UTC)
        start = end - timedelta(hours=hours)
        points = [
            schemas.Point(ts=r.ts, sensor=r.sensor, vwc=r.vwc)
            for r in telemetry.history(zone.sensors, start, end)
        ]
        return schemas.History(zone=zone.id, start=start, end=end, points=points)

    @app.post("/api/v1/zones/{zone_id}/water", status_code=202, response_model=schemas.Accepted)
    def water_now(zone_id: str, body: schemas.WaterNow) -> schemas.Accepted:
        return request("water_now", zone=zone_or_404(zone_id).id, minutes=body.minutes)

    @app.post("/api/v1/zones/{zone_id}/stop", status_code=202, response_model=schemas.Accepted)
    def stop(zone_id: str) -> schemas.Accepted:
        return request("stop", zone=zone_or_404(zone_id).id)

    @app.post("/api/v1/zones/{zone_id}/pause", status_code=202, response_model=schemas.Accepted)
    def pause(zone_id: str, body: schemas.Pause) -> schemas.Accepted:
        if body.until <= datetime.now(UTC):
            raise HTTPException(
                422,
                [{"loc": ["body", "until"], "msg": "must be in the future", "type": "value_error"}],
            )
        return request("pause", zone=zone_or_404(zone_id).id, until=payloads.format_ts(body.until))

    @app.post("/api/v1/zones/{zone_id}/resume", status_code=202, response_model=schemas.Accepted)
    def resume(zone_id: str) -> schemas.Accepted:
        return request("resume", zone=zone_or_404(zone_id).id)

    @app.post("/api/v1/water-everything", status_code=202, response_model=schemas.Accepted)
    def water_everything(body: schemas.WaterNow) -> schemas.Accepted:
        return request("water_everything", minutes=body.minutes)

    @app.post("/api/v1/rain", status_code=202, response_model=schemas.Accepted)
    def report_rain(body: schemas.Rain) -> schemas.Accepted:
        return request("rain", mm=body.mm)

    @app.post("/api/v1/zones/{zone_id}/dry-run", response_model=schemas.DryRunOut)
    def zone_dry_run(zone_id: str, body: schemas.DryRunIn) -> schemas.DryRunOut:
        """What the controller would have done with these thresholds; actuates nothing."""
        zone = zone_or_404(zone_id)
        if body.start >= body.stop:
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["body", "start"],
                        "type": "value_error",
                        "msg": f"start ({body.start}) must be below stop ({body.stop})",
                    }
                ],
            )
        until = datetime.now(UTC)
        since = until - timedelta(days=body.days)
        readings = telemetry.history(zone.sensors, since, until)
        result = dry_run(farm, zone.id, Thresholds(body.start, body.stop), readings, since, until)
        actual = control.cycles(zone.id, since)
        return schemas.DryRunOut(
            zone=zone.id,
            start=body.start,
            stop=body.stop,
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

    @app.get("/api/v1/runs", response_model=list[schemas.RunOut])
    def list_runs(
        zone: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[schemas.RunOut]:
        return [
            schemas.RunOut.model_validate(r, from_attributes=True)
            for r in control.recent_runs(zone, limit)
        ]

    @app.get("/api/v1/decisions", response_model=list[schemas.DecisionOut])
    def list_decisions(
        zone: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[schemas.DecisionOut]:
        return [decision_out(d) for d in state.decisions(zone, limit)]

    @app.get("/api/v1/dead-letters", response_model=list[schemas.DeadLetterOut])
    def list_dead_letters(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[schemas.DeadLetterOut]:
        return [
            schemas.DeadLetterOut(
                received_at=d.received_at,
                topic=d.topic,
                reason=d.reason,
                detail=d.detail,
                payload_preview=d.payload[:200].decode("utf-8", errors="replace"),
            )
            for d in state.dead_letters(limit)
        ]

    @app.get("/api/v1/alarms", response_model=list[schemas.AlarmOut])
    def list_alarms(
        active: bool = True, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[schemas.AlarmOut]:
        return [alarm_out(a) for a in state.alarms(active_only=active, limit=limit)]

    @app.post("/api/v1/alarms/{alarm_id}/ack", response_model=schemas.AlarmOut)
    def acknowledge_alarm(alarm_id: int, body: schemas.Acknowledge) -> schemas.AlarmOut:
        alarm = state.acknowledge_alarm(alarm_id, body.by, datetime.now(UTC))
        if alarm is None:
            raise HTTPException(404, f"alarm {alarm_id} does not exist")
        return alarm_out(alarm)

    @app.get("/healthz", response_model=schemas.Health)
    def health() -> schemas.Health:
        problems = [] if link.connected else ["not connected to the MQTT broker"]
        if problems:
            raise HTTPException(503, {"status": "degraded", "problems": problems})
        return schemas.Health(status="ok", problems=[])

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def decision_out(d: DecisionRecord) -> schemas.DecisionOut:
    return schemas.DecisionOut(
        ts=d.ts,
        zone=d.zone,
        action=d.action.value,
        reason=d.reason,
        by=d.by,
        command_id=d.command_id,
        duration_s=d.duration_s,
        code=d.code,
        run_id=d.run_id,
    )


def alarm_out(a: Alarm) -> schemas.AlarmOut:
    assert a.id is not None
    return schemas.AlarmOut(
        id=a.id,
        raised_at=a.raised_at,
        source=a.source,
        kind=a.kind,
        zone=a.zone,
        message=a.message,
        active=a.active,
        cleared_at=a.cleared_at,
        acknowledged_by=a.acknowledged_by,
        acknowledged_at=a.acknowledged_at,
    )


def zone_status(
    zone: ZoneConfig,
    telemetry: TelemetryStore,
    state: StateStore,
    live: LiveState,
    now: datetime,
) -> schemas.ZoneStatus:
    latest = telemetry.latest(zone.sensors)
    moisture = statistics.median(r.vwc for r in latest.values()) if latest else None
    moisture_at = max((r.ts for r in latest.values()), default=None)
    valve = live.valve(zone.valve)
    last = state.decisions(zone.id, limit=1)
    t = zone.effective_thresholds
    return schemas.ZoneStatus(
        id=zone.id,
        name=zone.name,
        crop=zone.crop,
        crop_estimate=not zone.crop_preset.fao56,
        soil=zone.soil,
        thresholds=schemas.ThresholdsOut(start=t.start, stop=t.stop),
        moisture=round(moisture, 4) if moisture is not None else None,
        moisture_at=moisture_at,
        moisture_stale=moisture_at is None or now - moisture_at > STALE_AFTER,
        valve=schemas.ValveOut(
            id=zone.valve,
            state=valve.status.value if valve else ValveStatus.UNKNOWN.value,
            since=valve.since if valve else None,
            until=valve.until if valve else None,
            command_id=valve.command_id if valve else None,
        ),
        last_decision=decision_out(last[0]) if last else None,
    )
