"""StateStore: operational state in SQL (SQLite by default, PostgreSQL in production).

Holds the decision log and the dead-letter table; later: users, programs, alarms.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from smartfarm.models import Action, DeadLetter, DecisionRecord

metadata = MetaData()
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("topic", String(512), nullable=False),
    # Kept as received (cut at 64 KiB) so a technician can see exactly what came in.
    Column("payload", LargeBinary, nullable=False),
    Column("reason", String(64), nullable=False, index=True),
    Column("detail", Text, nullable=False),
)
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("zone", String(64), nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("by", String(64), nullable=False),
    Column("command_id", String(64)),
    Column("duration_s", Integer),
)

MAX_KEPT_PAYLOAD = 65536


def _utc(ts: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _wal(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute("PRAGMA journal_mode=WAL")

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_tables(engine: Engine, meta: MetaData, attempts: int = 5) -> None:
    """Create missing tables; processes starting together on one database may race here."""
    for attempt in range(attempts):
        try:
            meta.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process created a table between our check and our CREATE: look again.
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


class StateStore:
    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        create_tables(self._engine, metadata)

    def add_dead_letter(self, letter: DeadLetter) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(dead_letters).values(
                    received_at=letter.received_at,
                    topic=letter.topic,
                    payload=letter.payload[:MAX_KEPT_PAYLOAD],
                    reason=letter.reason,
                    detail=letter.detail,
                )
            )

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [
                DeadLetter(_utc(r.received_at), r.topic, bytes(r.payload), r.reason, r.detail)
                for r in conn.execute(query)
            ]

    def add_decision(self, record: DecisionRecord) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(decisions).values(
                    ts=record.ts,
                    zone=record.zone,
                    action=record.action.value,
                    reason=record.reason,
                    by=record.by,
                    command_id=record.command_id,
                    duration_s=record.duration_s,
                )
            )

    def decisions(self, zone: str | None = None, limit: int = 50) -> list[DecisionRecord]:
        query = select(decisions).order_by(decisions.c.id.desc()).limit(limit)
        if zone is not None:
            query = query.where(decisions.c.zone == zone)
        with self._engine.connect() as conn:
            return [
                DecisionRecord(
                    ts=_utc(r.ts),
                    zone=r.zone,
                    action=Action(r.action),
                    reason=r.reason,
                    by=r.by,
                    command_id=r.command_id,
                    duration_s=r.duration_s,
                )
                for r in conn.execute(query)
            ]

    def close(self) -> None:
        self._engine.dispose()
