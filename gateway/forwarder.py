"""The forwarder: drains the log into the TelemetryStore in batches, losing nothing.

A batch is written when it holds ``batch_max`` readings or its oldest reading has waited
``batch_seconds``. The store is unavailable (network, 429, 5xx): wait with exponential
backoff and jitter and try again, forever; the readings stay in the log. The store
refuses the batch (4xx): split it until the refused readings are found, write the rest,
and dead-letter those with the store's reason. Rows leave the log only after that.
Dead letters go from the log to the state database on the same thread.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from gateway.metrics import GatewayMetrics, GatewayStats
from gateway.wal import LetterRow, LogProgress, WalReader, WalRow
from smartfarm.ingest import ReadingParser
from smartfarm.models import DeadLetter, Reading
from smartfarm.stores.base import (
    US_PER_HOUR,
    StoreMisconfigured,
    StoreRejected,
    StoreUnavailable,
    TelemetryStore,
    from_us,
)
from smartfarm.stores.state import Sighting, StateStore

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5
LETTER_BATCH = 1000


def to_reading(row: WalRow) -> Reading:
    _id, _rx, farm, zone, sensor, ts_us, seq, vwc, raw, temp_c, battery_v, quality = row
    return Reading(farm, zone, sensor, from_us(ts_us), seq, vwc, raw, temp_c, battery_v, quality)


class Backoff:
    """Exponential backoff with full jitter, capped."""

    def __init__(self, cap: float, first: float = FIRST_RETRY_SECONDS) -> None:
        self.first = first
        self.cap = cap
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        ceiling = min(self.cap, self.first * 2 ** min(self.failures - 1, 30))
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


class Forwarder:
    """Runs on its own thread; see the module docstring."""

    def __init__(
        self,
        wal: WalReader,
        store: TelemetryStore,
        state: StateStore,
        parser: ReadingParser,
        metrics: GatewayMetrics,
        progress: LogProgress,
        batch_max: int,
        batch_seconds: float,
        retry_max_seconds: float,
    ) -> None:
        self.wal = wal
        self.store = store
        self.state = state
        self.parser = parser
        self.metrics = metrics
        self.stats: GatewayStats = metrics.stats
        self.progress = progress
        self.batch_max = batch_max
        self.batch_seconds = batch_seconds
        self.backoff = Backoff(retry_max_seconds)
        self.stop = threading.Event()
        self.forwarded_id = 0
        self.dirty_hours: set[int] = set()
        self._dirty_lock = threading.Lock()
        self._letters_due = 0.0
        self._letter_backoff = Backoff(retry_max_seconds)

    def run(self) -> None:
        bounds = self.wal.bounds()
        self.forwarded_id = bounds[0] - 1 if bounds else 0
        while not self.stop.is_set():
            self._move_dead_letters()
            batch = self._next_batch()
            if batch:
                self._forward(batch)

    def take_dirty_hours(self) -> set[int]:
        """Hours (as µs since the epoch) that received readings since the last call."""
        with self._dirty_lock:
            hours, self.dirty_hours = self.dirty_hours, set()
        return hours

    def _next_batch(self) -> list[WalRow]:
        """The next batch once it is due; [] after waiting a while with nothing due."""
        progress = self.progress
        with progress.cond:
            since = progress.oldest_since(self.forwarded_id)
            pending = progress.last_id - self.forwarded_id
            self.stats.wal_depth = max(0, pending)
            if since is None:
                self.stats.wal_oldest_age = 0.0
                progress.cond.wait(0.5)
                return []
            waited = time.monotonic() - since
            if pending < self.batch_max and waited < self.batch_seconds:
                progress.cond.wait(self.batch_seconds - waited)
                return []
        rows = self.wal.readings_after(self.forwarded_id, self.batch_max)
        if rows:
            self.stats.wal_oldest_age = max(0.0, time.time() - rows[0][1] / 1e6)
        return rows

    def _forward(self, rows: list[WalRow]) -> None:
        readings = [to_reading(row) for row in rows]
        while not self.stop.is_set():
            started = time.perf_counter()
            try:
                refused = self._write(rows, readings)
            except StoreUnavailable as err:
                kind = "misconfigured" if isinstance(err, StoreMisconfigured) else "unavailable"
                self._failed(kind, err)
                # The log keeps growing behind the stuck batch: keep its gauges current.
                self.stats.wal_depth = self.progress.last_id - self.forwarded_id
                self.stats.wal_oldest_age = max(0.0, time.time() - rows[0][1] / 1e6)
                self.stop.wait(self.backoff.next_delay())
                self._move_dead_letters()
                continue
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            self._done(rows, refused)
            return

    def _write(
        self, rows: Sequence[WalRow], readings: Sequence[Reading]
    ) -> list[tuple[WalRow, Reading, str]]:
        """Write; the readings the store refused (and their rows), with its reason."""
        try:
            self.store.write_readings(readings)
            return []
        except StoreRejected as err:
            self.stats.store_errors["rejected"] += 1
            if len(readings) == 1:
                return [(rows[0], readings[0], str(err))]
        half = len(readings) // 2
        first = self._write(rows[:half], readings[:half])
        return first + self._write(rows[half:], readings[half:])

    def _failed(self, kind: str, err: Exception) -> None:
        stats = self.stats
        stats.store_errors[kind] += 1
        stats.store_last_error = str(err)
        if stats.store_failing_since is None:
            stats.store_failing_since = time.time()
            log.warning("gateway: store unavailable, keeping readings in the log: %s", err)

    def _done(self, rows: list[WalRow], refused: list[tuple[WalRow, Reading, str]]) -> None:
        stats = self.stats
        if stats.store_failing_since is not None:
            log.info("gateway: store back after %d failed attempts", self.backoff.failures)
            stats.store_failing_since = None
        self.backoff.reset()
        # The original payload is gone by now: the letter keeps the reading as stored.
        letters: list[LetterRow] = [
            (
                row[1],
                self.parser.topic_of(reading.sensor),
                repr(reading).encode(),
                "store_rejected",
                reason,
            )
            for row, reading, reason in refused
        ]
        self.wal.forwarded(rows[-1][0], letters)
        self.forwarded_id = rows[-1][0]
        stats.stored += len(rows) - len(refused)
        stats.store_rejected += len(refused)
        if refused:
            log.warning(
                "gateway: store refused %d readings (dead-lettered): %s",
                len(refused),
                refused[0][2],
            )
        hours = {row[5] // US_PER_HOUR * US_PER_HOUR for row in rows}
        with self._dirty_lock:
            self.dirty_hours |= hours

    def _move_dead_letters(self) -> None:
        """Dead letters from the log to the state database; unknown devices listed."""
        if time.monotonic() < self._letters_due:
            return
        letters = self.wal.dead_letters(LETTER_BATCH)
        if not letters:
            return
        seen: dict[str, Sighting] = {}
        for _id, received_us, topic, _payload, reason, _detail in letters:
            device = self.parser.device_of(topic)
            if reason == "unknown_device" and device is not None:
                before = seen.get(device)
                count = before.messages + 1 if before else 1
                seen[device] = Sighting(from_us(received_us), topic, count)
        try:
            self.state.add_dead_letters(
                [
                    DeadLetter(from_us(rx), topic, bytes(payload), reason, detail)
                    for _id, rx, topic, payload, reason, detail in letters
                ]
            )
            if seen:
                self.state.record_unknown_devices(seen)
        except SQLAlchemyError as err:  # keep them in the log and try again later
            if self.stats.state_failing_since is None:
                log.warning("gateway: state database failing, dead letters wait: %s", err)
                self.stats.state_failing_since = time.time()
            self._letters_due = time.monotonic() + self._letter_backoff.next_delay()
            return
        self.stats.state_failing_since = None
        self._letter_backoff.reset()
        self.wal.drop_dead_letters(letters[-1][0])
