"""Irrigation policy values of the farm config: time windows, cycle-and-soak, schedules, rain."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hhmm(text: str) -> time:
    match = _HHMM.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day like 05:30")
    return time(int(match[1]), int(match[2]))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(_Strict):
    """Local times between which automatic watering may run; may cross midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, value: object) -> object:
        if isinstance(value, str):
            parts = value.split("-")
            if len(parts) != 2:
                raise ValueError(f"{value!r} is not a window like 05:00-09:00")
            start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
            if start == end:
                raise ValueError(f"window {value!r} is empty")
            return {"start": start, "end": end}
        return value

    def contains(self, t: time) -> bool:
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


Window = Annotated[TimeWindow, BeforeValidator(TimeWindow.parse)]


class CycleSoak(_Strict):
    """Run at most ``run_minutes``, then let the water soak in for ``soak_minutes``."""

    run_minutes: int = Field(ge=1, le=240)
    soak_minutes: int = Field(ge=1, le=720)


class ScheduleEntry(_Strict):
    """A fixed watering: at a local time, for some minutes, on some days (all by default)."""

    at: time
    minutes: int = Field(ge=1, le=720)
    days: list[str] = Field(default_factory=lambda: list(DAYS))

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("at"), str):
            data = {**data, "at": parse_hhmm(data["at"])}
        if isinstance(data, dict) and isinstance(data.get("days"), list):
            bad = [d for d in data["days"] if d not in DAYS]
            if bad:
                raise ValueError(f"unknown days {bad}; use {', '.join(DAYS)}")
        return data


class RainPolicy(_Strict):
    """Rain in the last ``window_hours``: skip at ``skip_mm``, shorten from ``shorten_mm``."""

    skip_mm: float = Field(10.0, gt=0)
    shorten_mm: float = Field(3.0, ge=0)
    window_hours: float = Field(24.0, gt=0, le=168)

    @model_validator(mode="after")
    def _order(self) -> RainPolicy:
        if self.shorten_mm > self.skip_mm:
            raise ValueError("shorten_mm must not be above skip_mm")
        return self
