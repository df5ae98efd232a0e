"""A rain gauge on MQTT holds watering like a technician's report, counted once, and logged."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from controller.service import Controller
from controller.settings import ControllerSettings
from controller.store import ControlStore
from smartfarm import payloads
from smartfarm.config import parse_farm_config
from smartfarm.models import DecisionRecord
from smartfarm.stores.state import StateStore
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.probe import Probe
from smartfarm.topics import Topics
from tests.conftest import EXAMPLE_FARM
from tests.controller.live import running


def _farm_with_gauge() -> str:
    text = EXAMPLE_FARM.read_text(encoding="utf-8")
    return text.replace(
        "    capacity_lph: 9000", "    capacity_lph: 9000\n  rain_sensor: rain-1", 1
    )


async def _until(check: object, timeout: float = 10.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_rain_gauge_report_holds_a_dry_zone_and_a_replay_counts_once(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    farm = parse_farm_config(_farm_with_gauge())
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = ControllerSettings(mqtt_url=mosquitto.url, var_dir=tmp_path, state_db_url=db)
    topics = Topics(settings.topic_prefix, farm.farm.id)
    state, store = StateStore(db), ControlStore(db)
    now = payloads.parse_ts(payloads.format_ts(datetime.now(UTC)))  # ms, as sent

    def decisions() -> list[DecisionRecord]:
        return state.decisions(limit=200)

    async def main() -> None:
        probe = Probe(mosquitto.url, [], client_id="test-pub")
        try:
            async with running(Controller(farm, settings, state, store)):
                for valve in ("v-z1", "v-z2", "v-z3"):
                    body = {
                        "v": 1,
                        "device": valve,
                        "state": "closed",
                        "ts": payloads.format_ts(now),
                    }
                    probe.publish(topics.valve_state(valve), json.dumps(body).encode(), retain=True)
                report = {
                    "v": 1,
                    "device": "rain-1",
                    "ts": payloads.format_ts(now - timedelta(hours=1)),
                    "seq": 7,
                    "mm": 14.2,
                }
                for _ in range(2):  # the second is a replay after an outage: same report
                    probe.publish(topics.rain("rain-1"), json.dumps(report).encode())
                bad = {**report, "seq": 8, "mm": -3}
                probe.publish(topics.rain("rain-1"), json.dumps(bad).encode())
                await _until(lambda: any(d.code == "rain_reported" for d in decisions()))
                dry = {
                    "v": 1,
                    "device": "s-z2-a",
                    "ts": payloads.format_ts(datetime.now(UTC)),
                    "seq": 1,
                    "vwc": 0.05,
                }
                probe.publish(topics.reading("s-z2-a"), json.dumps(dry).encode())
                await _until(lambda: any(d.zone == "z2" and d.code == "rain" for d in decisions()))
        finally:
            probe.close()

    try:
        asyncio.run(main())
        rain = [d for d in decisions() if d.code == "rain_reported"]
        assert len(rain) == 1 and rain[0].by == "rain gauge rain-1" and "14.2 mm" in rain[0].reason
        assert store.rain_since(now - timedelta(days=1)) == [(now - timedelta(hours=1), 14.2)]
        held = next(d for d in decisions() if d.zone == "z2" and d.code == "rain")
        assert "14.2 mm" in held.reason
        assert not any(d.zone == "z2" and d.action.value == "open" for d in decisions())
    finally:
        state.close()
        store.close()
