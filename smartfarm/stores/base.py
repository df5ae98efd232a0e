"""The TelemetryStore interface every time-series backend implements, and its errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from smartfarm.models import Reading


class StoreError(Exception):
    """A store failure."""


class StoreUnavailable(StoreError):
    """Network error, timeout, 429 or 5xx: retry later, keep the data."""


class StoreRejected(StoreError):
    """The store refused the data (4xx): retrying the same data will not help."""


class TelemetryStore(Protocol):
    """Where readings live. Writes are idempotent: same sensor and time = same point."""

    def write_readings(self, readings: Sequence[Reading]) -> None: ...

    def latest(self, sensors: Sequence[str]) -> dict[str, Reading]:
        """The newest reading of each sensor that has one."""
        ...

    def history(self, sensors: Sequence[str], start: datetime, end: datetime) -> list[Reading]:
        """Readings of these sensors with start <= ts < end, oldest first."""
        ...

    def close(self) -> None: ...
