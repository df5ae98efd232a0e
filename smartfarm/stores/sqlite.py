"""SQLite TelemetryStore: the embedded default, one file, no server."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
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
    event,
    func,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from smartfarm.models import Reading
from smartfarm.stores.base import StoreUnavailable
from smartfarm.stores.state import create_tables

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
)


def _to_us(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


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
        create_tables(self._engine, metadata)

    def write_readings(self, batch: Sequence[Reading]) -> None:
        if not batch:
            return
        rows = [
            {
                "sensor": r.sensor,
                "ts_us": _to_us(r.ts),
                "farm": r.farm,
                "zone": r.zone,
                "seq": r.seq,
                "vwc": r.vwc,
                "raw": r.raw,
                "temp_c": r.temp_c,
                "battery_v": r.battery_v,
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
                readings.c.ts_us >= _to_us(start),
                readings.c.ts_us < _to_us(end),
            )
            .order_by(readings.c.ts_us)
        )
        with self._engine.connect() as conn:
            return [_reading(row._mapping) for row in conn.execute(query)]

    def close(self) -> None:
        self._engine.dispose()


def _reading(m: RowMapping) -> Reading:
    return Reading(
        farm=m["farm"],
        zone=m["zone"],
        sensor=m["sensor"],
        ts=_from_us(m["ts_us"]),
        seq=m["seq"],
        vwc=m["vwc"],
        raw=m["raw"],
        temp_c=m["temp_c"],
        battery_v=m["battery_v"],
    )
