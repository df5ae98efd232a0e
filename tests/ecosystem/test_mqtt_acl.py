"""`smartfarm mqtt-acl`: the files it writes, and a real Mosquitto that enforces them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartfarm import mqtt_acl
from smartfarm.cli import main
from smartfarm.config import FarmConfig, load_farm_config
from smartfarm.ha_topics import HaTopics
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.topics import Topics
from tests.ecosystem.mqtt_clients import V5Client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "farm.yaml"
T = Topics("farm", "demo-farm")
HA = HaTopics(T)
NOT_AUTHORIZED = 0x87


@pytest.fixture(scope="module")
def farm() -> FarmConfig:
    return load_farm_config(EXAMPLE)


def rules_of(clients: list[mqtt_acl.Client], username: str) -> set[tuple[str, str]]:
    client = next(c for c in clients if c.username == username)
    return {(r.access, r.topic) for r in client.rules}


# --- pure: the plan and the file formats ----------------------------------------------------


def test_each_device_gets_only_its_own_topics(farm: FarmConfig) -> None:
    clients = mqtt_acl.plan_clients(farm)
    assert rules_of(clients, "s-z1-a") == {
        ("write", "farm/demo-farm/sensor/s-z1-a/reading"),
        ("write", "farm/demo-farm/device/s-z1-a/availability"),
    }
    assert rules_of(clients, "v-z2") == {
        ("read", "farm/demo-farm/valve/v-z2/command"),
        ("write", "farm/demo-farm/valve/v-z2/state"),
        ("write", "farm/demo-farm/device/v-z2/availability"),
    }
    devices = {c.username for c in clients if c.role in ("sensor", "valve")}
    assert devices == {"s-z1-a", "s-z1-b", "s-z2-a", "s-z3-a", "s-z4-a"} | {
        "v-z1",
        "v-z2",
        "v-z3",
        "v-z4",
    }


def test_only_the_controller_and_the_demo_simulator_touch_valve_commands(
    farm: FarmConfig,
) -> None:
    clients = mqtt_acl.plan_clients(farm, gateways=2, demo_sim=True)
    writers = {
        c.role
        for c in clients
        for r in c.rules
        if "write" in r.access and re.fullmatch(r"farm/demo-farm/valve/[^/]+/command", r.topic)
    }
    assert writers == {"controller"}
    assert ("write", HA.zone_command("+")) in rules_of(clients, "homeassistant")
    assert ("read", HA.zone_command("+")) in rules_of(clients, "smartfarm-controller")
    gateways = [c.username for c in clients if c.role == "gateway"]
    assert gateways == ["smartfarm-gateway", "smartfarm-gateway-2"]


def test_api_tells_the_controller_of_tuning_on_the_controllers_topic(farm: FarmConfig) -> None:
    from controller.tuning import tuning_topic

    clients = mqtt_acl.plan_clients(farm)
    assert mqtt_acl.tuning_topic(T) == tuning_topic(T)
    assert ("readwrite", tuning_topic(T)) in rules_of(clients, "smartfarm-api")
    assert ("read", tuning_topic(T)) in rules_of(clients, "smartfarm-controller")


def test_acl_file_gives_anonymous_nothing(farm: FarmConfig) -> None:
    text = mqtt_acl.render_acl(mqtt_acl.plan_clients(farm))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("user "), "a topic line before the first user is for anonymous"
    for line in lines:
        assert re.fullmatch(r"user [A-Za-z0-9_-]+|topic (read|write|readwrite) [^ #]+", line), line


def test_a_device_id_that_clashes_with_a_process_is_refused(
    farm: FarmConfig,
) -> None:
    zones = [
        z.model_copy(update={"valve": "smartfarm-api"}) if z.id == "z1" else z for z in farm.zones
    ]
    clash = farm.model_copy(update={"zones": zones})
    with pytest.raises(ValueError, match="smartfarm-api"):
        mqtt_acl.plan_clients(clash)


def test_password_hash_is_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        pytest.fail("mosquitto_passwd is missing: apt-get install mosquitto (bin/test does)")
    passwd = tmp_path / "passwd"
    subprocess.run([tool, "-c", "-b", str(passwd), "alice", "s3cret:é"], check=True)
    line = passwd.read_text().strip()
    _user, _, hashed = line.partition(":")
    _empty, kind, rounds, salt, _digest = hashed.split("$")
    assert kind == "7"
    import base64

    ours = mqtt_acl.hash_password("s3cret:é", base64.b64decode(salt), int(rounds))
    assert ours == hashed


# --- the command ------------------------------------------------------------------------------


def test_command_writes_private_files_and_keeps_passwords_on_rerun(tmp_path: Path) -> None:
    out = tmp_path / "mqtt"
    assert main(["mqtt-acl", "--farm", str(EXAMPLE), "--out", str(out)]) == 0
    for name in ("passwd", "credentials.json", "compose.env"):
        assert (out / name).stat().st_mode & 0o077 == 0, f"{name} readable by others"
    creds = json.loads((out / "credentials.json").read_text())
    assert creds["s-z1-a"]["role"] == "sensor"
    assert creds["smartfarm-controller"] == {
        "username": "smartfarm-controller",
        "password": creds["smartfarm-controller"]["password"],
        "role": "controller",
    }
    assert len({c["password"] for c in creds.values()}) == len(creds)
    env = (out / "compose.env").read_text()
    assert f"MQTT_GATEWAY_PASSWORD={creds['smartfarm-gateway']['password']}\n" in env

    assert main(["mqtt-acl", "--farm", str(EXAMPLE), "--out", str(out), "--demo-sim"]) == 0
    again = json.loads((out / "credentials.json").read_text())
    assert {k: again[k] for k in creds} == creds, "a rerun must not change device passwords"
    assert again["smartfarm-sim"]["role"] == "sim"

    assert main(["mqtt-acl", "--farm", str(EXAMPLE), "--out", str(out), "--rotate"]) == 0
    rotated = json.loads((out / "credentials.json").read_text())
    assert rotated["s-z1-a"]["password"] != creds["s-z1-a"]["password"]


def test_command_names_a_broken_credentials_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "credentials.json").write_text("{not json")
    assert main(["mqtt-acl", "--farm", str(EXAMPLE), "--out", str(tmp_path)]) == 2
    assert "credentials.json: not JSON" in capsys.readouterr().err


# --- a real Mosquitto with the generated files ------------------------------------------------


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str]]]:
    """Mosquitto on its own port with only the generated users; user name -> password."""
    out = tmp_path_factory.mktemp("mqtt-acl")
    assert main(["mqtt-acl", "--farm", str(EXAMPLE), "--out", str(out)]) == 0
    creds = json.loads((out / "credentials.json").read_text())
    conf = f"allow_anonymous false\npassword_file {out / 'passwd'}\nacl_file {out / 'acl'}\n"
    with MosquittoServer(out / "broker", extra_conf=conf) as server:
        yield server.port, {c["username"]: c["password"] for c in creds.values()}


def connect(secured: tuple[int, dict[str, str]], user: str, client_id: str = "") -> V5Client:
    port, passwords = secured
    return V5Client(port, user, passwords[user], client_id or f"test-{user}")


def test_wrong_or_missing_password_is_refused(secured: tuple[int, dict[str, str]]) -> None:
    port, _ = secured
    for user, password in (("s-z1-a", "guess"), (None, None)):
        client = V5Client(port, user, password, f"test-refused-{user}")
        try:
            assert client.connack is not None and client.connack.is_failure
        finally:
            client.close()


def test_sensor_cannot_command_a_valve_but_the_controller_can(
    secured: tuple[int, dict[str, str]],
) -> None:
    valve = connect(secured, "v-z1")
    other_valve = connect(secured, "v-z2")
    sensor = connect(secured, "s-z1-a")
    controller = connect(secured, "smartfarm-controller")
    clients = (valve, other_valve, sensor, controller)
    try:
        # Mosquitto's acl_file grants any subscription and checks "read" on delivery:
        # the sensor and the other valve subscribe but must receive nothing.
        for client in (valve, other_valve, sensor):
            assert client.subscribe(T.valve_command("v-z1")).value == 1
        command = (
            b'{"v":1,"id":"x","action":"open","duration_s":3600,"issued":"2026-01-01T00:00:00Z"}'
        )
        assert sensor.publish(T.valve_command("v-z1"), command).value == NOT_AUTHORIZED
        assert controller.publish(T.valve_command("v-z1"), b"from-controller").value == 0
        got = valve.received(timeout=5)
        assert [m.payload for m in got] == [b"from-controller"]
        assert other_valve.received(timeout=0.5) == []
        assert sensor.received(timeout=0.5) == []
    finally:
        for client in clients:
            client.close()


def test_sensor_cannot_publish_as_another_sensor(secured: tuple[int, dict[str, str]]) -> None:
    gateway = connect(secured, "smartfarm-gateway")
    sensor = connect(secured, "s-z1-a")
    try:
        # The gateways' shared subscription passes the ACL on its topic filter.
        assert gateway.subscribe(f"$share/gw/{T.all_readings}").value == 1
        assert sensor.publish(T.reading("s-z1-b"), b"spoofed").value == NOT_AUTHORIZED
        assert sensor.publish(T.reading("s-z1-a"), b"own").value == 0
        got = gateway.received(timeout=5)
        assert [(m.topic, m.payload) for m in got] == [(T.reading("s-z1-a"), b"own")]
    finally:
        gateway.close()
        sensor.close()


def test_home_assistant_reaches_valves_only_through_the_controller(
    secured: tuple[int, dict[str, str]],
) -> None:
    ha = connect(secured, "homeassistant")
    controller = connect(secured, "smartfarm-controller")
    try:
        assert controller.subscribe(HA.all_zone_commands).value == 1
        assert ha.publish(T.valve_command("v-z1"), b"OPEN").value == NOT_AUTHORIZED
        assert ha.publish(T.controller_request(), b"{}").value == NOT_AUTHORIZED
        assert ha.publish(HA.zone_command("z1"), b"OPEN").value == 0
        got = controller.received(timeout=5)
        assert [(m.topic, m.payload) for m in got] == [(HA.zone_command("z1"), b"OPEN")]
    finally:
        ha.close()
        controller.close()


def test_api_asks_the_controller_and_cannot_command_a_valve(
    secured: tuple[int, dict[str, str]],
) -> None:
    api = connect(secured, "smartfarm-api")
    try:
        assert not api.publish(T.controller_request(), b"{}").is_failure
        assert api.publish(T.valve_command("v-z1"), b"x").value == NOT_AUTHORIZED
        assert api.subscribe(T.all_valve_states).value == 1
    finally:
        api.close()
