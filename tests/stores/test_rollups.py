"""Hourly stats and raw retention on every store: SQLite, and InfluxDB 1.x through the v1
and the v2 write APIs (a real influxd 1.6.7; v2 through the test shim)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.rollups import Rollups, hour_ranges
from smartfarm.models import Reading
from smartfarm.stores.base import US_PER_HOUR, TelemetryStore, to_us
from smartfarm.stores.influx import InfluxTelemetryStore
from smartfarm.stores.sqlite import SqliteTelemetryStore
from smartfarm.testing.influx_v2_shim import InfluxV2Shim
from smartfarm.testing.influxd import InfluxdServer

H0 = datetime(2026, 3, 1, 6, tzinfo=UTC)


def readings() -> list[Reading]:
    """Two sensors over three hours, every 10 minutes; one spike that stats must skip."""
    out = []
    for minute in range(0, 180, 10):
        for sensor, base in (("s1", 0.20), ("s2", 0.30)):
            vwc = round(base + minute / 1000, 4)
            quality = "spike" if (sensor, minute) == ("s1", 70) else "good"
            ts = H0 + timedelta(minutes=minute)
            out.append(Reading("f", "z", sensor, ts, minute, vwc, quality=quality))
    return out


def check_rollups(store: TelemetryStore) -> None:
    store.write_readings(readings())
    assert store.rollup(H0, H0 + timedelta(hours=3)) == 6
    store.rollup(H0 + timedelta(minutes=30), H0 + timedelta(minutes=31))  # again: same result
    stats = store.hourly(["s1", "s2"], H0, H0 + timedelta(hours=3))
    assert [(s.sensor, s.hour) for s in stats] == [
        (sensor, H0 + timedelta(hours=h)) for h in range(3) for sensor in ("s1", "s2")
    ]
    first = stats[0]
    assert (first.count, first.vwc_min, first.vwc_max) == (6, 0.2, 0.25)
    assert first.vwc_mean == pytest.approx(0.225)
    # The spike at 07:10 is not in its hour's stats.
    assert (stats[2].count, stats[2].vwc_min, stats[2].vwc_max) == (5, 0.26, 0.31)
    assert stats[2].vwc_mean == pytest.approx((0.26 + 0.28 + 0.29 + 0.30 + 0.31) / 5)
    # Retention: raw before 08:00 goes, the stats stay.
    assert store.oldest_raw() == H0
    store.drop_raw_before(H0 + timedelta(hours=2))
    assert store.oldest_raw() == H0 + timedelta(hours=2)
    assert len(store.hourly(["s1"], H0, H0 + timedelta(hours=3))) == 3


def test_sqlite_rollups_and_retention(tmp_path: Path) -> None:
    store = SqliteTelemetryStore(tmp_path / "t.db")
    try:
        check_rollups(store)
    finally:
        store.close()


def test_sqlite_file_from_before_quality_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE readings (sensor VARCHAR(64), ts_us BIGINT, farm VARCHAR(64),"
            " zone VARCHAR(64), seq BIGINT, vwc FLOAT, raw INTEGER, temp_c FLOAT,"
            " battery_v FLOAT, PRIMARY KEY (sensor, ts_us))"
        )
        conn.execute(
            "INSERT INTO readings VALUES ('s1', ?, 'f', 'z', 1, 0.3, NULL, NULL, NULL)",
            (to_us(H0),),
        )
    store = SqliteTelemetryStore(path)
    try:
        assert store.latest(["s1"])["s1"].quality == "good"
    finally:
        store.close()


@pytest.mark.influx
def test_influx_v1_rollups_in_their_own_retention_policy(influxd: InfluxdServer) -> None:
    # Raw readings may expire with the database's default policy; stats live in "forever".
    q = 'CREATE RETENTION POLICY "forever" ON "farm" DURATION INF REPLICATION 1'
    httpx.post(f"{influxd.url}/query", data={"q": q}).raise_for_status()
    store = InfluxTelemetryStore(url=influxd.url, api="v1", database="farm", rollup_rp="forever")
    try:
        check_rollups(store)
    finally:
        store.close()


@pytest.mark.influx
def test_influx_v2_rollups_in_their_own_bucket(influxd: InfluxdServer) -> None:
    influxd.create_database("farm_hourly")
    with InfluxV2Shim(influxd.url, token="t", org="o") as shim:
        store = InfluxTelemetryStore(
            url=shim.url, api="v2", token="t", org="o", bucket="farm", rollup_bucket="farm_hourly"
        )
        try:
            store.write_readings(readings())
            assert store.rollup(H0, H0 + timedelta(hours=3)) == 6
            assert len(store.hourly(["s1", "s2"], H0, H0 + timedelta(hours=3))) == 6
            # 2.x and 3.x expire raw readings by the bucket's retention period instead.
            store.drop_raw_before(H0 + timedelta(hours=2))
            assert store.oldest_raw() == H0
        finally:
            store.close()


def test_hour_ranges_merge_contiguous_hours() -> None:
    h = US_PER_HOUR
    assert hour_ranges([5 * h, 3 * h, 4 * h, 9 * h, 4 * h]) == [(3 * h, 6 * h), (9 * h, 10 * h)]
    assert hour_ranges([]) == []


def test_rollups_job_rolls_up_touched_hours_then_applies_retention(tmp_path: Path) -> None:
    store = SqliteTelemetryStore(tmp_path / "t.db")
    dirty: set[int] = set()

    def take() -> set[int]:
        out = set(dirty)
        dirty.clear()
        return out

    now = H0 + timedelta(days=3)
    try:
        job = Rollups(store, take, raw_retention=timedelta(days=1), now=now)
        store.write_readings(readings())
        dirty.update(to_us(r.ts) // US_PER_HOUR * US_PER_HOUR for r in readings())
        job.run_once(now)
        assert len(store.hourly(["s1", "s2"], H0, now)) == 6
        # Everything is older than a day: rolled up first, then the raw readings go.
        assert store.oldest_raw() is None
        assert len(store.hourly(["s1", "s2"], H0, now)) == 6
    finally:
        store.close()
