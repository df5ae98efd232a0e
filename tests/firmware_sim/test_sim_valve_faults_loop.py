"""Valve faults in the closed loop: what the controller hears from a broken valve."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from firmware_sim.faults import FaultSpec, ValveFaultKind
from firmware_sim.virtual import ClosedLoop
from smartfarm.testing.mosquitto import MosquittoServer
from tests.test_closed_loop import START, example_farm, settings


def test_a_valve_stuck_closed_reports_no_flow_and_the_controller_suspects_a_clog(
    tmp_path: Path,
) -> None:
    """z1 starts just below its start threshold; at 05:00 its valve is told to open, says
    "open" with flow_lph 0, the soil gets no water, and the controller raises a flow alarm."""
    start = START + timedelta(hours=5)
    fault = FaultSpec("v-z1", ValveFaultKind.STUCK_CLOSED)

    async def scenario() -> tuple[ClosedLoop, dict[str, object]]:
        with MosquittoServer(tmp_path / "mosquitto") as broker:
            async with ClosedLoop(
                example_farm(), settings(broker, tmp_path), start=start, faults=[fault]
            ) as loop:
                z1 = loop.sim.zones[0]
                before = z1.theta
                await loop.run_for(timedelta(minutes=30))
                assert z1.theta < before  # drying: no water passed
                assert z1.valve.is_open and not z1.valve.flowing
                assert z1.valve.last_state is not None
                return loop, z1.valve.last_state

    loop, state = asyncio.run(scenario())
    assert state["state"] == "open" and state["flow_lph"] == 0.0
    alarms = [a for a in loop.state.alarms() if a.zone == "z1"]
    assert any(a.kind == "flow_mismatch" and "clog" in a.message for a in alarms), alarms


def test_a_valve_stuck_open_after_a_close_raises_stuck_open(tmp_path: Path) -> None:
    """z1's valve opens at 05:00 for a dry zone; when told to close it says "closed" but
    water runs on at full flow; the controller hears the flow and raises stuck_open."""
    start = START + timedelta(hours=5)
    fault = FaultSpec("v-z1", ValveFaultKind.STUCK_OPEN)

    async def scenario() -> ClosedLoop:
        with MosquittoServer(tmp_path / "mosquitto") as broker:
            async with ClosedLoop(
                example_farm(), settings(broker, tmp_path), start=start, faults=[fault]
            ) as loop:
                z1 = loop.sim.zones[0]
                for _ in range(24):  # up to 4 h: the run ends, the valve is told to close
                    await loop.run_for(timedelta(minutes=10))
                    if any(a.kind == "stuck_open" for a in loop.state.alarms()):
                        break
                assert z1.valve.last_state is not None
                assert z1.valve.last_state["state"] == "closed"
                assert z1.valve.flowing
                return loop

    loop = asyncio.run(scenario())
    [alarm] = [a for a in loop.state.alarms() if a.kind == "stuck_open"]
    assert alarm.zone == "z1" and "while the valve reports closed" in alarm.message
