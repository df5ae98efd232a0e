"""``smartfarm bench controller``: reading-to-command latency and CPU at 10,000 zones.

A Mosquitto of our own, the controller as a real subprocess, and this process as the farm:
it publishes readings (one a minute per zone, plus bursts) and a helper process plays
every valve (answers each command with its retained state, as docs/protocol.md says) and
notes when each command reached it. The same feed against a trivial echo subscriber in
place of the controller gives the broker+client floor, measured in the same run; the same
feed against a smaller farm shows whether cost follows the readings or the zone count.
Two latencies: ``p50_ms``/``p99_ms`` are the issue's "reading received to valve command
published", read from the controller's own histogram on /metrics (upper bounds of buckets
1-2 ms wide up to 50 ms); ``e2e_*`` add both broker hops and this process's publishing, and are
what the echo ceiling bounds. Prints one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from controller.metrics import LATENCY_METRIC, histogram_quantile
from smartfarm.settings import parse_mqtt_url
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port, wait_for_port
from smartfarm.testing.processes import ProcessGroup

log = logging.getLogger(__name__)

START, STOP = 0.25, 0.29  # every zone's thresholds (m3/m3)
# Readings of a zone: dry just below start, wet just above stop, in band between. Any two
# stay within 0.07 of each other, short of the 0.08 jump the quality check calls a spike.
DRY, IN_BAND, WET = (
    (START - 0.015, START - 0.002),
    (START + 0.003, STOP - 0.003),
    (STOP + 0.002, STOP + 0.015),
)
ZONE_FLOW_LPH = 200  # 100 emitters of 2 L/h: a small drip block
TARGET_P99_MS = 50.0
# Cost is "proportional to changed zones" when CPU per 1k readings at the big farm is
# within this factor of the small farm's, at the same reading rate.
PROPORTIONAL_RATIO = 1.5
READY_TIMEOUT_S = 180.0
DRAIN_S = 10.0
IDLE, EXPECT_OPEN, OPEN, EXPECT_CLOSE = range(4)
Event = tuple[str, int, float]  # ("o" | "c", zone, monotonic time the command arrived)


def farm_yaml(farm_id: str, zones: int) -> str:
    """A farm of ``zones`` zones, one sensor and one valve each; the pump can feed them all."""
    head = f"""\
farm:
  id: {farm_id}
  name: bench
  pump: {{capacity_lph: {max(1, zones) * ZONE_FLOW_LPH}}}
defaults:
  crop: coffee
  soil: loam
  area_m2: 400
  emitters: 100
  emitter_flow_lph: 2
  thresholds: {{start: {START}, stop: {STOP}}}
  min_off_minutes: 0
  max_daily_minutes: 1440
