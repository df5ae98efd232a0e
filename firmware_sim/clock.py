"""Clocks for the simulated devices: the wall clock, or a virtual one a driver moves by hand.

Devices ask their clock for the time (timestamps of readings and valve states) and for
timers (a valve closing itself). On the wall clock timers are asyncio's; on a virtual
clock they fire when the driver advances time past them, each at its own due time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def call_at(self, when: datetime, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` once at ``when`` (at once if that has passed), unless cancelled."""
        ...


class WallClock:
    """Real time: what the devices of `smartfarm up` and `smartfarm sim` use."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: datetime, callback: Callable[[], None]) -> Timer:
        delay = max(0.0, (when - self.now()).total_seconds())
        return asyncio.get_running_loop().call_later(delay, callback)


@dataclass(order=True, slots=True)
class VirtualTimer:
    when: datetime
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time that moves only when ``advance`` or ``advance_to`` is called."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a virtual clock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._timers: list[VirtualTimer] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def call_at(self, when: datetime, callback: Callable[[], None]) -> VirtualTimer:
        timer = VirtualTimer(max(when, self._now), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, seconds: float, callback: Callable[[], None]) -> VirtualTimer:
        return self.call_at(self._now + timedelta(seconds=seconds), callback)

    def next_due(self) -> datetime | None:
        """When the next live timer fires, if any."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def advance_to(self, when: datetime) -> int:
        """Move to ``when``, firing due timers in order, each at its own time; how many fired."""
        if when < self._now:
            raise ValueError(f"a clock does not go back: {when} is before {self._now}")
        fired = 0
        while (due := self.next_due()) is not None and due <= when:
            timer = heapq.heappop(self._timers)
            self._now = timer.when
            timer.callback()
            fired += 1
        self._now = when
        return fired

    def advance(self, dt: timedelta | float) -> int:
        seconds = dt.total_seconds() if isinstance(dt, timedelta) else dt
        return self.advance_to(self._now + timedelta(seconds=seconds))
