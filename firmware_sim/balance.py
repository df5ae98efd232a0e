"""The FAO-56 soil water balance of a drip zone's wetted root volume (pure, no I/O).

The bucket is the soil the drip wets: a fraction fw of the zone's area, to the crop's
root depth Zr. Its mean water content theta is what a probe placed in the wetted bulb
reads, so the controller's thresholds (FC - p TAW to start) map onto depletion directly.
Every flow is kept in millimetres over the zone's whole area (1 mm = 1 L/m2), so the
ledger converts to cubic metres by the zone's area and closes exactly:
irrigation + rain in = ET + drainage + runoff + change in storage.

- ET: ETc = Ks Kc ET0 (FAO-56 eq. 58 and 84); Ks = 1 while depletion Dr <= RAW = p TAW,
  else (TAW - Dr) / (TAW - RAW) (eq. 84). The canopy covers the zone, its roots draw
  from the wetted bulb.
- Rain falls on the whole zone; only the share over the wetted area, fw, enters the bucket.
  (The rest wets the dry inter-row soil, which the model does not track: a conservative
  simplification, it undervalues rain.)
- Drainage above field capacity, AquaCrop's first-order function (Raes et al. 2012,
  AquaCrop reference manual, chapter 3): d theta/dt = tau (sat - FC) (e^(theta - FC) - 1)
  / (e^(sat - FC) - 1) per day, with tau = 0.0866 Ksat^0.35 (Ksat mm/day), at most 1.
- Water above saturation runs off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from smartfarm.agronomy import DRIP_WETTED_FRACTION, Crop, Soil


@dataclass(slots=True)
class Ledger:
    """Flows so far, mm over the zone's area."""

    irrigation_mm: float = 0.0
    rain_mm: float = 0.0  # gross rain on the zone
    rain_in_mm: float = 0.0  # what entered the wetted volume (fw of it)
    et_mm: float = 0.0  # actual ETc, Ks Kc ET0
    et_potential_mm: float = 0.0  # Kc ET0
    drainage_mm: float = 0.0
    runoff_mm: float = 0.0

    @property
    def deficit_mm(self) -> float:
        """Transpiration lost to water stress: the yield-relevant shortfall (FAO-33 Ky)."""
        return self.et_potential_mm - self.et_mm


def drainage_tau(soil: Soil) -> float:
    """AquaCrop's drainage characteristic (per day) from Ksat."""
    return min(1.0, 0.0866 * math.pow(soil.ksat_mm_h * 24, 0.35))


@dataclass(slots=True)
class RootZone:
    soil: Soil
    crop: Crop
    theta: float
    fw: float = DRIP_WETTED_FRACTION
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def depth_mm(self) -> float:
        """Millimetres over the zone per unit of theta: 1000 Zr fw."""
        return 1000.0 * self.crop.root_depth_m * self.fw

    @property
    def storage_mm(self) -> float:
        return self.theta * self.depth_mm

    @property
    def taw_mm(self) -> float:
        return (self.soil.theta_fc - self.soil.theta_wp) * self.depth_mm

    @property
    def depletion_mm(self) -> float:
        return max(0.0, (self.soil.theta_fc - self.theta) * self.depth_mm)

    def stress_factor(self) -> float:
        """Ks, FAO-56 eq. 84."""
        taw = self.taw_mm
        raw = self.crop.p * taw
        dr = self.depletion_mm
        if dr <= raw:
            return 1.0
        return max(0.0, (taw - dr) / (taw - raw))

    def step(self, dt_s: float, irrigation_mm: float, rain_mm: float, et0_mm: float) -> float:
        """Advance by ``dt_s`` seconds with these depths over the zone; returns the step's Ks."""
        if dt_s < 0 or irrigation_mm < 0 or rain_mm < 0 or et0_mm < 0:
            raise ValueError("a step needs non-negative time, water and ET0")
        led, soil, depth = self.ledger, self.soil, self.depth_mm
        rain_in = rain_mm * self.fw
        led.irrigation_mm += irrigation_mm
        led.rain_mm += rain_mm
        led.rain_in_mm += rain_in
        self.theta += (irrigation_mm + rain_in) / depth
        if self.theta > soil.theta_sat:
            led.runoff_mm += (self.theta - soil.theta_sat) * depth
            self.theta = soil.theta_sat
        ks = self.stress_factor()
        potential = self.crop.kc_mid * et0_mm
        et = min(ks * potential, max(0.0, (self.theta - soil.theta_wp) * depth))
        led.et_potential_mm += potential
        led.et_mm += et
        self.theta -= et / depth
        if self.theta > soil.theta_fc:
            span = soil.theta_sat - soil.theta_fc
            rate = (
                drainage_tau(soil)
                * span
                * math.expm1(self.theta - soil.theta_fc)
                / math.expm1(span)
            )
            drained = min(self.theta - soil.theta_fc, rate * dt_s / 86400)
            led.drainage_mm += drained * depth
            self.theta -= drained
        return ks