zones:
"""
    rows = (f"  - {{id: z{i}, name: z{i}, valve: v{i}, sensors: [s{i}]}}\n" for i in range(zones))
    return head + "".join(rows)


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _connect(
    url: str,
    client_id: str,
    subscriptions: list[tuple[str, int]],
    on_message: Callable[[paho.Client, Any, paho.MQTTMessage], None] | None = None,
) -> paho.Client:
    """A connected paho client: unbounded in-flight and queued messages, no Nagle delay.

    One connection here speaks for thousands of devices that would each send alone, so
    small packets must not wait for the previous one's ACK (about 40 ms with delayed ACK).
    """
    endpoint = parse_mqtt_url(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    ready = threading.Event()

    def on_connect(c: paho.Client, *_: Any) -> None:
        sock = c.socket()
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if subscriptions:
            c.subscribe(subscriptions)
        else:
            ready.set()

    client.on_connect = on_connect
    client.on_subscribe = lambda *_: ready.set()
    if on_message is not None:
        client.on_message = on_message
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    if not ready.wait(15):
        raise ConnectionError(f"{client_id}: no MQTT connection to {url}")
    return client


# -- helper processes: every valve, and the echo subscriber ------------------------------


def _serve(role: str, url: str, farm_id: str) -> int:
    """Run a helper until stdin closes; each command seen is one line on stdout."""
    base = f"farm/{farm_id}"
    out = sys.stdout
    if role == "_valves":
        client = _connect(url, f"bench-valves-{farm_id}", [(f"{base}/valve/+/command", 1)])
        client.on_message = lambda c, _u, msg: _answer(c, msg, base, out)
    else:
        client = _connect(url, f"bench-echo-{farm_id}", [(f"{base}/sensor/+/reading", 1)])
        client.on_message = lambda c, _u, msg: _echo(c, msg, base)
    out.write("ready\n")
    out.flush()
    for _ in sys.stdin:
        pass
    client.disconnect()
    client.loop_stop()
    return 0


def _answer(client: paho.Client, msg: paho.MQTTMessage, base: str, out: Any) -> None:
    """Be the valve: note the command's arrival, then confirm it with the retained state."""
    arrived = time.monotonic()
    valve = msg.topic.split("/")[-2]
    command = json.loads(msg.payload)
    now = datetime.now(UTC)
    opening = command["action"] == "open"
    state = {
        "v": 1,
        "device": valve,
        "state": "open" if opening else "closed",
        "ts": _iso(now),
        "command_id": command["id"],
        "since": _iso(now),
        "until": _iso(now + timedelta(seconds=command["duration_s"])) if opening else None,
    }
    out.write(f"{command['action'][0]} {valve[1:]} {arrived:.6f}\n")
    out.flush()
    client.publish(f"{base}/valve/{valve}/state", json.dumps(state), qos=1, retain=True)


def _echo(client: paho.Client, msg: paho.MQTTMessage, base: str) -> None:
    """The floor: a reading below start opens, one at stop closes; nothing else."""
    data = json.loads(msg.payload)
    vwc = data["vwc"]
    if START <= vwc < STOP:
        return
    body: dict[str, object] = {
        "v": 1,
        "id": uuid.uuid4().hex[:16],
        "issued": _iso(datetime.now(UTC)),
    }
    body["action"] = "open" if vwc < START else "close"
    if vwc < START:
        body["duration_s"] = 3600
    valve = "v" + data["device"][1:]
    client.publish(f"{base}/valve/{valve}/command", json.dumps(body), qos=1)


