"""A press that arrives while the controller is still starting is done once it is ready."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from controller.service import Controller
from controller.settings import ControllerSettings
from controller.store import ControlStore
from smartfarm import payloads
from smartfarm.config import load_farm_config
from smartfarm.ha_topics import HaTopics
from smartfarm.stores.state import StateStore
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.probe import Probe
from smartfarm.topics import Topics
from tests.conftest import EXAMPLE_FARM
from tests.controller.live import running


def test_a_home_assistant_press_during_start_up_is_kept_and_done(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    farm = load_farm_config(EXAMPLE_FARM)
    db = f"sqlite:///{tmp_path / 'state.db'}"
    settings = ControllerSettings(
        mqtt_url=mosquitto.url, var_dir=tmp_path, state_db_url=db, home_assistant=True
    )
    topics = Topics(settings.topic_prefix, farm.farm.id)
    state, store = StateStore(db), ControlStore(db)

    async def main() -> None:
        probe = Probe(mosquitto.url, [], client_id="test-ha")
        try:
            async with running(Controller(farm, settings, state, store)):
                await asyncio.sleep(0.3)  # subscribed; it now waits for the valves' states
                probe.publish(HaTopics(topics).zone_command("z3"), b"OPEN")
                await asyncio.sleep(0.5)
                now = payloads.format_ts(datetime.now(UTC))
                for zone in farm.zones:
                    body = {"v": 1, "device": zone.valve, "state": "closed", "ts": now}
                    probe.publish(
                        topics.valve_state(zone.valve), json.dumps(body).encode(), retain=True
                    )
                for _ in range(200):
                    decisions = state.decisions(zone="z3")
                    if any(
                        d.by == "home-assistant" and d.action.value == "open" for d in decisions
                    ):
                        return
                    await asyncio.sleep(0.05)
                raise AssertionError(f"no decision for the press: {state.decisions(zone='z3')}")
        finally:
            probe.close()

    try:
        asyncio.run(main())
        pressed = [d for d in state.decisions(zone="z3") if d.by == "home-assistant"]
        [opened] = [d for d in pressed if d.action.value == "open"]
        assert opened.duration_s == 15 * 60
    finally:
        state.close()
        store.close()
