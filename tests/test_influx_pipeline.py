"""Simulated sensors -> gateway -> a real influxd 1.6.7 -> API, all as real processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from smartfarm.stores.influx import InfluxTelemetryStore
from smartfarm.testing.api_client import TEST_ADMIN_PASSWORD, login
from smartfarm.testing.influxd import InfluxdServer
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port
from smartfarm.testing.processes import ProcessGroup, wait_http
from tests.conftest import EXAMPLE_FARM

pytestmark = pytest.mark.influx


def test_readings_land_in_influxdb_and_the_api_reads_them_back(
    tmp_path: Path, mosquitto: MosquittoServer, influxd: InfluxdServer
) -> None:
    port = free_port()
    procs = ProcessGroup(
        tmp_path,
        {
            "SMARTFARM_FARM_FILE": str(EXAMPLE_FARM),
            "SMARTFARM_MQTT_URL": mosquitto.url,
            "SMARTFARM_VAR_DIR": str(tmp_path / "var"),
            "SMARTFARM_INFLUX_URL": influxd.url,
            "SMARTFARM_INFLUX_DATABASE": "farm",
            "SMARTFARM_PORT": str(port),
            "SMARTFARM_REPORT_SECONDS": "0.5",
            "SMARTFARM_ADMIN_PASSWORD": TEST_ADMIN_PASSWORD,
        },
    )
    for name in ("gateway", "api", "sim"):
        procs.start(name, name)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
        api = login(base, "admin", TEST_ADMIN_PASSWORD)
        deadline = time.monotonic() + 30
        while True:
            zones = api.get("/api/v1/zones").json()
            if all(z["moisture"] is not None for z in zones):
                break
            for name in ("gateway", "api", "sim"):
                procs.assert_running(name)
            assert time.monotonic() < deadline, f"no readings via InfluxDB: {zones}"
            time.sleep(0.3)
        history = api.get("/api/v1/zones/z1/history?hours=1").json()
        assert {p["sensor"] for p in history["points"]} == {"s-z1-a", "s-z1-b"}
    finally:
        procs.stop_all()
    assert not (tmp_path / "var" / "telemetry.db").exists()  # nothing went to SQLite
    store = InfluxTelemetryStore(url=influxd.url, api="v1", database="farm")
    try:
        latest = store.latest(["s-z1-a", "s-z4-a"])
        assert set(latest) == {"s-z1-a", "s-z4-a"}
        assert latest["s-z4-a"].zone == "z4"
    finally:
        store.close()
