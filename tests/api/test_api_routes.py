"""The technician's routes and the live stream, against the real app, broker and stores."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from controller.model import Cycle
from controller.settings import ControllerSettings
from controller.tuned import TunedController
from smartfarm import payloads
from smartfarm.config import load_farm_config
from smartfarm.models import Reading
from smartfarm.stores.base import hour_floor
from smartfarm.testing.probe import Probe
from smartfarm.topics import Topics
from tests.api.conftest import ApiUnderTest
from tests.conftest import EXAMPLE_FARM

TOPICS = Topics("farm", "demo-farm")


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)
    return value


def reading(sensor: str, zone: str, ts: datetime, vwc: float, battery_v: float = 3.9) -> Reading:
    return Reading("demo-farm", zone, sensor, ts, int(ts.timestamp()), vwc, battery_v=battery_v)


def test_thresholds_override_is_audited_and_shown(api: ApiUnderTest) -> None:
    tech = api.headers("technician")
    before = api.client.get("/api/v1/zones/z1/thresholds", headers=tech).json()
    assert before["source"] == "preset"
    assert before["start_pct"] == before["preset"]["start_pct"] == 30.4
    r = api.client.put(
        "/api/v1/zones/z1/thresholds", json={"start_pct": 26, "stop_pct": 32}, headers=tech
    )
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "override" and r.json()["preset"]["start_pct"] == 30.4
    z1 = api.client.get("/api/v1/zones/z1", headers=tech).json()
    assert z1["thresholds"] == {"start": 0.26, "stop": 0.32}
    [entry] = [
        e
        for e in api.client.get("/api/v1/audit", headers=tech).json()
        if e["action"] == "zone.thresholds"
    ]
    assert entry["username"] == "technician" and entry["target"] == "zone z1"
    assert entry["before"]["start_pct"] == 30.4 and entry["after"]["start_pct"] == 26
    bad = api.client.put(
        "/api/v1/zones/z1/thresholds", json={"start_pct": 33, "stop_pct": 32}, headers=tech
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "start_pct"]


def test_program_round_trip_and_bad_window_names_the_field(api: ApiUnderTest) -> None:
    tech = api.headers("technician")
    program = api.client.get("/api/v1/zones/z2/program", headers=tech).json()
    program.update(windows=["05:00-09:00", "17:00-18:30"], cycle_minutes=10, soak_minutes=20)
    r = api.client.put("/api/v1/zones/z2/program", json=program, headers=tech)
    assert r.status_code == 200, r.text
    again = api.client.get("/api/v1/zones/z2/program", headers=tech).json()
    assert again["windows"] == ["05:00-09:00", "17:00-18:30"] and again["soak_minutes"] == 20
    program["windows"] = ["25:00-26:00"]
    bad = api.client.put("/api/v1/zones/z2/program", json=program, headers=tech)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "windows"]
    half = {**again, "soak_minutes": None}
    bad = api.client.put("/api/v1/zones/z2/program", json=half, headers=tech)
    assert bad.status_code == 422


def test_history_raw_for_a_day_hourly_beyond_with_irrigation(api: ApiUnderTest) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    hour = hour_floor(now) - timedelta(days=3)  # one whole hour, rolled up below
    old = [reading("s-z1-a", "z1", hour + timedelta(minutes=10 + m), 0.25) for m in range(5)]
    new = [reading("s-z1-a", "z1", now - timedelta(minutes=m), 0.28) for m in range(5)]
    api.telemetry.write_readings(old + new)
    api.telemetry.rollup(now - timedelta(days=4), now - timedelta(hours=2))
    api.control.add_cycles([Cycle("z1", "r1", now - timedelta(hours=1), 600.0, 120.0)])
    viewer = api.headers("viewer")
    day = api.client.get("/api/v1/zones/z1/history?range=day", headers=viewer).json()
    assert day["resolution"] == "raw" and len(day["points"]) == 5
    [period] = day["irrigation"]
    start, end = (datetime.fromisoformat(period[k]) for k in ("start", "end"))
    assert start == now - timedelta(hours=1) and end - start == timedelta(minutes=10)
    assert period["litres"] == 120.0
    week = api.client.get("/api/v1/zones/z1/history?range=week", headers=viewer).json()
    assert week["resolution"] == "hour"
    hourly = [p for p in week["points"] if p["vwc_min"] is not None]
    assert len(hourly) == 1 and hourly[0]["vwc"] == pytest.approx(0.25)
    assert len(week["points"]) == 1 + 5  # the hour rolled up, then the newest raw readings
    assert week["thresholds"] == {"start": 0.304, "stop": 0.346}
    bad = api.client.get("/api/v1/zones/z1/history?range=year", headers=viewer)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "range"]


def test_water_now_past_the_daily_limit_is_409_in_plain_words(api: ApiUnderTest) -> None:
    zone = load_farm_config(EXAMPLE_FARM).zone("z3")
    api.control.add_cycles(
        [
            Cycle(
                "z3", "r9", datetime.now(UTC) - timedelta(seconds=5), zone.max_daily_minutes * 60, 1
            )
        ]
    )
    r = api.client.post(
        "/api/v1/zones/z3/water", json={"minutes": 5}, headers=api.headers("farmer")
    )
    assert r.status_code == 409
    assert r.json()["detail"]["code"] == "daily_limit"
    assert "daily limit" in r.json()["detail"]["message"]


def test_devices_show_battery_last_seen_and_calibration(api: ApiUnderTest) -> None:
    api.telemetry.write_readings([reading("s-z1-a", "z1", datetime.now(UTC), 0.3, 3.75)])
    devices = api.client.get("/api/v1/devices", headers=api.headers("viewer")).json()
    by_id = {d["device_id"]: d for d in devices}
    sensor = by_id["s-z1-a"]
    assert sensor["kind"] == "sensor" and sensor["zone_id"] == "z1"
    assert sensor["battery_pct"] == 50 and sensor["online"] is True
    assert "raw_dry" in sensor["calibration"]
    assert by_id["s-z2-a"]["online"] is False  # never heard from
    assert {d["kind"] for d in devices} == {"sensor", "valve"}


def test_zone_status_words_and_last_alarm(api: ApiUnderTest) -> None:
    api.telemetry.write_readings([reading("s-z4-a", "z4", datetime.now(UTC), 0.05)])
    api.state.raise_alarm("controller", "sensor_fault", "probe looks cut", datetime.now(UTC), "z4")
    z4 = api.client.get("/api/v1/zones/z4", headers=api.headers("viewer")).json()
    assert z4["moisture_word"] == "dry"
    assert z4["last_alarm"]["kind"] == "sensor_fault"
    z2 = api.client.get("/api/v1/zones/z2", headers=api.headers("viewer")).json()
    assert z2["moisture_word"] == "unknown" and z2["next_run_at"] is None


def test_events_stream_valve_states_and_readings_from_the_broker(api: ApiUnderTest) -> None:
    token = api.token("viewer")
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream(
        "GET", f"{api.base_url}/api/v1/events", cookies={"smartfarm_session": token}, timeout=10
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        probe = Probe(api.mqtt_url, [], client_id="events-test")
        try:
            state = {
                "v": 1,
                "device": "v-z1",
                "state": "open",
                "ts": payloads.format_ts(datetime.now(UTC)),
            }
            probe.publish(TOPICS.valve_state("v-z1"), json.dumps(state).encode(), retain=False)
            kind = ""
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line.removeprefix("data: "))))
                    if kind == "valve":
                        break
        finally:
            probe.close()
    kind, data = events[-1]
    assert kind == "valve"
    assert data["zone_id"] == "z1" and data["valve_id"] == "v-z1" and data["state"] == "open"


@pytest.fixture
def controller(api: ApiUnderTest, tmp_path: Any) -> Iterator[TunedController]:
    from controller.store import ControlStore
    from controller.tuning import TuningStore
    from smartfarm.stores.state import StateStore

    settings = ControllerSettings(
        mqtt_url=api.mqtt_url,
        var_dir=tmp_path / "var",
        farm_file=EXAMPLE_FARM,
        client_id="ctl-test",
    )
    url = settings.resolved_state_db_url()
    state, store, tuning = StateStore(url), ControlStore(url), TuningStore(url)
    ctl = TunedController(load_farm_config(EXAMPLE_FARM), settings, state, store, tuning)
    loop = asyncio.new_event_loop()
    task: asyncio.Task[None] = loop.create_task(ctl.run(scheduled=False))

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: ctl.link.connected)
    yield ctl
    loop.call_soon_threadsafe(task.cancel)
    thread.join(10)
    for s in (state, store, tuning):
        s.close()


def test_the_controller_uses_a_technicians_thresholds_and_windows(
    api: ApiUnderTest, controller: TunedController
) -> None:
    tech = api.headers("technician")
    api.client.put(
        "/api/v1/zones/z1/thresholds", json={"start_pct": 22, "stop_pct": 27}, headers=tech
    ).raise_for_status()
    wait_for(lambda: controller.zones["z1"].effective_thresholds.start == 0.22)
    assert controller.zones["z1"].effective_thresholds.stop == 0.27
    program = api.client.get("/api/v1/zones/z1/program", headers=tech).json()
    program["windows"] = ["04:00-06:00"]
    api.client.put("/api/v1/zones/z1/program", json=program, headers=tech).raise_for_status()
    wait_for(lambda: [str(w) for w in controller.zones["z1"].windows] == ["04:00-06:00"])
    assert controller.zones["z1"].effective_thresholds.start == 0.22  # kept
    assert controller.farm.zone("z1").windows == controller.zones["z1"].windows


def test_the_service_worker_is_served_from_the_root_for_a_site_wide_scope(
    api: ApiUnderTest,
) -> None:
    r = api.client.get("/sw.js")  # no login: the page registers it before anyone logs in
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["service-worker-allowed"] == "/"
    assert "const ASSETS" in r.text


def test_a_sensors_calibration_is_set_audited_and_shown(api: ApiUnderTest) -> None:
    tech = api.headers("technician")
    r = api.client.put(
        "/api/v1/devices/s-z1-a/calibration",
        json={"raw_dry": 3100, "raw_wet": 1250, "vwc_wet": 0.48},
        headers=tech,
    )
    assert r.status_code == 200, r.text
    assert r.json()["calibration"]["raw_dry"] == 3100
    listed = {d["device_id"]: d for d in api.client.get("/api/v1/devices", headers=tech).json()}
    assert listed["s-z1-a"]["calibration"]["vwc_wet"] == 0.48
    assert api.tuning.calibrations()["s-z1-a"]["raw_wet"] == 1250  # what the gateway reads
    [entry] = [
        e
        for e in api.client.get("/api/v1/audit", headers=tech).json()
        if e["action"] == "device.calibration"
    ]
    assert entry["target"] == "sensor s-z1-a"
    assert entry["before"]["raw_dry"] == 3250 and entry["after"]["raw_dry"] == 3100
    same = api.client.put(
        "/api/v1/devices/s-z1-a/calibration", json={"raw_dry": 2000, "raw_wet": 2000}, headers=tech
    )
    assert same.status_code == 422 and "raw_dry and raw_wet must differ" in same.text
    typo = api.client.put(
        "/api/v1/devices/s-z1-a/calibration", json={"raw_dyr": 3000}, headers=tech
    )
    assert typo.status_code == 422 and typo.json()["detail"][0]["loc"] == ["body", "raw_dyr"]
    valve = api.client.put("/api/v1/devices/v-z1/calibration", json={}, headers=tech)
    assert valve.status_code == 404 and valve.json()["detail"]["code"] == "no_such_device"
