"""Request and response bodies of the API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from controller.rules import MAX_MANUAL_MINUTES


class Farm(BaseModel):
    id: str
    name: str
    default_language: str = Field("vi", description="Language of a new user of this farm")


class ThresholdsOut(BaseModel):
    start: float = Field(description="Watering starts below this volumetric water content")
    stop: float = Field(description="Watering stops at or above this")


class ValveOut(BaseModel):
    id: str
    state: str = Field(description="open, closed, offline or unknown")
    since: datetime | None = None
    until: datetime | None = Field(None, description="When the valve will close itself")
    command_id: str | None = None


class DecisionOut(BaseModel):
    ts: datetime
    zone: str
    action: str
    code: str | None = Field(None, description="The rule that fired, stable across languages")
    reason: str
    by: str
    command_id: str | None = None
    duration_s: int | None = None
    run_id: str | None = None


class ZoneStatus(BaseModel):
    id: str
    name: str
    crop: str
    crop_estimate: bool = Field(description="True if the crop values are estimates, not FAO-56")
    soil: str
    thresholds: ThresholdsOut
    moisture: float | None = Field(None, description="Median of the zone's latest readings, m3/m3")
    moisture_at: datetime | None = None
    moisture_stale: bool
    moisture_word: str = Field(description="dry, good, wet or unknown (no fresh reading)")
    valve: ValveOut
    last_decision: DecisionOut | None = None
    last_alarm: AlarmOut | None = Field(None, description="The zone's latest active alarm")
    next_run_at: datetime | None = Field(
        None, description="When a dry zone may next be watered (its next window); null if not dry"
    )
    paused_until: datetime | None = Field(
        None, description="Automatic watering of the zone is paused until then; null if not"
    )


class WaterNow(BaseModel):
    minutes: int = Field(ge=1, le=MAX_MANUAL_MINUTES, examples=[10])


class Pause(BaseModel):
    until: datetime = Field(
        description="When automatic watering may resume (with time zone)",
        examples=["2026-11-25T06:00:00+07:00"],
    )


class Rain(BaseModel):
    mm: float = Field(ge=0, le=1000, description="Rain that fell, in millimetres", examples=[12])


class RunOut(BaseModel):
    id: str
    zone: str
    kind: str
    by: str
    created_at: datetime
    status: str
    target_s: int | None
    delivered_s: float
    ended_at: datetime | None
    end_reason: str | None


class DryRunIn(BaseModel):
    days: float = Field(7, gt=0, le=90, description="How many past days to replay")
    start: float = Field(gt=0, lt=1, description="Start threshold to try (m3/m3)", examples=[0.24])
    stop: float = Field(gt=0, lt=1, description="Stop threshold to try (m3/m3)", examples=[0.3])


class ShadowRunOut(BaseModel):
    started_at: datetime
    minutes: float
    litres: float


class ShadowDecisionOut(BaseModel):
    ts: datetime
    code: str
    reason: str


class DryRunOut(BaseModel):
    zone: str
    start: float
    stop: float
    since: datetime
    until: datetime
    readings: int
    runs: list[ShadowRunOut]
    minutes: float = Field(description="Water the new thresholds would have given, minutes")
    litres: float
    actual_minutes: float = Field(description="Water actually given in the same period")
    actual_litres: float
    decisions: list[ShadowDecisionOut]


class Accepted(BaseModel):
    request_id: str


class Point(BaseModel):
    ts: datetime
    sensor: str
    vwc: float


class History(BaseModel):
    zone: str
    start: datetime
    end: datetime
    points: list[Point]


class DeadLetterOut(BaseModel):
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload_preview: str


class AlarmOut(BaseModel):
    id: int
    raised_at: datetime
    source: str
    kind: str
    zone: str | None
    message: str
    active: bool
    cleared_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


class Acknowledge(BaseModel):
    by: str | None = Field(
        None,
        max_length=64,
        description="Ignored: the logged-in user acknowledges",
        deprecated=True,
        examples=["technician Minh"],
    )


class Health(BaseModel):
    status: str
    problems: list[str]


ZoneStatus.model_rebuild()


class Problem(BaseModel):
    code: str = Field(description="Stable, for the page's catalogue", examples=["pump_capacity"])
    message: str = Field(description="Plain English")
    field: str | None = None


class ProblemOut(BaseModel):
    detail: Problem


class UserOut(BaseModel):
    username: str = Field(examples=["lan"])
    display_name: str = Field(examples=["Chị Lan"])
    role: Literal["viewer", "farmer", "technician", "admin"]
    language: Literal["vi", "en", "pt", "de"]


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64, examples=["lan"])
    password: str = Field(min_length=1, max_length=1024, examples=["a long passphrase"])


class LoginOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`; also set as cookie")
    expires_at: datetime
    user: UserOut


class MePatch(BaseModel):
    language: Literal["vi", "en", "pt", "de"] | None = Field(None, examples=["vi"])
    display_name: str | None = Field(None, min_length=1, max_length=80)


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^\S+$", examples=["minh"])
    password: str = Field(min_length=10, max_length=1024, examples=["correct horse battery"])
    role: Literal["viewer", "farmer", "technician", "admin"] = Field(examples=["technician"])
    language: Literal["vi", "en", "pt", "de"] = "vi"
    display_name: str | None = Field(None, min_length=1, max_length=80)


class UserPatch(BaseModel):
    role: Literal["viewer", "farmer", "technician", "admin"] | None = Field(
        None, examples=["farmer"]
    )
    password: str | None = Field(None, min_length=10, max_length=1024)
    language: Literal["vi", "en", "pt", "de"] | None = None
    display_name: str | None = Field(None, min_length=1, max_length=80)
    disabled: bool | None = None


class AuditOut(BaseModel):
    at: datetime
    username: str
    action: str = Field(examples=["thresholds.update"])
    target: str = Field(examples=["zone z1"])
    before: Any = None
    after: Any = None


class UnknownDeviceOut(BaseModel):
    device: str
    first_seen: datetime
    last_seen: datetime
    last_topic: str
    messages: int


class HistoryPoint(BaseModel):
    ts: datetime = Field(description="The reading's time, or the start of its hour")
    sensor: str
    vwc: float = Field(description="Reading, or the hour's mean (m3/m3)")
    vwc_min: float | None = Field(None, description="Hourly points only")
    vwc_max: float | None = Field(None, description="Hourly points only")


class IrrigationPeriod(BaseModel):
    start: datetime
    end: datetime
    litres: float


class HistoryOut(BaseModel):
    zone: str
    start: datetime
    end: datetime
    range: Literal["day", "week", "season", "hours"]
    resolution: Literal["raw", "hour"] = Field(
        description="raw readings for a day or less; hourly means (then the newest raw) beyond"
    )
    points: list[HistoryPoint]
    thresholds: ThresholdsOut
    irrigation: list[IrrigationPeriod]


class ThresholdPair(BaseModel):
    start_pct: float = Field(
        gt=0, lt=100, description="Watering starts below (% VWC)", examples=[24.0]
    )
    stop_pct: float = Field(
        gt=0, lt=100, description="Watering stops at or above (% VWC)", examples=[30.0]
    )


class ThresholdsState(ThresholdPair):
    source: Literal["preset", "override"] = Field(
        description="preset: from soil and crop (or the farm file); override: set by a technician"
    )
    preset: ThresholdPair


class ThresholdsIn(ThresholdPair):
    model_config = {"json_schema_extra": {"examples": [{"start_pct": 24.0, "stop_pct": 30.0}]}}


class PreviewIn(ThresholdPair):
    days: float = Field(7, gt=0, le=90, description="How many past days to replay")


class ProgramIO(BaseModel):
    windows: list[str] = Field(
        default_factory=list,
        description="Local times automatic watering may run; empty = any time",
        examples=[["05:00-09:00", "16:30-18:30"]],
    )
    min_off_minutes: int = Field(30, ge=0, le=1440)
    max_run_minutes: int = Field(60, ge=1, le=720)
    max_daily_minutes: int = Field(240, ge=1, le=1440)
    max_daily_litres: float | None = Field(None, gt=0)
    cycle_minutes: int | None = Field(None, ge=1, le=240, description="Cycle-and-soak: run")
    soak_minutes: int | None = Field(None, ge=1, le=720, description="Cycle-and-soak: soak")
    fallback_schedule: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Used only while the zone has no good reading",
        examples=[[{"at": "05:30", "minutes": 20, "days": ["mon", "thu"]}]],
    )


class DeviceOut(BaseModel):
    device_id: str
    kind: Literal["sensor", "valve"]
    zone_id: str | None
    battery_pct: float | None = None
    last_seen: datetime | None = None
    rssi_dbm: float | None = Field(None, description="Not reported by the current firmware")
    online: bool
    calibration: dict[str, Any] | None = None
