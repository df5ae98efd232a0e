"""The log writer: parse each group of messages, make it durable in one commit, then ack.

Bad messages become dead letters in the same commit, so they too are acknowledged only
once kept. At the disk budget the writer pauses the receiver (the broker keeps the
readings) and resumes when the forwarder has made room.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from gateway.metrics import GatewayStats
from gateway.receiver import Inbox, Incoming, MqttReceiver
from gateway.wal import LetterRow, LogProgress, WalFull, WalRow, WalWriter
from smartfarm.ingest import ReadingParser
from smartfarm.payloads import BadPayload
from smartfarm.quality import SeriesQuality

log = logging.getLogger(__name__)

GROUP_MAX = 5000
# (sensor, seq, ts_us) of readings already logged, to drop broker redeliveries. A message
# the broker sends again was logged but its ack lost with the connection: it is in the
# last group or two (at most 5000 each). Long-lived keys also pin memory the short-lived
# messages would free, so the window is kept to what redeliveries need.
RECENT_KEYS = 16_384


@dataclass(frozen=True, slots=True)
class DiskBudget:
    max_bytes: int
    resume_fraction: float
    min_free_bytes: int


class Deduper:
    """Remembers the last readings logged; a redelivered one is not logged twice."""

    def __init__(self, size: int = RECENT_KEYS) -> None:
        self._seen: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._size = size

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        return key in self._seen

    def add(self, key: tuple[str, int, int]) -> None:
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)


class LogWriter:
    """Runs on its own thread: inbox -> parse -> one durable commit per group -> acks."""

    def __init__(
        self,
        inbox: Inbox,
        receiver: MqttReceiver,
        wal: WalWriter,
        parser: ReadingParser,
        series: SeriesQuality,
        budget: DiskBudget,
        stats: GatewayStats,
        wal_dir: str,
        progress: LogProgress,
    ) -> None:
        self.inbox = inbox
        self.receiver = receiver
        self.wal = wal
        self.parser = parser
        self.series = series
        self.budget = budget
        self.stats = stats
        self.wal_dir = wal_dir
        self.progress = progress
        self.recent = Deduper()
        self.stop = threading.Event()
        self._internal_errors = 0

    def run(self) -> None:
        while not self.stop.is_set():
            if self.stats.paused:
                self._wait_for_room()
                continue
            items = self.inbox.take(GROUP_MAX, timeout=0.2)
            self.stats.inbox_depth = len(self.inbox)
            if not items:
                continue
            full = self._over_budget()
            if full is None:
                try:
                    self._log(items)
                    continue
                except WalFull as err:
                    full = f"disk full under the gateway's log ({err})"
            self._pause(full)

    def _log(self, items: list[Incoming]) -> None:
        now_us = time.time_ns() // 1000
        farm = self.parser.farm_id
        rows: list[WalRow] = []
        letters: list[LetterRow] = []
        keys: dict[tuple[str, int, int], None] = {}
        next_id = self.wal.last_id + 1
        for _gen, _mid, _qos, topic, payload, received_us in items:
            try:
                r = self.parser.parse_fields(topic, payload, now_us)
            except BadPayload as err:
                letters.append((received_us, topic, payload, err.reason, err.detail))
                continue
            except Exception as err:  # a bug must not block the readings behind this one
                letters.append((received_us, topic, payload, "internal_error", repr(err)))
                self._log_internal_error(err)
                continue
            key = (r.sensor, r.seq, r.ts_us)
            if key in self.recent or key in keys:
                self.stats.duplicates += 1
                continue
            keys[key] = None
            quality = self.series.judge(r.sensor, r.ts_us, r.raw, r.vwc, r.quality)
            row = (next_id, received_us, farm, r.zone, r.sensor, r.ts_us, r.seq, r.vwc)
            rows.append((*row, r.raw, r.temp_c, r.battery_v, quality))
            next_id += 1
        self.wal.append(rows, letters)
        # Durable: now the broker may forget them.
        self.receiver.ack([(gen, mid) for gen, mid, qos, *_ in items if qos > 0])
        for key in keys:
            self.recent.add(key)
        self._count(rows, letters)

    def _count(self, rows: list[WalRow], letters: list[LetterRow]) -> None:
        stats = self.stats
        stats.logged += len(rows)
        for row in rows:
            stats.quality[row[11]] += 1
        for _rx, topic, _payload, reason, detail in letters:
            stats.dead_letters[reason] += 1
            # The first of each reason as a warning; the rest are counted (and kept).
            level = logging.WARNING if stats.dead_letters[reason] == 1 else logging.DEBUG
            log.log(level, "gateway: dead letter on %s: %s: %s", topic, reason, detail)
        if rows:
            self.progress.logged(rows[-1][0])

    def _log_internal_error(self, err: Exception) -> None:
        if self._internal_errors == 0:
            log.error("gateway: could not parse a message (dead-lettered)", exc_info=err)
        self._internal_errors += 1

    def _over_budget(self, limit_fraction: float = 1.0) -> str | None:
        """Why the log may not grow, or None."""
        used = self.wal.logical_bytes()
        self.stats.wal_bytes = used
        if used >= self.budget.max_bytes * limit_fraction:
            return (
                f"gateway log at its disk budget ({used / 1e6:.1f} of "
                f"{self.budget.max_bytes / 1e6:.1f} MB): not acknowledging, "
                "the broker keeps new readings"
            )
        free = shutil.disk_usage(self.wal_dir).free
        if free < self.budget.min_free_bytes / limit_fraction:
            return (
                f"disk under the gateway log almost full ({free / 1e6:.0f} MB free): "
                "not acknowledging, the broker keeps new readings"
            )
        return None

    def _pause(self, why: str) -> None:
        log.warning("gateway: %s", why)
        self.stats.paused = why
        self.receiver.pause()
        # What is still in the inbox was never acknowledged: the broker sends it again.
        while self.inbox.take(GROUP_MAX, timeout=0):
            pass
        self.stats.inbox_depth = 0

    def _wait_for_room(self) -> None:
        if self._over_budget(self.budget.resume_fraction) is not None:
            self.stop.wait(0.5)
            return
        log.info("gateway: log below its budget again, resuming")
        self.stats.paused = None
        self.receiver.start()
