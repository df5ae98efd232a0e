"""Run each process (or all of them in one for `up`) until a signal asks them to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import uvicorn

from controller.settings import ControllerSettings
from controller.store import ControlStore
from gateway.settings import GatewaySettings
from smartfarm.config import FarmConfig, load_farm_config
from smartfarm.settings import (
    ApiSettings,
    CommonSettings,
    SimSettings,
)
from smartfarm.stores.factory import open_telemetry_store
from smartfarm.stores.state import StateStore
from smartfarm.topics import Topics

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
GRACE_SECONDS = 5.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the caller decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _heartbeat(var_dir: Path, name: str) -> None:
    from smartfarm.healthcheck import touch_alive

    while True:
        await asyncio.to_thread(touch_alive, var_dir, name)
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def supervise(
    jobs: dict[str, Coroutine[Any, Any, None]], graceful: dict[str, Callable[[], None]]
) -> None:
    """Run jobs until SIGINT/SIGTERM or one fails; then stop them in reverse order.

    A job in ``graceful`` is asked to stop by its hook and given a few seconds to finish
    (uvicorn closes connections and runs the lifespan's shutdown); the rest are cancelled.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = {name: asyncio.create_task(job, name=name) for name, job in jobs.items()}
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks.values()], return_when="FIRST_COMPLETED")
        for task in done:
            if task is not stopper and (err := task.exception()) is not None:
                log.error("%s failed: %s", task.get_name(), err, exc_info=err)
    finally:
        log.info("stopping")
        for name, task in reversed(tasks.items()):
            if name in graceful and not task.done():
                graceful[name]()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), GRACE_SECONDS)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        stopper.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    failed = [
        t.get_name()
        for t in tasks.values()
        if not t.cancelled() and t.done() and t.exception() is not None
    ]
    if failed:
        raise RuntimeError(f"stopped because {', '.join(failed)} failed")


def _open_state(settings: CommonSettings) -> StateStore:
    return StateStore(settings.resolved_state_db_url())


def _farm(settings: CommonSettings) -> FarmConfig:
    return load_farm_config(settings.farm_file)


async def run_gateway(settings: GatewaySettings) -> None:
    from controller.tuning import TuningStore
    from gateway.service import Gateway

    farm = _farm(settings)
    telemetry = open_telemetry_store(settings, settings.var_dir)
    state = _open_state(settings)
    # Technicians' sensor calibrations live with the zones' tuning in the state database.
    tuning = TuningStore(settings.resolved_state_db_url())
    try:
        await supervise(
            {
                "gateway": Gateway(farm, settings, telemetry, state, tuning).run(),
                "heartbeat": _heartbeat(settings.var_dir, "gateway"),
            },
            {},
        )
    finally:
        telemetry.close()
        state.close()
        tuning.close()


async def run_controller(settings: ControllerSettings) -> None:
    from controller.tuned import TunedController
    from controller.tuning import TuningStore

    farm = _farm(settings)
    state = _open_state(settings)
    store = ControlStore(settings.resolved_state_db_url())
    tuning = TuningStore(settings.resolved_state_db_url())
    try:
        await supervise(
            {
                "controller": TunedController(farm, settings, state, store, tuning).run(),
                "heartbeat": _heartbeat(settings.var_dir, "controller"),
            },
            {},
        )
    finally:
        tuning.close()
        store.close()
        state.close()


def _api_server(
    farm: FarmConfig, settings: ApiSettings, access_log: bool, first_admin: bool = False
) -> tuple[_Server, Any]:
    from api.app import create_app
    from api.users import ensure_first_admin, show_first_admin
    from controller.tuning import TuningStore
    from smartfarm.stores.users import UserStore

    telemetry = open_telemetry_store(settings, settings.var_dir)
    state = _open_state(settings)
    control = ControlStore(settings.resolved_state_db_url())
    users = UserStore(settings.resolved_state_db_url())
    tuning = TuningStore(settings.resolved_state_db_url())
    password = ensure_first_admin(users, settings, generate=first_admin)
    if password is not None:
        show_first_admin(password, settings)
    app = create_app(farm, settings, telemetry, state, control, users, tuning)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=access_log,
        lifespan="on",
    )
    return _Server(config), (telemetry, state, control, users, tuning)


async def run_api(settings: ApiSettings) -> None:
    server, stores = _api_server(_farm(settings), settings, access_log=True)
    try:
        await supervise(
            {"api": server.serve()}, {"api": lambda: setattr(server, "should_exit", True)}
        )
    finally:
        for store in stores:
            store.close()


