"""Values the decision core takes and returns: runs, facts about zones, and the plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from smartfarm.config import FarmInfo, ZoneConfig
from smartfarm.models import Action, ValveStatus


class RunKind(StrEnum):
    AUTO = "auto"  # started by the thresholds, runs until the stop threshold
    MANUAL = "manual"  # "water now for N minutes"
    EVERYTHING = "everything"  # one of the runs of "water everything"
    SCHEDULE = "schedule"  # the fallback schedule of a zone in sensor fault


class RunStatus(StrEnum):
    QUEUED = "queued"  # waiting for the pump, a window or its turn
    OPENING = "opening"  # open command sent, not yet confirmed by the valve
    RUNNING = "running"
    SOAKING = "soaking"  # cycle-and-soak: paused so the water soaks in
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self not in (RunStatus.DONE, RunStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class Run:
    """One watering of one zone, possibly in several cycles; persisted across restarts."""

    id: str
    zone: str
    kind: RunKind
    by: str
    created_at: datetime
    status: RunStatus
    target_s: int | None = None  # None: until the stop threshold (automatic runs)
    delivered_s: float = 0.0  # seconds of finished cycles
    command_id: str | None = None
    commanded_at: datetime | None = None
    cycle_s: int | None = None  # duration commanded for the current cycle
    cycle_started_at: datetime | None = None  # when the valve confirmed open
    attempts: int = 0
    soak_until: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    schedule_key: str | None = None  # which fallback-schedule entry started it
    start_moisture: float | None = None  # when its first cycle opened: did the water arrive?


@dataclass(frozen=True, slots=True)
class ValveFacts:
    status: ValveStatus
    command_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ts: datetime | None = None  # time of the last state change
    faulty: bool = False  # did not confirm a command; cleared by its next state
    pending_since: datetime | None = None  # master valve: open sent, not yet confirmed
    flow_lph: float | None = None  # measured by a flow meter, if the valve has one


@dataclass(frozen=True, slots=True)
class ZoneFacts:
    """What is known of one zone now, besides its runs."""

    config: ZoneConfig
    moisture: float | None  # median of the good, fresh readings
    moisture_age_s: float | None
    no_good_reading_s: float | None  # None while good readings arrive
    valve: ValveFacts
    delivered_today_s: float = 0.0
    delivered_today_l: float = 0.0
    last_run_ended_at: datetime | None = None
    paused_until: datetime | None = None
    hold_until: datetime | None = None  # after a manual stop
    schedule_fired: frozenset[str] = frozenset()  # fallback-schedule keys already used
    # How fast the soil dries (vwc per hour, from the recent readings); None if not known.
    drying_per_h: float | None = None


@dataclass(frozen=True, slots=True)
class FarmFacts:
    now: datetime
    info: FarmInfo  # pump, master valve, rain policy, time zone
    flow_in_use_lph: float = 0.0  # zones whose valve is open or opening, before this plan
    rain_mm: float = 0.0  # in the rain policy's window
    master: ValveFacts | None = None  # None: the farm has no master valve

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(self.info.tz)


@dataclass(frozen=True, slots=True)
class Limits:
    """Controller-wide settings the rules use (from ControllerSettings)."""

    stale_after_s: float = 900.0
    confirm_timeout_s: float = 15.0
    max_attempts: int = 3
    min_cycle_s: int = 60
    # Measured flow this far from the zone's design flow, after the pipes filled, is an alarm.
    flow_tolerance: float = 0.3
    flow_settle_s: float = 60.0
    schedule_grace_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Command:
    """A valve command to publish. An open always has a bounded duration."""

    valve: str
    action: Action
    command_id: str
    reason: str
    duration_s: int | None = None
    zone: str | None = None

    def __post_init__(self) -> None:
        if self.action is Action.OPEN and not (self.duration_s and self.duration_s > 0):
            raise ValueError("an open command needs a bounded duration")


@dataclass(frozen=True, slots=True)
class Decision:
    zone: str
    action: Action
    code: str  # the rule that fired, stable: dedupes the log and names it for translation
    reason: str
    by: str = "controller"
    run_id: str | None = None
    command_id: str | None = None
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    kind: str
    zone: str | None
    message: str
    raised: bool  # False: clear it


@dataclass(frozen=True, slots=True)
class Cycle:
    """A finished stretch of water: what the diary and the daily limits count."""

    zone: str
    run_id: str
    started_at: datetime
    seconds: float
    litres: float


@dataclass(slots=True)
class Plan:
    runs: dict[str, Run] = field(default_factory=dict)  # changed or new runs by id
    commands: list[Command] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    alarms: list[AlarmChange] = field(default_factory=list)
    cycles: list[Cycle] = field(default_factory=list)
    holds: dict[str, datetime | None] = field(default_factory=dict)  # zone -> hold_until
    pauses: dict[str, datetime | None] = field(default_factory=dict)  # zone -> paused_until
