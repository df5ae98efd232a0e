"""A simple soil water model of the layer a probe senses (pure, no I/O).

Drying by crop evapotranspiration (reduced once the soil is past the readily
available water, as in FAO-56), wetting by the drip emitters over the wetted
fraction, and drainage of water above field capacity. The full FAO-56 daily
balance with weather comes with the season simulator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from smartfarm.agronomy import Crop, Soil

# The probe sits in the drip bulb: it senses a shallow wetted layer, so it reacts within
# an hour of watering and dries within about a day, as probes next to emitters do.
SENSED_DEPTH_M = 0.15
WETTED_FRACTION = 0.35
DRAINAGE_TAU_H = 12.0
# Evapotranspiration follows the sun: a half-sine from sunrise to sunset, none at night
# (near the equator, as in Vietnam, the day is close to 12 hours all year).
SUNRISE_H = 6.0
SUNSET_H = 18.0


@dataclass(slots=True)
class SoilLayer:
    soil: Soil
    crop: Crop
    theta: float
    et0_mm_day: float = 5.0

    @property
    def depth_mm(self) -> float:
        return 1000.0 * SENSED_DEPTH_M * WETTED_FRACTION

    def stress_factor(self) -> float:
        """FAO-56 Ks: 1 while depletion is within the readily available water."""
        taw = self.soil.theta_fc - self.soil.theta_wp
        depletion = max(0.0, self.soil.theta_fc - self.theta)
        raw = self.crop.p * taw
        if depletion <= raw:
            return 1.0
        return max(0.0, (taw - depletion) / (taw - raw))

    def step(self, dt_s: float, irrigation_mm_h: float, et0_mm: float | None = None) -> None:
        """Advance by ``dt_s`` seconds; ``et0_mm`` is the step's ET0 (default: an even share)."""
        hours = dt_s / 3600.0
        if et0_mm is None:
            et0_mm = self.et0_mm_day * hours / 24.0
        etc_mm = self.stress_factor() * self.crop.kc_mid * et0_mm
        # Drip water lands on the wetted fraction only, so it is concentrated there.
        irrigation_mm = irrigation_mm_h * hours / WETTED_FRACTION
        theta = self.theta + (irrigation_mm - etc_mm) / self.depth_mm
        excess = theta - self.soil.theta_fc
        if excess > 0:
            theta -= excess * (1.0 - math.exp(-hours / DRAINAGE_TAU_H))
        self.theta = min(self.soil.theta_sat, max(self.soil.theta_wp * 0.5, theta))


def irrigation_rate_mm_h(flow_lph: float, area_m2: float) -> float:
    """Litres per hour over square metres is millimetres per hour over the whole zone."""
    return flow_lph / area_m2


def _day_share_until(hour: float) -> float:
    """Share of a day's ET0 from midnight to ``hour`` (local, 0-24) under the daylight curve."""
    h = min(max(hour, SUNRISE_H), SUNSET_H)
    return (1.0 - math.cos(math.pi * (h - SUNRISE_H) / (SUNSET_H - SUNRISE_H))) / 2.0


def _local_hours(t: datetime) -> float:
    return t.hour + t.minute / 60 + (t.second + t.microsecond / 1e6) / 3600


def daylight_et0_mm(et0_mm_day: float, start: datetime, end: datetime, tz: tzinfo) -> float:
    """ET0 between two instants when each day's ``et0_mm_day`` follows the daylight curve."""
    share = 0.0
    t, stop = start.astimezone(tz), end.astimezone(tz)
    while t < stop:
        midnight = t.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        upto = min(stop, midnight)
        end_h = 24.0 if upto == midnight else _local_hours(upto)
        share += _day_share_until(end_h) - _day_share_until(_local_hours(t))
        t = upto
    return et0_mm_day * share
