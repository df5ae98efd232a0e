"""The controller's view of soil readings: the latest good one per sensor, in memory.

Live decisions never wait for the time-series database: this is fed straight from MQTT.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.models import Reading
from smartfarm.quality import GOOD, SeriesQuality


@dataclass(frozen=True, slots=True)
class ZoneMoisture:
    moisture: float | None  # median of the good, fresh readings
    age_s: float | None  # age of the newest of them
    no_good_s: float | None  # time without any good reading, None while they arrive


class ReadingBook:
    def __init__(self, farm: FarmConfig, started_at: datetime) -> None:
        self.farm = farm
        self.started_at = started_at
        self.good: dict[str, Reading] = {}
        self.last_seen: dict[str, datetime] = {}
        # The gateway's own spike and stuck checks: a stuck probe must not look like soil
        # that never dries, nor a spike like a leak.
        self.series = SeriesQuality()

    def add(self, reading: Reading) -> str | None:
        """Keep a reading; returns its zone if it changed what the controller knows."""
        known = self.last_seen.get(reading.sensor)
        if known is not None and reading.ts < known:
            return None  # a replayed old reading: history, not news
        self.last_seen[reading.sensor] = reading.ts
        ts_us = int(reading.ts.timestamp() * 1_000_000)
        quality = self.series.judge(
            reading.sensor, ts_us, reading.raw, reading.vwc, reading.quality
        )
        # A faulty probe's last good reading simply ages out; the zone falls to its fallback.
        if quality == GOOD:
            self.good[reading.sensor] = reading
        return reading.zone

    def zone(self, zone: ZoneConfig, now: datetime, stale_after_s: float) -> ZoneMoisture:
        readings = [r for s in zone.sensors if (r := self.good.get(s)) is not None]
        fresh = [r for r in readings if (now - r.ts).total_seconds() <= stale_after_s]
        newest = max((r.ts for r in readings), default=None)
        since_good = (now - (newest or self.started_at)).total_seconds()
        # "No good reading" counts from the last good one, or from our start if none yet.
        no_good = None if fresh else max(0.0, since_good)
        return ZoneMoisture(
            moisture=statistics.median(r.vwc for r in fresh)
            if fresh
            else (statistics.median(r.vwc for r in readings) if readings else None),
            age_s=min((now - r.ts).total_seconds() for r in readings) if readings else None,
            no_good_s=no_good,
        )
