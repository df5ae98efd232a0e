"""Sensor faults: the ``--faults`` spec, and the raw signature each fault sends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.clock import VirtualClock
from firmware_sim.faults import FaultKind, FaultSpec, SensorFault, check_devices, parse_faults
from firmware_sim.nodes import SensorNode, raw_from_vwc
from smartfarm import quality
from smartfarm.calibration import SensorCalibration
from smartfarm.cli import main
from smartfarm.settings import parse_mqtt_url
from smartfarm.topics import Topics
from tests.conftest import EXAMPLE_FARM

CAL = SensorCalibration()
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", []),
        (" , ", []),
        ("s-z1-a=disconnected", [FaultSpec("s-z1-a", FaultKind.DISCONNECTED)]),
        (
            "s-z1-a=disconnected,s-z2-a=stuck@120",
            [
                FaultSpec("s-z1-a", FaultKind.DISCONNECTED),
                FaultSpec("s-z2-a", FaultKind.STUCK, 120.0),
            ],
        ),
        (
            " s-z3-a=shorted@0.5 , s_4=spike ",
            [
                FaultSpec("s-z3-a", FaultKind.SHORTED, 0.5),
                FaultSpec("s_4", FaultKind.SPIKE),
            ],
        ),
    ],
)
def test_parse_faults(spec: str, expected: list[FaultSpec]) -> None:
    assert parse_faults(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("s-z1-a", "expected DEVICE=KIND"),
        ("=stuck", "expected DEVICE=KIND"),
        ("s/z1=stuck", "expected DEVICE=KIND"),
        ("s-z1-a=melted", "unknown kind 'melted'; known: disconnected, shorted, stuck, spike"),
        ("s-z1-a=stuck@soon", "'soon' is not seconds"),
        ("s-z1-a=stuck@-5", "0 or more seconds"),
        ("s-z1-a=stuck@nan", "0 or more seconds"),
        ("s-z1-a=stuck@inf", "0 or more seconds"),
        ("s-z1-a=stuck,s-z1-a=spike", "has a fault already"),
    ],
)
def test_parse_faults_names_the_mistake(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"fault .*: ") as err:
        parse_faults(spec)
    assert message in str(err.value)


def test_faults_must_name_sensors_of_the_farm() -> None:
    check_devices(parse_faults("s1=stuck"), ["s1", "s2"])
    with pytest.raises(ValueError, match="unknown sensors nope; known: s1, s2"):
        check_devices(parse_faults("s1=stuck,nope=spike"), ["s1", "s2"])


def test_a_bad_faults_flag_is_a_settings_error(capsys: pytest.CaptureFixture[str]) -> None:
    # Fails before connecting to anything: the broker address is never used.
    argv = ["sim", "--farm", str(EXAMPLE_FARM), "--mqtt-url", "mqtt://127.0.0.1:9"]
    assert main([*argv, "--faults", "s-z1-a=melted"]) == 2
    assert "unknown kind 'melted'" in capsys.readouterr().err
    assert main([*argv, "--faults", "s-z9-a=stuck"]) == 2
    assert "unknown sensors s-z9-a" in capsys.readouterr().err


def _series(kind: FaultKind, n: int = 200) -> list[int]:
    fault, rng = SensorFault(kind), random.Random(7)
    return [fault.apply(raw_from_vwc(0.30, CAL), 2100, rng) for _ in range(n)]


def test_a_disconnected_probe_reads_near_zero_and_looks_soaking_wet() -> None:
    raws = _series(FaultKind.DISCONNECTED)
    assert all(CAL.near_zero(r) for r in raws)
    assert all(CAL.vwc(r) > 0.6 for r in raws)  # wetter than any soil: looks saturated
    assert {quality.reading_quality(r, CAL.vwc(r), CAL) for r in raws} == {quality.DISCONNECTED}


def test_a_shorted_probe_reads_near_the_adc_maximum_and_looks_bone_dry() -> None:
    raws = _series(FaultKind.SHORTED)
    assert all(CAL.near_max(r) for r in raws) and max(raws) <= 4095
    assert all(CAL.vwc(r) < 0.0 for r in raws)
    assert {quality.reading_quality(r, CAL.vwc(r), CAL) for r in raws} == {quality.SHORTED}


def test_a_stuck_probe_repeats_its_last_good_count() -> None:
    assert set(_series(FaultKind.STUCK)) == {2100}
    fault = SensorFault(FaultKind.STUCK)
    assert fault.apply(1800, None, random.Random(1)) == 1800  # none yet: the first it sees
    assert fault.apply(1500, None, random.Random(1)) == 1800


def test_a_spiky_probe_sends_isolated_jumps() -> None:
    healthy = raw_from_vwc(0.30, CAL)
    raws = _series(FaultKind.SPIKE, 1000)
    jumps = [abs(r - healthy) for r in raws if r != healthy]
    assert 0.2 < len(jumps) / len(raws) < 0.4
    assert min(jumps) >= 300 and max(jumps) <= 800
    assert all(abs(CAL.vwc(r) - 0.30) >= 0.07 for r in raws if r != healthy)


def test_a_sensor_node_breaks_at_the_fault_time_and_heals_on_repair() -> None:
    clock = VirtualClock(T0)
    node = SensorNode("s1", Topics("farm", "f"), parse_mqtt_url("mqtt://127.0.0.1:9"), CAL, clock)
    rng = random.Random(3)
    node.inject(FaultKind.DISCONNECTED, T0 + timedelta(minutes=10))
    healthy = node.measure(0.30, rng)
    assert abs(CAL.vwc(healthy) - 0.30) < 0.02
    clock.advance(600)
    assert CAL.near_zero(node.measure(0.30, rng))
    node.repair()
    assert abs(CAL.vwc(node.measure(0.30, rng)) - 0.30) < 0.02
