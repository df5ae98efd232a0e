"""Gateway alarms: kept in the state database (the API lists them) and published on MQTT.

An alarm is raised once when its condition starts and cleared when it ends; the state
database keeps one active alarm per kind. A small connection of its own publishes them,
since the reading session is exactly what the disk budget alarm disconnects.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from smartfarm import payloads
from smartfarm.models import Alarm
from smartfarm.mqtt import configure_client
from smartfarm.settings import MqttEndpoint
from smartfarm.stores.state import StateStore

log = logging.getLogger(__name__)

SOURCE = "gateway"


def alarm_payload(alarm: Alarm) -> bytes:
    body = {
        "v": 1,
        "id": alarm.id,
        "source": alarm.source,
        "kind": alarm.kind,
        "zone": alarm.zone,
        "message": alarm.message,
        "active": alarm.active,
        "raised_at": payloads.format_ts(alarm.raised_at),
        "cleared_at": payloads.format_ts(alarm.cleared_at) if alarm.cleared_at else None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


class AlarmPublisher:
    """A clean-session MQTT client that only publishes (QoS 1; paho resends after a loss)."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str, topic: str) -> None:
        self.topic = topic
        self.endpoint = endpoint
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        configure_client(self.client, endpoint)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)

    def start(self) -> None:
        self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, alarm: Alarm) -> None:
        self.client.publish(self.topic, alarm_payload(alarm), qos=1)


class AlarmSwitch:
    """Raises an alarm of one kind when its condition starts, clears it when it ends."""

    def __init__(self, kind: str, state: StateStore, publisher: AlarmPublisher) -> None:
        self.kind = kind
        self.state = state
        self.publisher = publisher
        # None: not known yet, so the first check clears one left by an earlier run.
        self.active: bool | None = None

    def update(self, message: str | None, now: datetime) -> None:
        """``message`` while the condition holds, None once it is over (blocking I/O)."""
        if message is not None and self.active is not True:
            alarm, new = self.state.raise_alarm(SOURCE, self.kind, message, now)
            if new:
                log.warning("gateway alarm %s: %s", self.kind, message)
                self.publisher.publish(alarm)
            self.active = True
        elif message is None and self.active is not False:
            if self.state.clear_alarm(SOURCE, self.kind, now):
                log.info("gateway alarm %s cleared", self.kind)
                self.publisher.publish(
                    Alarm(None, now, SOURCE, self.kind, None, "cleared", False, cleared_at=now)
                )
            self.active = False
