"""The controller's persistent state in SQL: runs, cycles of water, pauses, rain reports.

Same database as the StateStore (SQLite by default, PostgreSQL in production), so runs
survive a restart and the API can show them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection

from controller.model import Cycle, Run, RunKind, RunStatus
from smartfarm.models import DecisionRecord
from smartfarm.stores.state import (
    clear_alarm,
    create_tables,
    insert_decisions,
    make_engine,
    raise_alarm,
)

metadata = MetaData()
runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("zone", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("by", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("target_s", Integer),
    Column("delivered_s", Float, nullable=False),
    Column("command_id", String(32)),
    Column("commanded_at", DateTime(timezone=True)),
    Column("cycle_s", Integer),
    Column("cycle_started_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False),
    Column("soak_until", DateTime(timezone=True)),
    Column("ended_at", DateTime(timezone=True), index=True),
    Column("end_reason", Text),
    Column("schedule_key", String(32)),
    Column("start_moisture", Float),
)
cycles = Table(
    "cycles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zone", String(64), nullable=False, index=True),
    Column("run_id", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, index=True),
    Column("seconds", Float, nullable=False),
    Column("litres", Float, nullable=False),
)
zone_overrides = Table(
    "zone_overrides",
    metadata,
    Column("zone", String(64), primary_key=True),
    Column("paused_until", DateTime(timezone=True)),
    Column("hold_until", DateTime(timezone=True)),
)
rain_reports = Table(
    "rain_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False, index=True),
    Column("mm", Float, nullable=False),
    Column("by", String(64), nullable=False),
)

_DATES = ("created_at", "commanded_at", "cycle_started_at", "soak_until", "ended_at")


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _run(m: RowMapping) -> Run:
    values = dict(m)
    for key in _DATES:
        values[key] = _utc(values[key])
    values["kind"] = RunKind(values["kind"])
    values["status"] = RunStatus(values["status"])
    return Run(**values)


def _row(run: Run) -> dict[str, object]:
    return {c.name: getattr(run, c.name) for c in runs.columns}


@dataclass(frozen=True, slots=True)
class AlarmWrite:
    kind: str
    zone: str | None
    message: str
    raised: bool


@dataclass(slots=True)
class PlanWrite:
    """All that one plan changes in the database, written in one transaction."""

    now: datetime
    runs: Sequence[Run] = ()
    cycles: Sequence[Cycle] = ()
    overrides: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    rain: Sequence[tuple[datetime, float, str]] = ()
    decisions: Sequence[DecisionRecord] = ()
    alarms: Sequence[AlarmWrite] = ()

    def __bool__(self) -> bool:
        return bool(
            self.runs or self.cycles or self.overrides or self.rain or self.decisions or self.alarms
        )


def _save_runs(conn: Connection, changed: Iterable[Run]) -> None:
    rows = [_row(r) for r in changed]
    if rows:
        conn.execute(delete(runs).where(runs.c.id.in_([r["id"] for r in rows])))
        conn.execute(insert(runs), rows)


def _add_cycles(conn: Connection, new: Iterable[Cycle]) -> None:
    rows = [
        {
            "zone": c.zone,
            "run_id": c.run_id,
            "started_at": c.started_at,
            "seconds": c.seconds,
            "litres": c.litres,
        }
        for c in new
    ]
    if rows:
        conn.execute(insert(cycles), rows)


def _set_override(
    conn: Connection, zone: str, paused_until: datetime | None, hold_until: datetime | None
) -> None:
    row = {"zone": zone, "paused_until": paused_until, "hold_until": hold_until}
    conn.execute(delete(zone_overrides).where(zone_overrides.c.zone == zone))
    conn.execute(insert(zone_overrides).values(**row))


class ControlStore:
    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        create_tables(self._engine, metadata)

    def write(self, plan: PlanWrite) -> None:
        """A plan's runs, water, pauses, rain, decisions and alarms: all of it or none.

        The decisions and alarms live in the StateStore's tables of the same database.
        """
        with self._engine.begin() as conn:
            _save_runs(conn, plan.runs)
            _add_cycles(conn, plan.cycles)
            for zone, (paused, hold) in plan.overrides.items():
                _set_override(conn, zone, paused, hold)
            for ts, mm, by in plan.rain:
                conn.execute(insert(rain_reports).values(ts=ts, mm=mm, by=by))
            insert_decisions(conn, plan.decisions)
            for a in plan.alarms:
                if a.raised:
                    raise_alarm(conn, "controller", a.kind, a.message, plan.now, a.zone)
                else:
                    clear_alarm(conn, "controller", a.kind, plan.now, a.zone)

    def save_runs(self, changed: Iterable[Run]) -> None:
        with self._engine.begin() as conn:
            _save_runs(conn, changed)

    def active_runs(self) -> list[Run]:
        done = [RunStatus.DONE.value, RunStatus.CANCELLED.value]
        with self._engine.connect() as conn:
            return [
                _run(r._mapping)
                for r in conn.execute(select(runs).where(runs.c.status.not_in(done)))
            ]

    def recent_runs(self, zone: str | None = None, limit: int = 50) -> list[Run]:
        query = select(runs).order_by(runs.c.created_at.desc()).limit(limit)
        if zone is not None:
            query = query.where(runs.c.zone == zone)
        with self._engine.connect() as conn:
            return [_run(r._mapping) for r in conn.execute(query)]

    def last_run_ends(self) -> dict[str, datetime]:
        """When each zone's last run that gave water ended."""
        query = (
            select(runs.c.zone, func.max(runs.c.ended_at))
            .where(runs.c.delivered_s > 0)
            .group_by(runs.c.zone)
        )
        with self._engine.connect() as conn:
            return {zone: ts for zone, ts in ((z, _utc(t)) for z, t in conn.execute(query)) if ts}

    def add_cycles(self, new: Iterable[Cycle]) -> None:
        with self._engine.begin() as conn:
            _add_cycles(conn, new)

    def delivered_since(self, since: datetime) -> dict[str, tuple[float, float]]:
        """Seconds and litres of water per zone in cycles started since ``since``."""
        query = (
            select(cycles.c.zone, func.sum(cycles.c.seconds), func.sum(cycles.c.litres))
            .where(cycles.c.started_at >= since)
            .group_by(cycles.c.zone)
        )
        with self._engine.connect() as conn:
            return {zone: (float(s), float(litres)) for zone, s, litres in conn.execute(query)}

    def cycles(self, zone: str | None = None, since: datetime | None = None) -> list[Cycle]:
        query = select(cycles).order_by(cycles.c.started_at)
        if zone is not None:
            query = query.where(cycles.c.zone == zone)
        if since is not None:
            query = query.where(cycles.c.started_at >= since)
        with self._engine.connect() as conn:
            return [
                Cycle(r.zone, r.run_id, _utc(r.started_at) or r.started_at, r.seconds, r.litres)
                for r in conn.execute(query)
            ]

    def set_override(
        self, zone: str, paused_until: datetime | None, hold_until: datetime | None
    ) -> None:
        with self._engine.begin() as conn:
            _set_override(conn, zone, paused_until, hold_until)

    def overrides(self) -> dict[str, tuple[datetime | None, datetime | None]]:
        with self._engine.connect() as conn:
            return {
                r.zone: (_utc(r.paused_until), _utc(r.hold_until))
                for r in conn.execute(select(zone_overrides))
            }

    def add_rain(self, ts: datetime, mm: float, by: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(insert(rain_reports).values(ts=ts, mm=mm, by=by))

    def rain_since(self, since: datetime) -> list[tuple[datetime, float]]:
        query = select(rain_reports.c.ts, rain_reports.c.mm).where(rain_reports.c.ts >= since)
        with self._engine.connect() as conn:
            return [(_utc(ts) or ts, float(mm)) for ts, mm in conn.execute(query)]

    def close(self) -> None:
        self._engine.dispose()
