"""The gateway: MQTT in, a durable log, the store out; bad input dead-lettered, never fatal.

Three threads carry the readings (see docs/gateway.md): paho's network thread puts each
message in a bounded inbox; the log writer parses a group, commits it to the
write-ahead log with one fsync and acknowledges it; the forwarder drains the log into the
TelemetryStore. The asyncio side only watches: alarms, rollups and thread health.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from gateway.alarms import AlarmPublisher, AlarmSwitch
from gateway.forwarder import Forwarder
from gateway.metrics import GatewayMetrics, GatewayStats, problems
from gateway.receiver import Inbox, MqttReceiver
from gateway.rollups import Rollups
from gateway.settings import GatewaySettings
from gateway.wal import LogProgress, WalReader, WalWriter
from gateway.writer import DiskBudget, LogWriter
from smartfarm.config import FarmConfig
from smartfarm.ingest import ReadingParser
from smartfarm.metrics_http import MetricsServer, serve_metrics
from smartfarm.quality import SeriesQuality, SeriesRules
from smartfarm.stores.base import TelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.topics import Topics

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0
# A technician's new sensor calibration is picked up within this many seconds.
CALIBRATION_POLL_SECONDS = 10.0


class CalibrationSource(Protocol):
    """Where technicians' sensor calibrations live (the state database's tuning tables)."""

    def calibration_stamp(self) -> object: ...

    def calibrations(self) -> dict[str, dict[str, Any]]: ...


class Gateway:
    def __init__(
        self,
        farm: FarmConfig,
        settings: GatewaySettings,
        telemetry: TelemetryStore,
        state: StateStore,
        calibrations: CalibrationSource | None = None,
    ) -> None:
        self.farm = farm
        self.calibrations = calibrations
        self._calibration_stamp: object = None
        self.settings = settings
        self.telemetry = telemetry
        self.state = state
        self.topics = Topics(settings.topic_prefix, farm.farm.id)
        self.parser = ReadingParser(farm, self.topics)
        self.stats = GatewayStats()
        self.metrics = GatewayMetrics(self.stats)
        self.inbox = Inbox(settings.gateway_inbox_max)
        group = settings.gateway_share_group
        readings = self.topics.all_readings
        self.topic_filter = f"$share/{group}/{readings}" if group else readings
        self.receiver = MqttReceiver(
            settings.mqtt, settings.client_id, self.topic_filter, self.inbox, self.stats
        )
        self.publisher = AlarmPublisher(
            settings.mqtt, f"{settings.client_id}-alarms", self.topics.alarm("gateway")
        )
        self.metrics_server: MetricsServer | None = None
        self.forwarder: Forwarder | None = None
        self._threads: list[threading.Thread] = []
        self._stops: list[threading.Event] = []

    def health(self) -> list[str]:
        """What is wrong now, in words; empty when all is well."""
        grace = min(10.0, self.settings.gateway_store_alarm_seconds)
        return problems(self.stats, time.time(), store_grace=grace)

    async def run(self) -> None:
        wal_path = self.settings.wal_path()
        writer_wal, reader_wal = WalWriter(wal_path), WalReader(wal_path)
        try:
            self._start(writer_wal, reader_wal)
            log.info(
                "gateway: %s on %s, log %s", self.settings.client_id, self.topic_filter, wal_path
            )
            await self._watch()
        finally:
            await asyncio.to_thread(self._stop_all)
            writer_wal.close()
            reader_wal.close()

    def _start(self, writer_wal: WalWriter, reader_wal: WalReader) -> None:
        s = self.settings
        logged = LogProgress(writer_wal.last_id)
        writer = LogWriter(
            self.inbox,
            self.receiver,
            writer_wal,
            self.parser,
            SeriesQuality(SeriesRules(stuck_count=s.gateway_stuck_count)),
            DiskBudget(
                s.gateway_wal_max_bytes, s.gateway_wal_resume_fraction, s.gateway_min_free_bytes
            ),
            self.stats,
            str(s.wal_path().parent),
            logged,
        )
        self.forwarder = Forwarder(
            reader_wal,
            self.telemetry,
            self.state,
            self.parser,
            self.metrics,
            logged,
            s.batch_max,
            s.batch_seconds,
            s.gateway_retry_max_seconds,
        )
        self._stops = [writer.stop, self.forwarder.stop]
        for name, target in (("writer", writer.run), ("forwarder", self.forwarder.run)):
            thread = threading.Thread(target=self._guard(name, target), name=f"gateway-{name}")
            thread.start()
            self._threads.append(thread)
        if s.gateway_metrics_port:
            self._serve_metrics()
        self.publisher.start()
        self.receiver.start()

    def _serve_metrics(self) -> None:
        s = self.settings
        self.metrics_server = serve_metrics(
            "gateway",
            s.gateway_metrics_host,
            s.gateway_metrics_port,
            self.metrics.text,
            self.health,
        )

    def _guard(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception as err:
                log.exception("gateway: %s thread failed", name)
                self.stats.stopped_threads[name] = repr(err)

        return run

    async def _watch(self) -> None:
        """Alarms, rollups and thread health, once a second."""
        s = self.settings
        disk = AlarmSwitch("disk_budget", self.state, self.publisher)
        store = AlarmSwitch("store_unavailable", self.state, self.publisher)
        assert self.forwarder is not None
        retention = s.gateway_raw_retention_days
        rollups = Rollups(
            self.telemetry,
            self.forwarder.take_dirty_hours,
            timedelta(days=retention) if retention else None,
            datetime.now(UTC),
        )
        rollup_due = time.monotonic() + min(60.0, s.gateway_rollup_seconds)
        calibration_due = time.monotonic()
        while True:
            if self.stats.stopped_threads:
                raise RuntimeError(f"gateway threads stopped: {self.stats.stopped_threads}")
            now = datetime.now(UTC)
            await asyncio.to_thread(disk.update, self.stats.paused, now)
            await asyncio.to_thread(store.update, self._store_alarm(), now)
            if s.gateway_rollup_seconds and time.monotonic() >= rollup_due:
                await asyncio.to_thread(rollups.run_once, now)
                rollup_due = time.monotonic() + s.gateway_rollup_seconds
            if self.calibrations is not None and time.monotonic() >= calibration_due:
                await asyncio.to_thread(self.recalibrate)
                calibration_due = time.monotonic() + CALIBRATION_POLL_SECONDS
            await asyncio.sleep(WATCH_SECONDS)

    def recalibrate(self) -> bool:
        """Use the technicians' calibrations if they changed; True if they did.

        Readings calibrated from then on use them; stored readings keep the values they were
        stored with (their raw counts are kept, so they can be recomputed).
        """
        assert self.calibrations is not None
        stamp = self.calibrations.calibration_stamp()
        if stamp == self._calibration_stamp:
            return False
        try:
            farm = self.farm.with_calibrations(self.calibrations.calibrations())
        except ValueError as err:  # the API validates; a hand-edited row might not be
            log.error("gateway: sensor calibrations in the state database refused: %s", err)
            return False
        self.parser.use(farm)
        if self._calibration_stamp is not None:
            log.info("gateway: sensor calibrations changed; new readings use them")
        self._calibration_stamp = stamp
        return True

    def _store_alarm(self) -> str | None:
        since = self.stats.store_failing_since
        if since is None or time.time() - since < self.settings.gateway_store_alarm_seconds:
            return None
        return (
            f"gateway {self.settings.client_id}: the telemetry store has failed for "
            f"{time.time() - since:.0f}s; readings are kept in the gateway's log: "
            f"{self.stats.store_last_error}"
        )

    def _stop_all(self) -> None:
        self.receiver.stop()
        for stop in self._stops:
            stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        if self.metrics_server is not None:
            self.metrics_server.stop()
        self.publisher.stop()
