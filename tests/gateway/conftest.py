"""An in-process gateway against a real Mosquitto, on a thread of its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.service import Gateway
from gateway.settings import GatewaySettings
from smartfarm import payloads
from smartfarm.config import load_farm_config
from smartfarm.stores.base import TelemetryStore
from smartfarm.stores.sqlite import SqliteTelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.probe import Probe
from smartfarm.topics import Topics

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "farm.yaml"
TOPICS = Topics("farm", "demo-farm")


def reading(device: str = "s-z1-a", seq: int = 1, **extra: object) -> bytes:
    body = {
        "v": 1,
        "device": device,
        "ts": payloads.format_ts(datetime.now(UTC)),
        "seq": seq,
        "raw": 2000,
        "temp_c": 27.1,
        "battery_v": 3.9,
        **extra,
    }
    return json.dumps(body).encode()


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met in {timeout}s")
        time.sleep(0.05)


class RunningGateway:
    """Runs ``Gateway.run()`` on a thread until ``stop()``; its failure fails the test."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-gateway")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self.gateway.run())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as err:
            self.error = err
        finally:
            self._loop.close()

    def start(self) -> RunningGateway:
        self._thread.start()
        wait_until(lambda: self.gateway.stats.connected, what="gateway connected")
        return self

    def stop(self) -> None:
        if self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "gateway did not stop"
        if self.error is not None:
            raise self.error


class Harness:
    """A gateway with SQLite stores in a temp dir, a probe to publish with, and helpers."""

    def __init__(self, tmp_path: Path, mosquitto: MosquittoServer, **settings: Any) -> None:
        self.tmp_path = tmp_path
        self.farm = load_farm_config(EXAMPLE)
        defaults: dict[str, Any] = {
            "mqtt_url": mosquitto.url,
            "var_dir": tmp_path,
            "batch_seconds": 0.1,
            "gateway_metrics_port": 0,
            "gateway_rollup_seconds": 0,
        }
        self.settings = GatewaySettings(**{**defaults, **settings})
        self.telemetry: TelemetryStore = SqliteTelemetryStore(tmp_path / "telemetry.db")
        self.state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
        self.gateway = Gateway(self.farm, self.settings, self.telemetry, self.state)
        self.running = RunningGateway(self.gateway)
        self.probe = Probe(mosquitto.url, [])

    @property
    def stats(self) -> Any:
        return self.gateway.stats

    def publish(self, device: str, payload: bytes) -> None:
        self.probe.publish(TOPICS.reading(device), payload)

    def close(self) -> None:
        self.probe.close()
        try:
            self.running.stop()
        finally:
            self.telemetry.close()
            self.state.close()


@pytest.fixture
def harness(tmp_path: Path, mosquitto: MosquittoServer) -> Iterator[Harness]:
    h = Harness(tmp_path, mosquitto)
    h.running.start()
    try:
        yield h
    finally:
        h.close()
