"""The gateway against a real Mosquitto and a real SQLite: good readings stored, bad ones
dead-lettered with their reason, and the loop keeps going."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.service import Gateway
from gateway.settings import GatewaySettings
from smartfarm import payloads
from smartfarm.config import load_farm_config
from smartfarm.stores.sqlite import SqliteTelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.probe import Probe
from smartfarm.topics import Topics

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "farm.yaml"
TOPICS = Topics("farm", "demo-farm")


def good(device: str = "s-z1-a", seq: int = 1, **extra: object) -> bytes:
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


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


def run_with_gateway(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    scenario: Callable[[Gateway, Probe], Awaitable[None]],
) -> None:
    farm = load_farm_config(EXAMPLE)
    settings = GatewaySettings(mqtt_url=mosquitto.url, var_dir=tmp_path, batch_seconds=0.1)
    telemetry = SqliteTelemetryStore(tmp_path / "telemetry.db")
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")

    async def main() -> None:
        gateway = Gateway(farm, settings, telemetry, state)
        task = asyncio.create_task(gateway.run())
        await until(lambda: asyncio.sleep(0, gateway.link.connected))
        probe = Probe(mosquitto.url, [])
        try:
            await scenario(gateway, probe)
        finally:
            probe.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert not task.cancelled() or True

    try:
        asyncio.run(main())
    finally:
        telemetry.close()
        state.close()


def test_good_reading_is_calibrated_and_stored(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    async def scenario(gateway: Gateway, probe: Probe) -> None:
        probe.publish(TOPICS.reading("s-z1-a"), good(raw=2285))

        async def stored() -> bool:
            return bool(await asyncio.to_thread(gateway.telemetry.latest, ["s-z1-a"]))

        await until(stored)
        reading = gateway.telemetry.latest(["s-z1-a"])["s-z1-a"]
        # s-z1-a is calibrated raw 3250 -> 0.0 and 1320 -> 0.5: 2285 is half way.
        assert reading.vwc == pytest.approx(0.25, abs=0.001)
        assert (reading.zone, reading.raw, reading.seq) == ("z1", 2285, 1)

    run_with_gateway(tmp_path, mosquitto, scenario)


BAD = [
    ("malformed JSON", b'{"v":1, "device": ', "not_json"),
    ("not an object", b"[1,2,3]", "schema"),
    ("wrong type", good(seq="seven"), "schema"),
    ("NaN", good().replace(b'"raw": 2000', b'"raw": 2000, "vwc": NaN'), "not_finite"),
    ("Infinity", good().replace(b'"raw": 2000', b'"raw": 2000, "temp_c": Infinity'), "not_finite"),
    ("out of range", good(vwc=1.7), "schema"),
    ("huge", good(pad="x" * 10_000), "too_large"),
    (
        "no value",
        json.dumps({"v": 1, "device": "s-z1-a", "ts": "2026-11-23T00:00:00Z", "seq": 1}).encode(),
        "schema",
    ),
    ("future", good(ts=payloads.format_ts(datetime.now(UTC) + timedelta(days=2))), "ts_future"),
    ("device mismatch", good(device="s-z2-a"), "device_mismatch"),
    ("binary garbage", b"\xff\xfe\x00garbage", "not_json"),
]


def test_bad_payloads_are_dead_lettered_and_the_next_good_one_is_stored(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    async def scenario(gateway: Gateway, probe: Probe) -> None:
        for _name, payload, _reason in BAD:
            probe.publish(TOPICS.reading("s-z1-a"), payload)
        probe.publish(TOPICS.reading("s-unknown"), good(device="s-unknown"))
        probe.publish(TOPICS.reading("s-z1-a"), good(seq=42))

        async def all_seen() -> bool:
            latest = await asyncio.to_thread(gateway.telemetry.latest, ["s-z1-a"])
            letters = await asyncio.to_thread(gateway.state.dead_letters, 100)
            return bool(latest) and len(letters) == len(BAD) + 1

        await until(all_seen)
        assert gateway.telemetry.latest(["s-z1-a"])["s-z1-a"].seq == 42
        letters = list(reversed(gateway.state.dead_letters(100)))
        reasons = [d.reason for d in letters]
        assert reasons == [reason for _n, _p, reason in BAD] + ["unknown_device"]
        assert letters[0].payload == BAD[0][1]  # kept as received
        assert "seq" in letters[2].detail  # names the field
        assert gateway.counts["dead_letter:not_json"] == 2
        assert gateway.counts["stored"] == 1

    run_with_gateway(tmp_path, mosquitto, scenario)


def test_replayed_reading_is_not_double_counted(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    async def scenario(gateway: Gateway, probe: Probe) -> None:
        payload = good(seq=7)
        probe.publish(TOPICS.reading("s-z1-a"), payload)
        probe.publish(TOPICS.reading("s-z1-a"), payload)
        await until(lambda: asyncio.sleep(0, gateway.counts["stored"] == 2))
        end = datetime.now(UTC) + timedelta(minutes=1)
        rows = gateway.telemetry.history(["s-z1-a"], end - timedelta(hours=1), end)
        assert len(rows) == 1

    run_with_gateway(tmp_path, mosquitto, scenario)
