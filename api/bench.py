"""``smartfarm bench api``: the API under 100 concurrent clients, against ``smartfarm up``.

Starts ``smartfarm up`` as a subprocess (embedded broker, simulated farm, gateway,
controller, API) on free ports in a temp dir, logs in, pauses automatic watering (so the
pump is free for the presses) and then, at the same time:

- ``--clients`` clients each poll the zone-status endpoint (``GET /api/v1/zones``, what the
  phone page shows) every ``--interval`` seconds (the page polls every 2 s; 0 = back to
  back) for ``--seconds``: ``status_p50_ms`` / ``status_p99_ms``; ``status_alone_p50_ms`` is
  one client alone before the load.
  ``ceiling_p99_ms`` is ``GET /healthz`` (no database, no auth) under the same clients, the
  cost of HTTP and of this Python client on the same machine.
- one presser: for each zone in turn, ``POST /zones/{id}/water`` and the time until the
  valve's confirmed ``open`` state (published by the valve node, over the real broker)
  reaches an open ``/api/v1/events`` stream; then Stop and wait for ``closed``:
  ``press_to_confirmed_p50_ms`` / ``_p95_ms``.

Prints one JSON line on stdout with the targets alongside; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from smartfarm.testing.ports import free_port
from smartfarm.testing.processes import ProcessGroup, wait_http

log = logging.getLogger(__name__)
TARGET_STATUS_P99_MS = 50.0
TARGET_PRESS_P95_MS = 1000.0
PASSWORD = "bench-admin-password"
STATUS_PATH = "/api/v1/zones"


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="smartfarm bench api", description=__doc__)
    p.add_argument("--clients", type=int, default=100, help="concurrent clients (100)")
    p.add_argument("--seconds", type=float, default=30.0, help="load duration (30)")
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between one client's requests, 0 = back to back (1; the page polls every 2)",
    )
    p.add_argument("--presses", type=int, default=20, help="water-now presses (20)")
    p.add_argument("--farm", type=Path, default=Path("examples/farm.yaml"), help="farm config")
    return p.parse_args(argv)


@dataclass
class Stream:
    """Valve events from /api/v1/events, as they arrive (receive time, data)."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def follow(self, client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/api/v1/events", timeout=None) as response:
            response.raise_for_status()
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "valve":
                    self.events.append((time.perf_counter(), json.loads(line[6:])))
                    self.changed.set()

    async def wait(self, zone: str, state: str, after: float, timeout: float) -> float:
        """Receive time of the first event of this zone in this state after ``after``."""
        deadline = time.perf_counter() + timeout
        while True:
            for at, data in self.events:
                if at >= after and data["zone_id"] == zone and data["state"] == state:
                    return at
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"zone {zone}: no {state!r} valve event in {timeout:.0f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


