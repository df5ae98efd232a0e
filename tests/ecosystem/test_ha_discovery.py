"""Home Assistant MQTT discovery: the configs against HA's documented schema, and a
valve command from Home Assistant reaching the valve only through the controller."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from controller.discovery import HomeAssistantBridge, discovery_configs
from smartfarm import payloads
from smartfarm.cli import main
from smartfarm.config import FarmConfig, load_farm_config
from smartfarm.ha_topics import HaTopics
from smartfarm.mqtt import Message
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.processes import ProcessGroup
from smartfarm.topics import Topics
from tests.ecosystem.mqtt_clients import V5Client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "farm.yaml"
T = Topics("farm", "demo-farm")
HA = HaTopics(T)
NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)

# --- Home Assistant's documented schema, written down from its docs --------------------------
# Discovery topic: <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, ids made of
# [a-zA-Z0-9_-]: https://www.home-assistant.io/integrations/mqtt/#discovery-topic
DISCOVERY_TOPIC = re.compile(r"^homeassistant/(sensor|valve)/[a-zA-Z0-9_-]+/[a-zA-Z0-9_-]+/config$")
# Keys every MQTT entity accepts (availability, device registry, ...), from both pages below.
COMMON_KEYS = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "default_entity_id", "device", "device_class", "enabled_by_default", "encoding",
    "entity_category", "entity_picture", "icon", "json_attributes_template",
    "json_attributes_topic", "name", "object_id", "payload_available", "payload_not_available",
    "qos", "unique_id", "value_template",
}  # fmt: skip
# https://www.home-assistant.io/integrations/sensor.mqtt/ ("platform" is only for
# device-based discovery, which we do not use).
SENSOR_REQUIRED = {"state_topic"}
SENSOR_KEYS = COMMON_KEYS | {
    "expire_after", "force_update", "last_reset_value_template", "options",
    "suggested_display_precision", "state_class", "state_topic", "unit_of_measurement",
}  # fmt: skip
# https://developers.home-assistant.io/docs/core/entity/sensor#available-state-classes
SENSOR_STATE_CLASSES = {"measurement", "measurement_angle", "total", "total_increasing"}
# https://www.home-assistant.io/integrations/sensor/#device-class: moisture is in %.
SENSOR_UNITS = {"moisture": {"%"}}
# https://www.home-assistant.io/integrations/valve.mqtt/
VALVE_KEYS = COMMON_KEYS | {
    "command_template", "command_topic", "optimistic", "payload_close", "payload_open",
    "payload_stop", "position_closed", "position_open", "reports_position", "retain",
    "state_closed", "state_closing", "state_open", "state_opening", "state_topic",
}  # fmt: skip
# https://www.home-assistant.io/integrations/valve/#device-class
VALVE_DEVICE_CLASSES = {None, "water", "gas"}
# Only without reports_position (valve.mqtt: "Is only allowed when reports_position is False").
VALVE_NOT_WITH_POSITION = {"payload_open", "payload_close", "state_open", "state_closed"}
# The device map (both pages): at least one of identifiers or connections; needs unique_id.
DEVICE_KEYS = {
    "configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
    "model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device",
}  # fmt: skip
AVAILABILITY_KEYS = {"payload_available", "payload_not_available", "topic", "value_template"}


def check_common(config: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(config) - allowed
    assert not unknown, f"keys Home Assistant does not document: {unknown}"
    if "device" in config:
        assert config.get("unique_id"), "device info only works with unique_id"
        device = config["device"]
        assert set(device) <= DEVICE_KEYS, set(device) - DEVICE_KEYS
        assert device.get("identifiers") or device.get("connections")
    assert not ("availability" in config and "availability_topic" in config)
    for item in config.get("availability", []):
        assert "topic" in item and set(item) <= AVAILABILITY_KEYS
    assert config.get("qos", 0) in (0, 1, 2)
    for key, value in config.items():
        if key.endswith("_topic"):
            assert isinstance(value, str) and value and "#" not in value and "+" not in value


def check_sensor(config: dict[str, Any]) -> None:
    check_common(config, SENSOR_KEYS)
    assert set(config) >= SENSOR_REQUIRED
    assert config.get("state_class") in SENSOR_STATE_CLASSES | {None}
    if config.get("device_class") in SENSOR_UNITS:
        assert config.get("unit_of_measurement") in SENSOR_UNITS[config["device_class"]]
    assert "options" not in config or config.get("device_class") == "enum"


def check_valve(config: dict[str, Any]) -> None:
    check_common(config, VALVE_KEYS)
    assert config.get("device_class") in VALVE_DEVICE_CLASSES
    if config.get("reports_position"):
        assert not VALVE_NOT_WITH_POSITION & set(config)


@pytest.fixture(scope="module")
def farm() -> FarmConfig:
    return load_farm_config(EXAMPLE)


def test_discovery_configs_follow_home_assistants_schema(farm: FarmConfig) -> None:
    configs = discovery_configs(farm, HA)
    assert len(configs) == 2 * len(farm.zones)
    unique_ids = [c["unique_id"] for _, c in configs]
    assert len(set(unique_ids)) == len(unique_ids)
    for topic, config in configs:
        assert DISCOVERY_TOPIC.fullmatch(topic), topic
        json.dumps(config)  # plain JSON
        if topic.startswith("homeassistant/sensor/"):
            check_sensor(config)
        else:
            check_valve(config)


def test_each_zone_is_a_moisture_sensor_and_a_valve_commanded_through_the_controller(
    farm: FarmConfig,
) -> None:
    configs = dict(discovery_configs(farm, HA))
    for zone in farm.zones:
        sensor = configs[f"homeassistant/sensor/smartfarm_demo-farm/{zone.id}_moisture/config"]
        assert sensor["device_class"] == "moisture"
        assert sensor["state_topic"] == HA.zone_state(zone.id)
        valve = configs[f"homeassistant/valve/smartfarm_demo-farm/{zone.id}_valve/config"]
        assert valve["command_topic"] == HA.zone_command(zone.id)
        assert valve["command_topic"] != T.valve_command(zone.valve)
        assert valve["state_topic"] == T.valve_state(zone.valve)
        assert valve["device"] == sensor["device"]


class Recorder:
    """Collects what the bridge publishes (the bridge's logic, not a broker)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.sent.append((topic, payload, qos, retain))


def test_open_and_close_become_bounded_controller_requests(farm: FarmConfig) -> None:
    bridge = HomeAssistantBridge(farm, T, Recorder())
    reading = Message(T.reading("s-z1-a"), b"{}", 1, False)
    out = bridge.translate(
        [
            Message(HA.zone_command("z1"), b"OPEN", 1, False),
            reading,
            Message(HA.zone_command("z2"), b"CLOSE", 1, False),
            Message(HA.zone_command("z9"), b"OPEN", 1, False),  # no such zone
            Message(HA.zone_command("z1"), b"50", 1, False),  # a position: not ours
        ],
        NOW,
    )
    assert [m.topic for m in out] == [T.controller_request(), reading.topic, T.controller_request()]
    opened = payloads.decode("controller-request.v1", out[0].payload)
    assert opened["action"] == "water_now" and opened["zone"] == "z1"
    assert 1 <= opened["minutes"] <= farm.zone("z1").max_run_minutes
    assert opened["by"] == "home-assistant" and opened["issued"] == "2026-11-23T05:00:00.000Z"
    closed = payloads.decode("controller-request.v1", out[2].payload)
    assert (closed["action"], closed["zone"]) == ("stop", "z2")


def test_home_assistant_birth_republishes_retained_configs(farm: FarmConfig) -> None:
    recorder = Recorder()
    bridge = HomeAssistantBridge(farm, T, recorder)
    assert bridge.translate([Message(HA.status, b"online", 1, False)], NOW) == []
    assert len(recorder.sent) == 2 * len(farm.zones)
    assert all(retain for *_, retain in recorder.sent)


def test_zone_states_are_sent_on_change_and_refreshed(farm: FarmConfig) -> None:
    recorder = Recorder()
    bridge = HomeAssistantBridge(farm, T, recorder)
    bridge.publish_zone_states({"z1": 0.3032, "z2": None}, NOW)
    bridge.publish_zone_states({"z1": 0.3032}, NOW.replace(minute=5))
    bridge.publish_zone_states({"z1": 0.3032}, NOW.replace(minute=11))
    bridge.publish_zone_states({"z1": 0.31}, NOW.replace(minute=12))
    sent = [(t, json.loads(p)["moisture_pct"]) for t, p, _, _ in recorder.sent]
    assert sent == [(HA.zone_state("z1"), 30.3)] * 2 + [(HA.zone_state("z1"), 31.0)]


# --- on a real Mosquitto with the generated users: HA -> controller -> valve ----------------


def farm_without_automatic_watering_in_z1(path: Path) -> Path:
    """The example farm, z1 allowed automatic watering only in a minute twelve hours away.

    Home Assistant's open is then the only reason for z1's valve to open (manual watering
    ignores windows), so the command the test sees is the one Home Assistant caused.
    """
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    tz = ZoneInfo(data["farm"]["timezone"])
    start = datetime.now(tz) + timedelta(hours=12)
    end = start + timedelta(minutes=1)
    data["zones"][0]["windows"] = [f"{start:%H:%M}-{end:%H:%M}"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Mosquitto with the generated ACL, `smartfarm controller` and `smartfarm sim`."""
    gen = tmp_path / "gen"
    farm = farm_without_automatic_watering_in_z1(tmp_path / "farm.yaml")
    assert main(["mqtt-acl", "--farm", str(farm), "--out", str(gen), "--demo-sim"]) == 0
    creds = json.loads((gen / "credentials.json").read_text())
    passwords = {c["username"]: c["password"] for c in creds.values()}
    conf = f"allow_anonymous false\npassword_file {gen / 'passwd'}\nacl_file {gen / 'acl'}\n"
    with MosquittoServer(tmp_path / "broker", extra_conf=conf) as broker:
        procs = ProcessGroup(
            tmp_path,
            {
                "SMARTFARM_FARM_FILE": str(farm),
                "SMARTFARM_MQTT_URL": broker.url,
                "SMARTFARM_VAR_DIR": str(tmp_path / "var"),
                "SMARTFARM_REPORT_SECONDS": "1",
                "SMARTFARM_EVALUATE_SECONDS": "1",
                "SMARTFARM_HOME_ASSISTANT": "true",
            },
        )
        for name, user in (("sim", "smartfarm-sim"), ("controller", "smartfarm-controller")):
            env = {"SMARTFARM_MQTT_USERNAME": user, "SMARTFARM_MQTT_PASSWORD": passwords[user]}
            procs.start(name, name, env=env)
        try:
            yield broker.port, passwords
        finally:
            procs.stop_all()


def next_json(client: V5Client, topic: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = datetime.now(UTC).timestamp() + timeout
    while datetime.now(UTC).timestamp() < deadline:
        message = client.messages.get(timeout=max(0.1, deadline - datetime.now(UTC).timestamp()))
        if message.topic == topic:
            data = json.loads(message.payload)
            assert isinstance(data, dict)
            return data
    raise TimeoutError(topic)


def test_home_assistant_opens_a_valve_only_through_the_controllers_limits(
    stack: tuple[int, dict[str, str]],
) -> None:
    port, passwords = stack
    ha = V5Client(port, "homeassistant", passwords["homeassistant"], "test-ha")
    # What the valve node receives, seen with the valve's own (read-only) rights.
    valve = V5Client(port, "v-z1", passwords["v-z1"], "test-v-z1-observer")
    try:
        ha.subscribe(HA.all_configs)
        config = next_json(ha, "homeassistant/valve/smartfarm_demo-farm/z1_valve/config")
        assert config["command_topic"] == HA.zone_command("z1")
        ha.subscribe(HA.zone_state("z1"))
        state = next_json(ha, HA.zone_state("z1"))
        assert 0 < state["moisture_pct"] < 100
        valve.subscribe(T.valve_command("v-z1"))
        assert not ha.publish(config["command_topic"], b"OPEN").is_failure
        command = next_json(valve, T.valve_command("v-z1"))
        assert command["action"] == "open"
        # Bounded by the controller: Home Assistant's 15 minutes, within the zone's maximum.
        assert command["duration_s"] == 15 * 60
        assert command["duration_s"] <= 60 * 60
        ha.subscribe(T.valve_state("v-z1"))
        assert (next_json(ha, T.valve_state("v-z1")))["state"] in ("open", "closed")
        assert not ha.publish(config["command_topic"], b"CLOSE").is_failure
        assert next_json(valve, T.valve_command("v-z1"))["action"] == "close"
    finally:
        ha.close()
        valve.close()
