"""Sensor calibration: raw ADC counts of a capacitive probe to volumetric water content."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SensorCalibration(BaseModel):
    """Two-point calibration of a capacitive probe: raw ADC in dry air and in water."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    raw_dry: int = Field(3200, ge=0, le=65535)
    raw_wet: int = Field(1300, ge=0, le=65535)
    vwc_dry: float = Field(0.0, ge=0.0, le=1.0)
    vwc_wet: float = Field(0.5, ge=0.0, le=1.0)


def calibrate(raw: int, cal: SensorCalibration) -> float:
    """Two-point linear calibration raw ADC -> vwc, clamped to [0, 1]."""
    span = (raw - cal.raw_dry) / (cal.raw_wet - cal.raw_dry)
    return min(1.0, max(0.0, cal.vwc_dry + span * (cal.vwc_wet - cal.vwc_dry)))
