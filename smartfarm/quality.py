"""Quality flags of soil readings (pure): what a single reading shows, and what a series shows.

A capacitive probe that is disconnected reads near 0 (it looks saturated, so a controller
trusting it would never water); a shorted one reads near full scale (bone dry). A value
that jumps faster than soil can change is a spike; a value that does not move at all for
many readings is a stuck probe. The gateway stores the flag with each reading; the
controller waters on "good" readings only.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartfarm.calibration import SensorCalibration

GOOD = "good"
SPIKE = "spike"
STUCK = "stuck"
DISCONNECTED = "disconnected"
SHORTED = "shorted"
OUT_OF_RANGE = "out_of_range"
QUALITIES = (GOOD, SPIKE, STUCK, DISCONNECTED, SHORTED, OUT_OF_RANGE)

_US_PER_HOUR = 3_600_000_000


def reading_quality(raw: int | None, vwc: float, cal: SensorCalibration) -> str:
    """Faults one reading shows on its own; ``vwc`` is the calibrated value before clamping."""
    if raw is not None:
        if cal.near_zero(raw):
            return DISCONNECTED
        if cal.near_max(raw):
            return SHORTED
    if not cal.vwc_min <= vwc <= cal.vwc_max:
        return OUT_OF_RANGE
    return GOOD


@dataclass(frozen=True, slots=True)
class SeriesRules:
    """Thresholds of the series checks; the defaults sit well clear of probe noise (0.007)."""

    # A spike changes by at least this much (m3/m3) ...
    spike_delta: float = 0.08
    # ... at least this fast (m3/m3 per hour): a day's drying by 0.1 is not a spike.
    spike_rate_per_hour: float = 0.2
    # This many readings in a row at the new level make it the new normal (a real step:
    # heavy rain, a re-seated probe).
    spike_confirm: int = 3
    # Identical raw values (or vwc when a node sends no raw) this many times in a row.
    stuck_count: int = 10


@dataclass(slots=True)
class _Track:
    ts_us: int
    value: float  # raw when the node sends it, else vwc: what a stuck probe repeats
    baseline: float  # last accepted vwc
    flat: int = 1
    jumps: int = 0


class SeriesQuality:
    """Spike and stuck checks over each sensor's readings, in arrival order."""

    def __init__(self, rules: SeriesRules | None = None) -> None:
        self.rules = rules or SeriesRules()
        self._tracks: dict[str, _Track] = {}

    def judge(self, sensor: str, ts_us: int, raw: int | None, vwc: float, quality: str) -> str:
        """The reading's flag, given the flag it has on its own (``reading_quality``)."""
        if quality != GOOD:
            # A wiring fault says nothing about the soil: start the series afresh after it.
            self._tracks.pop(sensor, None)
            return quality
        value = float(raw) if raw is not None else vwc
        track = self._tracks.get(sensor)
        if track is None:
            self._tracks[sensor] = _Track(ts_us, value, vwc)
            return GOOD
        if ts_us <= track.ts_us:
            # A replay or a late reading: the series around it is already judged.
            return GOOD
        flat = track.flat + 1 if value == track.value else 1
        result = self._spike(track, ts_us, vwc)
        track.ts_us, track.value, track.flat = ts_us, value, flat
        if flat >= self.rules.stuck_count:
            return STUCK
        return result

    def _spike(self, track: _Track, ts_us: int, vwc: float) -> str:
        rules = self.rules
        change = abs(vwc - track.baseline)
        hours = (ts_us - track.ts_us) / _US_PER_HOUR
        if change < rules.spike_delta or change < rules.spike_rate_per_hour * hours:
            track.baseline, track.jumps = vwc, 0
            return GOOD
        track.jumps += 1
        if track.jumps >= rules.spike_confirm:
            track.baseline, track.jumps = vwc, 0
            return GOOD
        return SPIKE
