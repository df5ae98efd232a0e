"""The API app served by uvicorn on its own port (in a thread), a real Mosquitto, SQLite."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from controller.store import ControlStore
from controller.tuning import TuningStore
from smartfarm.config import load_farm_config
from smartfarm.settings import ApiSettings
from smartfarm.stores.sqlite import SqliteTelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.stores.users import Role, UserStore
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port
from tests.conftest import EXAMPLE_FARM

ROLES = ("viewer", "farmer", "technician", "admin")


def password_of(role: str) -> str:
    return f"{role}-secret-pass"


@dataclass
class ApiUnderTest:
    app: FastAPI
    client: httpx.Client
    base_url: str
    users: UserStore
    state: StateStore
    control: ControlStore
    tuning: TuningStore
    telemetry: SqliteTelemetryStore
    mqtt_url: str

    def token(self, role: str) -> str:
        r = self.client.post(
            "/api/v1/auth/login", json={"username": role, "password": password_of(role)}
        )
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        self.client.cookies.clear()  # tests choose bearer or cookie themselves
        return token

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@contextlib.contextmanager
def serving_api(var: Path, mqtt_url: str) -> Iterator[ApiUnderTest]:
    """The app on its own free port with users of every role, until the block ends."""
    settings = ApiSettings(
        mqtt_url=mqtt_url, var_dir=var, farm_file=EXAMPLE_FARM, client_id=f"api-{free_port()}"
    )
    url = settings.resolved_state_db_url()
    state, control = StateStore(url), ControlStore(url)
    users, tuning = UserStore(url), TuningStore(url)
    telemetry = SqliteTelemetryStore(var / "telemetry.db")
    now = datetime.now(UTC)
    for role in ROLES:
        if users.get(role) is None:
            users.add(role, password_of(role), Role.parse(role), now, language="en")
    app = create_app(
        load_farm_config(EXAMPLE_FARM), settings, telemetry, state, control, users, tuning
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"api-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base_url, timeout=30)
    try:
        deadline = time.monotonic() + 15
        while not (server.started and app_connected(app)):
            assert time.monotonic() < deadline, "API did not start with its broker link"
            time.sleep(0.05)
        yield ApiUnderTest(
            app, client, base_url, users, state, control, tuning, telemetry, mqtt_url
        )
    finally:
        client.close()
        server.should_exit = True
        thread.join(10)
        for store in (state, control, users, tuning, telemetry):
            store.close()


@pytest.fixture
def make_api(tmp_path: Path, mosquitto: MosquittoServer) -> Iterator[Callable[[], ApiUnderTest]]:
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(serving_api(tmp_path / "var", mosquitto.url))


def app_connected(app: FastAPI) -> bool:
    """The API's broker link is up (its /healthz says so)."""
    return bool(app.state.ctx.link.connected)


@pytest.fixture
def api(make_api: Callable[[], ApiUnderTest]) -> ApiUnderTest:
    return make_api()
