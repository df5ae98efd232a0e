"""The payload contract: the examples in docs/protocol.md validate, and unsafe or malformed
payloads are refused with a reason code (pure, no broker)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from smartfarm import payloads
from smartfarm.payloads import BadPayload
from smartfarm.topics import Topics

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def protocol_examples() -> list[dict[str, object]]:
    blocks = re.findall(r"```json\n(.*?)```", PROTOCOL.read_text(encoding="utf-8"), re.S)
    examples = []
    for block in blocks:
        # A block may hold several one-object lines or one object over several lines.
        for chunk in re.split(r"\n(?=\{)", block.strip()):
            examples.append(json.loads(chunk))
    return examples


SCHEMA_OF = {
    frozenset({"code"}): "decision.v1",
    frozenset({"source"}): "alarm.v1",
    frozenset({"raw"}): "reading.v1",
    frozenset({"issued"}): "valve-command.v1",
    frozenset({"state"}): "valve-state.v1",
    frozenset({"by"}): "controller-request.v1",
    frozenset({"mm", "seq"}): "rain.v1",
}


def schema_for(example: dict[str, object]) -> str:
    for keys, name in SCHEMA_OF.items():
        if keys <= example.keys():
            return name
    raise AssertionError(f"no schema for {example}")


def test_every_protocol_example_validates() -> None:
    examples = protocol_examples()
    assert len(examples) >= 13
    for example in examples:
        payloads.decode(schema_for(example), json.dumps(example).encode())


@pytest.mark.parametrize(
    "command",
    [
        {"v": 1, "id": "a", "action": "open", "issued": "2026-11-23T05:10:00Z"},
        {"v": 1, "id": "a", "action": "open", "duration_s": 0, "issued": "x"},
        {"v": 1, "id": "a", "action": "open", "duration_s": 86400, "issued": "x"},
        {"v": 1, "id": "a", "action": "open", "duration_s": None, "issued": "x"},
        {"v": 2, "id": "a", "action": "open", "duration_s": 60, "issued": "x"},
    ],
)
def test_an_open_without_a_bounded_duration_is_refused(command: dict[str, object]) -> None:
    with pytest.raises(BadPayload) as info:
        payloads.decode("valve-command.v1", json.dumps(command).encode())
    assert info.value.reason == "schema"


def test_water_now_needs_minutes() -> None:
    body = {"v": 1, "id": "r", "action": "water_now", "zone": "z1", "by": "web"}
    with pytest.raises(BadPayload, match="minutes"):
        payloads.decode("controller-request.v1", json.dumps(body).encode())


def test_time_round_trip_is_utc_with_milliseconds() -> None:
    ts = payloads.parse_ts("2026-11-23T05:10:00.123Z")
    assert payloads.format_ts(ts) == "2026-11-23T05:10:00.123Z"


def test_topics_build_and_parse() -> None:
    t = Topics("farm", "demo-farm")
    assert t.reading("s1") == "farm/demo-farm/sensor/s1/reading"
    assert t.device_of("farm/demo-farm/sensor/s1/reading", "sensor", "reading") == "s1"
    assert t.device_of("farm/other/sensor/s1/reading", "sensor", "reading") is None
    assert t.device_of("farm/demo-farm/valve/v1/state", "sensor", "reading") is None
    assert t.device_of("farm/demo-farm/sensor/s1/extra/reading", "sensor", "reading") is None
    nested = Topics("coop/north", "f1")
    assert nested.device_of(nested.valve_state("v9"), "valve", "state") == "v9"
