"""Sensor calibration: raw ADC counts of a capacitive probe to volumetric water content.

A sensor is calibrated by two points (dry and wet), by polynomial coefficients, or by
measured (raw, vwc) points fitted with numpy. Every form becomes one polynomial, evaluated
by Horner's rule in the gateway's hot path and by numpy for arrays.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator


class SensorCalibration(BaseModel):
    """How one probe's raw ADC count maps to vwc (m3/m3); capacitive probes read lower wet."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"raw_dry": 3250, "raw_wet": 1320},
                {"points": [[1300, 0.46], [2200, 0.29], [3200, 0.10]], "degree": 2},
            ]
        },
    )

    # Two-point calibration: raw ADC in dry air and in water.
    raw_dry: int = Field(3200, ge=0, le=65535)
    raw_wet: int = Field(1300, ge=0, le=65535)
    vwc_dry: float = Field(0.0, ge=0.0, le=1.0)
    vwc_wet: float = Field(0.5, ge=0.0, le=1.0)
    # Polynomial coefficients, highest power first (numpy.polyval order); replaces the
    # two points when given.
    poly: tuple[float, ...] | None = Field(None, min_length=1, max_length=8)
    # Or measured (raw, vwc) pairs from a soil-specific calibration, fitted by least squares.
    points: tuple[tuple[int, float], ...] | None = Field(None, min_length=2, max_length=64)
    degree: int = Field(2, ge=1, le=5)
    # Capacitive counts drift with the probe's temperature at constant moisture (the
    # permittivity of soil water and the electronics). With the probe's coefficient (from
    # its datasheet or a calibration at two temperatures) the count is brought back to
    # ``temp_ref_c`` before calibrating, using the temp_c of the reading. 0: not corrected.
    temp_raw_per_c: float = Field(0.0, ge=-100.0, le=100.0)
    temp_ref_c: float = Field(25.0, ge=-40.0, le=85.0)
    # ADC full scale (ESP32: 12 bits) and how near a rail a reading means a wiring fault.
    raw_max: int = Field(4095, ge=1, le=65535)
    rail_margin: int = Field(60, ge=0, le=10000)
    # A calibrated value outside this interval is physically implausible: out_of_range.
    vwc_min: float = Field(-0.05, ge=-1.0, le=1.0)
    vwc_max: float = Field(0.65, ge=0.0, le=2.0)

    @model_validator(mode="after")
    def _usable(self) -> SensorCalibration:
        if self.poly is not None and self.points is not None:
            raise ValueError("give either poly or points, not both")
        if self.points is not None and len({raw for raw, _ in self.points}) <= self.degree:
            raise ValueError(f"a degree {self.degree} fit needs more than {self.degree} raw values")
        if self.poly is None and self.points is None and self.raw_dry == self.raw_wet:
            raise ValueError("raw_dry and raw_wet must differ")
        if self.vwc_min >= self.vwc_max:
            raise ValueError("vwc_min must be below vwc_max")
        return self

    @cached_property
    def coefficients(self) -> tuple[float, ...]:
        """The calibration as polynomial coefficients, highest power first."""
        if self.poly is not None:
            return tuple(float(c) for c in self.poly)
        if self.points is not None:
            raw = np.array([p[0] for p in self.points], dtype=float)
            vwc = np.array([p[1] for p in self.points], dtype=float)
            return tuple(float(c) for c in np.polyfit(raw, vwc, self.degree))
        slope = (self.vwc_wet - self.vwc_dry) / (self.raw_wet - self.raw_dry)
        return (slope, self.vwc_dry - slope * self.raw_dry)

    def vwc(self, raw: float) -> float:
        """The calibrated value, not clamped (quality checks need to see the excess)."""
        acc = 0.0
        for c in self.coefficients:
            acc = acc * raw + c
        return acc

    def at_reference(self, raw: float, temp_c: float | None) -> float:
        """The count the probe would read at ``temp_ref_c``: no change without a coefficient
        or a temperature."""
        if temp_c is None or not self.temp_raw_per_c:
            return raw
        return raw - self.temp_raw_per_c * (temp_c - self.temp_ref_c)

    def vwc_array(self, raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrate many raw counts at once, not clamped."""
        return np.polyval(np.asarray(self.coefficients), np.asarray(raw, dtype=float))

    def near_zero(self, raw: int) -> bool:
        """A disconnected probe reads near 0 (and looks saturated)."""
        return raw <= self.rail_margin

    def near_max(self, raw: int) -> bool:
        """A shorted probe reads near full scale (and looks bone dry)."""
        return raw >= self.raw_max - self.rail_margin


def clamp_vwc(vwc: float) -> float:
    return min(1.0, max(0.0, vwc))


def calibrate(raw: int, cal: SensorCalibration) -> float:
    """Raw ADC -> vwc with the sensor's calibration, clamped to [0, 1]."""
    return clamp_vwc(cal.vwc(raw))
