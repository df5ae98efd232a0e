"""The controller's /metrics and /healthz: a dry reading's command is timed, on a real broker."""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controller.bench import farm_yaml, latency_buckets
from controller.metrics import LATENCY_BUCKETS, histogram_quantile
from controller.service import Controller
from controller.settings import ControllerSettings
from controller.store import ControlStore
from smartfarm import payloads
from smartfarm.config import parse_farm_config
from smartfarm.stores.state import StateStore
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port
from smartfarm.testing.probe import Probe
from smartfarm.topics import Topics
from tests.controller.live import running


@pytest.mark.parametrize(
    ("counts", "q", "expected"),
    [
        ([], 0.99, None),
        ([(0.001, 0.0), (0.002, 0.0), (float("inf"), 0.0)], 0.99, None),
        ([(0.001, 50.0), (0.002, 99.0), (0.005, 100.0), (float("inf"), 100.0)], 0.5, 0.001),
        ([(0.001, 50.0), (0.002, 99.0), (0.005, 100.0), (float("inf"), 100.0)], 0.99, 0.002),
        ([(0.001, 50.0), (0.002, 98.0), (0.005, 100.0), (float("inf"), 100.0)], 0.99, 0.005),
    ],
)
def test_a_quantile_is_the_upper_bound_of_its_bucket(
    counts: list[tuple[float, float]], q: float, expected: float | None
) -> None:
    assert histogram_quantile(counts, q) == expected


def test_the_buckets_are_at_most_2_ms_wide_up_to_the_target() -> None:
    below = [b for b in LATENCY_BUCKETS if b <= 0.05]
    assert below[-1] == 0.05
    assert max(b - a for a, b in itertools.pairwise(below)) < 0.0021


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as page:
            return page.status, page.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_a_dry_reading_opens_its_valve_and_the_wait_is_on_metrics(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    farm = parse_farm_config(farm_yaml("metrics", 2))
    db = f"sqlite:///{tmp_path / 'state.db'}"
    port = free_port()
    settings = ControllerSettings(
        mqtt_url=mosquitto.url, var_dir=tmp_path, state_db_url=db, controller_metrics_port=port
    )
    topics = Topics(settings.topic_prefix, farm.farm.id)
    state, store = StateStore(db), ControlStore(db)
    base = f"http://127.0.0.1:{port}"

    async def main() -> None:
        probe = Probe(mosquitto.url, [topics.valve_command("+")], client_id="test-metrics")
        try:
            async with running(Controller(farm, settings, state, store)):
                now = payloads.format_ts(datetime.now(UTC))
                for zone in farm.zones:
                    body = {"v": 1, "device": zone.valve, "state": "closed", "ts": now}
                    probe.publish(topics.valve_state(zone.valve), json.dumps(body).encode())
                await asyncio.sleep(0.5)
                reading = {"v": 1, "device": "s0", "ts": now, "seq": 1, "vwc": 0.20}
                probe.publish(topics.reading("s0"), json.dumps(reading).encode())
                command = await asyncio.to_thread(
                    probe.wait_for, lambda m: m.topic == topics.valve_command("v0")
                )
                assert json.loads(command.payload)["action"] == "open"
                await asyncio.sleep(0.2)
                status, text = await asyncio.to_thread(_get, f"{base}/metrics")
                assert status == 200
                page = text.decode()
                assert 'smartfarm_controller_valve_commands_total{action="open"} 1.0' in page
                assert "smartfarm_controller_runs_active 1.0" in page
                assert "smartfarm_controller_mqtt_connected 1.0" in page
                timed = await asyncio.to_thread(latency_buckets, port)
                assert timed[-1] == (float("inf"), 1.0)  # the one command, from its reading
                status, health = await asyncio.to_thread(_get, f"{base}/healthz")
                assert (status, json.loads(health)["status"]) == (200, "ok")
        finally:
            probe.close()

    try:
        asyncio.run(main())
    finally:
        state.close()
        store.close()
