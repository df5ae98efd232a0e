"""Request and response bodies of the API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from controller.rules import MAX_MANUAL_MINUTES


class Farm(BaseModel):
    id: str
    name: str


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
    valve: ValveOut
    last_decision: DecisionOut | None = None


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
    start: float = Field(gt=0, lt=1, description="Start threshold to try (m3/m3)")
    stop: float = Field(gt=0, lt=1, description="Stop threshold to try (m3/m3)")


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
    by: str = Field(min_length=1, max_length=64, examples=["technician Minh"])


class Health(BaseModel):
    status: str
    problems: list[str]
