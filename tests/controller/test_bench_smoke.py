"""`smartfarm bench controller` runs end to end, tiny, and prints one JSON line with its keys."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from controller.bench import farm_yaml, percentile
from smartfarm.config import parse_farm_config

KEYS = {
    "zones",
    "p50_ms",
    "p99_ms",
    "e2e_p99_ms",
    "commands_timed",
    "cpu_s_per_1k_readings",
    "rss_mb",
    "ceiling_p50_ms",
    "ceiling_p99_ms",
    "scaling",
    "target_p99_ms",
}


def test_farm_yaml_is_a_valid_farm_that_can_water_every_zone_at_once() -> None:
    farm = parse_farm_config(farm_yaml("bench-x", 25))
    assert [z.valve for z in farm.zones][:2] == ["v0", "v1"]
    assert sum(z.flow_lph for z in farm.zones) <= farm.farm.pump.capacity_lph


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 99, None), ([5.0], 99, 5.0), ([float(i) for i in range(1, 101)], 99, 99.0)],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_bench_prints_one_json_line_with_its_figures(tmp_path: Path) -> None:
    if not shutil.which("mosquitto") and not Path("/usr/sbin/mosquitto").exists():
        pytest.fail("mosquitto is not installed: run the README's test command (bin/test)")
    args = ["--zones", "50", "--scaling-zones", "20", "--seconds", "3", "--warmup", "1"]
    args += ["--rate", "20", "--burst", "20", "--burst-every", "1", "--dry-fraction", "0.3"]
    done = subprocess.run(
        [sys.executable, "-m", "smartfarm", "bench", "controller", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    result = json.loads(lines[0])
    assert set(result) >= KEYS
    assert result["zones"] == 50
    assert result["opens"] > 0 and result["p99_ms"] is not None
    # The controller's own wait is part of the whole way from sensor to valve.
    assert result["commands_timed"] > 0
    assert result["p50_ms"] <= result["e2e_p99_ms"] + 2
    assert result["ceiling_p99_ms"] is not None
    assert result["scaling"]["zones"] == [20, 50]
    assert result["lost"] == 0
