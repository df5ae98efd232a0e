"""Per-zone rules of the decision core (pure): when a zone may start, and how a run goes on.

Every function returns its verdict with a stable code and a reason in plain words with
the numbers, so nothing is skipped silently.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from controller.model import (
    AlarmChange,
    Cycle,
    Decision,
    FarmFacts,
    Limits,
    Plan,
    Run,
    RunKind,
    RunStatus,
    ZoneFacts,
)
from smartfarm.agronomy import DRIP_WETTED_FRACTION
from smartfarm.models import Action, ValveStatus

MAX_MANUAL_MINUTES = 180


# A full run whose water should raise the soil by less than this (probe noise is about 0.7
# points) says nothing about leaks; otherwise a rise below ARRIVED_SHARE of it does.
MIN_TELLING_RISE = 0.015
ARRIVED_SHARE = 0.25
# Flow above this share of the zone's design flow through a closed valve: stuck open.
STUCK_OPEN_SHARE = 0.2
# A zone is topped up only in the last hour of a window (top_up_reason).
TOP_UP_LEAD = timedelta(hours=1)
# A zone that at its present rate of drying would reach its start threshold within this
# long starts now (nearing_start_reason). The start threshold is the FAO-56 MAD point,
# where Ks drops below 1; water asked for there arrives after the wait for the pump and
# the next readings, i.e. after stress began. Chosen with the season benchmark (docs/
# controller.md, "Starting before the threshold").
START_LEAD = timedelta(hours=1)


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def hhmm(ts: datetime, farm: FarmFacts) -> str:
    return ts.astimezone(farm.info.tz).strftime("%H:%M")


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def sensor_fault(z: ZoneFacts, farm: FarmFacts) -> bool:
    fault_s = farm.info.sensor_fault_minutes * 60
    return z.no_good_reading_s is not None and z.no_good_reading_s >= fault_s


def usable_moisture(z: ZoneFacts, limits: Limits) -> float | None:
    """The zone's moisture if it is fresh enough to act on."""
    if z.moisture is None or z.moisture_age_s is None or z.moisture_age_s > limits.stale_after_s:
        return None
    return z.moisture


def daily_left_s(z: ZoneFacts) -> float:
    """Seconds of water the zone may still get today (minutes and litres limits)."""
    left = z.config.max_daily_minutes * 60 - z.delivered_today_s
    if z.config.max_daily_litres is not None:
        left = min(
            left, (z.config.max_daily_litres - z.delivered_today_l) / z.config.flow_lph * 3600
        )
    return max(0.0, left)


def rain_factor(farm: FarmFacts) -> float:
    """1.0 with no rain, shrinking linearly to 0 at the skip amount."""
    rain = farm.info.rain
    if farm.rain_mm < rain.shorten_mm or rain.skip_mm <= rain.shorten_mm:
        return 1.0 if farm.rain_mm < rain.skip_mm else 0.0
    return max(0.0, 1.0 - (farm.rain_mm - rain.shorten_mm) / (rain.skip_mm - rain.shorten_mm))


def window_end(z: ZoneFacts, farm: FarmFacts) -> datetime | None:
    """End of the allowed window we are in; None if there are no windows (any time)."""
    if not z.config.windows:
        return None
    local = farm.local_now
    for w in z.config.windows:
        if w.contains(local.time().replace(tzinfo=None)):
            end = local.replace(hour=w.end.hour, minute=w.end.minute, second=0, microsecond=0)
            return end if end > local else end + timedelta(days=1)
    return farm.now  # outside every window: it ends now


def _decision(z: ZoneFacts, action: Action, code: str, reason: str, **kw: object) -> Decision:
    return Decision(z.config.id, action, code, reason, **kw)  # type: ignore[arg-type]


