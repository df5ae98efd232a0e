"""The forwarder against a real influxd: refused readings are isolated by splitting the
batch, dead-lettered with the server's reason, and the good ones are stored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.forwarder import Forwarder
from gateway.metrics import GatewayMetrics, GatewayStats
from gateway.wal import LogProgress, WalReader, WalRow, WalWriter
from smartfarm.config import load_farm_config
from smartfarm.ingest import ReadingParser
from smartfarm.stores.base import to_us
from smartfarm.stores.influx import InfluxTelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.testing.influxd import InfluxdServer
from smartfarm.topics import Topics

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "farm.yaml"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def row(i: int, zone: str = "z1", ts: datetime | None = None) -> WalRow:
    at = to_us(ts or T0 + timedelta(seconds=i))
    return (i, to_us(T0), "demo-farm", zone, "s-z1-a", at, i, 0.25, 2000, 27.0, 3.9, "good")


@pytest.mark.influx
def test_refused_readings_are_isolated_and_dead_lettered(
    tmp_path: Path, influxd: InfluxdServer
) -> None:
    path = tmp_path / "wal.db"
    writer, reader = WalWriter(path), WalReader(path)
    batch = [row(i) for i in range(1, 201)]
    # One reading line protocol cannot carry, one the server refuses (past its time range).
    batch[49] = row(50, zone="a\nb")
    batch[149] = row(150, ts=datetime(2262, 12, 1, tzinfo=UTC))
    writer.append(batch, [])
    store = InfluxTelemetryStore(url=influxd.url, api="v1", database="farm")
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    parser = ReadingParser(load_farm_config(EXAMPLE), Topics("farm", "demo-farm"))
    metrics = GatewayMetrics(GatewayStats())
    forwarder = Forwarder(
        reader, store, state, parser, metrics, LogProgress(writer.last_id), 5000, 0.01, 1.0
    )
    thread = threading.Thread(target=forwarder.run)
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while len(state.dead_letters()) < 2 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.1)
    finally:
        forwarder.stop.set()
        thread.join()
    stored = store.history(["s-z1-a"], T0, T0 + timedelta(hours=1))
    assert sorted(r.seq for r in stored) == [i for i in range(1, 201) if i not in (50, 150)]
    letters = state.dead_letters()
    assert {d.reason for d in letters} == {"store_rejected"}
    details = " ".join(d.detail for d in letters)
    assert "cannot be written as line protocol" in details
    assert "HTTP 400" in details  # the server's own words for the other one
    assert all(d.topic == "farm/demo-farm/sensor/s-z1-a/reading" for d in letters)
    assert metrics.stats.stored == 198 and metrics.stats.store_rejected == 2
    assert reader.bounds() is None  # all of it left the log
    for closable in (writer, reader, store, state):
        closable.close()


@pytest.mark.influx
def test_a_missing_database_keeps_the_readings_until_it_exists(
    tmp_path: Path, influxd: InfluxdServer
) -> None:
    path = tmp_path / "wal.db"
    writer, reader = WalWriter(path), WalReader(path)
    writer.append([row(i) for i in range(1, 51)], [])
    store = InfluxTelemetryStore(url=influxd.url, api="v1", database="later")
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    parser = ReadingParser(load_farm_config(EXAMPLE), Topics("farm", "demo-farm"))
    metrics = GatewayMetrics(GatewayStats())
    forwarder = Forwarder(
        reader, store, state, parser, metrics, LogProgress(writer.last_id), 5000, 0.01, 0.2
    )
    thread = threading.Thread(target=forwarder.run)
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while metrics.stats.store_errors["misconfigured"] < 3 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        # A settings problem, not bad data: nothing dead-lettered, everything still kept.
        assert metrics.stats.store_errors["misconfigured"] >= 3
        assert "database not found" in (metrics.stats.store_last_error or "")
        assert state.dead_letters() == [] and reader.bounds() == (1, 50)
        influxd.create_database("later")
        while metrics.stats.stored < 50 and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
    finally:
        forwarder.stop.set()
        thread.join()
    assert len(store.history(["s-z1-a"], T0, T0 + timedelta(hours=1))) == 50
    for closable in (writer, reader, store, state):
        closable.close()
