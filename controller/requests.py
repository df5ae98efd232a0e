"""People's requests (pure): water now, stop, pause, resume, water everything, rain report.

Each returns a Plan to merge into the next evaluation; the safety limits are applied
there (pump capacity, maximum run, daily limits, reachable valve), with reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from controller.model import Command, Decision, FarmFacts, Plan, Run, RunKind, RunStatus, ZoneFacts
from controller.rules import MAX_MANUAL_MINUTES, end_cycle, end_run, hhmm
from smartfarm.models import Action, ValveStatus

NewId = Callable[[], str]


def _zone_runs(runs: Mapping[str, Run], zone: str) -> list[Run]:
    return [r for r in runs.values() if r.zone == zone and r.status.active]


def _end_zone_runs(
    z: ZoneFacts,
    runs: Mapping[str, Run],
    farm: FarmFacts,
    plan: Plan,
    new_id: NewId,
    reason: str,
    by: str,
) -> None:
    """Cancel every active run of the zone and close its valve if it is open."""
    for run in _zone_runs(runs, z.config.id):
        if run.status is RunStatus.RUNNING and run.cycle_started_at is not None:
            run = end_cycle(run, z, farm.now, plan)
        plan.runs[run.id] = end_run(run, farm.now, RunStatus.CANCELLED, reason)
    if z.valve.status is ValveStatus.OPEN or any(
        r.status is RunStatus.OPENING for r in _zone_runs(runs, z.config.id)
    ):
        command_id = new_id()
        plan.commands.append(
            Command(z.config.valve, Action.CLOSE, command_id, reason, zone=z.config.id)
        )
        plan.decisions.append(
            Decision(z.config.id, Action.CLOSE, "manual_stop", reason, by=by, command_id=command_id)
        )
    else:
        plan.decisions.append(Decision(z.config.id, Action.HOLD, "manual_stop", reason, by=by))


def water_now(
    z: ZoneFacts,
    runs: Mapping[str, Run],
    farm: FarmFacts,
    new_id: NewId,
    minutes_asked: int,
    by: str,
    kind: RunKind = RunKind.MANUAL,
) -> Plan:
    plan = Plan()
    zone = z.config.id
    if not 1 <= minutes_asked <= MAX_MANUAL_MINUTES:
        plan.decisions.append(
            Decision(
                zone,
                Action.SKIP,
                "bad_minutes",
                f"water now for {minutes_asked} min asked by {by}: "
                f"allowed 1 to {MAX_MANUAL_MINUTES}",
                by=by,
            )
        )
        return plan
    granted = min(minutes_asked, z.config.max_run_minutes)
    note = (
        f" (asked {minutes_asked}; the most per run is {z.config.max_run_minutes})"
        if granted < minutes_asked
        else ""
    )
    for run in _zone_runs(runs, zone):
        replaced = run
        if run.status is RunStatus.RUNNING and run.cycle_started_at is not None:
            replaced = end_cycle(run, z, farm.now, plan)
        plan.runs[run.id] = end_run(
            replaced, farm.now, RunStatus.CANCELLED, f"replaced by water now asked by {by}"
        )
    run = Run(new_id(), zone, kind, by, farm.now, RunStatus.QUEUED, target_s=granted * 60)
    plan.runs[run.id] = run
    plan.decisions.append(
        Decision(
            zone,
            Action.HOLD,
            "manual_water",
            f"water now for {granted} min{note}, asked by {by}",
            by=by,
            run_id=run.id,
        )
    )
    return plan


def stop(
    z: ZoneFacts, runs: Mapping[str, Run], farm: FarmFacts, new_id: NewId, by: str, hold: timedelta
) -> Plan:
    plan = Plan()
    until = farm.now + hold
    _end_zone_runs(
        z,
        runs,
        farm,
        plan,
        new_id,
        f"stop pressed by {by}; automatic watering resumes at {hhmm(until, farm)}",
        by,
    )
    plan.holds[z.config.id] = until
    return plan


def pause(
    z: ZoneFacts, runs: Mapping[str, Run], farm: FarmFacts, new_id: NewId, by: str, until: datetime
) -> Plan:
    plan = Plan()
    if until <= farm.now:
        plan.decisions.append(
            Decision(
                z.config.id,
                Action.SKIP,
                "bad_pause",
                f"pause asked by {by} ends in the past",
                by=by,
            )
        )
        return plan
    _end_zone_runs(
        z,
        runs,
        farm,
        plan,
        new_id,
        f"paused by {by} until {until.astimezone(farm.info.tz):%Y-%m-%d %H:%M}",
        by,
    )
    plan.pauses[z.config.id] = until
    return plan


def resume(z: ZoneFacts, by: str) -> Plan:
    plan = Plan()
    plan.pauses[z.config.id] = None
    plan.holds[z.config.id] = None
    plan.decisions.append(
        Decision(z.config.id, Action.HOLD, "resumed", f"automatic watering resumed by {by}", by=by)
    )
    return plan


def water_everything(
    zones: Mapping[str, ZoneFacts],
    runs: Mapping[str, Run],
    farm: FarmFacts,
    new_id: NewId,
    minutes_each: int,
    by: str,
) -> Plan:
    """Every zone in turn, the same minutes each; the pump's capacity sets how many at once."""
    plan = Plan()
    for i, z in enumerate(zones.values()):
        if z.paused_until and z.paused_until > farm.now:
            plan.decisions.append(
                Decision(
                    z.config.id,
                    Action.SKIP,
                    "paused",
                    f"water everything asked by {by}, but this zone is paused until "
                    f"{hhmm(z.paused_until, farm)}",
                    by=by,
                )
            )
            continue
        # Created a microsecond apart so the queue keeps the farm's order of zones.
        later = replace(farm, now=farm.now + timedelta(microseconds=i))
        part = water_now(z, runs, later, new_id, minutes_each, by, RunKind.EVERYTHING)
        plan.runs.update(part.runs)
        plan.decisions.extend(part.decisions)
        plan.cycles.extend(part.cycles)
    return plan
