"""The farm diary in the state database: people's entries, and irrigation from the controller.

Every irrigation run is an entry, read from the controller's own ``runs`` and ``cycles``
tables (the water it really gave, cycle by cycle), so the diary never disagrees with the
controller and the controller writes nothing twice. Farmers and technicians add fertiliser,
pesticide, harvest and note entries per zone. The tokens of public traceability pages live
here too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)

from controller.store import cycles, runs
from smartfarm.stores.state import create_tables, make_engine

EntryKind = Literal["irrigation", "fertiliser", "pesticide", "harvest", "note"]
PEOPLE_KINDS: tuple[EntryKind, ...] = ("fertiliser", "pesticide", "harvest", "note")

metadata = MetaData()
diary_entries = Table(
    "diary_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zone", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("by", String(64), nullable=False),
    Column("product", String(120)),
    Column("quantity", Float),
    Column("unit", String(16)),
    Column("notes", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# A public page's unguessable token and what it shows: the whole farm (zone NULL) or a lot.
trace_links = Table(
    "trace_links",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("zone", String(64), unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class DiaryEntry:
    id: str  # "e12" for a person's entry, "run-<run id>" for an irrigation run
    zone: str
    kind: EntryKind
    at: datetime
    by: str
    product: str | None = None
    quantity: float | None = None
    unit: str | None = None
    litres: float | None = None
    minutes: float | None = None
    notes: str = ""


def _utc(ts: datetime) -> datetime:
    # SQLite gives naive datetimes back; everything stored is UTC.
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class DiaryStore:
    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        create_tables(self._engine, metadata)
        # The controller's tables, read here: created if the controller has not started yet.
        create_tables(self._engine, runs.metadata)

    def add(
        self,
        zone: str,
        kind: EntryKind,
        at: datetime,
        by: str,
        *,
        product: str | None = None,
        quantity: float | None = None,
        unit: str | None = None,
        notes: str = "",
    ) -> DiaryEntry:
        if kind not in PEOPLE_KINDS:
            raise ValueError(f"kind {kind!r}: people add {', '.join(PEOPLE_KINDS)}")
        row = {
            "zone": zone,
            "kind": kind,
            "at": at,
            "by": by,
            "product": product,
            "quantity": quantity,
            "unit": unit,
            "notes": notes,
            "created_at": datetime.now(UTC),
        }
        with self._engine.begin() as conn:
            new_id = conn.execute(insert(diary_entries).values(row)).inserted_primary_key
        assert new_id is not None
        return DiaryEntry(f"e{new_id[0]}", zone, kind, at, by, product, quantity, unit, notes=notes)

    def entries(self, start: datetime, end: datetime, zone: str | None = None) -> list[DiaryEntry]:
        """People's entries and irrigation runs with ``start <= at < end``, oldest first."""
        query = select(diary_entries).where(diary_entries.c.at >= start, diary_entries.c.at < end)
        if zone is not None:
            query = query.where(diary_entries.c.zone == zone)
        with self._engine.connect() as conn:
            people = [
                DiaryEntry(
                    f"e{r.id}", r.zone, r.kind, _utc(r.at), r.by, r.product, r.quantity, r.unit,
                    notes=r.notes or "",
                )
                for r in conn.execute(query)
            ]  # fmt: skip
        return sorted(people + self.irrigation(start, end, zone), key=lambda e: (e.at, e.id))

    def irrigation(
        self, start: datetime, end: datetime, zone: str | None = None
    ) -> list[DiaryEntry]:
        """One entry per run that gave water: its first cycle's start, litres and minutes."""
        first = func.min(cycles.c.started_at)
        query = (
            select(
                cycles.c.run_id,
                cycles.c.zone,
                first.label("at"),
                func.sum(cycles.c.litres).label("litres"),
                func.sum(cycles.c.seconds).label("seconds"),
                func.max(runs.c.by).label("by"),
            )
            .select_from(cycles.outerjoin(runs, runs.c.id == cycles.c.run_id))
            .group_by(cycles.c.run_id, cycles.c.zone)
            .having(first >= start, first < end)
        )
        if zone is not None:
            query = query.where(cycles.c.zone == zone)
        with self._engine.connect() as conn:
            return [
                DiaryEntry(
                    f"run-{r.run_id}", r.zone, "irrigation", _utc(r.at), r.by or "controller",
                    litres=round(float(r.litres), 1), minutes=round(float(r.seconds) / 60, 1),
                )
                for r in conn.execute(query)
            ]  # fmt: skip

    def trace_token(self, zone: str | None) -> str:
        """The public page's token for the farm (None) or one lot, made on first use."""
        cond = trace_links.c.zone.is_(None) if zone is None else trace_links.c.zone == zone
        with self._engine.begin() as conn:
            token = conn.execute(select(trace_links.c.token).where(cond)).scalar()
            if token is None:
                token = secrets.token_urlsafe(16)
                conn.execute(
                    insert(trace_links).values(token=token, zone=zone, created_at=datetime.now(UTC))
                )
        return str(token)

    def trace_scope(self, token: str) -> tuple[bool, str | None]:
        """(known, zone) of a public token; zone None is the whole farm."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(trace_links.c.zone).where(trace_links.c.token == token)
            ).first()
        return (row is not None, row.zone if row is not None else None)

    def close(self) -> None:
        self._engine.dispose()
