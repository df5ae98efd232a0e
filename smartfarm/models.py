"""Domain types shared by every process: frozen values, converted at the edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Reading:
    """One soil-moisture reading as stored: vwc is volumetric water content (m3/m3)."""

    farm: str
    zone: str
    sensor: str
    ts: datetime
    seq: int
    vwc: float
    raw: int | None = None
    temp_c: float | None = None
    battery_v: float | None = None
    # "good", or why not: the controller waters only on good readings.
    quality: str = "good"


class ValveStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ValveState:
    """A valve's last reported state; ``until`` is when it will close itself."""

    valve: str
    status: ValveStatus
    ts: datetime
    command_id: str | None = None
    until: datetime | None = None
    since: datetime | None = None


class Action(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    HOLD = "hold"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the gateway could not accept, kept with the reason."""

    received_at: datetime
    topic: str
    payload: bytes
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Alarm:
    """Something a person should look at; active until cleared, then kept as history."""

    id: int | None
    raised_at: datetime
    source: str  # "gateway", "controller", ...
    kind: str  # stable code, e.g. "disk_budget", "valve_fault", "sensor_fault"
    zone: str | None
    message: str
    active: bool = True
    cleared_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A controller decision as logged: what, for which zone, why, and who asked."""

    ts: datetime
    zone: str
    action: Action
    reason: str
    by: str = "controller"
    command_id: str | None = None
    duration_s: int | None = None
    code: str | None = None  # the rule that fired, stable: lets a page translate the reason
    run_id: str | None = None