def may_start_auto(z: ZoneFacts, farm: FarmFacts, limits: Limits) -> Decision:
    """Whether a zone with no run should start one: OPEN (queue a run) or why not."""
    t = z.config.effective_thresholds
    if sensor_fault(z, farm):
        return _decision(z, Action.SKIP, "sensor_fault", _fault_words(z))
    moisture = usable_moisture(z, limits)
    if z.moisture is None:
        return _decision(z, Action.SKIP, "no_reading", "no good soil reading yet: not watering")
    if moisture is None:
        age = minutes(z.moisture_age_s or 0)
        return _decision(
            z,
            Action.SKIP,
            "sensor_stale",
            f"last good soil reading is {age} old: not watering on old data",
        )
    if moisture >= t.start:
        in_band = _decision(
            z, Action.HOLD, "in_band", f"moisture {pct(moisture)}, start threshold {pct(t.start)}"
        )
        early = _early_start(z, farm, moisture)
        if early is None or _start_blocker(z, farm) is not None:
            return in_band
        return _decision(z, Action.OPEN, *early)
    dry = f"moisture {pct(moisture)} below start threshold {pct(t.start)}"
    blocked = _start_blocker(z, farm)
    if blocked is not None:
        code, why = blocked
        return _decision(z, Action.SKIP, code, f"{dry}, but {why}")
    return _decision(z, Action.OPEN, "below_start", dry)


def _early_start(z: ZoneFacts, farm: FarmFacts, moisture: float) -> tuple[str, str] | None:
    """(code, reason) for watering a zone still above its start threshold; None to hold."""
    nearing = nearing_start_reason(z, moisture)
    if nearing is not None:
        return "nearing_start", nearing
    top_up = top_up_reason(z, farm, moisture)
    return ("top_up", top_up) if top_up is not None else None


def nearing_start_reason(z: ZoneFacts, moisture: float) -> str | None:
    """Why a zone just above its start threshold should be watered now; or None.

    At its present rate of drying it reaches the threshold within START_LEAD: by the time
    the pump is free and the water in, it would be below it, and the crop stressed.
    """
    t = z.config.effective_thresholds
    rate = z.drying_per_h
    if rate is None or rate <= 0 or not t.start <= moisture < t.stop:
        return None
    hours = (moisture - t.start) / rate
    if hours > START_LEAD.total_seconds() / 3600:
        return None
    return (
        f"moisture {pct(moisture)} is drying {pct(rate)} an hour: at start threshold "
        f"{pct(t.start)} in about {minutes(hours * 3600)}; starting before it is reached"
    )


def top_up_reason(z: ZoneFacts, farm: FarmFacts, moisture: float) -> str | None:
    """Why a zone in band should be watered now, before a long gap without a window; or None.

    Starts wait for the start threshold, so a zone just above it when the morning window
    closes can be far below it by the evening window. In a window's last hour, a zone that
    at its present rate of drying would cross the threshold before the next window opens
    is watered now.
    """
    t = z.config.effective_thresholds
    rate = z.drying_per_h
    if not z.config.top_up or rate is None or rate <= 0 or moisture >= t.stop:
        return None
    end = window_end(z, farm)
    if end is None or end <= farm.now or end - farm.now > TOP_UP_LEAD:
        return None
    reopen = next_window_start(z, farm, end)
    hours = (reopen - farm.now).total_seconds() / 3600
    expected = moisture - rate * hours
    if expected >= t.start:
        return None
    return (
        f"moisture {pct(moisture)} is drying {pct(rate)} an hour: about {pct(expected)} by the "
        f"next window at {hhmm(reopen, farm)}, below start threshold {pct(t.start)}; "
        "topping up before this window closes"
    )


def next_window_start(z: ZoneFacts, farm: FarmFacts, after: datetime) -> datetime:
    """When automatic watering may next start at or after ``after`` (a window's end)."""
    local = after.astimezone(farm.info.tz)
    if any(w.contains(local.time().replace(tzinfo=None)) for w in z.config.windows):
        return after  # another window follows straight on
    starts = [
        (local + timedelta(days=d)).replace(
            hour=w.start.hour, minute=w.start.minute, second=0, microsecond=0
        )
        for w in z.config.windows
        for d in (0, 1)
    ]
    return min(s for s in starts if s > local).astimezone(after.tzinfo)


