"""The pure decision core: zone views in, decisions with plain-word reasons out. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from smartfarm.agronomy import Thresholds
from smartfarm.models import Action, ValveStatus

MAX_MANUAL_MINUTES = 180


@dataclass(frozen=True, slots=True)
class ZoneView:
    """What the controller knows of one zone at one instant."""

    zone: str
    thresholds: Thresholds
    flow_lph: float
    max_run_minutes: int
    moisture: float | None
    moisture_age_s: float | None
    valve: ValveStatus
    open_since: datetime | None = None
    manual_run: bool = False
    awaiting_confirmation: bool = False
    hold_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    zone: str
    action: Action
    code: str  # stable short code: dedupes the log and names the rule that fired
    reason: str
    duration_s: int | None = None


def pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def hhmm(ts: datetime) -> str:
    return ts.strftime("%H:%M")


def decide(
    views: Sequence[ZoneView], pump_capacity_lph: float, now: datetime, stale_after_s: float
) -> list[Decision]:
    """One evaluation of every zone; openings are limited by the pump, driest first."""
    decisions: dict[str, Decision] = {}
    candidates: list[tuple[float, ZoneView, Decision]] = []
    in_use = 0.0
    for view in views:
        decision = _decide_zone(view, now, stale_after_s)
        if decision.action is Action.OPEN:
            assert view.moisture is not None
            t = view.thresholds
            dryness = (t.start - view.moisture) / (t.stop - t.start)
            candidates.append((dryness, view, decision))
            continue
        decisions[view.zone] = decision
        if _keeps_flowing(view, decision):
            in_use += view.flow_lph
    for _dryness, view, decision in sorted(candidates, key=lambda c: -c[0]):
        if in_use + view.flow_lph > pump_capacity_lph:
            decisions[view.zone] = Decision(
                view.zone,
                Action.SKIP,
                "pump_busy",
                f"{decision.reason}; waiting for the pump: {in_use:.0f} of "
                f"{pump_capacity_lph:.0f} L/h in use, this zone needs {view.flow_lph:.0f}",
            )
            continue
        in_use += view.flow_lph
        decisions[view.zone] = decision
    return [decisions[v.zone] for v in views]


def _keeps_flowing(view: ZoneView, decision: Decision) -> bool:
    return (view.valve is ValveStatus.OPEN or view.awaiting_confirmation) and (
        decision.action is not Action.CLOSE
    )


def _decide_zone(view: ZoneView, now: datetime, stale_after_s: float) -> Decision:
    if view.awaiting_confirmation:
        return Decision(
            view.zone, Action.HOLD, "awaiting_valve", "waiting for the valve to confirm"
        )
    if view.valve is ValveStatus.OPEN:
        return _while_open(view, now, stale_after_s)
    if view.valve in (ValveStatus.OFFLINE, ValveStatus.UNKNOWN):
        return Decision(
            view.zone,
            Action.SKIP,
            "valve_unreachable",
            f"valve is {view.valve.value}: cannot water this zone",
        )
    return _while_closed(view, now, stale_after_s)


def _while_open(view: ZoneView, now: datetime, stale_after_s: float) -> Decision:
    z = view.zone
    ran_s = (now - view.open_since).total_seconds() if view.open_since else 0.0
    if ran_s >= view.max_run_minutes * 60:
        return Decision(
            z,
            Action.CLOSE,
            "max_run",
            f"ran {ran_s / 60:.0f} min, the most allowed per run ({view.max_run_minutes} min)",
        )
    if view.manual_run:
        return Decision(z, Action.HOLD, "manual_run", "watering as asked by hand")
    if view.moisture is None or _stale(view, stale_after_s):
        return Decision(
            z, Action.CLOSE, "sensor_stale", "no fresh soil reading: stopping to be safe"
        )
    t = view.thresholds
    if view.moisture >= t.stop:
        return Decision(
            z,
            Action.CLOSE,
            "reached_stop",
            f"soil at {pct(view.moisture)}, reached {pct(t.stop)}",
        )
    return Decision(
        z,
        Action.HOLD,
        "watering",
        f"watering: soil at {pct(view.moisture)}, stop at {pct(t.stop)}",
    )


def _while_closed(view: ZoneView, now: datetime, stale_after_s: float) -> Decision:
    z = view.zone
    if view.moisture is None:
        return Decision(z, Action.SKIP, "no_reading", "no soil reading yet: not watering")
    if _stale(view, stale_after_s):
        assert view.moisture_age_s is not None
        return Decision(
            z,
            Action.SKIP,
            "sensor_stale",
            f"last soil reading is {view.moisture_age_s / 60:.0f} min old: "
            "not watering on old data",
        )
    t = view.thresholds
    if view.moisture >= t.start:
        return Decision(
            z,
            Action.HOLD,
            "in_band",
            f"soil at {pct(view.moisture)}, waters below {pct(t.start)}",
        )
    if view.hold_until is not None and view.hold_until > now:
        return Decision(
            z,
            Action.SKIP,
            "manual_hold",
            f"soil at {pct(view.moisture)} is dry, but stopped by hand: "
            f"automatic watering resumes at {hhmm(view.hold_until)}",
        )
    return Decision(
        z,
        Action.OPEN,
        "below_start",
        f"soil at {pct(view.moisture)}, below {pct(t.start)}: water up to "
        f"{view.max_run_minutes} min",
        duration_s=view.max_run_minutes * 60,
    )


def _stale(view: ZoneView, stale_after_s: float) -> bool:
    return view.moisture_age_s is not None and view.moisture_age_s > stale_after_s


def decide_manual(
    view: ZoneView,
    action: str,
    minutes: int | None,
    by: str,
    flow_in_use_lph: float,
    pump_capacity_lph: float,
) -> Decision:
    """A farmer's "water now" or "stop", checked against the safety limits."""
    z = view.zone
    if action == "stop":
        return Decision(z, Action.CLOSE, "manual_stop", f"stop pressed by {by}")
    if view.valve in (ValveStatus.OFFLINE, ValveStatus.UNKNOWN):
        return Decision(
            z,
            Action.SKIP,
            "valve_unreachable",
            f"water now asked by {by}, but the valve is {view.valve.value}",
        )
    if minutes is None or not 1 <= minutes <= MAX_MANUAL_MINUTES:
        return Decision(
            z,
            Action.SKIP,
            "bad_minutes",
            f"water now asked by {by} for {minutes} min: allowed 1 to {MAX_MANUAL_MINUTES}",
        )
    already = view.flow_lph if view.valve is ValveStatus.OPEN else 0.0
    if flow_in_use_lph - already + view.flow_lph > pump_capacity_lph:
        return Decision(
            z,
            Action.SKIP,
            "pump_busy",
            f"water now asked by {by}, but the pump is busy: {flow_in_use_lph:.0f} of "
            f"{pump_capacity_lph:.0f} L/h in use, this zone needs {view.flow_lph:.0f}",
        )
    granted = min(minutes, view.max_run_minutes)
    limit = (
        f" (asked {minutes}; the most per run is {view.max_run_minutes})"
        if granted < minutes
        else ""
    )
    return Decision(
        z,
        Action.OPEN,
        "manual_water",
        f"water now for {granted} min{limit}, asked by {by}",
        duration_s=granted * 60,
    )
