"""A queue from paho's network thread to the event loop that wakes the loop once per batch.

``asyncio.Queue`` fed with ``loop.call_soon_threadsafe`` costs a write to the loop's
self-pipe (a system call) and a callback for every message. Under a burst of a thousand
readings that was a tenth of the controller's CPU. Here the network thread appends to a
deque and wakes the loop only when no wake-up is already on its way; the consumer then
takes everything that arrived in one go.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._waiter: asyncio.Future[None] | None = None

    def put_threadsafe(self, loop: asyncio.AbstractEventLoop, item: T) -> None:
        """From any thread: queue ``item``; the loop is woken unless a wake-up is pending."""
        with self._lock:
            self._items.append(item)
            if self._wake_pending:
                return
            self._wake_pending = True
        loop.call_soon_threadsafe(self._wake)

    def put_nowait(self, item: T) -> None:
        """From the loop's own thread."""
        self._items.append(item)
        self._wake()

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> T:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def get_nowait(self) -> T:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)
