"""The FastAPI application: farm status, the farmer's buttons and the technician's tools."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import (
    diary,
    routes_auth,
    routes_history,
    routes_logs,
    routes_tuning,
    routes_zones,
    schemas,
)
from api.access import Authorizer, check_routes
from api.context import ApiContext
from api.diary_store import DiaryStore
from api.errors import ERROR_RESPONSES, http_error
from api.events import EventHub
from api.live import LiveState, cancel
from controller.store import ControlStore
from controller.tuning import TuningStore
from smartfarm.config import FarmConfig
from smartfarm.mqtt import MqttLink
from smartfarm.settings import ApiSettings
from smartfarm.stores.base import TelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.stores.users import UserStore
from smartfarm.topics import Topics

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """\
Every route under `/api/v1` but `POST /api/v1/auth/login` needs a logged-in user: send
`Authorization: Bearer <token>` or the `smartfarm_session` cookie that login sets. Roles,
each allowed what the lower ones are: viewer < farmer (water, stop, pause) < technician
(thresholds, programs, calibration, logs) < admin (users).

Errors are `{"detail": {"code", "message", "field"?}}`; a 409 means the action conflicts
with a safety limit and `code` says which (`daily_limit`, `valve_offline`, ...).
"""


def create_app(
    farm: FarmConfig,
    settings: ApiSettings,
    telemetry: TelemetryStore,
    state: StateStore,
    control: ControlStore,
    users: UserStore,
    tuning: TuningStore,
) -> FastAPI:
    topics = Topics(settings.topic_prefix, farm.farm.id)
    link = MqttLink(settings.mqtt, settings.client_id)
    hub = EventHub()
    live = LiveState(link, topics, farm, hub)
    ctx = ApiContext(
        farm, settings, telemetry, state, control, users, tuning, topics, link, live, hub
    )
    diary_store = DiaryStore(settings.resolved_state_db_url())  # api/diary.py

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await link.start()
        follower = asyncio.create_task(live.follow())
        try:
            yield
        finally:
            await cancel(follower)
            await link.stop()
            diary_store.close()

    app = FastAPI(
        title="smartfarm",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        version="1.0.0",
        summary="Soil moisture and drip irrigation for one farm",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.add_exception_handler(StarletteHTTPException, http_error)
    v1 = APIRouter(dependencies=[Depends(Authorizer(users))], responses=ERROR_RESPONSES)
    for module in (routes_auth, routes_zones, routes_history, routes_tuning, routes_logs):
        v1.include_router(module.build(ctx))
    v1.include_router(diary.build(ctx, diary_store))
    v1.add_api_route(
        "/api/v1/events",
        _events(ctx),
        methods=["GET"],
        tags=["live"],
        response_class=StreamingResponse,
        responses=_EVENTS_DOC,
    )
    app.include_router(v1)
    app.include_router(diary.build_public(ctx, diary_store))  # /trace/{token}, no login

    @app.get("/healthz", response_model=schemas.Health, tags=["health"])
    def health() -> schemas.Health:
        if not link.connected:
            problems = ["not connected to the MQTT broker"]
            raise HTTPException(503, {"status": "degraded", "problems": problems})
        return schemas.Health(status="ok", problems=[])

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> FileResponse:
        # Served from the root so its scope is the whole site: the page at / then opens
        # with no network too, not only /static/index.html.
        return FileResponse(
            STATIC / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    check_routes(app)
    return app


_EVENTS_DOC: dict[int | str, dict[str, object]] = {
    200: {
        "description": "Server-Sent Events: `reading`, `valve`, `alarm`, `decision`; "
        "a `: ping` comment every 15 s",
        "content": {
            "text/event-stream": {
                "example": 'event: valve\ndata: {"zone_id":"z1",'
                '"valve_id":"v-z1","state":"open","at":"2026-11-23T05:10:00+00:00"}\n\n'
            }
        },
    }
}


def _events(ctx: ApiContext):  # type: ignore[no-untyped-def]
    def events(request: Request) -> StreamingResponse:
        """Live readings, valve states, alarms and decisions for the page (EventSource)."""
        return StreamingResponse(
            ctx.hub.stream(request.is_disconnected),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return events
