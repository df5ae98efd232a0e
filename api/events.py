"""Server-Sent Events: the API's MQTT link fans out readings, valves, alarms and decisions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
PING_SECONDS = 15.0
# A page that cannot keep up loses its oldest events, never slows the others down.
QUEUE_SIZE = 1000


def format_event(kind: str, data: Any) -> bytes:
    return (
        f"event: {kind}\ndata: {json.dumps(data, default=str, separators=(',', ':'))}\n\n".encode()
    )


class EventHub:
    """Every connected page gets every event; each page has its own bounded queue."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[bytes]] = set()
        self.dropped = 0

    @property
    def listeners(self) -> int:
        return len(self._queues)

    def publish(self, kind: str, data: Any) -> None:
        if not self._queues:
            return
        frame = format_event(kind, data)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(frame)

    async def stream(
        self, disconnected: Callable[[], Awaitable[bool]], ping_s: float = PING_SECONDS
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            # Tells EventSource how long to wait before reconnecting, and opens the stream.
            yield b"retry: 3000\n\n"
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), ping_s)
                except TimeoutError:
                    if await disconnected():
                        return
                    yield b": ping\n\n"
        finally:
            self._queues.discard(queue)
