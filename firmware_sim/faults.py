"""Sensor faults on demand: what a broken capacitive probe sends, and the ``--faults`` spec.

Signatures, as real probes show them (DESIGN.md): a disconnected probe reads near 0 raw
(it looks soaking wet, so a controller trusting it would never water), a shorted one
reads near the ADC maximum (bone dry), a stuck one repeats the same count, and a noisy
contact sends isolated spikes.
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


class FaultKind(StrEnum):
    DISCONNECTED = "disconnected"
    SHORTED = "shorted"
    STUCK = "stuck"
    SPIKE = "spike"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault of one sensor, starting ``after_s`` seconds after the farm starts."""

    device: str
    kind: FaultKind
    after_s: float = 0.0


_ITEM = re.compile(
    r"^(?P<device>[A-Za-z0-9][A-Za-z0-9_-]{0,63})=(?P<kind>[a-z]+)(@(?P<after>.+))?$"
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
        if kind not in {k.value for k in FaultKind}:
            known = ", ".join(k.value for k in FaultKind)
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
        faults.append(FaultSpec(device, FaultKind(kind), after))
    return faults


def check_devices(faults: Sequence[FaultSpec], sensors: Sequence[str]) -> None:
    """Every fault names a sensor of the farm."""
    unknown = sorted({f.device for f in faults} - set(sensors))
    if unknown:
        raise ValueError(
            f"faults name unknown sensors {', '.join(unknown)}; known: {', '.join(sensors)}"
        )


class SensorFault:
    """One active fault: turns the raw count a healthy probe would send into the faulty one."""

    def __init__(self, kind: FaultKind) -> None:
        self.kind = kind
        self._stuck_raw: int | None = None

    def apply(self, raw: int, last_good_raw: int | None, rng: random.Random) -> int:
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
