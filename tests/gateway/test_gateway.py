"""The gateway against a real Mosquitto and real SQLite: good readings stored with their
quality, bad ones dead-lettered with their reason, and the stream keeps going."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from smartfarm import payloads
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port
from smartfarm.testing.processes import wait_http
from tests.gateway.conftest import Harness, reading, wait_until


def test_good_reading_is_calibrated_and_stored(harness: Harness) -> None:
    harness.publish("s-z1-a", reading(raw=2285))
    wait_until(lambda: bool(harness.telemetry.latest(["s-z1-a"])), what="reading stored")
    stored = harness.telemetry.latest(["s-z1-a"])["s-z1-a"]
    # s-z1-a is calibrated raw 3250 -> 0.0 and 1320 -> 0.5: 2285 is half way.
    assert stored.vwc == pytest.approx(0.25, abs=0.001)
    assert (stored.zone, stored.raw, stored.seq, stored.quality) == ("z1", 2285, 1, "good")
    wait_until(lambda: harness.stats.wal_depth == 0, what="log drained")


BAD = [
    ("malformed JSON", b'{"v":1, "device": ', "not_json"),
    ("not an object", b"[1,2,3]", "schema"),
    ("wrong type", reading(seq="seven"), "schema"),
    ("NaN", reading().replace(b'"raw": 2000', b'"raw": 2000, "vwc": NaN'), "not_finite"),
    (
        "Infinity",
        reading().replace(b'"raw": 2000', b'"raw": 2000, "temp_c": Infinity'),
        "not_finite",
    ),
    ("out of range", reading(vwc=1.7), "schema"),
    ("huge", reading(pad="x" * 10_000), "too_large"),
    (
        "no value",
        json.dumps({"v": 1, "device": "s-z1-a", "ts": "2026-11-23T00:00:00Z", "seq": 1}).encode(),
        "schema",
    ),
    ("future", reading(ts=payloads.format_ts(datetime.now(UTC) + timedelta(days=2))), "ts_future"),
    ("past", reading(ts=payloads.format_ts(datetime.now(UTC) - timedelta(days=40))), "ts_too_old"),
    ("device mismatch", reading(device="s-z2-a"), "device_mismatch"),
    ("binary garbage", b"\xff\xfe\x00garbage", "not_json"),
]


def test_bad_payloads_are_dead_lettered_and_the_next_good_one_is_stored(harness: Harness) -> None:
    for _name, payload, _reason in BAD:
        harness.publish("s-z1-a", payload)
    harness.publish("s-unknown", reading(device="s-unknown"))
    harness.publish("s-unknown", reading(device="s-unknown", seq=2))
    harness.publish("s-z1-a", reading(seq=42))

    def all_seen() -> bool:
        latest = harness.telemetry.latest(["s-z1-a"])
        return bool(latest) and len(harness.state.dead_letters(100)) == len(BAD) + 2

    wait_until(all_seen, what="every message handled")
    assert harness.telemetry.latest(["s-z1-a"])["s-z1-a"].seq == 42
    letters = list(reversed(harness.state.dead_letters(100)))
    assert [d.reason for d in letters] == [r for _n, _p, r in BAD] + ["unknown_device"] * 2
    assert letters[0].payload == BAD[0][1]  # kept as received
    assert "seq" in letters[2].detail  # names the field
    assert harness.stats.dead_letters["not_json"] == 2
    assert harness.state.dead_letter_counts()["unknown_device"] == 2
    # Unknown devices are listed for a technician to adopt into the farm config.
    [unknown] = harness.state.unknown_devices()
    assert (unknown.device, unknown.messages) == ("s-unknown", 2)
    assert unknown.last_topic == "farm/demo-farm/sensor/s-unknown/reading"
    wait_until(lambda: harness.stats.stored == 1, what="stored counted")


def test_replayed_reading_is_not_double_counted(harness: Harness) -> None:
    payload = reading(seq=7)
    harness.publish("s-z1-a", payload)
    harness.publish("s-z1-a", payload)
    wait_until(lambda: harness.stats.logged + harness.stats.duplicates == 2, what="both handled")
    wait_until(lambda: harness.stats.stored == harness.stats.logged, what="log drained")
    end = datetime.now(UTC) + timedelta(minutes=1)
    assert len(harness.telemetry.history(["s-z1-a"], end - timedelta(hours=1), end)) == 1


def test_quality_flags_are_stored_with_each_reading(harness: Harness) -> None:
    now = datetime.now(UTC)

    def at(minutes: int, raw: int, seq: int, device: str = "s-z1-b") -> bytes:
        ts = payloads.format_ts(now - timedelta(minutes=60 - minutes))
        return reading(device=device, seq=seq, raw=raw, ts=ts)

    # s-z1-b has the default calibration: raw 3200 dry (0.0), 1300 wet (0.5).
    plan = [(0, 2500), (1, 2510), (2, 10), (3, 4090), (4, 3900), (5, 2500), (6, 2000), (7, 2505)]
    plan += [(8 + i, 2600) for i in range(10)]
    for seq, (minute, raw) in enumerate(plan):
        harness.publish("s-z1-b", at(minute, raw, seq))
    wait_until(lambda: harness.stats.stored == len(plan), what="all stored")
    got = [r.quality for r in harness.telemetry.history(["s-z1-b"], now - timedelta(hours=2), now)]
    assert got[:8] == [
        "good",
        "good",
        "disconnected",  # near 0: looks saturated
        "shorted",  # near full scale: looks bone dry
        "out_of_range",  # drier than dry air
        "good",  # after a fault the series starts afresh
        "spike",  # +0.13 in a minute
        "good",
    ]
    # The same raw value ten times in a row: the tenth is stuck.
    assert got[8:] == ["good"] * 9 + ["stuck"]
    assert harness.stats.quality["stuck"] == 1


def test_metrics_and_healthz(tmp_path, mosquitto: MosquittoServer) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    h = Harness(tmp_path, mosquitto, gateway_metrics_port=port)
    h.running.start()
    try:
        h.publish("s-z1-a", reading(seq=1))
        h.publish("s-z1-a", b"{")
        wait_until(lambda: h.stats.stored == 1 and h.stats.dead_letters["not_json"] == 1)
        health = wait_http(f"http://127.0.0.1:{port}/healthz").json()
        assert health == {"status": "ok", "problems": []}
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "smartfarm_gateway_readings_received_total 2.0" in text
        assert "smartfarm_gateway_readings_stored_total 1.0" in text
        assert 'smartfarm_gateway_dead_letters_total{reason="not_json"} 1.0' in text
        assert "smartfarm_gateway_wal_depth 0.0" in text
        assert "smartfarm_gateway_store_write_seconds_count 1.0" in text
        mosquitto.stop()
        wait_until(lambda: not h.stats.connected, what="disconnected")
        h.stats.disconnected_since -= 60  # as if the broker had been gone a minute
        response = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 503
        assert "not connected to the MQTT broker" in response.json()["problems"][0]
        mosquitto.start()
    finally:
        h.close()


def test_a_technicians_calibration_applies_to_new_readings(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    """The API stores a sensor's calibration in the state database; the gateway takes it
    up (at start, then when it changes) and calibrates the next readings with it."""
    from controller.tuning import TuningStore

    tuning = TuningStore(f"sqlite:///{tmp_path / 'state.db'}")
    tuning.put_calibration("s-z1-a", {"raw_dry": 3000, "raw_wet": 1000, "vwc_wet": 0.4}, "tech")
    h = Harness(tmp_path, mosquitto)
    h.gateway.calibrations = tuning
    h.running.start()
    try:
        wait_until(lambda: h.gateway._calibration_stamp is not None, what="calibration read")
        h.publish("s-z1-a", reading(raw=2000, seq=1))
        wait_until(lambda: bool(h.telemetry.latest(["s-z1-a"])), what="reading stored")
        assert h.telemetry.latest(["s-z1-a"])["s-z1-a"].vwc == pytest.approx(0.2, abs=0.001)
        tuning.put_calibration("s-z1-a", {"raw_dry": 3000, "raw_wet": 1000}, "tech")
        assert h.gateway.recalibrate()  # what the watch loop does every 10 s
        h.publish("s-z1-a", reading(raw=2000, seq=2))
        wait_until(lambda: h.telemetry.latest(["s-z1-a"])["s-z1-a"].seq == 2, what="second")
        assert h.telemetry.latest(["s-z1-a"])["s-z1-a"].vwc == pytest.approx(0.25, abs=0.001)
        assert not h.gateway.recalibrate()  # nothing new
    finally:
        h.close()
        tuning.close()
