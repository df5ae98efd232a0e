"""No reading lost, none stored twice: the gateway as a real process, a real Mosquitto and a
real influxd, through broker restarts, store outages, SIGKILL, replays and a full disk."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from smartfarm.stores.influx import InfluxTelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.testing.influxd import InfluxdServer
from smartfarm.testing.load import (
    Publisher,
    backlog,
    farm_yaml,
    influx_tally,
    prometheus_values,
    reading_payload,
    sensor_ids,
)
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port
from smartfarm.testing.probe import Probe
from smartfarm.testing.processes import ProcessGroup

pytestmark = pytest.mark.influx

FARM = "rig"
SENSORS = sensor_ids(20, prefix="r")
# As in deploy/mosquitto/mosquitto.conf: Mosquitto's default of 1000 queued messages per
# session would drop readings while a gateway is away, which no gateway can undo.
OUTAGE_S = 12.0
BROKER_CONF = "max_queued_messages 1000000\nmax_inflight_messages 1000\n"


@dataclass
class Rig:
    tmp_path: Path
    mosquitto: MosquittoServer
    influxd: InfluxdServer
    procs: ProcessGroup
    ports: dict[str, int]

    def start_gateway(self, name: str = "gw", **env: str) -> None:
        port = self.ports.setdefault(name, free_port())
        extra = {
            "SMARTFARM_CLIENT_ID": name,
            "SMARTFARM_GATEWAY_METRICS_PORT": str(port),
            **{f"SMARTFARM_{k.upper()}": v for k, v in env.items()},
        }
        self.procs.start(name, "gateway", env=extra)
        wait(lambda: bool(self.metrics(name)), what=f"{name} metrics")
        wait(lambda: self.metrics(name).get("smartfarm_gateway_mqtt_connected") == 1.0)

    def metrics(self, name: str = "gw") -> dict[str, float]:
        self.procs.assert_running(name)
        try:
            text = httpx.get(f"http://127.0.0.1:{self.ports[name]}/metrics", timeout=5).text
        except httpx.HTTPError:
            return {}
        return prometheus_values(text)

    def health(self, name: str = "gw") -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.ports[name]}/healthz", timeout=5)

    def publisher(self, client_id: str = "pub") -> Publisher:
        return Publisher(self.mosquitto.url, client_id)

    def topic(self, sensor: str) -> str:
        return f"farm/{FARM}/sensor/{sensor}/reading"

    def tally(self) -> tuple[int, int]:
        return influx_tally(self.influxd.url, "farm")

    def assert_stored_exactly_once(self, count: int, timeout: float = 60.0) -> None:
        """Every one of ``count`` distinct readings is in InfluxDB, and no extra point."""

        def all_there() -> bool:
            try:
                return self.tally()[1] >= count
            except httpx.HTTPError:
                return False

        wait(all_there, timeout=timeout, what=f"{count} readings stored")
        time.sleep(0.5)  # anything still arriving would be a duplicate: let it land
        assert self.tally() == (count, count)

    def state(self) -> StateStore:
        return StateStore(f"sqlite:///{self.tmp_path / 'var' / 'state.db'}")


def wait(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met in {timeout}s")
        time.sleep(0.1)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with MosquittoServer(tmp_path / "mosquitto", extra_conf=BROKER_CONF) as server:
        yield server


@pytest.fixture
def rig(tmp_path: Path, broker: MosquittoServer, influxd: InfluxdServer) -> Iterator[Rig]:
    mosquitto = broker
    farm_file = tmp_path / "farm.yaml"
    farm_file.write_text(farm_yaml(FARM, SENSORS, zones=4))
    procs = ProcessGroup(
        tmp_path,
        {
            "SMARTFARM_FARM_FILE": str(farm_file),
            "SMARTFARM_MQTT_URL": mosquitto.url,
            "SMARTFARM_VAR_DIR": str(tmp_path / "var"),
            "SMARTFARM_INFLUX_URL": influxd.url,
            "SMARTFARM_INFLUX_DATABASE": "farm",
            "SMARTFARM_BATCH_SECONDS": "0.2",
            # Short waits between retries, so an outage of seconds sees many of them.
            "SMARTFARM_GATEWAY_RETRY_MAX_SECONDS": "1",
            "SMARTFARM_GATEWAY_ROLLUP_SECONDS": "0",
        },
    )
    try:
        yield Rig(tmp_path, mosquitto, influxd, procs, {})
    finally:
        procs.stop_all()


def publish_in_background(
    rig: Rig, messages: list[tuple[str, bytes]], rate: float, client_id: str = "pub"
) -> threading.Thread:
    def run() -> None:
        publisher = rig.publisher(client_id)
        try:
            publisher.publish_all(messages, rate=rate)
            publisher.wait_all_acked(timeout=120)
        finally:
            publisher.close()

    thread = threading.Thread(target=run, name="publisher")
    thread.start()
    return thread


def recent(count: int) -> list[tuple[str, bytes]]:
    return backlog("farm", FARM, SENSORS, count, end=datetime.now(UTC))


def test_broker_restarted_mid_stream(rig: Rig) -> None:
    rig.start_gateway()
    messages = recent(3000)
    publishing = publish_in_background(rig, messages, rate=600)
    wait(lambda: rig.metrics().get("smartfarm_gateway_readings_stored_total", 0) > 300)
    rig.mosquitto.stop()  # QoS 1 messages queued for the gateway are saved to disk
    time.sleep(1.0)
    rig.mosquitto.start()
    publishing.join(timeout=120)
    assert not publishing.is_alive()
    rig.assert_stored_exactly_once(len(messages))
    assert "lost the MQTT connection" in rig.procs.log("gw")


def test_influxd_stopped_then_restarted(rig: Rig) -> None:
    # OUTAGE_S rather than 30 s: what matters is that retries, backoff at its cap and the alarm
    # all happen while it is down, and with a 1 s cap twelve seconds give a dozen retries.
    rig.start_gateway(gateway_store_alarm_seconds="3")
    probe = Probe(rig.mosquitto.url, [f"farm/{FARM}/alarm/gateway"], client_id="alarm-probe")
    messages = recent(4000)
    publishing = publish_in_background(rig, messages, rate=250)
    wait(lambda: rig.metrics().get("smartfarm_gateway_readings_stored_total", 0) > 200)
    rig.influxd.stop()
    stopped = time.monotonic()
    try:
        wait(
            lambda: (
                rig.metrics().get('smartfarm_gateway_store_errors_total{kind="unavailable"}', 0)
                >= 3
            )
        )
        alarm = json.loads(probe.wait_for(lambda m: b'"active":true' in m.payload).payload)
        assert alarm["kind"] == "store_unavailable"
        problems = rig.health().json()["problems"]
        assert any("store failing" in p for p in problems)
        assert rig.metrics()["smartfarm_gateway_wal_depth"] > 0  # kept, not dropped
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        # The oldest reading waiting shows how long the store has been gone.
        assert rig.metrics()["smartfarm_gateway_wal_oldest_age_seconds"] > OUTAGE_S / 2
    finally:
        rig.influxd.start()
    publishing.join(timeout=120)
    rig.assert_stored_exactly_once(len(messages))
    probe.wait_for(lambda m: b'"active":false' in m.payload)
    wait(lambda: rig.health().status_code == 200, what="healthy again")
    probe.close()


def test_gateway_killed_mid_batch_then_restarted(rig: Rig) -> None:
    messages = recent(20_000)
    rig.start_gateway()
    publishing = publish_in_background(rig, messages, rate=0)

    def mid_stream() -> bool:
        m = rig.metrics()
        stored = m.get("smartfarm_gateway_readings_stored_total", 0)
        return 2000 < stored < 15_000 and m.get("smartfarm_gateway_wal_depth", 0) > 0

    wait(mid_stream, timeout=60, what="gateway mid-stream")
    rig.procs.kill("gw")  # SIGKILL: no cleanup, as in a power cut
    publishing.join(timeout=120)
    rig.start_gateway()
    rig.assert_stored_exactly_once(len(messages), timeout=90)


def test_sensor_offline_for_a_day_replays_its_buffer(rig: Rig) -> None:
    rig.start_gateway(gateway_rollup_seconds="1")
    now = datetime.now(UTC).replace(microsecond=0)
    offline = SENSORS[0]
    buffered = [
        (rig.topic(offline), reading_payload(offline, seq, now - timedelta(minutes=1440 - seq)))
        for seq in range(1440)
    ]
    live = [
        (rig.topic(s), reading_payload(s, 10_000 + n, now - timedelta(seconds=n)))
        for n in range(60)
        for s in SENSORS[1:]
    ]
    publisher = rig.publisher()
    try:
        # The node comes back: its day-old buffer, interleaved with everyone's live readings,
        # then the same buffer again, as a node does after losing its connection mid-replay.
        publisher.publish_all(x for pair in zip(buffered, live, strict=False) for x in pair)
        publisher.publish_all(live[len(buffered) :])
        publisher.publish_all(buffered)
        publisher.wait_all_acked()
    finally:
        publisher.close()
    rig.assert_stored_exactly_once(len(buffered) + len(live))
    store = InfluxTelemetryStore(url=rig.influxd.url, api="v1", database="farm")
    try:
        day = store.history([offline], now - timedelta(days=2), now + timedelta(minutes=1))
        assert [r.seq for r in day] == list(range(1440))
        assert day[0].ts == now - timedelta(minutes=1440)  # original timestamps kept
        assert {r.quality for r in day} == {"good"}

        # The day's hours were rolled up when the buffer arrived: a season's chart is cheap.
        def rolled_up() -> int:
            return sum(h.count for h in store.hourly([offline], now - timedelta(days=2), now))

        wait(lambda: rolled_up() == 1440, what="hourly stats of the replayed day")
        hours = store.hourly([offline], now - timedelta(days=2), now)
        assert len(hours) in (24, 25)  # whole hours, and the day need not start on one
        assert all(h.vwc_min <= h.vwc_mean <= h.vwc_max for h in hours)
    finally:
        store.close()


def test_two_gateways_on_one_shared_subscription(rig: Rig) -> None:
    for name in ("gw-a", "gw-b"):
        rig.start_gateway(name, gateway_share_group="rig")
    messages = recent(6000)
    publishing = publish_in_background(rig, messages, rate=0)
    publishing.join(timeout=120)
    rig.assert_stored_exactly_once(len(messages))
    split = [rig.metrics(n)["smartfarm_gateway_readings_stored_total"] for n in ("gw-a", "gw-b")]
    assert sum(split) == len(messages)
    assert min(split) > len(messages) / 4  # both took a share


def test_disk_budget_pauses_alarms_and_resumes_without_loss(rig: Rig) -> None:
    rig.start_gateway(gateway_wal_max_bytes=str(160 * 1024))
    probe = Probe(rig.mosquitto.url, [f"farm/{FARM}/alarm/gateway"], client_id="alarm-probe")
    rig.influxd.stop()  # nothing leaves the log: it fills up
    messages = recent(5000)
    try:
        publishing = publish_in_background(rig, messages, rate=0)
        publishing.join(timeout=120)  # the broker took them all, and holds what we did not ack
        wait(lambda: rig.metrics().get("smartfarm_gateway_paused") == 1.0, what="paused")
        alarm = json.loads(probe.wait_for(lambda m: b'"active":true' in m.payload).payload)
        assert alarm["kind"] == "disk_budget"
        problems = rig.health().json()["problems"]
        assert any("disk budget" in p for p in problems)
        state = rig.state()
        try:
            [active] = state.alarms()
            assert (active.source, active.kind) == ("gateway", "disk_budget")
        finally:
            state.close()
        logged = rig.metrics()["smartfarm_gateway_readings_logged_total"]
        assert 0 < logged < len(messages)
        time.sleep(2)
        assert rig.metrics()["smartfarm_gateway_readings_logged_total"] == logged  # stopped
    finally:
        rig.influxd.start()  # the log drains: room again
    rig.assert_stored_exactly_once(len(messages), timeout=90)
    probe.wait_for(lambda m: b'"active":false' in m.payload)
    assert rig.metrics()["smartfarm_gateway_paused"] == 0.0
    state = rig.state()
    try:
        assert state.alarms() == []
    finally:
        state.close()
    probe.close()
