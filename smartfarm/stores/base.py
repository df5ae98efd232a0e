"""The TelemetryStore interface every time-series backend implements, and its errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from smartfarm.models import Reading

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_HOUR = 3_600_000_000


class StoreError(Exception):
    """A store failure."""


class StoreUnavailable(StoreError):
    """Network error, timeout, 429 or 5xx: retry later, keep the data."""


class StoreRejected(StoreError):
    """The store refused the data (4xx): retrying the same data will not help."""


class StoreMisconfigured(StoreUnavailable):
    """The store refuses every request (401, 403, 404: credentials, database, bucket).

    Not the data's fault: keep it and retry, and tell a person to fix the settings.
    """


@dataclass(frozen=True, slots=True)
class HourlyStat:
    """One sensor's good readings over one hour: kept for years, so a season's chart is cheap."""

    farm: str
    zone: str
    sensor: str
    hour: datetime  # start of the hour, UTC
    count: int
    vwc_min: float
    vwc_mean: float
    vwc_max: float


class TelemetryStore(Protocol):
    """Where readings live. Writes are idempotent: same sensor and time = same point."""

    def write_readings(self, readings: Sequence[Reading]) -> None: ...

    def latest(self, sensors: Sequence[str]) -> dict[str, Reading]:
        """The newest reading of each sensor that has one."""
        ...

    def history(self, sensors: Sequence[str], start: datetime, end: datetime) -> list[Reading]:
        """Readings of these sensors with start <= ts < end, oldest first."""
        ...

    def rollup(self, start: datetime, end: datetime) -> int:
        """(Re)compute the hourly stats of every hour that overlaps [start, end); idempotent.

        Returns the number of (sensor, hour) stats written.
        """
        ...

    def hourly(self, sensors: Sequence[str], start: datetime, end: datetime) -> list[HourlyStat]:
        """Hourly stats of these sensors with start <= hour < end, oldest first."""
        ...

    def oldest_raw(self) -> datetime | None:
        """Time of the oldest raw reading kept, if any."""
        ...

    def drop_raw_before(self, cutoff: datetime) -> None:
        """Delete raw readings older than ``cutoff`` (hourly stats stay)."""
        ...

    def close(self) -> None: ...


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch, exactly (float seconds would round some of them)."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()}: readings are stored in UTC")
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def hour_floor(ts: datetime) -> datetime:
    return from_us(to_us(ts) // US_PER_HOUR * US_PER_HOUR)


def hour_ceil(ts: datetime) -> datetime:
    return from_us(-(-to_us(ts) // US_PER_HOUR) * US_PER_HOUR)
