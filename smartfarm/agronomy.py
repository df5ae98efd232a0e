"""Soil and crop presets and the default thresholds derived from them (pure, no I/O).

Sources: FAO Irrigation and Drainage Paper 56 (Allen et al., 1998), tables 12 and 22,
for the values marked ``fao56=True``; the others are estimates from the literature and
are shown as estimates in the UI.
"""

from __future__ import annotations

from dataclasses import dataclass

# Share of a zone's soil that drip emitters wet (FAO-56 ch. 7, fw 0.3-0.4 for trickle).
DRIP_WETTED_FRACTION = 0.35


@dataclass(frozen=True, slots=True)
class Soil:
    """Hydraulic properties of a soil texture (volumetric, m3/m3; Ksat in mm/h)."""

    name: str
    theta_sat: float
    theta_fc: float
    theta_wp: float
    ksat_mm_h: float


@dataclass(frozen=True, slots=True)
class Crop:
    """Crop coefficients: mid-season Kc, root depth Zr (m), depletion fraction p."""

    name: str
    kc_mid: float
    root_depth_m: float
    p: float
    fao56: bool


SOILS: dict[str, Soil] = {
    "sand": Soil("sand", 0.44, 0.10, 0.05, 108.0),
    "sandy_loam": Soil("sandy_loam", 0.45, 0.18, 0.08, 50.0),
    "loam": Soil("loam", 0.46, 0.28, 0.14, 15.5),
    "clay_loam": Soil("clay_loam", 0.48, 0.36, 0.22, 4.3),
    # Clay: estimate from common texture tables, not one of the design brief's checked values.
    "clay": Soil("clay", 0.50, 0.42, 0.30, 1.0),
}

CROPS: dict[str, Crop] = {
    "coffee": Crop("coffee", 0.95, 1.2, 0.40, fao56=True),
    "rubber": Crop("rubber", 1.00, 1.2, 0.40, fao56=True),
    "cacao": Crop("cacao", 1.05, 0.85, 0.30, fao56=True),
    "cashew": Crop("cashew", 0.85, 1.2, 0.45, fao56=False),
    "black_pepper": Crop("black_pepper", 0.90, 0.5, 0.35, fao56=False),
    "durian": Crop("durian", 0.95, 1.0, 0.35, fao56=False),
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Start watering below ``start``, stop at or above ``stop`` (volumetric water content)."""

    start: float
    stop: float


def default_thresholds(soil: Soil, crop: Crop) -> Thresholds:
    """FAO-56 management allowed depletion: start at FC - p(FC - WP), stop at FC - 0.1(FC - WP)."""
    taw = soil.theta_fc - soil.theta_wp
    return Thresholds(
        start=round(soil.theta_fc - crop.p * taw, 4),
        stop=round(soil.theta_fc - 0.1 * taw, 4),
    )
