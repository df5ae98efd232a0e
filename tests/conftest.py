"""Fixtures that start real servers of our own, each on its own port and temp dir."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from smartfarm.testing.api_client import TEST_ADMIN_PASSWORD, ensure_user, login
from smartfarm.testing.influxd import InfluxdServer
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port
from smartfarm.testing.postgres import PostgresDatabase
from smartfarm.testing.processes import ProcessGroup, wait_http

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FARM = ROOT / "examples" / "farm.yaml"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoServer]:
    if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run the README's test command (bin/test)")
    with MosquittoServer(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[InfluxdServer]:
    """Debian's influxd 1.6.7 on its own ports, with an empty database ``farm``."""
    with InfluxdServer(tmp_path / "influxd") as server:
        server.create_database("farm")
        yield server


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database on the PostgreSQL server at 127.0.0.1:5432, dropped afterwards."""
    db = PostgresDatabase()
    try:
        db.create()
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is needed on {db.admin_url} (SMARTFARM_TEST_POSTGRES): {err}")
    try:
        yield db.url
    finally:
        db.drop()


@dataclass
class Stack:
    procs: ProcessGroup
    mqtt_url: str
    base_url: str
    var_dir: Path
    # Every role's user has this password; the admin is created by the API from the env.
    password: str = TEST_ADMIN_PASSWORD
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, role: str = "admin") -> httpx.Client:
        """An httpx client logged in as the user named after the role (created if missing)."""
        if role not in self._clients:
            if role != "admin":
                ensure_user(self.client("admin"), role, self.password, role)
            self._clients[role] = login(self.base_url, role, self.password)
        return self._clients[role]

    @property
    def api(self) -> httpx.Client:
        return self.client("admin")

    def close(self) -> None:
        for c in self._clients.values():
            c.close()


@pytest.fixture
def farm_stack(tmp_path: Path, mosquitto: MosquittoServer) -> Iterator[Stack]:
    """The four processes against a real Mosquitto, with SQLite stores in a temp var dir."""
    port = free_port()
    var_dir = tmp_path / "var"
    procs = ProcessGroup(
        tmp_path,
        {
            "SMARTFARM_FARM_FILE": str(EXAMPLE_FARM),
            "SMARTFARM_MQTT_URL": mosquitto.url,
            "SMARTFARM_VAR_DIR": str(var_dir),
            "SMARTFARM_PORT": str(port),
            "SMARTFARM_SPEED": "600",
            "SMARTFARM_REPORT_SECONDS": "1",
            "SMARTFARM_EVALUATE_SECONDS": "1",
            "SMARTFARM_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        },
    )
    for name in ("gateway", "controller", "api", "sim"):
        procs.start(name, name)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base_url}/healthz", timeout=30)
        stack = Stack(procs, mosquitto.url, base_url, var_dir)
        yield stack
        stack.close()
    finally:
        procs.stop_all()
