"""Device physics and faults, as raw signatures (pure: nodes never connect here)."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime, timedelta

from firmware_sim.clock import VirtualClock
from firmware_sim.faults import (
    AIR_GAP_SHARE,
    DRIFT_RAW_PER_DAY,
    SLOW_CONFIRM_S,
    FaultKind,
    SensorFault,
    ValveFaultKind,
)
from firmware_sim.nodes import (
    BATTERY_EMPTY_V,
    BUFFER_READINGS,
    TEMP_RAW_PER_C,
    SensorNode,
    ValveNode,
    raw_from_vwc,
)
from smartfarm.calibration import SensorCalibration
from smartfarm.mqtt import Message
from smartfarm.settings import parse_mqtt_url
from smartfarm.topics import Topics

CAL = SensorCalibration()
T0 = datetime(2026, 3, 1, tzinfo=UTC)
TOPICS = Topics("farm", "f")
NOWHERE = parse_mqtt_url("mqtt://127.0.0.1:9")  # never started: nothing connects


def sensor() -> tuple[SensorNode, VirtualClock]:
    clock = VirtualClock(T0)
    return SensorNode("s1", TOPICS, NOWHERE, CAL, clock), clock


def readings(node: SensorNode) -> list[dict[str, object]]:
    return [json.loads(p) for p in node.buffer]


def test_a_capacitive_probe_reads_lower_when_wetter_with_noise() -> None:
    node, _ = sensor()
    rng = random.Random(1)
    dry = [node.measure(0.15, rng) for _ in range(400)]
    wet = [node.measure(0.35, rng) for _ in range(400)]
    assert statistics.mean(wet) < statistics.mean(dry)
    # Noise about 0.007 m3/m3 (DESIGN.md), seen through the calibration.
    assert 0.005 < statistics.stdev(CAL.vwc(r) for r in wet) < 0.009


def test_a_warmer_probe_reads_a_lower_count() -> None:
    node, _ = sensor()
    cool = statistics.mean(node.measure(0.30, random.Random(i), 20.0) for i in range(200))
    warm = statistics.mean(node.measure(0.30, random.Random(i), 35.0) for i in range(200))
    assert 30 <= cool - warm <= 60  # 3 counts per degC


def test_the_probes_coefficient_in_its_calibration_removes_the_warm_bias() -> None:
    node, _ = sensor()
    corrected = SensorCalibration(temp_raw_per_c=TEMP_RAW_PER_C)

    def mean_vwc(cal: SensorCalibration, temp_c: float) -> float:
        raws = [node.measure(0.15, random.Random(i), temp_c) for i in range(400)]
        return statistics.mean(cal.vwc(cal.at_reference(r, temp_c)) for r in raws)

    # A probe at 31 degC reads about 0.5 points wet as its calibration stands...
    assert 0.004 < mean_vwc(CAL, 31.0) - 0.15 < 0.006
    # ...and as at 25 degC with the probe's coefficient (noise left: 0.007 / sqrt(400)).
    assert abs(mean_vwc(corrected, 31.0) - 0.15) < 0.001


def test_the_battery_drains_per_reading_and_a_flat_node_goes_quiet() -> None:
    node, _ = sensor()
    rng = random.Random(1)
    for _ in range(1000):
        node.publish(0.3, 25.0, rng)
    sent = [r["battery_v"] for r in readings(node)]
    assert sent[0] == 4.15 and sent[-1] == 4.134  # 1000 ten-minute readings: a week
    assert sent == sorted(sent, reverse=True)  # type: ignore[type-var]
    node.battery_v = BATTERY_EMPTY_V
    node.publish(0.3, 25.0, rng)
    assert node.seq == 1000 and len(node.buffer) == 1000


def test_without_a_link_readings_are_buffered_bounded_oldest_dropped() -> None:
    node, clock = sensor()
    rng = random.Random(1)
    for _ in range(BUFFER_READINGS + 5):
        node.publish(0.3, 25.0, rng)
        clock.advance(600)
    kept = readings(node)
    assert len(kept) == BUFFER_READINGS and node.dropped == 5
    assert [r["seq"] for r in kept] == list(range(6, BUFFER_READINGS + 6))
    assert kept[0]["ts"] == "2026-03-01T00:50:00.000Z"  # taken at its own time, not now


def _after(kind: FaultKind, vwc: float, elapsed_s: float) -> int:
    fault = SensorFault(kind)
    raw = raw_from_vwc(vwc, CAL)
    return fault.apply(raw, raw, random.Random(1), elapsed_s=elapsed_s, raw_dry=CAL.raw_dry)


def test_a_drifting_probe_creeps_drier_day_by_day() -> None:
    healthy = raw_from_vwc(0.30, CAL)
    assert _after(FaultKind.DRIFT, 0.30, 0) == healthy
    assert _after(FaultKind.DRIFT, 0.30, 86400) == healthy + DRIFT_RAW_PER_DAY
    ten_days = _after(FaultKind.DRIFT, 0.30, 10 * 86400)
    assert ten_days == healthy + 10 * DRIFT_RAW_PER_DAY
    assert 0.08 < 0.30 - CAL.vwc(ten_days) < 0.12  # reads 0.1 m3/m3 drier after ten days


def test_an_air_gap_reads_dry_and_follows_the_soil_weakly() -> None:
    dry, wet = _after(FaultKind.AIR_GAP, 0.15, 0), _after(FaultKind.AIR_GAP, 0.35, 0)
    assert dry > raw_from_vwc(0.15, CAL) and wet > raw_from_vwc(0.35, CAL)
    healthy_span = raw_from_vwc(0.15, CAL) - raw_from_vwc(0.35, CAL)
    assert (
        dry - wet == round(healthy_span * (1 - AIR_GAP_SHARE))
        or abs((dry - wet) - healthy_span * (1 - AIR_GAP_SHARE)) <= 1
    )


def test_a_drifting_node_counts_from_the_fault_time() -> None:
    node, clock = sensor()
    node.inject(FaultKind.DRIFT, T0 + timedelta(days=1))
    rng = random.Random(5)
    clock.advance(timedelta(days=3))  # two days into the fault
    drifted = statistics.mean(node.measure(0.30, random.Random(i)) for i in range(200))
    node.repair()
    healthy = statistics.mean(node.measure(0.30, random.Random(i)) for i in range(200))
    assert abs((drifted - healthy) - 2 * DRIFT_RAW_PER_DAY) < 1
    assert rng  # the node's own rng is independent of the check's


def valve() -> tuple[ValveNode, VirtualClock]:
    clock = VirtualClock(T0)
    return ValveNode("v1", TOPICS, NOWHERE, clock, flow_lph=1200.0), clock


def open_for(node: ValveNode, seconds: int) -> None:
    body = {"v": 1, "id": "c1", "action": "open", "duration_s": seconds, "issued": "x"}
    node.handle(Message(TOPICS.valve_command("v1"), json.dumps(body).encode(), 1, False))


def last_state(node: ValveNode) -> dict[str, object]:
    assert node.last_state is not None
    return node.last_state


def test_valve_state_reports_flow_from_its_emitters() -> None:
    node, clock = valve()
    open_for(node, 600)
    assert last_state(node)["flow_lph"] == 1200.0 and node.flowing
    clock.advance(600)
    assert last_state(node)["flow_lph"] == 0.0 and not node.flowing


def test_a_valve_stuck_closed_says_open_but_passes_no_water() -> None:
    node, _ = valve()
    node.inject(ValveFaultKind.STUCK_CLOSED)
    open_for(node, 600)
    state = last_state(node)
    assert state["state"] == "open" and state["flow_lph"] == 0.0
    assert node.is_open and not node.flowing


def test_a_valve_stuck_open_keeps_flowing_after_it_closes() -> None:
    node, clock = valve()
    open_for(node, 600)
    node.inject(ValveFaultKind.STUCK_OPEN)
    clock.advance(600)
    state = last_state(node)
    assert state["state"] == "closed" and state["flow_lph"] == 1200.0
    assert not node.is_open and node.flowing


def test_a_valve_slow_to_confirm_publishes_its_state_late() -> None:
    node, clock = valve()
    node.inject(ValveFaultKind.SLOW_CONFIRM)
    clock.advance(SLOW_CONFIRM_S)  # the fault's own state report, late too
    before = node.states_published
    open_for(node, 600)
    assert node.is_open and node.states_published == before
    clock.advance(SLOW_CONFIRM_S - 1)
    assert node.states_published == before
    clock.advance(1)
    assert node.states_published == before + 1 and last_state(node)["state"] == "open"
