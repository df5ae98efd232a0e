"""A zone's moisture history at a resolution that fits the range, with its watering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api import schemas
from api.context import ApiContext
from smartfarm.stores.base import hour_floor

RANGES = {"day": timedelta(days=1), "week": timedelta(days=7), "season": timedelta(days=180)}
# Up to this span raw readings are sent; beyond it hourly means (a week raw is ~30k points).
RAW_UP_TO = timedelta(days=1)
RAW_TAIL = timedelta(days=2)


def build(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["zones"])

    @router.get(
        "/zones/{zone_id}/history",
        response_model=schemas.HistoryOut,
        responses={404: {"model": schemas.ProblemOut}},
    )
    def zone_history(
        zone_id: str,
        range: Annotated[
            Literal["day", "week", "season"] | None, Query(description="day, week or season")
        ] = None,
        hours: Annotated[
            float | None, Query(gt=0, le=24 * 366, description="Or any span, in hours")
        ] = None,
    ) -> schemas.HistoryOut:
        zone = ctx.zone(zone_id)
        end = datetime.now(UTC)
        span = RANGES[range] if range else timedelta(hours=hours or 24)
        start = end - span
        points = _points(ctx, zone.sensors, start, end, span)
        t = ctx.thresholds(zone)
        return schemas.HistoryOut(
            zone=zone.id,
            start=start,
            end=end,
            range=range or ("hours" if hours else "day"),
            resolution="raw" if span <= RAW_UP_TO else "hour",
            points=points,
            thresholds=schemas.ThresholdsOut(start=t.start, stop=t.stop),
            irrigation=[
                schemas.IrrigationPeriod(
                    start=c.started_at,
                    end=c.started_at + timedelta(seconds=c.seconds),
                    litres=round(c.litres, 1),
                )
                for c in ctx.control.cycles(zone.id, start)
            ],
        )

    return router


def _points(
    ctx: ApiContext, sensors: list[str], start: datetime, end: datetime, span: timedelta
) -> list[schemas.HistoryPoint]:
    if span <= RAW_UP_TO:
        return [
            schemas.HistoryPoint(ts=r.ts, sensor=r.sensor, vwc=r.vwc)
            for r in ctx.telemetry.history(sensors, start, end)
        ]
    hourly = ctx.telemetry.hourly(sensors, hour_floor(start), end)
    points = [
        schemas.HistoryPoint(
            ts=h.hour, sensor=h.sensor, vwc=h.vwc_mean, vwc_min=h.vwc_min, vwc_max=h.vwc_max
        )
        for h in hourly
    ]
    # The hours not rolled up yet (the gateway rolls up finished hours): raw readings.
    rolled_to = max((h.hour for h in hourly), default=None)
    raw_from = rolled_to + timedelta(hours=1) if rolled_to else start
    # Without rollups (a store that never ran them) a season raw would be too much to send.
    raw_from = max(raw_from, end - RAW_TAIL)
    points += [
        schemas.HistoryPoint(ts=r.ts, sensor=r.sensor, vwc=r.vwc)
        for r in ctx.telemetry.history(sensors, raw_from, end)
    ]
    return points