def _sim(farm: FarmConfig, settings: SimSettings) -> Any:
    from datetime import datetime

    from firmware_sim.farm import SimFarm
    from firmware_sim.faults import parse_faults
    from firmware_sim.weather import choose

    today = datetime.now(farm.farm.tz).date()
    weather = choose(
        settings.scenario, settings.weather, today, settings.season_days, settings.seed
    )
    return SimFarm(
        farm,
        settings.mqtt,
        Topics(settings.topic_prefix, farm.farm.id),
        speed=settings.speed,
        report_seconds=settings.report_seconds,
        seed=settings.seed,
        faults=parse_faults(settings.faults),
        weather=weather,
        progress=weather is not None,
    )


async def run_sim(settings: SimSettings) -> None:
    await supervise(
        {
            "sim": _sim(_farm(settings), settings).run(),
            "heartbeat": _heartbeat(settings.var_dir, "sim"),
        },
        {},
    )


async def run_up(overrides: dict[str, Any], broker_port: int, embedded: bool) -> None:
    """Every part in one process: broker (unless given), sim, gateway, controller, API."""
    from controller.tuned import TunedController
    from controller.tuning import TuningStore
    from gateway.service import Gateway
    from smartfarm.embedded_broker import EmbeddedBroker, pick_port

    broker = None
    if embedded:
        broker = EmbeddedBroker(pick_port(broker_port))
        await broker.start()
        overrides = {**overrides, "mqtt_url": broker.url}
    gw_settings = GatewaySettings(**overrides)
    if embedded and gw_settings.gateway_share_group:
        # amqtt has no shared subscriptions: a $share/ filter would match nothing there.
        log.info("embedded broker: plain subscription instead of shared group")
        gw_settings = gw_settings.model_copy(update={"gateway_share_group": None})
    farm = load_farm_config(gw_settings.farm_file)
    api_settings = ApiSettings(**overrides)
    telemetry = open_telemetry_store(gw_settings, gw_settings.var_dir)
    state = _open_state(gw_settings)
    server, api_stores = _api_server(farm, api_settings, access_log=False, first_admin=True)
    ctl_settings = ControllerSettings(**overrides)
    control = ControlStore(ctl_settings.resolved_state_db_url())
    tuning = TuningStore(ctl_settings.resolved_state_db_url())
    jobs = {
        "gateway": Gateway(farm, gw_settings, telemetry, state, tuning).run(),
        "controller": TunedController(farm, ctl_settings, state, control, tuning).run(),
        "sim": _sim(farm, SimSettings(**overrides)).run(),
        "api": server.serve(),
        "banner": _banner(server, api_settings, gw_settings.mqtt_url),
    }
    try:
        await supervise(jobs, {"api": lambda: setattr(server, "should_exit", True)})
    finally:
        for store in (telemetry, state, control, tuning, *api_stores):
            store.close()
        if broker is not None:
            await broker.stop()


async def _banner(server: _Server, settings: ApiSettings, mqtt_url: str) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.1)
    log.info(
        "smartfarm is up. Open http://%s:%d on this computer (broker %s). Ctrl-C stops.",
        settings.host,
        settings.port,
        mqtt_url,
    )
    await asyncio.Event().wait()


def dry_run_report(
    settings: ApiSettings, zone_id: str, days: float, start: float, stop: float
) -> dict[str, Any]:
    """The dry run of ``smartfarm dry-run`` as a JSON-ready dict."""
    from datetime import UTC, datetime, timedelta

    from controller.dryrun import dry_run
    from smartfarm.agronomy import Thresholds

    farm = _farm(settings)
    if start >= stop:
        raise ValueError(f"--start ({start}) must be below --stop ({stop})")
    try:
        zone = farm.zone(zone_id)
    except KeyError:
        raise ValueError(f"--zone {zone_id!r} is not in {settings.farm_file}") from None
    telemetry = open_telemetry_store(settings, settings.var_dir)
    try:
        until = datetime.now(UTC)
        since = until - timedelta(days=days)
        readings = telemetry.history(zone.sensors, since, until)
    finally:
        telemetry.close()
    result = dry_run(farm, zone.id, Thresholds(start, stop), readings, since, until)
    return {
        "zone": zone.id,
        "start": start,
        "stop": stop,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "readings": result.readings,
        "runs": [
            {
                "started_at": r.started_at.isoformat(),
                "minutes": round(r.minutes, 1),
                "litres": round(r.litres),
            }
            for r in result.runs
        ],
        "minutes": round(result.minutes, 1),
        "litres": round(result.litres),
        "decisions": [
            {"ts": ts.isoformat(), "code": code, "reason": reason}
            for ts, code, reason in result.decisions
        ],
    }
