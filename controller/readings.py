"""The controller's view of soil readings: the latest good one per sensor, in memory.

Live decisions never wait for the time-series database: this is fed straight from MQTT.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.models import Reading
from smartfarm.quality import GOOD, SeriesQuality

# The drying trend: one sample per sensor every TREND_STEP, over the last TREND_SPAN, from the
# last wetting on (a rise larger than WETTING, from watering or rain, restarts it). Enough to
# tell how fast the soil dries between two watering windows, and cheap: it is recomputed
# once per sample, not per reading.
TREND_STEP = timedelta(minutes=10)
TREND_SPAN = timedelta(hours=3)
TREND_MIN_SPAN = timedelta(hours=1)
WETTING = 0.005


@dataclass(frozen=True, slots=True)
class ZoneMoisture:
    moisture: float | None  # median of the good, fresh readings
    age_s: float | None  # age of the newest of them
    no_good_s: float | None  # time without any good reading, None while they arrive
    drying_per_h: float | None = None  # median of the sensors' trends; None: not known


class ReadingBook:
    def __init__(self, farm: FarmConfig, started_at: datetime) -> None:
        self.farm = farm
        self.started_at = started_at
        self.good: dict[str, Reading] = {}
        self.last_seen: dict[str, datetime] = {}
        # The gateway's own spike and stuck checks: a stuck probe must not look like soil
        # that never dries, nor a spike like a leak.
        self.series = SeriesQuality()
        self._samples: dict[str, deque[tuple[datetime, float]]] = {}
        self._drying: dict[str, float] = {}  # per sensor, vwc per hour, positive when drying

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
            self._sample(reading.sensor, reading.ts, reading.vwc)
        return reading.zone

    def _sample(self, sensor: str, ts: datetime, vwc: float) -> None:
        samples = self._samples.setdefault(sensor, deque())
        if samples and ts - samples[-1][0] < TREND_STEP:
            return
        if samples and vwc - samples[-1][1] > WETTING:
            samples.clear()  # watered or rained: the drying starts again from here
        samples.append((ts, vwc))
        while ts - samples[0][0] > TREND_SPAN:
            samples.popleft()
        self._drying.pop(sensor, None)
        if len(samples) >= 4 and ts - samples[0][0] >= TREND_MIN_SPAN:
            self._drying[sensor] = -_slope_per_h(samples)

    def drying_per_h(self, zone: ZoneConfig) -> float | None:
        rates = [r for s in zone.sensors if (r := self._drying.get(s)) is not None]
        return statistics.median(rates) if rates else None

    def zone(self, zone: ZoneConfig, now: datetime, stale_after_s: float) -> ZoneMoisture:
        readings = [r for s in zone.sensors if (r := self.good.get(s)) is not None]
        if not readings:
            since_start = max(0.0, (now - self.started_at).total_seconds())
            return ZoneMoisture(None, None, since_start)
        ages = [(now - r.ts).total_seconds() for r in readings]
        fresh = [r.vwc for r, age in zip(readings, ages, strict=True) if age <= stale_after_s]
        newest_age = min(ages)
        # "No good reading" counts from the last good one (or from our start if none yet).
        return ZoneMoisture(
            moisture=_median(fresh) if fresh else _median([r.vwc for r in readings]),
            age_s=newest_age,
            no_good_s=None if fresh else max(0.0, newest_age),
            drying_per_h=self.drying_per_h(zone) if fresh else None,
        )


def _median(values: list[float]) -> float:
    # Most zones have one or two probes: this runs for every zone decided.
    if len(values) == 1:
        return values[0]
    return statistics.median(values)


def _slope_per_h(samples: deque[tuple[datetime, float]]) -> float:
    """Least-squares slope of vwc against time, per hour."""
    t0 = samples[0][0]
    xs = [(t - t0).total_seconds() / 3600 for t, _ in samples]
    ys = [v for _, v in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
