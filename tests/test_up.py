"""`smartfarm up`: the whole demo in one process, with its embedded broker."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import httpx

from smartfarm.testing.api_client import login
from smartfarm.testing.ports import free_port
from smartfarm.testing.processes import ProcessGroup, wait_http
from tests.conftest import EXAMPLE_FARM


def test_up_serves_live_zones_within_20s_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port, broker_port = free_port(), free_port()
    procs = ProcessGroup(tmp_path, {})
    started = time.monotonic()
    procs.start(
        "up",
        "up",
        "--farm",
        str(EXAMPLE_FARM),
        "--port",
        str(port),
        "--broker-port",
        str(broker_port),
        "--var-dir",
        str(tmp_path / "var"),
    )
    base = f"http://127.0.0.1:{port}"
    secret = tmp_path / "var" / "first-admin-password"
    try:
        page = wait_http(f"{base}/", timeout=20)
        assert "<html" in page.text.lower()
        assert httpx.get(f"{base}/api/v1/zones", timeout=5).status_code == 401
        # No default password: a random one, shown once and kept in a file only we can read.
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
        username, password = secret.read_text().split()
        api = login(base, username, password)
        while True:
            zones = api.get("/api/v1/zones").json()
            live = all(
                z["moisture"] is not None and z["valve"]["state"] in ("open", "closed")
                for z in zones
            )
            if live:
                break
            assert time.monotonic() - started < 20, f"not live after 20s: {zones}"
            time.sleep(0.2)
    finally:
        code = procs.stop("up", timeout=15)  # SIGINT, as Ctrl-C
    log = procs.log("up")
    assert code == 0, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert f"broker mqtt://127.0.0.1:{broker_port}" in log
    assert (tmp_path / "var" / "telemetry.db").exists()
    assert log.count(password) == 1, "the first admin's password is shown exactly once"
