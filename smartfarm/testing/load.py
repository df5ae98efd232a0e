"""Load for the gateway's tests and benchmark: a farm of many sensors, readings, a
publisher that survives broker restarts, and exactly-once checks against the store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from smartfarm.settings import parse_mqtt_url

log = logging.getLogger(__name__)

# Packet ids are 16 bits: more unacknowledged messages than this would reuse ids.
MAX_OUTSTANDING = 30_000
# 12-bit ADC counts a capacitive probe gives in moist soil (default calibration: ~0.27).
RAW_BASE = 2100


def farm_yaml(farm_id: str, sensors: Sequence[str], zones: int = 10) -> str:
    """A valid farm whose zones share out ``sensors``; the pump can feed every zone."""
    lines = [
        f"farm:\n  id: {farm_id}\n  name: load\n  pump: {{capacity_lph: {zones * 400}}}\n",
        "zones:\n",
    ]
    for z in range(zones):
        mine = ", ".join(sensors[z::zones])
        lines.append(
            f"  - {{id: z{z}, name: z{z}, crop: coffee, soil: loam, area_m2: 400,"
            f" emitters: 100, emitter_flow_lph: 2, valve: v{z}, sensors: [{mine}]}}\n"
        )
    return "".join(lines)


def sensor_ids(count: int, prefix: str = "b") -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


def iso_ms(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reading_payload(device: str, seq: int, ts: datetime | str) -> bytes:
    """A valid reading.v1 payload; the raw value wanders a little with seq (never stuck)."""
    stamp = ts if isinstance(ts, str) else iso_ms(ts)
    raw = RAW_BASE + (seq * 7919) % 23
    return (
        f'{{"v":1,"device":"{device}","ts":"{stamp}","seq":{seq},"raw":{raw},'
        f'"temp_c":27.5,"battery_v":3.9}}'
    ).encode()


def backlog(
    prefix: str, farm_id: str, sensors: Sequence[str], count: int, end: datetime
) -> list[tuple[str, bytes]]:
    """``count`` readings over ``sensors``, one second apart per sensor, ending at ``end``."""
    per_sensor = -(-count // len(sensors))
    start = end - timedelta(seconds=per_sensor)
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        device = sensors[i % len(sensors)]
        seq = i // len(sensors)
        topic = f"{prefix}/{farm_id}/sensor/{device}/reading"
        out.append((topic, reading_payload(device, seq, start + timedelta(seconds=seq))))
    return out


class Publisher:
    """A QoS 1 publisher that keeps its session, so a broker restart loses nothing it sent."""

    def __init__(self, url: str, client_id: str) -> None:
        endpoint = parse_mqtt_url(url)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        if endpoint.username:
            self.client.username_pw_set(endpoint.username, endpoint.password)
        # Unbounded: paho keeps every unacknowledged message and sends it again on reconnect.
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._connected = threading.Event()
        self.client.on_connect = lambda *_: self._connected.set()
        self.client.on_disconnect = lambda *_: self._connected.clear()
        # Counted in on_publish (paho's thread), which also fires for messages paho sent
        # again after a reconnect; MQTTMessageInfo would report those as failed.
        self.sent = 0
        self.acked = 0
        self.client.on_publish = self._on_publish
        self.client.connect_async(endpoint.host, endpoint.port, keepalive=10)
        self.client.loop_start()
        if not self._connected.wait(15):
            raise ConnectionError(f"{client_id}: no MQTT connection to {url}")

    def _on_publish(self, *_: Any) -> None:
        self.acked += 1

    def publish(self, topic: str, payload: bytes) -> None:
        if self.sent - self.acked >= MAX_OUTSTANDING:
            self._wait_outstanding(MAX_OUTSTANDING // 2)
        self.client.publish(topic, payload, qos=1)
        self.sent += 1

    def _wait_outstanding(self, keep: int, timeout: float = 120.0) -> None:
        """Wait until at most ``keep`` messages are unacknowledged."""
        deadline = time.monotonic() + timeout
        while self.sent - self.acked > keep:
            if time.monotonic() > deadline:
                left = self.sent - self.acked
                raise TimeoutError(f"{left} messages not acknowledged by the broker")
            time.sleep(0.005)

    def publish_all(self, messages: Iterable[tuple[str, bytes]], rate: float = 0.0) -> None:
        """Publish, at most ``rate`` a second when given."""
        started = time.monotonic()
        for n, (topic, payload) in enumerate(messages):
            if rate and n % 100 == 0:
                ahead = n / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            self.publish(topic, payload)

    def wait_all_acked(self, timeout: float = 120.0) -> None:
        self._wait_outstanding(0, timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def register_session(url: str, client_id: str, topic_filter: str) -> None:
    """Create a persistent session subscribed to ``topic_filter``, then leave it offline."""
    endpoint = parse_mqtt_url(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    done = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
    client.on_subscribe = lambda *_: done.set()
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        if not done.wait(15):
            raise ConnectionError(f"{client_id}: could not subscribe to {topic_filter}")
    finally:
        client.disconnect()
        client.loop_stop()


def influx_query(url: str, db: str, statement: str) -> list[dict[str, Any]]:
    """Rows of one InfluxQL statement with the series tags merged in."""
    response = httpx.post(
        f"{url}/query", params={"db": db, "epoch": "ns"}, data={"q": statement}, timeout=60
    )
    response.raise_for_status()
    rows: list[dict[str, Any]] = []
    for result in response.json().get("results", []):
        if "error" in result:
            raise RuntimeError(f"InfluxDB: {result['error']}")
        for series in result.get("series", []):
            tags = series.get("tags", {})
            for values in series["values"]:
                rows.append({**tags, **dict(zip(series["columns"], values, strict=True))})
    return rows


def influx_tally(url: str, db: str, measurement: str = "soil") -> tuple[int, int]:
    """(points, distinct (sensor, seq) pairs) stored: the gap between them is duplicates."""
    rows = influx_query(
        url,
        db,
        f'SELECT count("seq") AS n, count(distinct("seq")) AS d FROM "{measurement}"'
        ' GROUP BY "sensor"',
    )
    return sum(int(r["n"]) for r in rows), sum(int(r["d"]) for r in rows)


def prometheus_values(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of a Prometheus text page (comments skipped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
