"""A valve node on a virtual clock: bounded opens, closing itself at ``until`` (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from firmware_sim.clock import VirtualClock
from firmware_sim.nodes import VALVE_MAX_OPEN_S, ValveNode
from smartfarm.mqtt import Message
from smartfarm.settings import parse_mqtt_url
from smartfarm.topics import Topics

T0 = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
TOPICS = Topics("farm", "f")


class Seen:
    def __init__(self) -> None:
        self.commands: list[tuple[str, bool]] = []
        self.changes: list[tuple[bool, datetime]] = []
        self.markers: list[bytes] = []

    def command(self, valve: str, payload: bytes, accepted: bool) -> None:
        self.commands.append((json.loads(payload).get("id"), accepted))

    def changed(self, valve: str, is_open: bool, at: datetime) -> None:
        self.changes.append((is_open, at))

    def marker(self, valve: str, payload: bytes) -> None:
        self.markers.append(payload)


def valve() -> tuple[ValveNode, VirtualClock, Seen]:
    clock, seen = VirtualClock(T0), Seen()
    node = ValveNode(
        "v1", TOPICS, parse_mqtt_url("mqtt://127.0.0.1:9"), clock, observer=seen
    )  # never started: publishes stay queued in paho, nothing connects
    return node, clock, seen


def command(body: dict[str, object]) -> Message:
    payload = {"v": 1, "issued": "2026-03-01T05:00:00Z", **body}
    return Message(TOPICS.valve_command("v1"), json.dumps(payload).encode(), 1, False)


def test_a_valve_closes_itself_at_until_in_virtual_time() -> None:
    node, clock, seen = valve()
    node.handle(command({"id": "c1", "action": "open", "duration_s": 1200}))
    assert node.is_open and node.since == T0
    assert node.until == T0 + timedelta(minutes=20)
    clock.advance(1199)
    assert node.is_open
    clock.advance(600)
    assert not node.is_open
    assert node.command_id == "c1"  # closed by its own timer: keeps the id of the open
    assert seen.changes == [(True, T0), (False, T0 + timedelta(minutes=20))]
    assert seen.commands == [("c1", True)]


def test_a_new_open_restarts_the_timer_and_a_close_ends_it() -> None:
    node, clock, seen = valve()
    node.handle(command({"id": "c1", "action": "open", "duration_s": 600}))
    clock.advance(300)
    node.handle(command({"id": "c2", "action": "open", "duration_s": 600}))
    assert node.since == T0  # still the same stretch of water
    clock.advance(599)
    assert node.is_open
    node.handle(command({"id": "c3", "action": "close"}))
    assert not node.is_open and node.command_id == "c3"
    assert clock.next_due() is None  # the timer went with the close
    assert seen.changes == [(True, T0), (False, T0 + timedelta(seconds=899))]


def test_an_unbounded_open_is_refused_and_a_long_one_capped() -> None:
    node, clock, seen = valve()
    node.handle(command({"id": "rogue", "action": "open"}))
    assert not node.is_open and seen.commands == [("rogue", False)]
    node.handle(command({"id": "long", "action": "open", "duration_s": 43200}))
    assert node.until == T0 + timedelta(seconds=VALVE_MAX_OPEN_S)
    states = node.states_published
    clock.advance(timedelta(hours=13))
    assert not node.is_open and node.states_published == states + 1
