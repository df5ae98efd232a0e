"""Dry run (shadow mode): replay a zone's recorded readings through changed thresholds.

The real decision core runs on the recorded readings with a shadow valve that obeys at
once, so the answer is what the controller would have decided, with its limits and
reasons, and how much water it would have given. It actuates nothing. The soil in the
recording did not feel these shadow waterings, so read it as "when it would have started
and stopped given the soil as it was", a guide for tuning rather than a prediction.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from controller.core import evaluate
from controller.model import Cycle, FarmFacts, Limits, Plan, Run, ValveFacts, ZoneFacts
from controller.readings import ReadingBook
from smartfarm.agronomy import Thresholds
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.models import Action, Reading, ValveStatus


@dataclass(frozen=True, slots=True)
class ShadowRun:
    started_at: datetime
    minutes: float
    litres: float


@dataclass(slots=True)
class DryRunResult:
    zone: str
    start: float
    stop: float
    since: datetime
    until: datetime
    readings: int
    runs: list[ShadowRun] = field(default_factory=list)
    decisions: list[tuple[datetime, str, str]] = field(default_factory=list)  # ts, code, reason

    @property
    def minutes(self) -> float:
        return sum(r.minutes for r in self.runs)

    @property
    def litres(self) -> float:
        return sum(r.litres for r in self.runs)


def with_thresholds(zone: ZoneConfig, thresholds: Thresholds) -> ZoneConfig:
    data = zone.model_dump()
    data["thresholds"] = {"start": thresholds.start, "stop": thresholds.stop}
    return ZoneConfig.model_validate(data)


class _ShadowZone:
    """The zone's valve and bookkeeping, obeying the core's commands instantly."""

    def __init__(self, zone: ZoneConfig, since: datetime) -> None:
        self.zone = zone
        self.valve = ValveFacts(ValveStatus.CLOSED, ts=since)
        self.runs: dict[str, Run] = {}
        self.cycles: list[Cycle] = []
        self.last_end: datetime | None = None

    def settle(self, now: datetime) -> None:
        """The valve closes itself when its time is up."""
        if self.valve.status is ValveStatus.OPEN and self.valve.until and self.valve.until <= now:
            self.valve = ValveFacts(ValveStatus.CLOSED, self.valve.command_id, ts=self.valve.until)

    def apply(self, plan: Plan, now: datetime) -> None:
        for run in plan.runs.values():
            if run.status.active:
                self.runs[run.id] = run
            else:
                self.runs.pop(run.id, None)
                if run.delivered_s > 0:
                    self.last_end = run.ended_at
        self.cycles.extend(plan.cycles)
        for c in plan.commands:
            if c.zone != self.zone.id:
                continue
            if c.action is Action.OPEN and c.duration_s:
                self.valve = ValveFacts(
                    ValveStatus.OPEN, c.command_id, now, now + timedelta(seconds=c.duration_s), now
                )
            elif c.action is Action.CLOSE:
                self.valve = ValveFacts(ValveStatus.CLOSED, c.command_id, ts=now)

    def delivered_on(self, day_start: datetime) -> tuple[float, float]:
        today = [c for c in self.cycles if c.started_at >= day_start]
        return sum(c.seconds for c in today), sum(c.litres for c in today)


def dry_run(
    farm: FarmConfig,
    zone_id: str,
    thresholds: Thresholds,
    readings: list[Reading],
    since: datetime,
    until: datetime,
    limits: Limits | None = None,
) -> DryRunResult:
    """Replay ``readings`` (oldest first) of one zone through ``thresholds``."""
    limits = limits or Limits()
    zone = with_thresholds(farm.zone(zone_id), thresholds)
    shadow = _ShadowZone(zone, since)
    book = ReadingBook(farm, since)
    counter = itertools.count(1)
    result = DryRunResult(zone_id, thresholds.start, thresholds.stop, since, until, len(readings))
    # Evaluate at every reading and whenever the shadow valve's time is up.
    for reading in readings:
        for now in (t for t in (shadow.valve.until,) if t and t <= reading.ts):
            _step(shadow, book, farm, zone, now, limits, counter, result)
        book.add(reading)
        _step(shadow, book, farm, zone, reading.ts, limits, counter, result)
    if shadow.valve.until and shadow.valve.until <= until:
        _step(shadow, book, farm, zone, shadow.valve.until, limits, counter, result)
    _step(shadow, book, farm, zone, until, limits, counter, result)
    for run in shadow.runs.values():  # still watering at the end: count it up to the end
        if run.cycle_started_at is not None:
            seconds = (until - run.cycle_started_at).total_seconds()
            shadow.cycles.append(
                Cycle(
                    zone.id, run.id, run.cycle_started_at, seconds, seconds * zone.flow_lph / 3600
                )
            )
    by_run: dict[str, list[Cycle]] = {}
    for c in shadow.cycles:
        by_run.setdefault(c.run_id, []).append(c)
    result.runs = [
        ShadowRun(cs[0].started_at, sum(c.seconds for c in cs) / 60, sum(c.litres for c in cs))
        for cs in by_run.values()
    ]
    return result


def _step(
    shadow: _ShadowZone,
    book: ReadingBook,
    farm: FarmConfig,
    zone: ZoneConfig,
    now: datetime,
    limits: Limits,
    counter: itertools.count[int],
    result: DryRunResult,
) -> None:
    shadow.settle(now)
    local = now.astimezone(farm.farm.tz)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    seconds, litres = shadow.delivered_on(day_start)
    m = book.zone(zone, now, limits.stale_after_s)
    facts = ZoneFacts(
        zone,
        m.moisture,
        m.age_s,
        m.no_good_s,
        shadow.valve,
        seconds,
        litres,
        shadow.last_end,
        # The drying trend, so that early starts (nearing_start, top_up) replay as live.
        drying_per_h=m.drying_per_h,
    )
    in_use = zone.flow_lph if shadow.valve.status is ValveStatus.OPEN else 0.0
    # Other zones' water is not in the recording: the pump is all this zone's.
    farm_facts = FarmFacts(now=now, info=farm.farm, flow_in_use_lph=in_use)
    plan = evaluate(
        {zone.id: facts}, shadow.runs, farm_facts, limits, lambda: f"dry{next(counter)}", [zone.id]
    )
    shadow.apply(plan, now)
    for d in plan.decisions:
        if d.action in (Action.OPEN, Action.CLOSE):
            result.decisions.append((now, d.code, d.reason))
