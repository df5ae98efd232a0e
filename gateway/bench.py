"""``smartfarm bench ingest``: how fast the gateway stores readings, and that it loses none.

Against a real Mosquitto and a real influxd (its own, on free ports, unless URLs are given)
and the gateway as a real subprocess. Three phases, each into its own database:

- drain: ``--readings`` readings from ``--sensors`` sensors are queued in the broker for
  the gateway's persistent session while it is down; then it starts and drains them into
  InfluxDB. ``rate_per_s`` counts readings the store confirmed, from the first message
  received to the last one stored. ``ceiling_per_s`` is a bare C subscriber
  (``mosquitto_sub``, QoS 1, persistent session) draining an identical backlog, queued for
  it at the same time by the same publishes.
- live: publishers offer readings for ``--live-seconds`` while the gateway runs, at
  ``--live-rate`` or, by default, at 85% of the highest rate the gateway kept up with in a
  few 15 s trials (all stored within 2.5 s of the last publish, p99 under 2 s).
  ``p99_latency_ms`` is publish-to-queryable, for the readings of a few probe sensors
  found by polling InfluxDB.
- shared: the drain again with ``--gateways`` gateways on one shared subscription.

Prints one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from smartfarm.settings import parse_mqtt_url
from smartfarm.testing.influxd import InfluxdServer
from smartfarm.testing.load import (
    Publisher,
    backlog,
    farm_yaml,
    influx_query,
    influx_tally,
    iso_ms,
    prometheus_values,
    reading_payload,
    register_session,
    sensor_ids,
)
from smartfarm.testing.mosquitto import MosquittoServer
from smartfarm.testing.ports import free_port
from smartfarm.testing.processes import ProcessGroup

log = logging.getLogger(__name__)

FARM_ID = "bench"
PREFIX = "farm"
READINGS_TOPIC = f"{PREFIX}/{FARM_ID}/sensor/+/reading"
# The broker must hold a whole backlog for two sessions and not cap in-flight messages.
BROKER_CONF = "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\n"
PROBES = 5
TRIALS = 4
TRIAL_S = 15.0
TARGET_P99_MS = 2000.0
KEPT_UP_LAG_S = 2.5
SUSTAINED_SHARE = 0.85
PUBLISHERS = 2
SETTLE_S = 120.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="smartfarm bench ingest", description=__doc__)
    p.add_argument("--readings", type=int, default=300_000, help="backlog size (300000)")
    p.add_argument("--sensors", type=int, default=1000, help="simulated sensors (1000)")
    p.add_argument("--live-seconds", type=float, default=60.0, help="live phase length (60)")
    p.add_argument(
        "--live-rate",
        type=float,
        default=0.0,
        help="offered readings/s; 0 (default): the highest the gateway keeps up with, "
        "found in short trials",
    )
    p.add_argument("--gateways", type=int, default=2, help="gateways sharing (2; 0 skips)")
    p.add_argument("--mqtt-url", help="use this broker (queue limits must be raised)")
    p.add_argument("--influx-url", help="use this InfluxDB 1.x (v1 API, no auth)")
    p.add_argument("--keep", action="store_true", help="keep the work dir, print its path")
    return p.parse_args(argv)


@dataclass
class Env:
    workdir: Path
    mqtt_url: str
    influx_url: str
    farm_file: Path
    sensors: list[str]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="smartfarm-bench-"))
    try:
        with ExitStack() as stack:
            env = stack.enter_context(_environment(args, workdir))
            result = run(args, env)
    finally:
        if args.keep:
            log.info("work dir kept: %s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1


@contextmanager
def _environment(args: argparse.Namespace, workdir: Path) -> Iterator[Env]:
    with ExitStack() as stack:
        mqtt_url = args.mqtt_url
        if not mqtt_url:
            broker = MosquittoServer(workdir / "mosquitto", extra_conf=BROKER_CONF)
            stack.enter_context(broker)
            mqtt_url = broker.url
        influx_url = args.influx_url
        if not influx_url:
            influxd = stack.enter_context(InfluxdServer(workdir / "influxd"))
            influx_url = influxd.url
        sensors = sensor_ids(args.sensors)
        farm_file = workdir / "farm.yaml"
        farm_file.write_text(farm_yaml(FARM_ID, sensors))
        yield Env(workdir, mqtt_url, influx_url, farm_file, sensors)


def run(args: argparse.Namespace, env: Env) -> dict[str, Any]:
    result: dict[str, Any] = {"readings": args.readings, "sensors": args.sensors}
    drain = drain_phase(env, args.readings, "bench_drain", gateways=1, ceiling=True)
    result.update(
        rate_per_s=drain["rate_per_s"],
        ceiling_per_s=drain["ceiling_per_s"],
        sent=drain["sent"],
        stored=drain["stored"],
        lost=drain["lost"],
        duplicates=drain["duplicates"],
    )
    rss = [drain["rss_mb"]]
    if args.live_seconds > 0:
        rate = args.live_rate
        if not rate:
            best, trials = find_live_rate(env, start=_round(0.7 * drain["rate_per_s"]))
            # A minute at the edge found in 15 s trials is a coin toss on a shared machine.
            rate = _round(SUSTAINED_SHARE * best)
            result["live_trials"] = trials
        result["live_rate_asked"] = rate
        live = live_phase(env, rate, args.live_seconds)
        result.update(live)
        rss.append(live.pop("rss_mb"))
        result.pop("rss_mb", None)
    if args.gateways > 1:
        shared = drain_phase(env, args.readings, "bench_shared", gateways=args.gateways)
        result.update(
            shared_gateways=args.gateways,
            shared_rate_per_s=shared["rate_per_s"],
            shared_lost=shared["lost"],
            shared_duplicates=shared["duplicates"],
            shared_split=shared["split"],
        )
        result["lost"] += shared["lost"]
        result["duplicates"] += shared["duplicates"]
        rss.append(shared["rss_mb"])
    result["gateway_rss_mb"] = max(rss)
    result["date"] = datetime.now(UTC).date().isoformat()
    result["cpus"] = os.cpu_count()
    return result


# -- the gateway as subprocesses -----------------------------------------------------------


class Gateways:
    """Gateway subprocesses writing into one InfluxDB database, watched through /metrics."""

    def __init__(self, env: Env, db: str, count: int, tag: str) -> None:
        self.procs = ProcessGroup(env.workdir, _gateway_env(env, db))
        self.ids = [f"bench-{tag}-{i}" for i in range(count)]
        self.ports = [free_port() for _ in self.ids]
        self.share = f"bench-{tag}" if count > 1 else None
        self.topic_filter = (
            f"$share/{self.share}/{READINGS_TOPIC}" if self.share else READINGS_TOPIC
        )

    def register(self, url: str) -> None:
        for client_id in self.ids:
            register_session(url, client_id, self.topic_filter)

    def start(self) -> None:
        for client_id, port in zip(self.ids, self.ports, strict=True):
            extra = {"SMARTFARM_CLIENT_ID": client_id, "SMARTFARM_GATEWAY_METRICS_PORT": str(port)}
            if self.share:
                extra["SMARTFARM_GATEWAY_SHARE_GROUP"] = self.share
            self.procs.start(client_id, "gateway", env=extra)

    def metrics(self) -> list[dict[str, float]]:
        out: list[dict[str, float]] = []
        for client_id, port in zip(self.ids, self.ports, strict=True):
            self.procs.assert_running(client_id)
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError:
                out.append({})
                continue
            out.append(prometheus_values(text))
        return out

    def total(self, name: str) -> float:
        return sum(m.get(f"smartfarm_gateway_{name}", 0.0) for m in self.metrics())

    def rss_mb(self) -> float:
        """Peak resident memory of the largest gateway (VmHWM)."""
        peaks = []
        for proc in self.procs.procs.values():
            status = Path(f"/proc/{proc.pid}/status").read_text()
            kb = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM"))
            peaks.append(kb / 1024)
        return round(max(peaks), 1)

    def stop(self) -> None:
        self.procs.stop_all()


def _gateway_env(env: Env, db: str) -> dict[str, str]:
    return {
        "SMARTFARM_FARM_FILE": str(env.farm_file),
        "SMARTFARM_MQTT_URL": env.mqtt_url,
        "SMARTFARM_VAR_DIR": str(env.workdir / f"var-{db}"),
        "SMARTFARM_INFLUX_URL": env.influx_url,
        "SMARTFARM_INFLUX_DATABASE": db,
        "SMARTFARM_LOG_LEVEL": "WARNING",
        # The bench's readings are an hour old at most; rollups would only add queries.
        "SMARTFARM_GATEWAY_ROLLUP_SECONDS": "0",
    }


def _create_database(url: str, db: str) -> None:
    httpx.post(f"{url}/query", data={"q": f'DROP DATABASE "{db}"'}, timeout=30)
    httpx.post(f"{url}/query", data={"q": f'CREATE DATABASE "{db}"'}, timeout=30)


# -- drain -----------------------------------------------------------------------------------


def drain_phase(
    env: Env, count: int, db: str, gateways: int, ceiling: bool = False
) -> dict[str, Any]:
    _create_database(env.influx_url, db)
    gws = Gateways(env, db, gateways, tag=db.removeprefix("bench_"))
    gws.register(env.mqtt_url)
    ceiling_id = f"bench-ceiling-{os.getpid()}"
    if ceiling:
        register_session(env.mqtt_url, ceiling_id, READINGS_TOPIC)
    log.info("%s: queueing %d readings", db, count)
    _publish_backlog(env, count)
    out: dict[str, Any] = {"sent": count}
    if ceiling:
        out["ceiling_per_s"] = _ceiling(env.mqtt_url, ceiling_id, count)
        log.info("%s: mosquitto_sub drained at %.0f/s", db, out["ceiling_per_s"])
    gws.start()
    try:
        first_seen, all_stored = _watch_drain(gws, count)
        out["rss_mb"] = gws.rss_mb()
        out["split"] = [
            int(m.get("smartfarm_gateway_readings_stored_total", 0)) for m in gws.metrics()
        ]
    finally:
        gws.stop()
    out["rate_per_s"] = round(count / (all_stored - first_seen))
    points, distinct = influx_tally(env.influx_url, db)
    out.update(stored=distinct, lost=count - distinct, duplicates=points - distinct)
    log.info("%s: %s", db, out)
    return out


def _publish_backlog(env: Env, count: int) -> None:
    """Publish from PUBLISHERS processes at once (one Python process is too slow alone)."""
    end = datetime.now(UTC) - timedelta(seconds=5)
    ctx = multiprocessing.get_context("spawn")
    shards = [env.sensors[k::PUBLISHERS] for k in range(PUBLISHERS)]
    counts = [count // PUBLISHERS + (k < count % PUBLISHERS) for k in range(PUBLISHERS)]
    procs = [
        ctx.Process(
            target=_publish_child,
            args=(env.mqtt_url, f"bench-pub-{k}-{os.getpid()}", shard, n, iso_ms(end)),
        )
        for k, (shard, n) in enumerate(zip(shards, counts, strict=True))
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"publisher exited with {proc.exitcode}")


def _publish_child(url: str, client_id: str, sensors: list[str], count: int, end: str) -> None:
    publisher = Publisher(url, client_id)
    try:
        end_ts = datetime.fromisoformat(end.replace("Z", "+00:00"))
        publisher.publish_all(backlog(PREFIX, FARM_ID, sensors, count, end_ts))
        publisher.wait_all_acked(timeout=600)
    finally:
        publisher.close()


def _ceiling(url: str, client_id: str, count: int) -> float:
    endpoint = parse_mqtt_url(url)
    command = [
        shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub",
        *("-h", endpoint.host, "-p", str(endpoint.port), "-q", "1", "-c"),
        *("-i", client_id, "-t", READINGS_TOPIC, "-C", str(count), "-W", "600"),
    ]
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return round(count / (time.perf_counter() - started))


def _watch_drain(gws: Gateways, count: int, timeout: float = 900.0) -> tuple[float, float]:
    """(time the first message was received, time the last reading was stored)."""
    deadline = time.monotonic() + timeout
    first: float | None = None
    while time.monotonic() < deadline:
        now = time.perf_counter()
        metrics = gws.metrics()
        received = sum(m.get("smartfarm_gateway_readings_received_total", 0) for m in metrics)
        stored = sum(m.get("smartfarm_gateway_readings_stored_total", 0) for m in metrics)
        if first is None and received > 0:
            first = now
        if first is not None and stored >= count:
            return first, now
        time.sleep(0.05)
    raise TimeoutError(f"drain not done in {timeout:.0f}s")


# -- live ------------------------------------------------------------------------------------


def find_live_rate(env: Env, start: float) -> tuple[float, list[dict[str, Any]]]:
    """The highest offered rate the gateway kept up with in short trials, and the trials.

    Kept up: everything stored within 2.5 s of the last publish (a batch waits up to 1 s)
    and p99 latency under 2 s. Up by a fifth after a
    trial that kept up, down by a fifth after one that did not; stops when the publishers
    themselves fall short of the rate asked.
    """
    rate, best = start, 0.0
    trials: list[dict[str, Any]] = []
    for n in range(TRIALS):
        r = live_phase(env, rate, TRIAL_S, db=f"bench_trial{n}", tag=f"trial{n}")
        p99 = r["p99_latency_ms"]
        ok = r["live_lag_s"] <= KEPT_UP_LAG_S and p99 is not None and p99 <= TARGET_P99_MS
        offered = r["live_offered_per_s"]
        trials.append(
            {"asked": round(rate), "offered": offered, "lag_s": r["live_lag_s"], "p99_ms": p99}
        )
        trials[-1]["ok"] = ok
        log.info("live trial: %s", trials[-1])
        if ok:
            best = max(best, float(r["live_offered_per_s"]))
            if r["live_offered_per_s"] < 0.95 * rate:
                break  # the publishers are the limit, not the gateway
            rate *= 1.2
        else:
            rate *= 0.8
            if best and rate <= best:
                break
    return (best or rate), trials


def live_phase(
    env: Env, rate: float, seconds: float, db: str = "bench_live", tag: str = "live"
) -> dict[str, Any]:
    _create_database(env.influx_url, db)
    gws = Gateways(env, db, 1, tag=tag)
    gws.start()
    probes = env.sensors[:PROBES]
    try:
        _wait_metrics(gws)
        ctx = multiprocessing.get_context("spawn")
        shards = [env.sensors[k::PUBLISHERS] for k in range(PUBLISHERS)]
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=_live_child,
                args=(env.mqtt_url, f"bench-pub-{k}", shard, rate / PUBLISHERS, seconds, results),
            )
            for k, shard in enumerate(shards)
        ]
        for proc in procs:
            proc.start()
        probe = LatencyProbe(env.influx_url, db, probes)
        probe.poll_until(time.monotonic() + seconds)
        sent_stats = [results.get(timeout=SETTLE_S) for _ in procs]
        for proc in procs:
            proc.join()
        sent = sum(n for n, _, _ in sent_stats)
        started = min(t for _, t, _ in sent_stats)
        ended = max(t for _, _, t in sent_stats)
        all_stored = _settle(gws, sent, probe)
        probe.poll_until(time.monotonic() + 1)
        rss = gws.rss_mb()
    finally:
        gws.stop()
    points, distinct = influx_tally(env.influx_url, db)
    latencies = sorted(probe.latencies)
    probe_sent = sent * PROBES / len(env.sensors)
    out = {
        "live_seconds": seconds,
        "live_offered_per_s": round(sent / (ended - started)),
        # Everything sent, over the time from the first publish to the last one stored.
        "live_stored_per_s": round(sent / (all_stored - started)),
        "live_lag_s": round(all_stored - ended, 2),
        "live_sent": sent,
        "live_lost": sent - distinct,
        "live_duplicates": points - distinct,
        "p50_latency_ms": _ms(latencies, 0.50),
        "p99_latency_ms": _ms(latencies, 0.99),
        "latency_samples": len(latencies),
        "latency_probe_share": round(len(latencies) / probe_sent, 3) if probe_sent else 0,
        "rss_mb": rss,
    }
    log.info("live: %s", out)
    return out


def _wait_metrics(gws: Gateways, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(gws.metrics()):
        if time.monotonic() > deadline:
            raise TimeoutError("gateway metrics not up")
        time.sleep(0.1)


def _settle(gws: Gateways, sent: int, probe: LatencyProbe) -> float:
    """Wall time when the gateway had stored all ``sent`` readings (polling latency meanwhile)."""
    deadline = time.monotonic() + SETTLE_S
    while gws.total("readings_stored_total") < sent:
        if time.monotonic() > deadline:
            raise TimeoutError(f"live readings not all stored {SETTLE_S:.0f}s after the end")
        probe.poll_until(time.monotonic() + 0.05)
    return time.time()


def _live_child(
    url: str,
    client_id: str,
    sensors: list[str],
    rate: float,
    seconds: float,
    results: Any,
) -> None:
    """Publish round-robin over ``sensors`` at ``rate``/s, each stamped with its send time."""
    publisher = Publisher(url, client_id)
    topics = [f"{PREFIX}/{FARM_ID}/sensor/{device}/reading" for device in sensors]
    sent = 0
    wall_start = time.time()
    started = time.monotonic()
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            ahead = sent / rate - elapsed
            if ahead > 0:
                time.sleep(ahead)
            # Microseconds: a sensor's readings never share a timestamp, even at high rates.
            stamp = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
            # One stamp for at most one reading of each sensor.
            for _ in range(min(50, len(sensors))):
                k = sent % len(sensors)
                seq = sent // len(sensors)
                publisher.publish(topics[k], reading_payload(sensors[k], seq, stamp))
                sent += 1
        wall_end = time.time()
        publisher.wait_all_acked(timeout=SETTLE_S)
    finally:
        publisher.close()
    results.put((sent, wall_start, wall_end))


class LatencyProbe:
    """Seconds from each probe reading's timestamp to the poll that first found it stored."""

    def __init__(self, url: str, db: str, probes: list[str]) -> None:
        self.url = url
        self.db = db
        where = " OR ".join(f"\"sensor\" = '{p}'" for p in probes)
        self.statement = (
            f'SELECT "seq" FROM "soil" WHERE ({where}) AND time > now() - 30s GROUP BY "sensor"'
        )
        self.seen: set[tuple[str, int]] = set()
        self.latencies: list[float] = []

    def poll_until(self, until: float) -> None:
        while time.monotonic() < until:
            rows = influx_query(self.url, self.db, self.statement)
            found_at = time.time()
            for row in rows:
                key = (row["sensor"], row["seq"])
                if key not in self.seen:
                    self.seen.add(key)
                    self.latencies.append(found_at - row["time"] / 1e9)
            time.sleep(0.1)


def _round(rate: float) -> float:
    return max(500.0, round(rate / 500) * 500)


def _ms(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return round(sorted_values[index] * 1000, 1)
