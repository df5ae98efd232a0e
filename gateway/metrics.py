"""What the gateway counts, as Prometheus metrics (/metrics) and as plain words (/healthz).

The hot path only adds to plain integers of ``GatewayStats``, each written by one thread;
a collector turns them into metric families when Prometheus scrapes. Nothing is
registered globally: every gateway has its own registry.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Seconds of one write to the store, from a handful of readings to 5000 under load.
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class GatewayStats:
    """Counters and states of one gateway; each field has a single writer thread."""

    received: int = 0  # receiver thread
    logged: int = 0  # writer thread: readings made durable in the log
    duplicates: int = 0  # writer thread
    dead_letters: Counter[str] = field(default_factory=Counter)  # writer thread
    quality: Counter[str] = field(default_factory=Counter)  # writer thread
    stored: int = 0  # forwarder thread: readings the store confirmed
    store_rejected: int = 0  # forwarder thread: readings the store refused (dead letters)
    store_errors: Counter[str] = field(default_factory=Counter)  # forwarder thread
    # States, for gauges and /healthz.
    connected: bool = False
    connected_since: float | None = None
    disconnected_since: float | None = field(default_factory=time.time)
    subscription_error: str | None = None
    paused: str | None = None  # why ingestion is paused (disk budget), or None
    wal_depth: int = 0
    wal_oldest_age: float = 0.0
    wal_bytes: int = 0
    inbox_depth: int = 0
    store_failing_since: float | None = None
    store_last_error: str | None = None
    state_failing_since: float | None = None
    stopped_threads: dict[str, str] = field(default_factory=dict)


class _StatsCollector(Collector):
    def __init__(self, stats: GatewayStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        prefix = "smartfarm_gateway"
        yield _counter(f"{prefix}_readings_received", "MQTT reading messages received", s.received)
        yield _counter(f"{prefix}_readings_logged", "Readings made durable in the WAL", s.logged)
        yield _counter(f"{prefix}_readings_stored", "Readings the store confirmed", s.stored)
        yield _counter(f"{prefix}_readings_duplicate", "Redelivered readings dropped", s.duplicates)
        letters = s.dead_letters + Counter({"store_rejected": s.store_rejected})
        yield _labelled(
            f"{prefix}_dead_letters", "Messages dead-lettered, by reason", "reason", letters
        )
        yield _labelled(
            f"{prefix}_readings_quality", "Readings logged, by quality flag", "quality", s.quality
        )
        yield _labelled(
            f"{prefix}_store_errors", "Failed writes to the store, by kind", "kind", s.store_errors
        )
        gauges = {
            "wal_depth": ("Readings in the WAL waiting for the store", s.wal_depth),
            "wal_oldest_age_seconds": ("Age of the oldest reading in the WAL", s.wal_oldest_age),
            "wal_bytes": ("Bytes of data in the WAL", s.wal_bytes),
            "inbox_depth": ("Messages received, not yet in the WAL", s.inbox_depth),
            "mqtt_connected": ("1 while connected to the broker", int(s.connected)),
            "paused": ("1 while not acknowledging because of the disk budget", int(bool(s.paused))),
        }
        for name, (text, value) in gauges.items():
            yield GaugeMetricFamily(f"{prefix}_{name}", text, value=float(value))


def _counter(name: str, text: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=float(value))


def _labelled(name: str, text: str, label: str, values: Counter[str]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


class GatewayMetrics:
    """The registry of one gateway: its stats plus the store write latency histogram."""

    def __init__(self, stats: GatewayStats) -> None:
        self.stats = stats
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_StatsCollector(stats))
        self.batch_seconds = Histogram(
            "smartfarm_gateway_store_write_seconds",
            "Seconds of one successful batch write to the store",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)


def problems(stats: GatewayStats, now: float, store_grace: float = 10.0) -> list[str]:
    """What is wrong, in words a technician can act on; empty when all is well."""
    out = [f"{name} thread stopped: {err}" for name, err in stats.stopped_threads.items()]
    if stats.paused:
        out.append(stats.paused)
    elif not stats.connected and (away := now - (stats.disconnected_since or now)) >= 5.0:
        # Under five seconds it is a reconnect under way, not a problem yet.
        out.append(f"not connected to the MQTT broker for {away:.0f}s")
    if stats.subscription_error:
        out.append(stats.subscription_error)
    failing = stats.store_failing_since
    if failing is not None and now - failing >= store_grace:
        out.append(
            f"store failing for {now - failing:.0f}s, readings kept in the WAL "
            f"({stats.wal_depth} waiting): {stats.store_last_error}"
        )
    if stats.state_failing_since is not None:
        out.append("state database failing: dead letters wait in the WAL")
    return out
