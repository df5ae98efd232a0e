"""Hourly stats and raw retention, through the TelemetryStore, on every store.

The forwarder notes which hours received readings; those hours are (re)computed, so a
sensor replaying a day-old buffer gets its old hours recomputed too. Before raw readings
pass their retention, every hour they cover is rolled up, so nothing is deleted without
its stats.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from smartfarm.stores.base import (
    US_PER_HOUR,
    StoreError,
    TelemetryStore,
    from_us,
    hour_floor,
    to_us,
)

log = logging.getLogger(__name__)

# After a restart the hours touched just before it may have missed their rollup.
STARTUP_HOURS = 24
RETENTION_EVERY = timedelta(hours=1)
# Rolling up a long stretch before deleting it goes a week at a time.
CHUNK = timedelta(days=7)


def hour_ranges(hours: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous [start, end) ranges (µs) covering these hour starts (µs)."""
    ranges: list[tuple[int, int]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + US_PER_HOUR)
        else:
            ranges.append((hour, hour + US_PER_HOUR))
    return ranges


class Rollups:
    """Called every few minutes from the gateway's loop (on a worker thread)."""

    def __init__(
        self,
        store: TelemetryStore,
        take_dirty_hours: Callable[[], set[int]],
        raw_retention: timedelta | None,
        now: datetime,
    ) -> None:
        self.store = store
        self.take_dirty_hours = take_dirty_hours
        self.raw_retention = raw_retention
        latest = to_us(hour_floor(now))
        self.pending: set[int] = {latest - h * US_PER_HOUR for h in range(STARTUP_HOURS)}
        self._retention_due = now

    def run_once(self, now: datetime) -> None:
        self.pending |= self.take_dirty_hours()
        for start, end in hour_ranges(self.pending):
            try:
                self.store.rollup(from_us(start), from_us(end))
            except StoreError as err:
                log.warning("gateway: rollup of %s failed, will retry: %s", from_us(start), err)
                return
            self.pending -= set(range(start, end, US_PER_HOUR))
        if self.raw_retention is not None and now >= self._retention_due:
            try:
                self.apply_retention(now)
            except StoreError as err:
                log.warning("gateway: raw retention failed, will retry: %s", err)
                return
            self._retention_due = now + RETENTION_EVERY

    def apply_retention(self, now: datetime) -> None:
        """Roll up every hour older than the retention, then delete those raw readings."""
        assert self.raw_retention is not None
        cutoff = hour_floor(now - self.raw_retention)
        oldest = self.store.oldest_raw()
        if oldest is None or oldest >= cutoff:
            return
        start = hour_floor(oldest)
        while start < cutoff:
            end = min(cutoff, start + CHUNK)
            self.store.rollup(start, end)
            start = end
        self.store.drop_raw_before(cutoff)
        log.info("gateway: raw readings before %s deleted (hourly stats kept)", cutoff)
