"""Home Assistant MQTT discovery: each zone as a device with a moisture sensor and a valve.

Home Assistant's valve commands go to a controller topic, never to the valve: the
controller turns them into requests (water now, stop) and applies its safety limits
(bounded duration, pump capacity, daily limits) as for a farmer's button. The broker ACL
(smartfarm/mqtt_acl.py) lets Home Assistant publish only there.
Schemas: https://www.home-assistant.io/integrations/sensor.mqtt/ and
https://www.home-assistant.io/integrations/valve.mqtt/ (discovery:
https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from smartfarm import payloads
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.ha_topics import HaTopics
from smartfarm.mqtt import Message
from smartfarm.topics import QOS_COMMAND, QOS_STATE, Topics

log = logging.getLogger(__name__)

OPEN, CLOSE = "OPEN", "CLOSE"
# How long Home Assistant's "open" waters; the controller still caps it at the zone's
# longest run and refuses it past the pump's capacity or the daily limits.
WATER_MINUTES = 15
# A zone state at least this often even when the moisture holds still, so Home Assistant's
# expire_after marks a zone unavailable only when the controller has nothing good.
REFRESH_S = 600.0
# Otherwise a zone's state is sent when it moved by MIN_CHANGE (probe noise is smaller), at
# most once per MIN_INTERVAL_S: the controller decides on every reading, and one retained
# publish per reading would double its MQTT traffic for a dashboard.
MIN_CHANGE = 0.005
MIN_INTERVAL_S = 60.0


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None: ...


class HomeAssistantBridge:
    """Discovery configs, zone states and Home Assistant's commands, for the controller."""

    def __init__(
        self,
        farm: FarmConfig,
        topics: Topics,
        publisher: Publisher,
        discovery_prefix: str = "homeassistant",
        water_minutes: int = WATER_MINUTES,
    ) -> None:
        self.farm = farm
        self.topics = topics
        self.ha = HaTopics(topics, discovery_prefix)
        self.publisher = publisher
        self.water_minutes = water_minutes
        self._sent: dict[str, tuple[float | None, datetime]] = {}
        # Built once: translate() looks at every message the controller receives.
        self._status = self.ha.status
        self._command_head = f"{topics.base}/controller/ha/"

    def subscriptions(self) -> list[tuple[str, int]]:
        return [(self.ha.all_zone_commands, QOS_COMMAND), (self.ha.status, QOS_STATE)]

    def publish_discovery(self) -> None:
        """Every entity's config, retained, so Home Assistant finds them whenever it starts."""
        for topic, config in discovery_configs(self.farm, self.ha):
            self.publisher.publish(topic, json.dumps(config).encode(), QOS_STATE, True)

    def is_command(self, topic: str) -> bool:
        """A person's press in Home Assistant: a request, kept until we can act on it."""
        return topic.startswith(self._command_head)

    def translate(self, messages: Sequence[Message], now: datetime) -> list[Message]:
        """Home Assistant's messages become controller requests; the rest pass through."""
        out: list[Message] = []
        for message in messages:
            if message.topic == self._status:
                if message.payload == b"online":  # Home Assistant (re)started
                    self.publish_discovery()
            elif not message.topic.startswith(self._command_head):
                out.append(message)
            elif (zone := self.ha.zone_of_command(message.topic)) is not None:
                request = self.request(zone, message.payload, now)
                if request is not None:
                    out.append(Message(self.topics.controller_request(), request, 1, False))
        return out

    def request(self, zone_id: str, command: bytes, now: datetime) -> bytes | None:
        """The controller request for Home Assistant's OPEN or CLOSE of a zone, or None."""
        if zone_id not in {z.id for z in self.farm.zones}:
            log.warning("controller: Home Assistant command for unknown zone %r", zone_id)
            return None
        body: dict[str, Any] = {
            "v": 1,
            "id": uuid.uuid4().hex[:16],
            "zone": zone_id,
            "by": "home-assistant",
            "issued": payloads.format_ts(now),
        }
        if command.strip() == OPEN.encode():
            body |= {"action": "water_now", "minutes": self.water_minutes}
        elif command.strip() == CLOSE.encode():
            body["action"] = "stop"
        else:
            log.warning("controller: Home Assistant sent %r for zone %s", command[:40], zone_id)
            return None
        return payloads.encode(body)

    def publish_zone_states(self, moisture: Mapping[str, float | None], now: datetime) -> None:
        """Each zone's median moisture (m3/m3) when it moved or has not been sent lately."""
        for zone_id, vwc in moisture.items():
            if vwc is None:
                continue
            last = self._sent.get(zone_id)
            if last is not None:
                age = (now - last[1]).total_seconds()
                moved = last[0] is None or abs(vwc - last[0]) >= MIN_CHANGE
                if age < REFRESH_S and not (moved and age >= MIN_INTERVAL_S):
                    continue
            self._sent[zone_id] = (vwc, now)
            body = {
                "v": 1,
                "zone": zone_id,
                "moisture_pct": round(vwc * 100, 1),
                "ts": payloads.format_ts(now),
            }
            self.publisher.publish(self.ha.zone_state(zone_id), payloads.encode(body), 1, True)


def _device(farm: FarmConfig, zone: ZoneConfig, node: str) -> dict[str, Any]:
    return {
        "identifiers": [f"{node}_{zone.id}"],
        "name": zone.name,
        "manufacturer": "smartfarm",
        "model": f"drip irrigation zone ({zone.crop}, {zone.soil})",
        "suggested_area": farm.farm.name,
    }


Config = tuple[str, dict[str, Any]]


def zone_configs(farm: FarmConfig, zone: ZoneConfig, ha: HaTopics) -> list[Config]:
    """The moisture sensor and the valve of one zone (pure)."""
    node = ha.node_id
    device = _device(farm, zone, node)
    moisture = {
        "name": "Soil moisture",
        "unique_id": f"{node}_{zone.id}_moisture",
        "device_class": "moisture",
        "state_class": "measurement",
        "unit_of_measurement": "%",
        "suggested_display_precision": 1,
        "state_topic": ha.zone_state(zone.id),
        "value_template": "{{ value_json.moisture_pct }}",
        # No good reading for this long: the controller is in sensor fault too.
        "expire_after": farm.farm.sensor_fault_minutes * 60,
        "qos": 1,
        "device": device,
    }
    valve = {
        "name": "Drip valve",
        "unique_id": f"{node}_{zone.id}_valve",
        "device_class": "water",
        "command_topic": ha.zone_command(zone.id),
        "payload_open": OPEN,
        "payload_close": CLOSE,
        "state_topic": ha.topics.valve_state(zone.valve),
        "value_template": "{{ value_json.state }}",
        "state_open": "open",
        "state_closed": "closed",
        "availability": [{"topic": ha.topics.availability(zone.valve)}],
        "optimistic": False,
        "retain": False,
        "qos": 1,
        "device": device,
    }
    return [
        (ha.config("sensor", f"{zone.id}_moisture"), moisture),
        (ha.config("valve", f"{zone.id}_valve"), valve),
    ]


def discovery_configs(farm: FarmConfig, ha: HaTopics) -> list[Config]:
    return [item for zone in farm.zones for item in zone_configs(farm, zone, ha)]
