"""`smartfarm bench ingest` runs end to end with tiny numbers and prints one JSON line.

Not a timed test: the figures themselves are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from smartfarm.config import parse_farm_config
from smartfarm.testing.load import backlog, farm_yaml, sensor_ids

TINY = ["--readings", "400", "--sensors", "20", "--live-seconds", "3", "--live-rate", "200"]
KEYS = {
    "rate_per_s",
    "ceiling_per_s",
    "sent",
    "stored",
    "lost",
    "duplicates",
    "live_offered_per_s",
    "live_stored_per_s",
    "p99_latency_ms",
    "gateway_rss_mb",
    "shared_rate_per_s",
    "shared_lost",
    "shared_duplicates",
}


def test_bench_farm_is_valid_and_backlog_is_unique_per_sensor_and_time() -> None:
    sensors = sensor_ids(25)
    farm = parse_farm_config(farm_yaml("bench", sensors, zones=4))
    assert sorted(s for z in farm.zones for s in z.sensors) == sensors
    messages = backlog("farm", "bench", sensors, 100, end=datetime.now(UTC))
    keys = {(json.loads(p)["device"], json.loads(p)["ts"]) for _t, p in messages}
    assert len(keys) == 100


@pytest.mark.influx
def test_bench_ingest_prints_one_json_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "smartfarm", "bench", "ingest", *TINY],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result.keys() >= KEYS
    assert (result["sent"], result["stored"], result["lost"], result["duplicates"]) == (
        400,
        400,
        0,
        0,
    )
    assert result["live_lost"] == 0 and result["shared_lost"] == 0
    assert sum(result["shared_split"]) == 400
