"""StateStore: operational state in SQL (SQLite by default, PostgreSQL in production).

Holds the decision log and the dead-letter table; later: users, programs, alarms.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    DefaultClause,
    Integer,
    LargeBinary,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.sql.elements import ColumnElement

from smartfarm.models import Action, Alarm, DeadLetter, DecisionRecord

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
# Devices that publish readings but are not in the farm config: for a technician to adopt.
unknown_devices = Table(
    "unknown_devices",
    metadata,
    Column("device", String(128), primary_key=True),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("last_topic", String(512), nullable=False),
    Column("messages", Integer, nullable=False),
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
    Column("code", String(32)),
    Column("run_id", String(32)),
)

alarms = Table(
    "alarms",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("raised_at", DateTime(timezone=True), nullable=False, index=True),
    Column("source", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("zone", String(64)),
    Column("message", Text, nullable=False),
    Column("active", Boolean, nullable=False, index=True),
    Column("cleared_at", DateTime(timezone=True)),
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", DateTime(timezone=True)),
)

MAX_KEPT_PAYLOAD = 65536


@dataclass(frozen=True, slots=True)
class UnknownDevice:
    """A device heard on a reading topic that the farm config does not list."""

    device: str
    first_seen: datetime
    last_seen: datetime
    last_topic: str
    messages: int


@dataclass(frozen=True, slots=True)
class Sighting:
    """Messages of one unknown device in one batch."""

    last_seen: datetime
    last_topic: str
    messages: int


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
    """Create missing tables and columns; processes starting together may race here."""
    for attempt in range(attempts):
        try:
            meta.create_all(engine)
            _add_new_columns(engine, meta)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process created a table between our check and our CREATE: look again.
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))


def _add_new_columns(engine: Engine, meta: MetaData) -> None:
    """Add the columns a newer release gave a table that already exists.

    The only schema changes so far are new columns that are optional or have a default; a
    database written by an older release gets them here instead of failing on the first
    insert.
    """
    found = inspect(engine)
    for table in meta.sorted_tables:
        have = {c["name"] for c in found.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            default = column.server_default
            if column.nullable and not column.primary_key:
                fill = ""  # old rows get NULL
            elif isinstance(default, DefaultClause) and isinstance(default.arg, str):
                quoted = default.arg.replace("'", "''")
                fill = f" NOT NULL DEFAULT '{quoted}'"  # old rows get the default
            else:
                raise RuntimeError(
                    f"table {table.name} lacks column {column.name}, which cannot be added "
                    "to existing rows: this database needs a migration"
                )
            kind = column.type.compile(dialect=engine.dialect)
            add = f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}{fill}'
            with engine.begin() as conn:
                conn.execute(text(add))


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

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Many dead letters in one transaction (the gateway forwards them in batches)."""
        if not letters:
            return
        rows = [
            {
                "received_at": d.received_at,
                "topic": d.topic,
                "payload": d.payload[:MAX_KEPT_PAYLOAD],
                "reason": d.reason,
                "detail": d.detail,
            }
            for d in letters
        ]
        with self._engine.begin() as conn:
            conn.execute(insert(dead_letters), rows)

    def dead_letter_counts(self) -> dict[str, int]:
        """How many dead letters each reason has, all time."""
        query = select(dead_letters.c.reason, func.count()).group_by(dead_letters.c.reason)
        with self._engine.connect() as conn:
            return {reason: int(n) for reason, n in conn.execute(query)}

    def record_unknown_devices(self, seen: Mapping[str, Sighting], attempts: int = 3) -> None:
        """Add or update unknown devices; two gateways may record the same one at once."""
        for attempt in range(attempts):
            try:
                self._record_unknown_devices(seen)
                return
            except IntegrityError:
                if attempt == attempts - 1:
                    raise

    def _record_unknown_devices(self, seen: Mapping[str, Sighting]) -> None:
        table = unknown_devices
        with self._engine.begin() as conn:
            known = {
                r.device: r.messages
                for r in conn.execute(select(table).where(table.c.device.in_(list(seen))))
            }
            for device, s in seen.items():
                if device in known:
                    conn.execute(
                        update(table)
                        .where(table.c.device == device)
                        .values(
                            last_seen=s.last_seen,
                            last_topic=s.last_topic[:512],
                            messages=known[device] + s.messages,
                        )
                    )
                else:
                    conn.execute(
                        insert(table).values(
                            device=device[:128],
                            first_seen=s.last_seen,
                            last_seen=s.last_seen,
                            last_topic=s.last_topic[:512],
                            messages=s.messages,
                        )
                    )

    def unknown_devices(self, limit: int = 500) -> list[UnknownDevice]:
        """Devices not in the farm config that sent readings, most recently heard first."""
        query = select(unknown_devices).order_by(unknown_devices.c.last_seen.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [
                UnknownDevice(
                    r.device, _utc(r.first_seen), _utc(r.last_seen), r.last_topic, r.messages
                )
                for r in conn.execute(query)
            ]

    def forget_unknown_device(self, device: str) -> bool:
        """Remove a device from the list (adopted into the farm config, or ignored)."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(unknown_devices).where(unknown_devices.c.device == device))
            return bool(result.rowcount)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        query = select(dead_letters).order_by(dead_letters.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [
                DeadLetter(_utc(r.received_at), r.topic, bytes(r.payload), r.reason, r.detail)
                for r in conn.execute(query)
            ]

    def add_decision(self, record: DecisionRecord) -> None:
        self.add_decisions([record])

    def add_decisions(self, records: list[DecisionRecord]) -> None:
        if not records:
            return
        with self._engine.begin() as conn:
            insert_decisions(conn, records)

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
                    code=r.code,
                    run_id=r.run_id,
                )
                for r in conn.execute(query)
            ]

    def raise_alarm(
        self, source: str, kind: str, message: str, now: datetime, zone: str | None = None
    ) -> tuple[Alarm, bool]:
        """Raise an alarm, or return the active one of the same source, kind and zone.

        The flag says whether it is new, so callers publish it once, not on every check.
        """
        with self._engine.begin() as conn:
            return raise_alarm(conn, source, kind, message, now, zone)

    def clear_alarm(self, source: str, kind: str, now: datetime, zone: str | None = None) -> int:
        """Clear the active alarm of this source, kind and zone; the number cleared."""
        with self._engine.begin() as conn:
            return clear_alarm(conn, source, kind, now, zone)

    def acknowledge_alarm(self, alarm_id: int, by: str, now: datetime) -> Alarm | None:
        with self._engine.begin() as conn:
            conn.execute(
                update(alarms)
                .where(alarms.c.id == alarm_id)
                .values(acknowledged_by=by, acknowledged_at=now)
            )
            row = conn.execute(select(alarms).where(alarms.c.id == alarm_id)).first()
        return _alarm(row._mapping) if row is not None else None

    def alarms(self, active_only: bool = True, limit: int = 100) -> list[Alarm]:
        query = select(alarms).order_by(alarms.c.id.desc()).limit(limit)
        if active_only:
            query = query.where(alarms.c.active)
        with self._engine.connect() as conn:
            return [_alarm(r._mapping) for r in conn.execute(query)]

    def close(self) -> None:
        self._engine.dispose()


def _alarm(m: RowMapping) -> Alarm:
    return Alarm(
        id=m["id"],
        raised_at=_utc(m["raised_at"]),
        source=m["source"],
        kind=m["kind"],
        zone=m["zone"],
        message=m["message"],
        active=bool(m["active"]),
        cleared_at=_utc(m["cleared_at"]) if m["cleared_at"] else None,
        acknowledged_by=m["acknowledged_by"],
        acknowledged_at=_utc(m["acknowledged_at"]) if m["acknowledged_at"] else None,
    )


# -- the same writes inside a caller's transaction (the controller makes each plan durable
# in one: its runs, decisions and alarms together or not at all) ------------------------


def insert_decisions(conn: Connection, records: Sequence[DecisionRecord]) -> None:
    if not records:
        return
    conn.execute(
        insert(decisions),
        [
            dict(
                ts=record.ts,
                zone=record.zone,
                action=record.action.value,
                reason=record.reason,
                by=record.by,
                command_id=record.command_id,
                duration_s=record.duration_s,
                code=record.code,
                run_id=record.run_id,
            )
            for record in records
        ],
    )


def _alarm_key(source: str, kind: str, zone: str | None) -> tuple[ColumnElement[bool], ...]:
    return (
        alarms.c.source == source,
        alarms.c.kind == kind,
        alarms.c.zone.is_(None) if zone is None else alarms.c.zone == zone,
    )


def raise_alarm(
    conn: Connection, source: str, kind: str, message: str, now: datetime, zone: str | None
) -> tuple[Alarm, bool]:
    row = conn.execute(select(alarms).where(alarms.c.active, *_alarm_key(source, kind, zone)))
    found = row.first()
    if found is not None:
        return _alarm(found._mapping), False
    new_id = conn.execute(
        insert(alarms).values(
            raised_at=now, source=source, kind=kind, zone=zone, message=message, active=True
        )
    ).inserted_primary_key[0]  # type: ignore[index]
    return Alarm(int(new_id), now, source, kind, zone, message), True


def clear_alarm(conn: Connection, source: str, kind: str, now: datetime, zone: str | None) -> int:
    result = conn.execute(
        update(alarms)
        .where(alarms.c.active, *_alarm_key(source, kind, zone))
        .values(active=False, cleared_at=now)
    )
    return int(result.rowcount)