class Helper:
    """A helper subprocess; its stdout lines become events on ``events``."""

    def __init__(self, role: str, url: str, farm_id: str, events: queue.SimpleQueue[Event]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controller.bench", role, url, farm_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"bench helper {role} did not start")
        self._thread = threading.Thread(target=self._read, args=(events,), daemon=True)
        self._thread.start()

    def _read(self, events: queue.SimpleQueue[Event]) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            action, zone, arrived = line.split()
            events.put((action, int(zone), float(arrived)))

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the farm: readings out, commands in ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    rate: float  # steady readings per second (zones / 60 for the main farm)
    burst: int  # readings at once ...
    burst_every_s: float  # ... this often
    dry_fraction: float  # share of readings from idle zones that fall below start
    open_s: float  # a valve stays open this long before its zone reads wet


@dataclass(slots=True)
class Tally:
    """What one measured window saw."""

    open_ms: list[tuple[float, bool]] = field(default_factory=list)  # (latency, in a burst)
    close_ms: list[float] = field(default_factory=list)
    readings: int = 0  # published in the window
    consumed: int | None = None  # taken in by the subscriber in the window, when known
    unexpected: int = 0
    lost: int = 0


class Feed:
    """Plays the farm's sensors and follows its valves, zone by zone."""

    def __init__(
        self, url: str, farm_id: str, zones: int, load: Load, seed: int, name: str
    ) -> None:
        self.base = f"farm/{farm_id}"
        self.zones = zones
        self.load = load
        self.rng = random.Random(seed)
        self.order = list(range(zones))
        self.rng.shuffle(self.order)
        self.state = [IDLE] * zones
        self.sent_at = [0.0] * zones
        self.in_burst = [False] * zones
        self.seq = [0] * zones
        self.index = [0] * zones  # position in the stream of the zone's last trigger
        # (when a command arrived, stream position of the reading it answers): how far the
        # subscriber has read, whether it keeps up or not.
        self.progress: list[tuple[float, int]] = []
        self.total = 0
        self.closing: deque[tuple[float, int]] = deque()
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.client = _connect(url, f"bench-feed-{name}", [])
        self.sent = 0
        self.window = (math.inf, math.inf)
        self.tally = Tally()

    def publish_closed_states(self) -> None:
        """Every valve closed, retained, as valve nodes publish on connect."""
        ts = _iso(datetime.now(UTC))
        infos = [
            self.client.publish(
                f"{self.base}/valve/v{i}/state",
                f'{{"v":1,"device":"v{i}","state":"closed","ts":"{ts}","command_id":null}}',
                qos=1,
                retain=True,
            )
            for i in range(self.zones)
        ]
        for info in infos:
            info.wait_for_publish(30)

    def wait_ready(self, alive: Callable[[], None]) -> None:
        """Until zone 0, read dry, has its valve opened: the subscriber is up and deciding."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self.state[0] == EXPECT_OPEN or self.state[0] == IDLE:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no valve command after {READY_TIMEOUT_S:.0f}s")
            alive()
            self.state[0] = IDLE
            self._read(0, _iso(datetime.now(UTC)), False, dry=True)
            end = time.monotonic() + 1.0
            while time.monotonic() < end and self.state[0] == EXPECT_OPEN:
                self._drain()
                time.sleep(0.01)

    def run(self, seconds: float, measure: bool) -> None:
        """Publish the load for ``seconds``; with ``measure``, this is the window."""
        t0 = time.monotonic()
        until = t0 + seconds
        if measure:
            self.window = (t0, until)
            self.sent = 0
        steady, next_burst = 0, t0 + self.load.burst_every_s
        while (now := time.monotonic()) < until:
            self._drain()
            ts = _iso(datetime.now(UTC))
            for _ in range(int((now - t0) * self.load.rate) - steady):
                self._read(self.order[steady % self.zones], ts, False)
                steady += 1
            if now >= next_burst:
                for zone in self.rng.sample(range(self.zones), min(self.load.burst, self.zones)):
                    self._read(zone, ts, True)
                next_burst += self.load.burst_every_s
            while self.closing and self.closing[0][0] <= now:
                zone = self.closing.popleft()[1]
                if self.state[zone] == OPEN:
                    self._read(zone, ts, False, wet=True)
            time.sleep(0.002)
        if measure:
            self.tally.readings = self.sent

    def finish(self) -> Tally:
        """Wait for the commands still owed to readings of the window; count the rest lost."""
        end = time.monotonic() + DRAIN_S
        while time.monotonic() < end and self._owed():
            self._drain()
            time.sleep(0.01)
        self._drain()
        self.tally.lost = self._owed()
        start, stop = self.window
        done = [self._read_up_to(start), self._read_up_to(stop)]
        if done[0] is not None and done[1] is not None:
            self.tally.consumed = done[1] - done[0]
        self.client.disconnect()
        self.client.loop_stop()
        return self.tally

    def _read_up_to(self, when: float) -> int | None:
        """Stream position the subscriber had reached at ``when``, from the answers seen."""
        return max((i for arrived, i in self.progress if arrived <= when), default=None)

    def _owed(self) -> int:
        start, stop = self.window
        return sum(
            1
            for z in range(self.zones)
            if self.state[z] in (EXPECT_OPEN, EXPECT_CLOSE) and start <= self.sent_at[z] < stop
        )

    def _read(self, zone: int, ts: str, burst: bool, dry: bool = False, wet: bool = False) -> None:
        rng = self.rng
        trigger = True
        if wet:
            vwc, self.state[zone] = rng.uniform(*WET), EXPECT_CLOSE
        elif dry or (self.state[zone] == IDLE and rng.random() < self.load.dry_fraction):
            vwc, self.state[zone] = rng.uniform(*DRY), EXPECT_OPEN
        else:
            vwc, trigger = rng.uniform(*IN_BAND), False
        self.seq[zone] += 1
        payload = (
            f'{{"v":1,"device":"s{zone}","ts":"{ts}","seq":{self.seq[zone]},'
            f'"vwc":{vwc:.4f},"temp_c":27.5,"battery_v":3.9}}'
        )
        if trigger:
            # Only the trigger's: later readings of the zone must not shorten its latency.
            self.sent_at[zone], self.in_burst[zone] = time.monotonic(), burst
            self.index[zone] = self.total
        self.client.publish(f"{self.base}/sensor/s{zone}/reading", payload, qos=1)
        self.sent += 1
        self.total += 1

    def _drain(self) -> None:
        start, stop = self.window
        while True:
            try:
                action, zone, arrived = self.events.get_nowait()
            except queue.Empty:
                return
            state, sent = self.state[zone], self.sent_at[zone]
            counted = start <= sent < stop
            ms = (arrived - sent) * 1000
            if (action, state) in (("o", EXPECT_OPEN), ("c", EXPECT_CLOSE)):
                self.progress.append((arrived, self.index[zone]))
            if action == "o" and state == EXPECT_OPEN:
                self.state[zone] = OPEN
                self.closing.append((arrived + self.load.open_s, zone))
                if counted:
                    self.tally.open_ms.append((ms, self.in_burst[zone]))
            elif action == "c" and state == EXPECT_CLOSE:
                self.state[zone] = IDLE
                if counted:
                    self.tally.close_ms.append(ms)
            elif start <= arrived < stop:
                self.tally.unexpected += 1  # a retry, or a close we did not ask for


# -- phases and figures ----------------------------------------------------------------------


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, in the unit of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)], 1)


@dataclass(frozen=True, slots=True)
class Options:
    zones: int
    seconds: float
    warmup: float
    scaling_zones: int
    load: Load
    seed: int


def run_phase(
    kind: str, broker: MosquittoServer, workdir: Path, zones: int, opts: Options
) -> dict[str, Any]:
    """One subscriber (the controller, or the echo floor) under the load; its figures."""
    farm_id = f"bench-{kind}-{zones}"
    log.info("bench: %s with %d zones: starting", kind, zones)
    feed = Feed(broker.url, farm_id, zones, opts.load, opts.seed, kind)
    helpers = [Helper("_valves", broker.url, farm_id, feed.events)]
    procs: ProcessGroup | None = None
    metrics_port = free_port()
    buckets: list[list[tuple[float, float]]] = []
    try:
        if kind == "echo":
            helpers.append(Helper("_echo", broker.url, farm_id, feed.events))
            pid = helpers[-1].proc.pid
            feed.wait_ready(lambda: None)
        else:
            feed.publish_closed_states()
            procs = _start_controller(broker, workdir / farm_id, farm_id, zones, metrics_port)
            pid = procs.procs["controller"].pid
            feed.wait_ready(lambda: procs.assert_running("controller") if procs else None)
        log.info("bench: %s ready; warming up %.0fs", kind, opts.warmup)
        feed.run(opts.warmup, measure=False)
        log.info("bench: %s: measuring %.0fs", kind, opts.seconds)
        if procs is not None:
            buckets.append(latency_buckets(metrics_port))
        cpu0, t0 = _cpu_s(pid), time.monotonic()
        feed.run(opts.seconds, measure=True)
        cpu, elapsed, rss = _cpu_s(pid) - cpu0, time.monotonic() - t0, _rss_mb(pid)
        open_valves = sum(1 for s in feed.state if s in (OPEN, EXPECT_CLOSE))
        tally = feed.finish()
        if procs is not None:
            procs.assert_running("controller")
            buckets.append(latency_buckets(metrics_port))
    finally:
        for helper in helpers:
            helper.stop()
        if procs is not None:
            procs.stop_all()
    figures = _figures(tally, cpu, elapsed, rss, open_valves)
    if len(buckets) == 2:
        # The window's own commands: the counts at its end less those at its start (the
        # window's last commands are in, since ``finish`` waited for them).
        window = [(le, b - a) for (le, a), (_, b) in zip(*buckets, strict=True)]
        figures["commands_timed"] = int(window[-1][1]) if window else 0
        for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
            upper = histogram_quantile(window, q)
            figures[name] = round(upper * 1000, 1) if upper is not None else None
    return figures


def latency_buckets(port: int) -> list[tuple[float, float]]:
    """Cumulative ``(le seconds, count)`` of the controller's latency histogram."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
        text = page.read().decode()
    prefix = f'{LATENCY_METRIC}_bucket{{le="'
    out = []
    for line in text.splitlines():
        if line.startswith(prefix):
            le, _, count = line[len(prefix) :].partition('"} ')
            out.append((math.inf if le == "+Inf" else float(le), float(count)))
    return out


def _start_controller(
    broker: MosquittoServer, workdir: Path, farm_id: str, zones: int, metrics_port: int
) -> ProcessGroup:
    workdir.mkdir(parents=True)
    farm_file = workdir / "farm.yaml"
    farm_file.write_text(farm_yaml(farm_id, zones))
    var_dir = workdir / "var"
    procs = ProcessGroup(
        workdir,
        {
            "SMARTFARM_FARM_FILE": str(farm_file),
            "SMARTFARM_MQTT_URL": broker.url,
            "SMARTFARM_VAR_DIR": str(var_dir),
            "SMARTFARM_STATE_DB_URL": f"sqlite:///{var_dir / 'state.db'}",
            "SMARTFARM_TOPIC_PREFIX": "farm",
            "SMARTFARM_LOG_LEVEL": "WARNING",
            "SMARTFARM_CONTROLLER_METRICS_PORT": str(metrics_port),
        },
    )
    procs.start("controller", "controller")
    wait_for_port(metrics_port, timeout=READY_TIMEOUT_S)
    return procs


def _figures(
    tally: Tally, cpu: float, elapsed: float, rss: float, open_valves: int
) -> dict[str, Any]:
    opens = [ms for ms, _ in tally.open_ms]
    steady = [ms for ms, burst in tally.open_ms if not burst]
    bursts = [ms for ms, burst in tally.open_ms if burst]
    # A subscriber that falls behind has not read every reading of the window: cost is
    # counted per reading it did take in.
    consumed = tally.readings if tally.consumed is None else tally.consumed
    per_1k = cpu / (consumed / 1000) if consumed > 0 else None
    return {
        "readings": tally.readings,
        "readings_per_s": round(tally.readings / elapsed, 1),
        "consumed_readings": consumed,
        "saturated": consumed < 0.95 * tally.readings or tally.lost > 0,
        "opens": len(opens),
        # Replaced by the controller's own figures where it has them (``run_phase``).
        "p50_ms": percentile(opens, 50),
        "p99_ms": percentile(opens, 99),
        "e2e_p50_ms": percentile(opens, 50),
        "e2e_p99_ms": percentile(opens, 99),
        "e2e_max_ms": percentile(opens, 100),
        "e2e_steady_p99_ms": percentile(steady, 99),
        "e2e_burst_p99_ms": percentile(bursts, 99),
        "e2e_close_p50_ms": percentile(tally.close_ms, 50),
        "e2e_close_p99_ms": percentile(tally.close_ms, 99),
        "lost": tally.lost,
        "unexpected_commands": tally.unexpected,
        "cpu_s_per_1k_readings": round(per_1k, 4) if per_1k is not None else None,
        "cpu_util": round(cpu / elapsed, 3),
        "rss_mb": rss,
        "open_valves": open_valves,
    }


def measure(opts: Options, workdir: Path) -> dict[str, Any]:
    # Unbounded queues: a subscriber that falls behind shows as latency, not lost messages.
    # TCP_NODELAY: otherwise the broker holds each small message ~40 ms (Nagle + delayed ACK).
    conf = "max_queued_messages 0\nmax_inflight_messages 0\nset_tcp_nodelay true\n"
    with MosquittoServer(workdir / "mosquitto", extra_conf=conf) as broker:
        echo = run_phase("echo", broker, workdir, opts.zones, opts)
        main = run_phase("controller", broker, workdir, opts.zones, opts)
        small = (
            run_phase("controller", broker, workdir, opts.scaling_zones, opts)
            if opts.scaling_zones
            else None
        )
    out: dict[str, Any] = {
        "bench": "controller",
        "date": datetime.now(UTC).date().isoformat(),
        "zones": opts.zones,
        "seconds": opts.seconds,
        "warmup_s": opts.warmup,
        "target_p99_ms": TARGET_P99_MS,
        **main,
        # The echo's end-to-end figures: the floor of the ``e2e_*`` ones.
        "ceiling_p50_ms": echo["e2e_p50_ms"],
        "ceiling_p99_ms": echo["e2e_p99_ms"],
        "ceiling_burst_p99_ms": echo["e2e_burst_p99_ms"],
        "ceiling_cpu_s_per_1k_readings": echo["cpu_s_per_1k_readings"],
        "load": {
            "steady_per_s": round(opts.load.rate, 1),
            "burst": opts.load.burst,
            "burst_every_s": opts.load.burst_every_s,
            "dry_fraction": opts.load.dry_fraction,
            "open_s": opts.load.open_s,
        },
        "p99_met": main["p99_ms"] is not None and main["p99_ms"] < TARGET_P99_MS,
    }
    if small is not None:
        big_cpu, small_cpu = main["cpu_s_per_1k_readings"], small["cpu_s_per_1k_readings"]
        ratio = round(big_cpu / small_cpu, 2) if big_cpu and small_cpu else None
        out["scaling"] = {
            "zones": [opts.scaling_zones, opts.zones],
            "cpu_s_per_1k_readings": [small_cpu, big_cpu],
            "p99_ms": [small["p99_ms"], main["p99_ms"]],
            "e2e_p99_ms": [small["e2e_p99_ms"], main["e2e_p99_ms"]],
            "rss_mb": [small["rss_mb"], main["rss_mb"]],
            # Cost per reading may also follow the runs under way: compare like with like.
            "open_valves": [small["open_valves"], main["open_valves"]],
            "ratio": ratio,
            "proportional_if_ratio_below": PROPORTIONAL_RATIO,
        }
        out["proportional"] = ratio is not None and ratio < PROPORTIONAL_RATIO
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartfarm bench controller",
        description="Reading-to-valve-command latency and CPU of the controller on a real "
        "Mosquitto, with the echo floor and a smaller farm for comparison. One JSON line.",
    )
    parser.add_argument("--zones", type=int, default=10_000, help="zones of the farm (10000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window (60)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=60.0,
        help="load before measuring: every zone reads once (60)",
    )
    parser.add_argument(
        "--scaling-zones", type=int, default=1000, help="smaller farm at the same rate; 0: skip"
    )
    parser.add_argument("--rate", type=float, help="steady readings per second (zones / 60)")
    parser.add_argument("--burst", type=int, default=1000, help="readings in a burst (1000)")
    parser.add_argument("--burst-every", type=float, default=10.0, help="seconds between bursts")
    parser.add_argument(
        "--dry-fraction", type=float, default=0.02, help="idle zones' readings below start"
    )
    parser.add_argument("--open-seconds", type=float, default=20.0, help="valve open time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="keep logs and stores here, not in a temp dir")
    return parser


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("_valves", "_echo"):
        return _serve(argv[0], argv[1], argv[2])
    args = build_parser().parse_args(argv)
    # SIGTERM (or a shell that ignores SIGINT) still stops the broker and the processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    rate = args.rate if args.rate is not None else args.zones / 60
    load = Load(rate, args.burst, args.burst_every, args.dry_fraction, args.open_seconds)
    opts = Options(args.zones, args.seconds, args.warmup, args.scaling_zones, load, args.seed)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = measure(opts, Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir)))
    else:
        with tempfile.TemporaryDirectory(prefix="smartfarm-bench-") as tmp:
            result = measure(opts, Path(tmp))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