def _start_blocker(z: ZoneFacts, farm: FarmFacts) -> tuple[str, str] | None:
    now = farm.now
    if z.paused_until and z.paused_until > now:
        return "paused", f"paused until {hhmm(z.paused_until, farm)}"
    if z.hold_until and z.hold_until > now:
        return (
            "manual_hold",
            f"stopped by hand; automatic watering resumes at {hhmm(z.hold_until, farm)}",
        )
    if rain_factor(farm) == 0.0:
        return (
            "rain",
            f"it rained {farm.rain_mm:.1f} mm in the last {farm.info.rain.window_hours:.0f} h",
        )
    end = window_end(z, farm)
    if end is not None and end <= now:
        windows = ", ".join(str(w) for w in z.config.windows)
        return "outside_window", f"outside the watering windows ({windows})"
    if z.last_run_ended_at is not None:
        off_until = z.last_run_ended_at + timedelta(minutes=z.config.min_off_minutes)
        if off_until > now:
            return "min_off", (
                f"last watering ended at {hhmm(z.last_run_ended_at, farm)}; "
                f"resting until {hhmm(off_until, farm)}"
            )
    if daily_left_s(z) < 60:
        return (
            "daily_limit",
            f"already watered {minutes(z.delivered_today_s)} today, the daily limit",
        )
    if z.valve.faulty or z.valve.status in (ValveStatus.OFFLINE, ValveStatus.UNKNOWN):
        state = "not answering" if z.valve.faulty else z.valve.status.value
        return "valve_unreachable", f"the valve is {state}"
    return None


def _fault_words(z: ZoneFacts) -> str:
    return f"no good soil reading for {minutes(z.no_good_reading_s or 0)}: sensor fault; " + (
        "following the fallback schedule"
        if z.config.fallback_schedule
        else "no fallback schedule set, so not watering"
    )


def due_schedule(z: ZoneFacts, farm: FarmFacts, limits: Limits) -> tuple[str, int] | None:
    """The fallback-schedule entry due now (key, seconds), if the zone is in sensor fault."""
    if not sensor_fault(z, farm):
        return None
    local = farm.local_now
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    for entry in z.config.fallback_schedule:
        at = local.replace(hour=entry.at.hour, minute=entry.at.minute, second=0, microsecond=0)
        key = f"{at:%Y-%m-%dT%H:%M}"
        late = (local - at).total_seconds()
        if (
            day in entry.days
            and 0 <= late < limits.schedule_grace_s
            and key not in z.schedule_fired
        ):
            return key, entry.minutes * 60
    return None


def sensor_alarm(z: ZoneFacts, farm: FarmFacts) -> AlarmChange:
    if sensor_fault(z, farm):
        return AlarmChange("sensor_fault", z.config.id, _fault_words(z), raised=True)
    return AlarmChange("sensor_fault", z.config.id, "good readings again", raised=False)


def expected_rise(z: ZoneFacts, seconds: float) -> float:
    """The rise in root-zone moisture (m3/m3) that ``seconds`` of the zone's flow should give.

    Drip wets a fraction of the soil (DRIP_WETTED_FRACTION) down to the crop's root depth;
    the probe sits in that wetted bulb.
    """
    cfg = z.config
    litres = cfg.flow_lph * seconds / 3600
    wetted_m3 = cfg.area_m2 * DRIP_WETTED_FRACTION * cfg.crop_preset.root_depth_m
    return litres / 1000 / wetted_m3


def leak_or_clog(run: Run, z: ZoneFacts, moisture: float) -> str | None:
    """Words for the alarm if a full run's water did not reach the probe; None if it did.

    A deep root zone far below its start threshold may rightly stay below it after one
    run; only a rise well short of what the water should give points at the pipes. When
    a run can raise the soil by less than the probe can tell, nothing is concluded.
    """
    expected = expected_rise(z, run.delivered_s)
    if run.start_moisture is None or expected < MIN_TELLING_RISE:
        return None
    rose = moisture - run.start_moisture
    if rose >= ARRIVED_SHARE * expected:
        return None
    return (
        f"still dry ({pct(moisture)}) after {minutes(run.delivered_s)} of water: the soil rose "
        f"{rose * 100:.1f} points where about {expected * 100:.1f} were expected; "
        "possible leak or clogged emitters"
    )


