"""What the controller counts, as Prometheus metrics (/metrics) and plain words (/healthz).

The latency that matters to a farmer is how long a reading waits in the controller before
the valve command it causes goes out: from the moment paho hands the reading over to the
moment the command is handed back to paho. The histogram's buckets are fine below 100 ms
so a percentile read from them is within 2 ms up to 50 ms. Nothing is registered
globally: every controller has its own registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_METRIC = "smartfarm_controller_reading_to_command_seconds"
# Seconds: 1 ms steps to 20 ms and 2 ms steps to 50 ms, where the target is judged;
# coarser beyond.
LATENCY_BUCKETS = (
    *(ms / 1000 for ms in range(1, 21)),
    *(ms / 1000 for ms in range(22, 51, 2)),
    *(ms / 1000 for ms in (60, 70, 80, 90, 100, 125, 150, 200, 250, 300, 400, 500, 750)),
    1.0,
    2.0,
    5.0,
)
WRITE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class _Gauges(Collector):
    def __init__(self, read: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        for name, (text, value) in self._read().items():
            yield GaugeMetricFamily(f"smartfarm_controller_{name}", text, value=value)


class ControllerMetrics:
    def __init__(self, gauges: Callable[[], dict[str, tuple[str, float]]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_Gauges(gauges))
        self.reading_to_command = Histogram(
            LATENCY_METRIC,
            "Seconds from a reading's arrival to the valve command it caused being sent",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.write_seconds = Histogram(
            "smartfarm_controller_state_write_seconds",
            "Seconds of one transaction that makes a plan durable before it acts",
            buckets=WRITE_BUCKETS,
            registry=self.registry,
        )
        self.commands = Counter(
            "smartfarm_controller_valve_commands",
            "Valve commands sent, by action",
            ["action"],
            registry=self.registry,
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of cumulative ``(le, count)``.

    An upper bound, not an interpolation: "p99 at most X", never flattering.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    for le, count in buckets:
        if count >= rank:
            return le
    return buckets[-1][0]
