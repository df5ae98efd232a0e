"""Device faults on demand: what a broken probe sends or a broken valve does; ``--faults``.

Sensor signatures, as real capacitive probes show them (DESIGN.md): a disconnected probe
reads near 0 raw (it looks soaking wet, so a controller trusting it would never water), a
shorted one reads near the ADC maximum (bone dry), a stuck one repeats the same count, a
noisy contact sends isolated spikes, a corroding or drying probe drifts slowly, and a
probe pushed into a hole with an air gap reads drier than the soil and follows it weakly.
Valve faults: stuck open (water flows whatever the command), stuck closed (the coil
clicks, no water flows), slow to confirm (the state arrives late).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

ADC_MAX = 4095
# Raw counts of the rail faults: inside the gateway's rail margin (60 counts) and the
# controller's plausibility limits (100 and 4000).
DISCONNECTED_MAX_RAW = 40
SHORTED_MIN_RAW = ADC_MAX - 20
# A spiky probe: this share of readings jumps by 300 to 800 counts (0.08 to 0.2 m3/m3).
SPIKE_PROBABILITY = 0.3
SPIKE_MIN_RAW, SPIKE_MAX_RAW = 300, 800
# Drift: the count creeps up (drier-looking) by this much a day, about 0.01 m3/m3 a day.
DRIFT_RAW_PER_DAY = 40.0
# Air gap: the probe sees this share of air (which reads drier than dry soil), so it
# reads dry and its response to the soil is scaled down by the same share.
AIR_GAP_SHARE = 0.4
AIR_ABOVE_DRY_RAW = 250
# A valve slow to confirm publishes its new state this long after it moved.
SLOW_CONFIRM_S = 90.0


class FaultKind(StrEnum):
    DISCONNECTED = "disconnected"
    SHORTED = "shorted"
    STUCK = "stuck"
    SPIKE = "spike"
    DRIFT = "drift"
    AIR_GAP = "air_gap"


class ValveFaultKind(StrEnum):
    STUCK_OPEN = "stuck_open"
    STUCK_CLOSED = "stuck_closed"
    SLOW_CONFIRM = "slow_confirm"


_KINDS: dict[str, FaultKind | ValveFaultKind] = {k.value: k for k in [*FaultKind, *ValveFaultKind]}


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault of one sensor or valve, starting ``after_s`` seconds after the farm starts."""

    device: str
    kind: FaultKind | ValveFaultKind
    after_s: float = 0.0


_ITEM = re.compile(
    r"^(?P<device>[A-Za-z0-9][A-Za-z0-9_-]{0,63})=(?P<kind>[a-z_]+)(@(?P<after>.+))?$"
)


def parse_faults(spec: str) -> list[FaultSpec]:
    """Parse ``s-z1-a=disconnected,s-z2-a=stuck@120`` (``@`` seconds after start; optional)."""
    faults: list[FaultSpec] = []
    seen: set[str] = set()
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"fault {item!r}: expected DEVICE=KIND[@SECONDS]")
        device, kind = match["device"], match["kind"]
        if kind not in _KINDS:
            known = ", ".join(_KINDS)
            raise ValueError(f"fault {item!r}: unknown kind {kind!r}; known: {known}")
        after = 0.0
        if match["after"] is not None:
            try:
                after = float(match["after"])
            except ValueError:
                raise ValueError(f"fault {item!r}: {match['after']!r} is not seconds") from None
            if not 0.0 <= after < float("inf"):
                raise ValueError(f"fault {item!r}: the delay must be 0 or more seconds")
        if device in seen:
            raise ValueError(f"fault {item!r}: {device} has a fault already")
        seen.add(device)
        faults.append(FaultSpec(device, _KINDS[kind], after))
    return faults


def check_devices(
    faults: Sequence[FaultSpec], sensors: Sequence[str], valves: Sequence[str] = ()
) -> None:
    """Every sensor fault names a sensor of the farm, every valve fault one of its valves."""
    for kinds, devices, what in (
        (FaultKind, sensors, "sensors"),
        (ValveFaultKind, valves, "valves"),
    ):
        named = {f.device for f in faults if isinstance(f.kind, kinds)}
        unknown = sorted(named - set(devices))
        if unknown:
            raise ValueError(
                f"faults name unknown {what} {', '.join(unknown)}; known: {', '.join(devices)}"
            )


class SensorFault:
    """One active fault: turns the raw count a healthy probe would send into the faulty one."""

    def __init__(self, kind: FaultKind) -> None:
        self.kind = kind
        self._stuck_raw: int | None = None

    def apply(
        self,
        raw: int,
        last_good_raw: int | None,
        rng: random.Random,
        *,
        elapsed_s: float = 0.0,
        raw_dry: int = 3300,
    ) -> int:
        """``elapsed_s`` since the fault began; ``raw_dry`` the probe's dry-soil count."""
        if self.kind is FaultKind.DRIFT:
            return min(ADC_MAX, round(raw + DRIFT_RAW_PER_DAY * elapsed_s / 86400))
        if self.kind is FaultKind.AIR_GAP:
            air = min(ADC_MAX, raw_dry + AIR_ABOVE_DRY_RAW)
            return round(raw + AIR_GAP_SHARE * (air - raw))
        if self.kind is FaultKind.DISCONNECTED:
            return rng.randint(0, DISCONNECTED_MAX_RAW)
        if self.kind is FaultKind.SHORTED:
            return rng.randint(SHORTED_MIN_RAW, ADC_MAX)
        if self.kind is FaultKind.STUCK:
            if self._stuck_raw is None:
                self._stuck_raw = last_good_raw if last_good_raw is not None else raw
            return self._stuck_raw
        if rng.random() < SPIKE_PROBABILITY:
            jump = rng.randint(SPIKE_MIN_RAW, SPIKE_MAX_RAW) * rng.choice((-1, 1))
            return max(0, min(ADC_MAX, raw + jump))
        return raw