def stuck_open_alarm(z: ZoneFacts, farm: FarmFacts, limits: Limits) -> AlarmChange:
    """With a flow meter: water flowing through a valve that reports closed.

    A valve whose seat is broken or jammed reports the state it was told while water runs
    on; only the meter tells, and only if it is looked at outside our own runs.
    """
    v = z.valve
    flowing = (
        v.status is ValveStatus.CLOSED
        and v.flow_lph is not None
        and v.flow_lph > STUCK_OPEN_SHARE * z.config.flow_lph
        and (v.since or v.ts or farm.now) <= farm.now - timedelta(seconds=limits.flow_settle_s)
    )
    if flowing:
        message = (
            f"water flows ({v.flow_lph:.0f} L/h) while the valve reports closed: "
            "possible valve stuck open; close the zone's hand valve"
        )
        return AlarmChange("stuck_open", z.config.id, message, raised=True)
    return AlarmChange("stuck_open", z.config.id, "no flow while closed", raised=False)


def end_cycle(run: Run, z: ZoneFacts, ended_at: datetime, plan: Plan) -> Run:
    """Record the water of the current cycle and return the run with it counted."""
    assert run.cycle_started_at is not None
    seconds = max(
        0.0, min(float(run.cycle_s or 0), (ended_at - run.cycle_started_at).total_seconds())
    )
    plan.cycles.append(
        Cycle(run.zone, run.id, run.cycle_started_at, seconds, seconds * z.config.flow_lph / 3600)
    )
    return replace(
        run,
        delivered_s=run.delivered_s + seconds,
        cycle_started_at=None,
        command_id=None,
        cycle_s=None,
    )


def after_cycle(run: Run, z: ZoneFacts, farm: FarmFacts, limits: Limits, plan: Plan) -> Run:
    """What follows a finished cycle: done, soak, or queue for the next one."""
    now = farm.now
    delivered_today = z.delivered_today_s + sum(
        c.seconds for c in plan.cycles if c.zone == run.zone
    )
    t = z.config.effective_thresholds
    moisture = usable_moisture(z, limits)
    if run.target_s is not None and run.delivered_s >= run.target_s - 1:
        return _end(run, now, RunStatus.DONE, f"gave {minutes(run.delivered_s)} of water as asked")
    if delivered_today >= z.config.max_daily_minutes * 60 - 1:
        return _end(
            run, now, RunStatus.DONE, f"daily limit of {z.config.max_daily_minutes} min reached"
        )
    if run.kind is RunKind.AUTO:
        if moisture is not None and moisture >= t.stop:
            return _end(
                run,
                now,
                RunStatus.DONE,
                f"moisture {pct(moisture)} reached stop threshold {pct(t.stop)}",
            )
        full_run = run.delivered_s >= z.config.max_run_minutes * 60 - 1
        if full_run and moisture is not None and moisture < t.start:
            # Only a full longest run that left the soil dry can say something is wrong; a
            # cycle cut short by a window's end or the rain says nothing about the pipes.
            leak = leak_or_clog(run, z, moisture)
            if leak is not None:
                plan.alarms.append(AlarmChange("leak_or_clog", z.config.id, leak, raised=True))
        if z.config.cycle_soak is None:
            why = (
                f"ran {minutes(run.delivered_s)}, the most allowed per run"
                if full_run
                else f"ran {minutes(run.delivered_s)}, as long as the window, rain or "
                "daily limit allowed"
            )
            return _end(run, now, RunStatus.DONE, why)
    if z.config.cycle_soak is not None:
        until = now + timedelta(minutes=z.config.cycle_soak.soak_minutes)
        plan.decisions.append(
            Decision(
                run.zone,
                Action.HOLD,
                "soak",
                f"letting the water soak in until {hhmm(until, farm)}",
                run_id=run.id,
            )
        )
        return replace(run, status=RunStatus.SOAKING, soak_until=until)
    return replace(run, status=RunStatus.QUEUED)


def _end(run: Run, now: datetime, status: RunStatus, reason: str) -> Run:
    return replace(run, status=status, ended_at=now, end_reason=reason, soak_until=None)


def end_run(run: Run, now: datetime, status: RunStatus, reason: str) -> Run:
    return _end(run, now, status, reason)
