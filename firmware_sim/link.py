"""An MQTT link whose network I/O runs on the asyncio loop, for runs on a virtual clock.

``MqttLink`` gives each connection a paho network thread. A closed loop runs twenty or
more connections in one process (every node has its own, as real devices do), and each
publish then wakes a thread that must take the GIL from the loop and hand it back: in a
profile of a season that was a fifth of the loop's time, with as much again waiting for
those threads. Here paho's own external-loop interface (``loop_read``, ``loop_write``,
``loop_misc`` on socket events) runs every connection on the loop's thread instead. The
connections, their wills, topics, QoS and packets are the same: only who moves the bytes
changes.

Meant for a broker on the same machine (the connect itself blocks the loop briefly). A
TLS endpoint keeps paho's thread: TLS may hold decrypted bytes the socket's readiness
does not show, which paho's own loop checks for and this one would not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any, Self

import paho.mqtt.client as paho

from smartfarm.mqtt import Message, MqttLink

log = logging.getLogger(__name__)

# paho's keepalive and retry timers are looked at this often (keepalive is 30 s).
MISC_EVERY_S = 1.0
RECONNECT_MIN_S = 1.0
RECONNECT_MAX_S = 30.0
STOP_WAIT_S = 2.0


class LoopLink(MqttLink):
    """One MQTT connection driven by the running event loop (paho's thread only with TLS)."""

    _misc: asyncio.Task[None] | None = None
    _reconnect: asyncio.Task[None] | None = None
    _stopping = False
    _closed: asyncio.Event | None = None
    _threaded = False

    @classmethod
    def replacing(cls, link: MqttLink) -> Self:
        """The same connection (id, subscriptions, will, session, birth) on the loop."""
        new = cls(link.endpoint, link.client_id, link.subscriptions)
        new.client = link.client  # its will, session and callbacks are already set
        new._birth = link._birth
        new.client.on_connect = new._on_connect
        new.client.on_disconnect = new._on_disconnect
        new.client.on_message = new._on_message
        return new

    async def start(self, timeout: float = 15.0) -> None:
        """Connect and wait for the first CONNACK, with the socket watched by the loop."""
        if self.endpoint.tls:
            self._threaded = True
            await super().start(timeout)
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        client = self.client
        opened = client.on_socket_open

        def on_open(c: paho.Client, userdata: Any, sock: Any) -> None:
            if opened is not None:
                opened(c, userdata, sock)
            self._watch(sock)

        client.on_socket_open = on_open
        client.on_socket_close = self._unwatch
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._done_writing
        try:
            client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
            await asyncio.wait_for(self._connected.wait(), timeout)
        except (OSError, TimeoutError) as err:
            raise ConnectionError(
                f"{self.client_id}: no MQTT connection to "
                f"{self.endpoint.host}:{self.endpoint.port}: {err or 'no CONNACK'}"
            ) from err
        self._misc = asyncio.create_task(self._keepalive(), name=f"mqtt-misc-{self.client_id}")

    async def stop(self) -> None:
        """Disconnect cleanly (no last will), as the threaded link does."""
        if self._threaded:
            await super().stop()
            return
        self._stopping = True
        for task in (self._misc, self._reconnect):
            if task is not None:
                task.cancel()
        self._closed = asyncio.Event()
        if self.client.disconnect() == paho.MQTT_ERR_SUCCESS:
            # The DISCONNECT goes out on the next write event; paho then closes the socket.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), STOP_WAIT_S)

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        if self._threaded:
            super()._on_message(_client, _userdata, msg)
            return
        # Already on the loop's thread: no wake-up through the self-pipe needed.
        self.messages.put_nowait(Message(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain)))

    # -- paho's socket callbacks -----------------------------------------------------------

    def _watch(self, sock: socket.socket) -> None:
        assert self._loop is not None
        self._loop.add_reader(sock, self._read)

    def _unwatch(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        if self._loop is None or self._loop.is_closed():
            return  # a link never stopped, its socket closed as the process ends
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        if self._closed is not None:
            self._closed.set()
        if not self._stopping and self._reconnect is None:
            self._reconnect = self._loop.create_task(self._reconnecting())

    def _want_write(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, self.client.loop_write)

    def _done_writing(self, _client: paho.Client, _userdata: Any, sock: Any) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    def _read(self) -> None:
        self.client.loop_read()

    # -- timers ----------------------------------------------------------------------------

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(MISC_EVERY_S)
            self.client.loop_misc()

    async def _reconnecting(self) -> None:
        """What paho's thread does after a lost connection: try again, backing off."""
        delay = RECONNECT_MIN_S
        try:
            while not self._stopping:
                await asyncio.sleep(delay)
                try:
                    self.client.reconnect()
                    return
                except OSError as err:
                    log.debug("%s: reconnect failed: %s", self.client_id, err)
                    delay = min(RECONNECT_MAX_S, delay * 2)
        finally:
            self._reconnect = None


def on_loop(link: MqttLink) -> LoopLink:
    """``link`` as a ``LoopLink`` (itself if it already is one)."""
    return link if isinstance(link, LoopLink) else LoopLink.replacing(link)
