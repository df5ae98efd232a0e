"""`smartfarm bench api` runs end to end, tiny, and prints one JSON line with its keys."""

from __future__ import annotations

import json
import subprocess
import sys

from api.bench import percentile
from tests.conftest import EXAMPLE_FARM, ROOT


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0


def test_bench_api_prints_one_json_line_with_figures_and_targets() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "smartfarm",
            "bench",
            "api",
            "--clients",
            "5",
            "--seconds",
            "2",
            "--presses",
            "2",
            "--farm",
            str(EXAMPLE_FARM),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    [line] = out.stdout.splitlines()
    result = json.loads(line)
    assert result["target_status_p99_ms"] == 50.0
    assert result["target_press_to_confirmed_p95_ms"] == 1000.0
    assert result["status_p99_ms"] > 0 and result["press_to_confirmed_p95_ms"] > 0
    assert result["presses"] == 2 and result["errors"] == 0
