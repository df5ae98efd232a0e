"""The farm diary, CSV exports and traceability pages (roles in api/access.py).

Under /api/v1: the diary (viewer reads, farmer adds), CSV of the diary and of readings for
a date range, and the printable QR label (farmer). Outside it, /trace/{token}: the public,
read-only summary the QR code leads to, for anyone with the link.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from api.access import CurrentUser
from api.context import ApiContext
from api.diary_store import DiaryEntry, DiaryStore
from api.diary_views import diary_csv, print_html, public_summary, readings_csv, summary_html
from api.errors import problem

# A CSV of readings beyond this would be hundreds of megabytes at a large farm.
MAX_EXPORT_DAYS = 366
# The public page shows the last season: a year of entries.
PUBLIC_DAYS = 365


class DiaryEntryIn(BaseModel):
    zone: str = Field(min_length=1, max_length=64)
    kind: Literal["fertiliser", "pesticide", "harvest", "note"]
    at: datetime | None = Field(None, description="When it was done (default now), RFC 3339")
    product: str | None = Field(None, max_length=120)
    quantity: float | None = Field(None, ge=0, le=1_000_000)
    unit: str | None = Field(None, max_length=16, examples=["kg", "L", "g"])
    notes: str = Field("", max_length=2000)


class DiaryEntryOut(BaseModel):
    id: str
    zone: str
    kind: str
    at: datetime
    by: str
    product: str | None
    quantity: float | None
    unit: str | None
    litres: float | None
    minutes: float | None
    notes: str


def _out(entry: DiaryEntry) -> DiaryEntryOut:
    return DiaryEntryOut.model_validate(entry, from_attributes=True)


Day = Annotated[date | None, Query(description="Local date of the farm, YYYY-MM-DD")]


def _range(ctx: ApiContext, start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in the farm's time zone; default the last 30 days."""
    tz = ctx.farm.farm.tz
    today = datetime.now(tz).date()
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end:
        raise problem(422, "bad_range", f"start {start} is after end {end}.", field="start")
    if (end - start).days >= MAX_EXPORT_DAYS:
        raise problem(422, "range_too_long", f"At most {MAX_EXPORT_DAYS} days.", field="end")
    first = datetime.combine(start, time(), tz)
    return first, datetime.combine(end + timedelta(days=1), time(), tz)


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def build(ctx: ApiContext, store: DiaryStore) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["diary"])

    def zone_or_404(zone: str | None) -> str | None:
        return None if zone is None else ctx.zone(zone).id

    @router.get("/diary", response_model=list[DiaryEntryOut])
    def list_diary(
        start: Day = None, end: Day = None, zone: str | None = None
    ) -> list[DiaryEntryOut]:
        """Irrigation runs (with their litres) and people's entries, oldest first."""
        first, last = _range(ctx, start, end)
        return [_out(e) for e in store.entries(first, last, zone_or_404(zone))]

    @router.post("/diary", response_model=DiaryEntryOut, status_code=201)
    def add_entry(body: DiaryEntryIn, user: CurrentUser) -> DiaryEntryOut:
        """A fertiliser, pesticide, harvest or note entry for a zone."""
        zone = ctx.zone(body.zone)
        now = datetime.now(UTC)
        at = body.at or now
        if at.tzinfo is None:
            raise problem(422, "no_time_zone", "Give the time with its offset.", field="at")
        if at > now + timedelta(hours=1):
            raise problem(422, "in_the_future", "An entry cannot be in the future.", field="at")
        entry = store.add(
            zone.id, body.kind, at, user.username, product=body.product,
            quantity=body.quantity, unit=body.unit, notes=body.notes,
        )  # fmt: skip
        ctx.audit(user, "diary.add", zone.id, None, _out(entry).model_dump(mode="json"))
        return _out(entry)

    @router.get("/diary.csv", response_class=Response)
    def export_diary(start: Day = None, end: Day = None, zone: str | None = None) -> Response:
        first, last = _range(ctx, start, end)
        entries = store.entries(first, last, zone_or_404(zone))
        name = f"diary-{ctx.farm.farm.id}-{first.date()}-{(last - timedelta(days=1)).date()}.csv"
        return _csv(diary_csv(entries, ctx.farm.farm.tz), name)

    @router.get("/readings.csv", response_class=Response)
    def export_readings(start: Day = None, end: Day = None, zone: str | None = None) -> Response:
        first, last = _range(ctx, start, end)
        zones = [ctx.zone(zone)] if zone else ctx.farm.zones
        sensors = [s for z in zones for s in z.sensors]
        readings = ctx.telemetry.history(sensors, first.astimezone(UTC), last.astimezone(UTC))
        readings.sort(key=lambda r: (r.ts, r.sensor))
        name = f"readings-{ctx.farm.farm.id}-{first.date()}-{(last - timedelta(days=1)).date()}.csv"
        return _csv(readings_csv(readings), name)

    @router.get("/trace/print", response_class=HTMLResponse)
    def print_label(request: Request, zone: str | None = None) -> HTMLResponse:
        """A printable page with the QR code of the public summary (the farm or one lot)."""
        lot = ctx.zone(zone) if zone else None
        token = store.trace_token(lot.id if lot else None)
        public = ctx.settings.public_url
        url = (
            f"{public.rstrip('/')}/trace/{token}"
            if public
            else str(request.url_for("public_trace", token=token))
        )
        return HTMLResponse(print_html(ctx.farm.farm.name, lot.name if lot else None, url))

    return router


def build_public(ctx: ApiContext, store: DiaryStore) -> APIRouter:
    """/trace/{token}: no login; what the token shows and nothing else."""
    router = APIRouter(tags=["traceability"])

    @router.get("/trace/{token}", response_class=HTMLResponse, name="public_trace")
    def public_trace(token: str) -> HTMLResponse:
        known, zone = store.trace_scope(token)
        if not known:
            raise problem(404, "no_such_page", "This traceability page does not exist.")
        end = datetime.now(UTC)
        entries = store.entries(end - timedelta(days=PUBLIC_DAYS), end, zone)
        html = summary_html(public_summary(ctx.farm, entries, zone))
        return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})

    return router
