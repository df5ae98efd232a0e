"""TLS and credentials for every MQTT client, against a Mosquitto TLS listener of our own."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.alarms import AlarmPublisher
from gateway.metrics import GatewayStats
from gateway.receiver import Inbox, MqttReceiver
from smartfarm.cli import main
from smartfarm.models import Alarm
from smartfarm.mqtt import MqttLink, tls_context
from smartfarm.settings import CommonSettings, MqttEndpoint
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.tls import LocalCa, make_test_ca
from smartfarm.topics import Topics
from tests.ecosystem.mqtt_clients import V5Client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "farm.yaml"
T = Topics("farm", "demo-farm")


@dataclass(frozen=True)
class TlsBroker:
    port: int
    ca: LocalCa
    passwords: dict[str, str]

    def settings(self, user: str, **extra: object) -> CommonSettings:
        values: dict[str, object] = {
            "mqtt_url": f"mqtts://127.0.0.1:{self.port}",
            "mqtt_username": user,
            "mqtt_password": self.passwords[user],
            "mqtt_ca_file": self.ca.ca_cert,
            "mqtt_cert_file": self.ca.client_cert,
            "mqtt_key_file": self.ca.client_key,
        }
        values.update(extra)
        return CommonSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """TLS only, client certificates required, and the generated users and ACL."""
    work = tmp_path_factory.mktemp("mqtt-tls")
    ca = make_test_ca(work / "ca")
    assert main(["mqtt-acl", "--farm", str(EXAMPLE), "--out", str(work / "acl")]) == 0
    creds = json.loads((work / "acl" / "credentials.json").read_text())
    conf = (
        f"cafile {ca.ca_cert}\ncertfile {ca.server_cert}\nkeyfile {ca.server_key}\n"
        "require_certificate true\ntls_version tlsv1.2\n"
        f"allow_anonymous false\npassword_file {work / 'acl' / 'passwd'}\n"
        f"acl_file {work / 'acl' / 'acl'}\n"
    )
    with MosquittoServer(work / "broker", extra_conf=conf) as server:
        yield TlsBroker(server.port, ca, {c["username"]: c["password"] for c in creds.values()})


def test_settings_refuse_inconsistent_tls_and_credentials(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="mqtts://"):
        CommonSettings(mqtt_url="mqtt://h", mqtt_ca_file=tmp_path / "ca.crt")
    with pytest.raises(ValidationError, match="go together"):
        CommonSettings(mqtt_url="mqtts://h", mqtt_cert_file=tmp_path / "c.crt")
    with pytest.raises(ValidationError, match="needs SMARTFARM_MQTT_USERNAME"):
        CommonSettings(mqtt_password="x")  # type: ignore[arg-type]


def test_settings_credentials_win_over_the_url_and_default_to_it() -> None:
    from_url = CommonSettings(mqtt_url="mqtt://u%40x:p%3Aw@h:1").mqtt
    assert (from_url.username, from_url.password, from_url.tls) == ("u@x", "p:w", False)
    explicit = CommonSettings(
        mqtt_url="mqtts://u:p@h",
        mqtt_username="gw",
        mqtt_password="s",  # type: ignore[arg-type]
    ).mqtt
    assert (explicit.username, explicit.password, explicit.port) == ("gw", "s", 8883)


def test_missing_tls_file_is_a_clear_error(tmp_path: Path) -> None:
    endpoint = MqttEndpoint("h", 8883, True, None, None, ca_file=tmp_path / "nope.crt")
    with pytest.raises(ValueError, match=r"MQTT TLS files .*nope\.crt"):
        tls_context(endpoint)


async def roundtrip(settings: CommonSettings, subscribe_to: str, publisher: V5Client) -> bytes:
    link = MqttLink(settings.mqtt, "tls-link", [(subscribe_to, 1)])
    await link.start(timeout=10)
    try:
        await asyncio.sleep(0.3)  # the SUBACK
        await asyncio.to_thread(publisher.publish, subscribe_to.replace("+", "s-z1-a"), b"hello")
        message = await asyncio.wait_for(link.messages.get(), 10)
        return message.payload
    finally:
        await link.stop()


def test_mqtt_link_connects_with_the_farm_ca_a_client_certificate_and_a_password(
    broker: TlsBroker,
) -> None:
    sensor = V5Client(
        broker.port,
        "s-z1-a",
        broker.passwords["s-z1-a"],
        "tls-sensor",
        tls=tls_context(broker.settings("s-z1-a").mqtt),
    )
    try:
        settings = broker.settings("smartfarm-controller")
        assert asyncio.run(roundtrip(settings, T.all_readings, sensor)) == b"hello"
    finally:
        sensor.close()


def test_without_the_farm_ca_the_broker_is_not_trusted(broker: TlsBroker) -> None:
    settings = broker.settings("smartfarm-controller", mqtt_ca_file=None)
    link = MqttLink(settings.mqtt, "tls-untrusted")

    async def attempt() -> None:
        await link.start(timeout=3)

    with pytest.raises(ConnectionError):
        asyncio.run(attempt())


def test_gateway_receiver_and_alarm_publisher_use_tls_and_their_user(broker: TlsBroker) -> None:
    """The gateway's own paho clients (not MqttLink) get the same TLS and credentials."""
    endpoint = broker.settings("smartfarm-gateway").mqtt
    watcher = V5Client(
        broker.port,
        "smartfarm-api",
        broker.passwords["smartfarm-api"],
        "tls-watcher",
        tls=tls_context(endpoint),
    )
    sensor = V5Client(
        broker.port,
        "s-z1-a",
        broker.passwords["s-z1-a"],
        "tls-sensor-2",
        tls=tls_context(endpoint),
    )
    inbox = Inbox(100)
    receiver = MqttReceiver(endpoint, "tls-gateway", T.all_readings, inbox, GatewayStats())
    alarms = AlarmPublisher(endpoint, "tls-gateway-alarms", T.alarm("gateway"))
    try:
        assert watcher.subscribe(T.alarm("gateway")).value == 1
        receiver.start()
        alarms.start()
        for _ in range(50):
            if receiver.stats.connected:
                break
            threading.Event().wait(0.1)
        assert receiver.stats.connected
        threading.Event().wait(0.3)  # the SUBACK
        sensor.publish(T.reading("s-z1-a"), b"reading")
        taken = inbox.take(10, timeout=10)
        assert [(item[3], item[4]) for item in taken] == [(T.reading("s-z1-a"), b"reading")]
        alarms.publish(Alarm(1, datetime.now(UTC), "gateway", "disk_budget", None, "test"))
        got = watcher.received(timeout=10)
        assert [m.topic for m in got] == [T.alarm("gateway")]
    finally:
        receiver.stop()
        alarms.stop()
        watcher.close()
        sensor.close()
