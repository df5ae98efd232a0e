"""SQLite TelemetryStore: the embedded default, one file, no server."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    MetaData,
    RowMapping,
    String,
    Table,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from smartfarm.models import Reading
from smartfarm.stores.base import (
    US_PER_HOUR,
    HourlyStat,
    StoreUnavailable,
    from_us,
    hour_ceil,
    hour_floor,
    to_us,
)
from smartfarm.stores.state import create_tables

log = logging.getLogger(__name__)

metadata = MetaData()
readings = Table(
    "readings",
    metadata,
    Column("sensor", String(64), primary_key=True),
    # Microseconds since the epoch, UTC: integer keys keep the primary index small and exact.
    Column("ts_us", BigInteger, primary_key=True),
    Column("farm", String(64), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("vwc", Float, nullable=False),
    Column("raw", Integer),
    Column("temp_c", Float),
    Column("battery_v", Float),
    Column("quality", String(16), nullable=False, server_default="good"),
)
hourly_stats = Table(
    "readings_hourly",
    metadata,
    Column("sensor", String(64), primary_key=True),
    Column("hour_us", BigInteger, primary_key=True),
    Column("farm", String(64), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("n", Integer, nullable=False),
    Column("vwc_min", Float, nullable=False),
    Column("vwc_mean", Float, nullable=False),
    Column("vwc_max", Float, nullable=False),
)


def sqlite_engine(path: Path) -> Engine:
    """An engine on a SQLite file in WAL mode, so readers never block the writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


class SqliteTelemetryStore:
    def __init__(self, path: Path) -> None:
        self._engine = sqlite_engine(path)
        # A file written before readings had a quality gets the column, old rows "good".
        create_tables(self._engine, metadata)

    def write_readings(self, batch: Sequence[Reading]) -> None:
        if not batch:
            return
        rows = [
            {
                "sensor": r.sensor,
                "ts_us": to_us(r.ts),
                "farm": r.farm,
                "zone": r.zone,
                "seq": r.seq,
                "vwc": r.vwc,
                "raw": r.raw,
                "temp_c": r.temp_c,
                "battery_v": r.battery_v,
                "quality": r.quality,
            }
            for r in batch
        ]
        # A replayed reading lands on the same key and is ignored: writes are idempotent.
        stmt = sqlite_insert(readings).on_conflict_do_nothing()
        try:
            with self._engine.begin() as conn:
                conn.execute(stmt, rows)
        except OperationalError as err:
            raise StoreUnavailable(f"SQLite write failed: {err.orig}") from err

    def latest(self, sensors: Sequence[str]) -> dict[str, Reading]:
        out: dict[str, Reading] = {}
        with self._engine.connect() as conn:
            for sensor in sensors:
                newest = select(func.max(readings.c.ts_us)).where(readings.c.sensor == sensor)
                row = conn.execute(
                    select(readings).where(
                        readings.c.sensor == sensor, readings.c.ts_us == newest.scalar_subquery()
                    )
                ).first()
                if row is not None:
                    out[sensor] = _reading(row._mapping)
        return out

    def history(self, sensors: Sequence[str], start: datetime, end: datetime) -> list[Reading]:
        query = (
            select(readings)
            .where(
                readings.c.sensor.in_(list(sensors)),
                readings.c.ts_us >= to_us(start),
                readings.c.ts_us < to_us(end),
            )
            .order_by(readings.c.ts_us)
        )
        with self._engine.connect() as conn:
            return [_reading(row._mapping) for row in conn.execute(query)]

    def rollup(self, start: datetime, end: datetime) -> int:
        first, last = to_us(hour_floor(start)), to_us(hour_ceil(end))
        if first >= last:
            return 0
        hour = readings.c.ts_us - readings.c.ts_us % US_PER_HOUR
        stats = (
            select(
                readings.c.sensor,
                hour.label("hour_us"),
                func.max(readings.c.farm),
                func.max(readings.c.zone),
                func.count(),
                func.min(readings.c.vwc),
                func.avg(readings.c.vwc),
                func.max(readings.c.vwc),
            )
            .where(
                readings.c.ts_us >= first,
                readings.c.ts_us < last,
                readings.c.quality == "good",
            )
            .group_by(readings.c.sensor, hour)
        )
        columns = ["sensor", "hour_us", "farm", "zone", "n", "vwc_min", "vwc_mean", "vwc_max"]
        try:
            with self._engine.begin() as conn:
                # An hour that lost all its good readings loses its stat too.
                conn.execute(
                    delete(hourly_stats).where(
                        hourly_stats.c.hour_us >= first, hourly_stats.c.hour_us < last
                    )
                )
                result = conn.execute(hourly_stats.insert().from_select(columns, stats))
                return int(result.rowcount)
        except OperationalError as err:
            raise StoreUnavailable(f"SQLite rollup failed: {err.orig}") from err

    def hourly(self, sensors: Sequence[str], start: datetime, end: datetime) -> list[HourlyStat]:
        query = (
            select(hourly_stats)
            .where(
                hourly_stats.c.sensor.in_(list(sensors)),
                hourly_stats.c.hour_us >= to_us(start),
                hourly_stats.c.hour_us < to_us(end),
            )
            .order_by(hourly_stats.c.hour_us, hourly_stats.c.sensor)
        )
        with self._engine.connect() as conn:
            return [
                HourlyStat(
                    farm=m["farm"],
                    zone=m["zone"],
                    sensor=m["sensor"],
                    hour=from_us(m["hour_us"]),
                    count=m["n"],
                    vwc_min=m["vwc_min"],
                    vwc_mean=m["vwc_mean"],
                    vwc_max=m["vwc_max"],
                )
                for m in (row._mapping for row in conn.execute(query))
            ]

    def oldest_raw(self) -> datetime | None:
        with self._engine.connect() as conn:
            oldest = conn.execute(select(func.min(readings.c.ts_us))).scalar()
        return None if oldest is None else from_us(int(oldest))

    def drop_raw_before(self, cutoff: datetime) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(readings).where(readings.c.ts_us < to_us(cutoff)))
        except OperationalError as err:
            raise StoreUnavailable(f"SQLite delete failed: {err.orig}") from err

    def close(self) -> None:
        self._engine.dispose()


def _reading(m: RowMapping) -> Reading:
    return Reading(
        farm=m["farm"],
        zone=m["zone"],
        sensor=m["sensor"],
        ts=from_us(m["ts_us"]),
        seq=m["seq"],
        vwc=m["vwc"],
        raw=m["raw"],
        temp_c=m["temp_c"],
        battery_v=m["battery_v"],
        quality=m["quality"],
    )
