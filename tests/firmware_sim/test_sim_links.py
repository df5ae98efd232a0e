"""Nodes against a real Mosquitto: store and forward across a broker outage, a valve
closing itself with no broker, retained state with flow, and the last will; each with
the threaded link (real time) and the link on the event loop (virtual-time runs)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_sim.clock import VirtualClock
from firmware_sim.link import LoopLink
from firmware_sim.nodes import SensorNode, ValveNode
from smartfarm.calibration import SensorCalibration
from smartfarm.mqtt import Message, MqttLink
from smartfarm.settings import parse_mqtt_url
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.topics import Topics

TOPICS = Topics("farm", "f")
T0 = datetime(2026, 3, 1, tzinfo=UTC)
LINKS = pytest.mark.parametrize("link_type", [MqttLink, LoopLink], ids=["thread", "loop"])


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def drain(link: MqttLink, into: list[Message]) -> None:
    while True:
        into.append(await link.messages.get())


@LINKS
def test_readings_taken_offline_arrive_complete_in_order_with_their_own_times(
    tmp_path: Path, link_type: type[MqttLink]
) -> None:
    server = MosquittoServer(tmp_path / "mosquitto")
    server.start()
    endpoint = parse_mqtt_url(server.url)
    clock = VirtualClock(T0)

    async def scenario() -> list[dict[str, object]]:
        node = SensorNode("s1", TOPICS, endpoint, SensorCalibration(), clock, link_type=link_type)
        # The collector keeps its session, as the gateway does, so nothing is lost to it.
        collector = MqttLink(
            endpoint, "collector", [(TOPICS.reading("s1"), 1)], clean_session=False
        )
        got: list[Message] = []
        await collector.start()
        task = asyncio.create_task(drain(collector, got))
        await node.start()
        rng = random.Random(1)

        def take(n: int) -> None:
            for _ in range(n):
                node.publish(0.3, 25.0, rng)
                clock.advance(600)

        take(3)
        await until(lambda: len(got) == 3)
        server.stop()  # the village loses its signal
        await until(lambda: not node.link.connected)
        take(12)
        assert len(node.buffer) == 12
        server.start()  # same port: the signal is back
        await until(lambda: node.link.connected and collector.connected)
        take(1)  # the next reading finds the link up and sends the backlog first
        await until(lambda: len(got) >= 16)
        task.cancel()
        await node.stop()
        await collector.stop()
        return [json.loads(m.payload) for m in got]

    try:
        bodies = asyncio.run(scenario())
    finally:
        server.stop()
    assert [b["seq"] for b in bodies] == list(range(1, 17))
    stamps = [datetime.fromisoformat(str(b["ts"]).replace("Z", "+00:00")) for b in bodies]
    assert stamps == [T0 + timedelta(minutes=10 * i) for i in range(16)]


@LINKS
def test_a_valve_closes_itself_with_no_broker_and_reports_flow_retained(
    tmp_path: Path, link_type: type[MqttLink]
) -> None:
    server = MosquittoServer(tmp_path / "mosquitto")
    server.start()
    endpoint = parse_mqtt_url(server.url)
    clock = VirtualClock(T0)

    async def scenario() -> tuple[bool, list[dict[str, object]], list[Message]]:
        node = ValveNode("v1", TOPICS, endpoint, clock, flow_lph=3600.0, link_type=link_type)
        controller = link_type(endpoint, "controller")
        await node.start()
        await controller.start()
        body = {"v": 1, "id": "c1", "action": "open", "duration_s": 900, "issued": "x"}
        controller.publish(TOPICS.valve_command("v1"), json.dumps(body).encode())
        await until(lambda: node.is_open)
        server.stop()
        await until(lambda: not node.link.connected)
        clock.advance(899)
        still_open = node.is_open
        clock.advance(1)  # no broker: the valve's own timer closes it
        closed = not node.is_open
        server.start()
        await until(lambda: node.link.connected)
        # A newcomer gets the retained state: closed, no flow.
        late = MqttLink(endpoint, "late", [(TOPICS.valve_state("v1"), 1)])
        await late.start()
        retained = await asyncio.wait_for(late.messages.get(), 10)
        # The node drops off without saying goodbye (power cut): the broker sends its will.
        watcher = MqttLink(endpoint, "watcher", [(TOPICS.availability("v1"), 1)])
        await watcher.start()
        seen: list[Message] = [await asyncio.wait_for(watcher.messages.get(), 10)]
        sock = node.link.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        seen.append(await asyncio.wait_for(watcher.messages.get(), 10))
        for link in (late, watcher, controller):
            await link.stop()
        await node.stop()
        return still_open and closed, [json.loads(retained.payload)], seen

    try:
        closed_on_time, states, availability = asyncio.run(scenario())
    finally:
        server.stop()
    assert closed_on_time
    assert states[0]["state"] == "closed" and states[0]["flow_lph"] == 0.0
    assert availability[0].payload == b"online"
    assert availability[1].payload == b"offline"


def test_links_on_the_loop_start_no_thread_and_keep_their_messages_in_order(
    mosquitto: MosquittoServer,
) -> None:
    endpoint = parse_mqtt_url(mosquitto.url)

    async def scenario() -> tuple[int, int, list[bytes]]:
        before = threading.active_count()
        sub = LoopLink(endpoint, "sub", [("t/#", 1)])
        pubs = [LoopLink(endpoint, f"pub{i}") for i in range(5)]
        for link in (sub, *pubs):
            await link.start()
        during = threading.active_count()
        for n in range(50):
            pubs[0].publish("t/a", str(n).encode())
        got = [(await asyncio.wait_for(sub.messages.get(), 10)).payload for _ in range(50)]
        for link in (sub, *pubs):
            await link.stop()
        return before, during, got

    before, during, got = asyncio.run(scenario())
    assert during == before
    assert got == [str(n).encode() for n in range(50)]
