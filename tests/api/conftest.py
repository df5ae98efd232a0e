"""The API app in process (FastAPI's TestClient) against a real Mosquitto and SQLite stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from controller.store import ControlStore
from controller.tuning import TuningStore
from smartfarm.config import load_farm_config
from smartfarm.settings import ApiSettings
from smartfarm.stores.sqlite import SqliteTelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.stores.users import Role, UserStore
from smartfarm.testing.mosquitto import MosquittoServer
from tests.conftest import EXAMPLE_FARM

ROLES = ("viewer", "farmer", "technician", "admin")


def password_of(role: str) -> str:
    return f"{role}-secret-pass"


@dataclass
class ApiUnderTest:
    app: FastAPI
    client: TestClient
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


@pytest.fixture
def make_api(tmp_path: Path, mosquitto: MosquittoServer) -> Iterator[Callable[[], ApiUnderTest]]:
    made: list[tuple[TestClient, list[object]]] = []

    def make() -> ApiUnderTest:
        var = tmp_path / "var"
        settings = ApiSettings(
            mqtt_url=mosquitto.url, var_dir=var, farm_file=EXAMPLE_FARM, client_id="api-test"
        )
        url = settings.resolved_state_db_url()
        state, control = StateStore(url), ControlStore(url)
        users, tuning = UserStore(url), TuningStore(url)
        telemetry = SqliteTelemetryStore(var / "telemetry.db")
        now = datetime.now(UTC)
        for role in ROLES:
            if users.get(role) is None:
                users.add(role, password_of(role), Role.parse(role), now, language="en")
        farm = load_farm_config(EXAMPLE_FARM)
        app = create_app(farm, settings, telemetry, state, control, users, tuning)
        client = TestClient(app, raise_server_exceptions=True)
        client.__enter__()
        made.append((client, [state, control, users, tuning, telemetry]))
        return ApiUnderTest(app, client, users, state, control, tuning, telemetry, mosquitto.url)

    yield make
    for client, stores in made:
        client.__exit__(None, None, None)
        for store in stores:
            store.close()  # type: ignore[attr-defined]


@pytest.fixture
def api(make_api: Callable[[], ApiUnderTest]) -> ApiUnderTest:
    return make_api()