class KeepAlive:
    """One HTTP/1.1 keep-alive connection doing GETs: a load client much lighter than httpx.

    With 100 httpx clients the client, not the server, set the latency on two cores (a
    trivial endpoint measured seconds). Bodies must carry a Content-Length (ours do).
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.head}\r\n"
        writer.write(request.encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, StopIteration) as err:
            self.close()
            raise ConnectionError(f"GET {path}: {err!r}") from err
        return int(lines[0].split()[1])

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def poll(
    client: KeepAlive,
    path: str,
    until: float,
    out: list[float],
    errors: list[str],
    interval: float = 0.0,
) -> None:
    """A GET every ``interval`` s (0: back to back); a failure is counted, not timed."""
    due = time.perf_counter() + random.uniform(0, interval)  # phones do not poll in step
    while due < until:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        start = time.perf_counter()
        due = start + interval
        try:
            status = await client.get(path)
        except ConnectionError as err:
            errors.append(str(err))
            continue
        if status != 200:
            errors.append(f"GET {path}: HTTP {status}")
            continue
        out.append((time.perf_counter() - start) * 1000)
    client.close()


async def press(
    client: httpx.AsyncClient, stream: Stream, zones: list[str], presses: int
) -> list[float]:
    latencies: list[float] = []
    for i in range(presses):
        zone = zones[i % len(zones)]
        start = time.perf_counter()
        response = await client.post(f"/api/v1/zones/{zone}/water", json={"minutes": 1})
        response.raise_for_status()
        opened = await stream.wait(zone, "open", start, timeout=30)
        latencies.append((opened - start) * 1000)
        stopped = time.perf_counter()
        (await client.post(f"/api/v1/zones/{zone}/stop")).raise_for_status()
        await stream.wait(zone, "closed", stopped, timeout=30)
    return latencies


async def quiet_farm(client: httpx.AsyncClient, stream: Stream, zones: list[str]) -> None:
    """No automatic runs during the measurement, and every valve closed to begin with."""
    until = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    for zone in zones:
        (await client.post(f"/api/v1/zones/{zone}/pause", json={"until": until})).raise_for_status()
        (await client.post(f"/api/v1/zones/{zone}/stop")).raise_for_status()
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        status = (await client.get(STATUS_PATH)).json()
        if all(z["valve"]["state"] == "closed" for z in status):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("valves still open 30 s after Stop")


async def measure(base: str, args: argparse.Namespace) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as anon:
        login = await anon.post(
            "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
    url = httpx.URL(base)
    host, port = url.host, url.port or 80

    def clients() -> list[KeepAlive]:
        return [KeepAlive(host, port, headers) for _ in range(args.clients)]

    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as presser:
        zones = [z["id"] for z in (await presser.get(STATUS_PATH)).json()]
        stream = Stream()
        follower = asyncio.create_task(stream.follow(presser))
        await quiet_farm(presser, stream, zones)
        errors: list[str] = []
        alone: list[float] = []
        await poll(clients()[0], STATUS_PATH, time.perf_counter() + 5, alone, errors)
        log.info("bench api: ceiling (healthz) with %d clients", args.clients)
        ceiling: list[float] = []
        until = time.perf_counter() + min(10.0, args.seconds)
        await asyncio.gather(
            *(poll(c, "/healthz", until, ceiling, errors, args.interval) for c in clients())
        )
        log.info(
            "bench api: %s with %d clients for %.0f s, presses",
            STATUS_PATH,
            args.clients,
            args.seconds,
        )
        status: list[float] = []
        until = time.perf_counter() + args.seconds
        pressing = asyncio.create_task(press(presser, stream, zones, args.presses))
        await asyncio.gather(
            *(poll(c, STATUS_PATH, until, status, errors, args.interval) for c in clients())
        )
        presses = await pressing
        follower.cancel()
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        "interval_s": args.interval,
        "status_endpoint": STATUS_PATH,
        "status_requests": len(status),
        "status_per_s": round(len(status) / args.seconds, 1),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "status_alone_p50_ms": _ms(percentile(alone, 50)),
        "status_p50_ms": _ms(percentile(status, 50)),
        "status_p99_ms": _ms(percentile(status, 99)),
        "target_status_p99_ms": TARGET_STATUS_P99_MS,
        "ceiling_p50_ms": _ms(percentile(ceiling, 50)),
        "ceiling_p99_ms": _ms(percentile(ceiling, 99)),
        "presses": len(presses),
        "press_to_confirmed_p50_ms": _ms(percentile(presses, 50)),
        "press_to_confirmed_p95_ms": _ms(percentile(presses, 95)),
        "target_press_to_confirmed_p95_ms": TARGET_PRESS_P95_MS,
        "cpus": os.cpu_count(),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def _ms(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    port, broker_port = free_port(), free_port()
    procs = ProcessGroup(
        workdir,
        {
            "SMARTFARM_ADMIN_PASSWORD": PASSWORD,
            "SMARTFARM_LOG_LEVEL": "WARNING",
        },
    )
    procs.start(
        "up",
        "up",
        "--farm",
        str(args.farm.resolve()),
        "--port",
        str(port),
        "--broker-port",
        str(broker_port),
        "--var-dir",
        str(workdir / "var"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", timeout=60)
        return asyncio.run(measure(base, args))
    except Exception:
        sys.stderr.write(procs.log("up")[-3000:])
        raise
    finally:
        procs.stop_all()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="smartfarm-bench-api-") as tmp:
        result = run(args, Path(tmp))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
