"""The decision core (pure): facts and runs in, a plan of commands, decisions and alarms out.

No I/O and no clock of its own: ``farm.now`` is the time, ``new_id`` makes command ids.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import timedelta

from controller.model import (
    AlarmChange,
    Command,
    Decision,
    FarmFacts,
    Limits,
    Plan,
    Run,
    RunKind,
    RunStatus,
    ZoneFacts,
)
from controller.rules import (
    after_cycle,
    daily_left_s,
    due_schedule,
    end_cycle,
    end_run,
    may_start_auto,
    minutes,
    pct,
    rain_factor,
    sensor_alarm,
    stuck_open_alarm,
    usable_moisture,
    window_end,
)
from smartfarm.models import Action, ValveStatus

NewId = Callable[[], str]
KIND_RANK = {RunKind.MANUAL: 0, RunKind.EVERYTHING: 1, RunKind.SCHEDULE: 2, RunKind.AUTO: 3}


def evaluate(
    zones: Mapping[str, ZoneFacts],
    runs: Mapping[str, Run],
    farm: FarmFacts,
    limits: Limits,
    new_id: NewId,
    consider: Collection[str] | None = None,
    plan: Plan | None = None,
) -> Plan:
    """One evaluation: progress the runs of the considered zones, start runs, admit the queue.

    ``zones`` must hold every considered zone and every zone with an active run.
    """
    plan = plan or Plan()
    active: dict[str, list[Run]] = {}
    for run in runs.values():
        if run.status.active:
            active.setdefault(run.zone, []).append(run)
    for zone_id in consider if consider is not None else zones:
        z = zones[zone_id]
        progressed = [_progress(r, z, farm, limits, plan, new_id) for r in active.get(zone_id, [])]
        # A run that just ended (its valve failed, its target was met) is not followed by a
        # new one in the same instant: the next evaluation sees the zone as it now is.
        if not progressed:
            _maybe_start(z, farm, limits, plan, new_id)
        plan.alarms.append(sensor_alarm(z, farm))
        if z.valve.flow_lph is not None:
            plan.alarms.append(stuck_open_alarm(z, farm, limits))
    admit(zones, {**runs, **plan.runs}, farm, limits, plan, new_id)
    return plan


def reconcile(zones: Mapping[str, ZoneFacts], runs: Mapping[str, Run], farm: FarmFacts) -> Plan:
    """After a restart: match each run that had a valve open with the valve's retained state.

    A run whose valve still runs its command resumes; one whose valve shows anything else
    has ended while we were away and is counted as given. Nothing is opened again here, so
    a restart never waters twice.
    """
    plan = Plan()
    for run in runs.values():
        if run.status not in (RunStatus.OPENING, RunStatus.RUNNING) or run.zone not in zones:
            continue
        z = zones[run.zone]
        if z.valve.command_id == run.command_id and z.valve.status is not ValveStatus.UNKNOWN:
            continue  # the evaluation resumes it or ends its cycle at the valve's own time
        started = run.cycle_started_at or run.commanded_at or farm.now
        ended_at = min(farm.now, started + timedelta(seconds=run.cycle_s or 0))
        ended = end_cycle(replace(run, cycle_started_at=started), z, ended_at, plan)
        reason = "ended while the controller was away; counted as given"
        plan.decisions.append(Decision(run.zone, Action.HOLD, "reconciled", reason, run_id=run.id))
        _put(plan, end_run(ended, farm.now, RunStatus.DONE, reason))
    return plan


def _put(plan: Plan, run: Run) -> Run:
    plan.runs[run.id] = run
    return run


def _progress(
    run: Run, z: ZoneFacts, farm: FarmFacts, limits: Limits, plan: Plan, new_id: NewId
) -> Run:
    valve = z.valve
    mine = valve.command_id is not None and valve.command_id == run.command_id
    if run.status is RunStatus.QUEUED:
        return _check_queued(run, z, farm, limits, plan)
    if run.status is RunStatus.OPENING:
        if mine and valve.status is ValveStatus.OPEN:
            started = valve.since or farm.now
            return _put(plan, replace(run, status=RunStatus.RUNNING, cycle_started_at=started))
        if mine and valve.status is ValveStatus.CLOSED:
            # Opened and already closed again before we saw it open (short cycle, restart).
            opened = replace(run, status=RunStatus.RUNNING, cycle_started_at=run.commanded_at)
            return _running(opened, z, farm, limits, plan, new_id, mine)
        if farm.now - (run.commanded_at or farm.now) > timedelta(seconds=limits.confirm_timeout_s):
            return _retry_or_fail(run, z, farm, limits, plan)
        return run
    if run.status is RunStatus.RUNNING:
        return _running(run, z, farm, limits, plan, new_id, mine)
    if run.status is RunStatus.SOAKING and run.soak_until and farm.now >= run.soak_until:
        moisture = usable_moisture(z, limits)
        stop = z.config.effective_thresholds.stop
        if run.kind is RunKind.AUTO and moisture is not None and moisture >= stop:
            return _put(
                plan,
                end_run(
                    run,
                    farm.now,
                    RunStatus.DONE,
                    f"moisture {pct(moisture)} reached {pct(stop)} while soaking",
                ),
            )
        return _put(plan, replace(run, status=RunStatus.QUEUED, soak_until=None))
    return run


def _check_queued(run: Run, z: ZoneFacts, farm: FarmFacts, limits: Limits, plan: Plan) -> Run:
    if run.kind is not RunKind.AUTO:
        return run
    verdict = may_start_auto(z, farm, limits)
    if verdict.action is Action.OPEN:
        return run
    plan.decisions.append(replace(verdict, run_id=run.id))
    return _put(plan, end_run(run, farm.now, RunStatus.CANCELLED, verdict.reason))


def _retry_or_fail(run: Run, z: ZoneFacts, farm: FarmFacts, limits: Limits, plan: Plan) -> Run:
    zone = z.config.id
    if run.attempts < limits.max_attempts and run.command_id and run.cycle_s:
        reason = (
            f"valve did not confirm; trying again ({run.attempts + 1} of {limits.max_attempts})"
        )
        plan.commands.append(
            Command(z.config.valve, Action.OPEN, run.command_id, reason, run.cycle_s, zone)
        )
        plan.decisions.append(
            Decision(
                zone,
                Action.OPEN,
                "retry",
                reason,
                run_id=run.id,
                command_id=run.command_id,
                duration_s=run.cycle_s,
            )
        )
        return _put(plan, replace(run, attempts=run.attempts + 1, commanded_at=farm.now))
    reason = f"valve {z.config.valve} did not confirm after {run.attempts} tries: marked faulty"
    plan.alarms.append(AlarmChange("valve_fault", zone, reason, raised=True))
    plan.decisions.append(Decision(zone, Action.SKIP, "valve_fault", reason, run_id=run.id))
    return _put(plan, end_run(run, farm.now, RunStatus.CANCELLED, reason))


def _running(
    run: Run, z: ZoneFacts, farm: FarmFacts, limits: Limits, plan: Plan, new_id: NewId, mine: bool
) -> Run:
    valve = z.valve
    if valve.status is ValveStatus.OPEN and mine:
        _check_flow(run, z, farm, limits, plan)
        close_why = _close_reason(run, z, limits)
        if close_why is None:
            return run
        code, reason = close_why
        command_id = new_id()
        plan.commands.append(
            Command(z.config.valve, Action.CLOSE, command_id, reason, zone=run.zone)
        )
        plan.decisions.append(
            Decision(run.zone, Action.CLOSE, code, reason, run_id=run.id, command_id=command_id)
        )
        ended = end_cycle(run, z, farm.now, plan)
        return _put(plan, end_run(ended, farm.now, RunStatus.DONE, reason))
    if valve.status is ValveStatus.OFFLINE and run.cycle_started_at and run.cycle_s:
        # The valve closes itself at its duration; until we hear from it, assume it did.
        if farm.now < run.cycle_started_at + timedelta(seconds=run.cycle_s + 60):
            return run
        ended_at = run.cycle_started_at + timedelta(seconds=run.cycle_s)
    else:
        ended_at = valve.ts if valve.ts and valve.status is ValveStatus.CLOSED else farm.now
    ended = end_cycle(run, z, ended_at, plan)
    return _put(plan, after_cycle(ended, z, farm, limits, plan))


def _check_flow(run: Run, z: ZoneFacts, farm: FarmFacts, limits: Limits, plan: Plan) -> None:
    """With a flow meter: a flow far from the design flow means a burst pipe or a clog."""
    measured = z.valve.flow_lph
    if measured is None or run.cycle_started_at is None:
        return
    if (farm.now - run.cycle_started_at).total_seconds() < limits.flow_settle_s:
        return  # pipes still filling
    expected = z.config.flow_lph
    off = abs(measured - expected) / expected
    words = f"flow {measured:.0f} L/h, expected about {expected:.0f} L/h"
    if off > limits.flow_tolerance:
        cause = "possible leak or burst pipe" if measured > expected else "possible clog"
        plan.alarms.append(AlarmChange("flow_mismatch", z.config.id, f"{words}: {cause}", True))
    else:
        plan.alarms.append(AlarmChange("flow_mismatch", z.config.id, words, raised=False))


def _close_reason(run: Run, z: ZoneFacts, limits: Limits) -> tuple[str, str] | None:
    if run.kind is not RunKind.AUTO:
        return None  # a timed run ends at its duration; the valve closes itself
    moisture = usable_moisture(z, limits)
    stop = z.config.effective_thresholds.stop
    if moisture is None:
        return "sensor_stale", "no fresh good soil reading: stopping to be safe"
    if moisture >= stop:
        return "reached_stop", f"moisture {pct(moisture)} reached stop threshold {pct(stop)}"
    return None


def _maybe_start(z: ZoneFacts, farm: FarmFacts, limits: Limits, plan: Plan, new_id: NewId) -> None:
    zone = z.config.id
    due = due_schedule(z, farm, limits)
    if due is not None:
        key, seconds = due
        run = Run(
            new_id(),
            zone,
            RunKind.SCHEDULE,
            "fallback schedule",
            farm.now,
            RunStatus.QUEUED,
            target_s=seconds,
            schedule_key=key,
        )
        plan.decisions.append(
            Decision(
                zone,
                Action.OPEN,
                "fallback_schedule",
                f"sensor fault: fallback schedule says {minutes(seconds)} at {key[-5:]}",
                run_id=run.id,
            )
        )
        _put(plan, run)
        return
    verdict = may_start_auto(z, farm, limits)
    if verdict.action is not Action.OPEN:
        plan.decisions.append(verdict)
        return
    run = Run(new_id(), zone, RunKind.AUTO, "controller", farm.now, RunStatus.QUEUED)
    plan.decisions.append(
        replace(
            verdict,
            action=Action.HOLD,
            code="queued",
            reason=f"{verdict.reason}: queued to water",
            run_id=run.id,
        )
    )
    _put(plan, run)


def cycle_seconds(run: Run, z: ZoneFacts, farm: FarmFacts, plan: Plan) -> int:
    """How long the next open may last: the smallest of every limit that applies."""
    cfg = z.config
    planned_today = sum(c.seconds for c in plan.cycles if c.zone == run.zone)
    bounds = [cfg.max_run_minutes * 60.0, daily_left_s(z) - planned_today]
    if run.target_s is not None:
        bounds.append(run.target_s - run.delivered_s)
    if cfg.cycle_soak is not None:
        bounds.append(cfg.cycle_soak.run_minutes * 60.0)
    if run.kind is RunKind.AUTO:
        bounds.append(cfg.max_run_minutes * 60.0 * rain_factor(farm))
        end = window_end(z, farm)
        if end is not None:
            bounds.append((end - farm.now).total_seconds())
    return int(max(0.0, min(bounds)))


def _priority(run: Run, zones: Mapping[str, ZoneFacts], limits: Limits) -> tuple[float, ...]:
    z = zones[run.zone]
    t = z.config.effective_thresholds
    moisture = usable_moisture(z, limits)
    dryness = (t.start - moisture) / (t.stop - t.start) if moisture is not None else 0.0
    return (KIND_RANK[run.kind], -dryness, z.delivered_today_s, run.created_at.timestamp())


def admit(
    zones: Mapping[str, ZoneFacts],
    runs: Mapping[str, Run],
    farm: FarmFacts,
    limits: Limits,
    plan: Plan,
    new_id: NewId,
) -> None:
    """Open queued runs in priority order while the pump has capacity; drive the master valve."""
    capacity = farm.info.pump.capacity_lph
    in_use = farm.flow_in_use_lph + _flow_change(plan, zones)
    queued = sorted(
        (r for r in runs.values() if r.status is RunStatus.QUEUED),
        key=lambda r: _priority(r, zones, limits),
    )
    master_ready = _master_ready(queued, farm, plan, new_id, zones)
    for run in queued:
        z = zones[run.zone]
        seconds = cycle_seconds(run, z, farm, plan)
        if seconds < limits.min_cycle_s:
            reason = "no water left to give within today's limits and windows"
            plan.decisions.append(
                Decision(run.zone, Action.SKIP, "nothing_left", reason, run_id=run.id)
            )
            _put(plan, end_run(run, farm.now, RunStatus.DONE, reason))
            continue
        if z.valve.faulty or z.valve.status in (ValveStatus.OFFLINE, ValveStatus.UNKNOWN):
            reason = f"the valve is {'not answering' if z.valve.faulty else z.valve.status.value}"
            plan.decisions.append(
                Decision(run.zone, Action.SKIP, "valve_unreachable", reason, run_id=run.id)
            )
            _put(plan, end_run(run, farm.now, RunStatus.CANCELLED, reason))
            continue
        # A zone whose valve is already open (a manual run replacing an automatic one) is
        # already counted in the flow in use.
        closing = {c.zone for c in plan.commands if c.action is Action.CLOSE}
        counted = z.valve.status is ValveStatus.OPEN and run.zone not in closing
        needed = 0.0 if counted else z.config.flow_lph
        if in_use + needed > capacity:
            plan.decisions.append(
                Decision(
                    run.zone,
                    Action.HOLD,
                    "pump_busy",
                    f"waiting for the pump: {in_use:.0f} of {capacity:.0f} L/h in use, "
                    f"this zone needs {z.config.flow_lph:.0f}",
                    run_id=run.id,
                )
            )
            continue
        if not master_ready:
            plan.decisions.append(
                Decision(
                    run.zone,
                    Action.HOLD,
                    "pump_starting",
                    "waiting for the pump to start",
                    run_id=run.id,
                )
            )
            continue
        _extend_master(farm, plan, new_id, seconds)
        in_use += needed
        _open(run, z, farm, plan, new_id, seconds)
    _maybe_stop_master(runs, farm, plan, new_id, in_use)


def _open(run: Run, z: ZoneFacts, farm: FarmFacts, plan: Plan, new_id: NewId, seconds: int) -> None:
    command_id = new_id()
    t = z.config.effective_thresholds
    dry = ""
    if z.moisture is not None:
        below = z.moisture < t.start
        # A zone nearing its threshold or topped up before a long gap (rules._early_start)
        # opens while still above it.
        dry = f"moisture {pct(z.moisture)} {'below' if below else 'above'} start threshold "
        dry += f"{pct(t.start)}{'' if below else ', watering before it is reached'}, "
    why = {
        RunKind.AUTO: f"{dry}water up to {pct(t.stop)}",
        RunKind.MANUAL: f"asked by {run.by}",
        RunKind.EVERYTHING: f"watering everything, asked by {run.by}",
        RunKind.SCHEDULE: "fallback schedule",
    }[run.kind]
    reason = f"open for {minutes(seconds)} ({why})"
    plan.commands.append(
        Command(z.config.valve, Action.OPEN, command_id, reason, seconds, run.zone)
    )
    plan.decisions.append(
        Decision(
            run.zone,
            Action.OPEN,
            f"open_{run.kind.value}",
            reason,
            by=run.by,
            run_id=run.id,
            command_id=command_id,
            duration_s=seconds,
        )
    )
    _put(
        plan,
        replace(
            run,
            status=RunStatus.OPENING,
            command_id=command_id,
            commanded_at=farm.now,
            cycle_s=seconds,
            attempts=1,
            start_moisture=z.moisture if run.start_moisture is None else run.start_moisture,
        ),
    )


def _flow_change(plan: Plan, zones: Mapping[str, ZoneFacts]) -> float:
    """Flow freed by the closes already in this plan."""
    return -sum(
        zones[c.zone].config.flow_lph
        for c in plan.commands
        if c.zone and c.action is Action.CLOSE and c.zone in zones
    )


def _master_ready(
    queued: list[Run], farm: FarmFacts, plan: Plan, new_id: NewId, zones: Mapping[str, ZoneFacts]
) -> bool:
    master = farm.master
    if master is None or master.status is ValveStatus.OPEN:
        return True
    if not queued:
        return False
    pending = master.pending_since and farm.now - master.pending_since < timedelta(seconds=30)
    if not pending:
        longest = max(cycle_seconds(r, zones[r.zone], farm, plan) for r in queued)
        _command_master(farm, plan, new_id, max(60, longest), "starting the pump before its zones")
    return False


def _extend_master(farm: FarmFacts, plan: Plan, new_id: NewId, seconds: int) -> None:
    master = farm.master
    lead = farm.info.pump.lead_seconds
    if master is None or master.until is None:
        return
    if master.until < farm.now + timedelta(seconds=seconds + lead):
        _command_master(farm, plan, new_id, seconds + 2 * lead, "keeping the pump on for its zones")


def _command_master(farm: FarmFacts, plan: Plan, new_id: NewId, seconds: int, reason: str) -> None:
    valve = farm.info.pump.master_valve
    assert valve is not None
    plan.commands.append(Command(valve, Action.OPEN, new_id(), reason, seconds))


def _maybe_stop_master(
    runs: Mapping[str, Run], farm: FarmFacts, plan: Plan, new_id: NewId, in_use: float
) -> None:
    master = farm.master
    if master is None or master.status is not ValveStatus.OPEN:
        return
    watering = any(
        r.status in (RunStatus.OPENING, RunStatus.RUNNING, RunStatus.QUEUED)
        for r in {**runs, **plan.runs}.values()
    )
    # Only once every zone valve has confirmed closed: the pump stops after its zones.
    if watering or in_use > 0 or farm.flow_in_use_lph > 0:
        return
    valve = farm.info.pump.master_valve
    assert valve is not None
    plan.commands.append(Command(valve, Action.CLOSE, new_id(), "no zone is watering: pump off"))
