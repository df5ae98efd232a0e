"""A synchronous MQTT client for tests: publish, and wait for messages that match."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from smartfarm.settings import parse_mqtt_url


class Probe:
    def __init__(self, url: str, topics: list[str], client_id: str = "probe") -> None:
        endpoint = parse_mqtt_url(url)
        self.messages: list[paho.MQTTMessage] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if endpoint.username:
            self.client.username_pw_set(endpoint.username, endpoint.password)
        self._connected = threading.Event()
        self.client.on_connect = lambda c, *_: self._on_connect(c, topics)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(endpoint.host, endpoint.port)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError(f"probe could not connect to {url}")
        if topics and not self._subscribed.wait(10):
            raise TimeoutError("probe could not subscribe")

    def _on_connect(self, client: paho.Client, topics: list[str]) -> None:
        if topics:
            client.subscribe([(t, 1) for t in topics])
        self._connected.set()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def wait_for(
        self, match: Callable[[paho.MQTTMessage], bool], timeout: float = 20.0
    ) -> paho.MQTTMessage:
        """The first message (already seen or arriving) for which ``match`` is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for msg in self.messages[seen:]:
                    if match(msg):
                        return msg
                seen = len(self.messages)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message in {timeout}s ({seen} seen)")
                self._cond.wait(left)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
