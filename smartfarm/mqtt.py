"""A thin asyncio adapter around paho-mqtt 2.

paho runs its network loop in its own thread; callbacks only convert the message
to our frozen ``Message`` and hand it to the event loop, never doing work there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from smartfarm.inbox import Inbox
from smartfarm.settings import MqttEndpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    # When paho handed it over (time.monotonic()): how long it then waited is ours to answer for.
    received: float = 0.0


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def tls_context(endpoint: MqttEndpoint) -> ssl.SSLContext:
    """Verify the broker (system CAs or ``ca_file``); present a client certificate if set."""
    try:
        context = ssl.create_default_context(
            cafile=str(endpoint.ca_file) if endpoint.ca_file else None
        )
        if endpoint.cert_file:
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
    except (OSError, ssl.SSLError) as err:
        files = [str(f) for f in (endpoint.ca_file, endpoint.cert_file, endpoint.key_file) if f]
        raise ValueError(f"MQTT TLS files {', '.join(files)}: {err}") from err
    return context


def configure_client(client: paho.Client, endpoint: MqttEndpoint) -> None:
    """User, password and TLS of ``endpoint`` on a paho client: one place for every client."""
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set_context(tls_context(endpoint))


class MqttLink:
    """One MQTT connection: subscribes on every (re)connect, queues incoming messages."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        subscriptions: Sequence[tuple[str, int]] = (),
        *,
        will: Will | None = None,
        clean_session: bool = True,
        on_connect_publish: Sequence[tuple[str, bytes, int, bool]] = (),
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.messages: Inbox[Message] = Inbox()
        self._birth = list(on_connect_publish)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        self._failures = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=paho.MQTTv311,
        )
        configure_client(self.client, endpoint)
        if will is not None:
            self.client.will_set(will.topic, will.payload, will.qos, will.retain)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        # paho holds a QoS 1 publish back while 20 others await their PUBACK: in a burst a
        # valve command would queue behind decisions for a broker round trip or more.
        self.client.max_inflight_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, timeout: float = 15.0) -> None:
        """Connect and start paho's network thread; wait for the first CONNACK."""
        self._loop = asyncio.get_running_loop()
        self.client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        self.client.loop_start()
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            self.client.loop_stop()
            raise ConnectionError(
                f"{self.client_id}: no MQTT connection to "
                f"{self.endpoint.host}:{self.endpoint.port} after {timeout:.0f}s"
            ) from None

    async def stop(self) -> None:
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish; paho keeps QoS 1 messages across reconnects of this client."""
        self.client.publish(topic, payload, qos=qos, retain=retain)

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        _flags: paho.ConnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("%s: broker refused connection: %s", self.client_id, reason)
            return
        sock = client.socket()
        if isinstance(sock, socket.socket):
            # Small messages must not wait for Nagle's algorithm (up to 40 ms per hop): a
            # reading should reach the valve command in milliseconds.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._failures:
            log.info("%s: reconnected after %d failures", self.client_id, self._failures)
            self._failures = 0
        if self.subscriptions:
            client.subscribe(self.subscriptions)
        for topic, payload, qos, retain in self._birth:
            client.publish(topic, payload, qos=qos, retain=retain)
        self._set_connected(True)

    def _on_disconnect(
        self,
        _client: paho.Client,
        _userdata: Any,
        _flags: paho.DisconnectFlags,
        reason: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if self._failures == 0 and reason.is_failure:
            log.warning("%s: lost MQTT connection: %s", self.client_id, reason)
        self._failures += 1
        self._set_connected(False)

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        if self._loop is None:
            return
        message = Message(
            msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain), time.monotonic()
        )
        self.messages.put_threadsafe(self._loop, message)

    def _set_connected(self, value: bool) -> None:
        if self._loop is None:
            return
        action = self._connected.set if value else self._connected.clear
        self._loop.call_soon_threadsafe(action)
