"""A technician's changes to a zone (thresholds, program), kept in the state database.

The farm config file stays as written; these override it per zone. ``tuned_farm`` gives
the farm as the controller should use it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)

from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.stores.state import create_tables, make_engine
from smartfarm.topics import Topics

# The zone keys a technician may change from the phone; the rest (devices, area) stay in
# the farm config file.
PROGRAM_KEYS = (
    "windows",
    "min_off_minutes",
    "max_run_minutes",
    "max_daily_minutes",
    "max_daily_litres",
    "cycle_soak",
    "fallback_schedule",
)

metadata = MetaData()
zone_tuning = Table(
    "zone_tuning",
    metadata,
    Column("zone", String(64), primary_key=True),
    # JSON of the changed zone keys (a subset of PROGRAM_KEYS plus "thresholds").
    Column("changes", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
)

# A sensor's calibration set from the phone; replaces the farm file's for that sensor.
sensor_calibration = Table(
    "sensor_calibration",
    metadata,
    Column("sensor", String(64), primary_key=True),
    Column("calibration", Text, nullable=False),  # JSON of a SensorCalibration
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
)


def tuned_zone(zone: ZoneConfig, changes: dict[str, Any]) -> ZoneConfig:
    """The zone with a technician's changes, validated like the farm config file."""
    if not changes:
        return zone
    return ZoneConfig.model_validate({**zone.model_dump(), **changes})


def tuned_farm(
    farm: FarmConfig,
    tuning: dict[str, dict[str, Any]],
    calibrations: dict[str, dict[str, Any]] | None = None,
) -> FarmConfig:
    """The farm with every zone's changes and every sensor's calibration applied."""
    farm = farm.with_calibrations(calibrations or {})
    if not tuning:
        return farm
    zones = [tuned_zone(z, tuning.get(z.id, {})) for z in farm.zones]
    # Validated afresh, not copied: the config caches lookups that must see the new zones.
    return FarmConfig.model_validate({**farm.model_dump(), "zones": zones})


class TuningStore:
    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        create_tables(self._engine, metadata)

    def all(self) -> dict[str, dict[str, Any]]:
        with self._engine.connect() as conn:
            return {r.zone: json.loads(r.changes) for r in conn.execute(select(zone_tuning))}

    def get(self, zone: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            row = conn.execute(select(zone_tuning).where(zone_tuning.c.zone == zone)).first()
        return json.loads(row.changes) if row is not None else {}

    def put(self, zone: str, changes: dict[str, Any], by: str, now: datetime | None = None) -> None:
        """Replace the zone's changes (an empty dict goes back to the farm config file)."""
        with self._engine.begin() as conn:
            conn.execute(delete(zone_tuning).where(zone_tuning.c.zone == zone))
            if changes:
                conn.execute(
                    insert(zone_tuning).values(
                        zone=zone,
                        changes=json.dumps(changes),
                        updated_at=now or datetime.now(UTC),
                        updated_by=by,
                    )
                )

    def calibrations(self) -> dict[str, dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(sensor_calibration))
            return {r.sensor: json.loads(r.calibration) for r in rows}

    def put_calibration(
        self, sensor: str, calibration: dict[str, Any] | None, by: str, now: datetime | None = None
    ) -> None:
        """Set a sensor's calibration (None: back to the farm config file's)."""
        with self._engine.begin() as conn:
            conn.execute(delete(sensor_calibration).where(sensor_calibration.c.sensor == sensor))
            if calibration is not None:
                conn.execute(
                    insert(sensor_calibration).values(
                        sensor=sensor,
                        calibration=json.dumps(calibration),
                        updated_at=now or datetime.now(UTC),
                        updated_by=by,
                    )
                )

    def calibration_stamp(self) -> tuple[int, datetime | None]:
        """Changes when any calibration changes: the gateway polls it, cheaply."""
        query = select(func.count(), func.max(sensor_calibration.c.updated_at))
        with self._engine.connect() as conn:
            count, newest = conn.execute(query).one()
        return int(count), newest

    def close(self) -> None:
        self._engine.dispose()


def tuning_topic(topics: Topics) -> str:
    """Retained note from the API that a zone's tuning changed; the controller re-reads it."""
    return f"{topics.base}/controller/tuning"
