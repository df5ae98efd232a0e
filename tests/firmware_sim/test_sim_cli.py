"""`smartfarm sim` with a season's weather: runs to the season's end against a real broker."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from smartfarm.cli import main
from smartfarm.mqtt import MqttLink
from smartfarm.settings import parse_mqtt_url
from smartfarm.testing.mosquitto import MosquittoServer
from tests.conftest import EXAMPLE_FARM


def base(url: str, tmp_path: Path) -> list[str]:
    return ["sim", "--farm", str(EXAMPLE_FARM), "--mqtt-url", url, "--var-dir", str(tmp_path)]


def test_a_scenario_season_runs_to_its_end_with_a_progress_bar(
    mosquitto: MosquittoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readings: list[dict[str, object]] = []
    ready, done = threading.Event(), threading.Event()

    def listen() -> None:
        async def run() -> None:
            link = MqttLink(
                parse_mqtt_url(mosquitto.url), "listener", [("farm/+/sensor/+/reading", 1)]
            )
            await link.start()
            ready.set()
            while not done.is_set():
                try:
                    m = await asyncio.wait_for(link.messages.get(), 0.2)
                except TimeoutError:
                    continue
                readings.append(json.loads(m.payload))
            await link.stop()

        asyncio.run(run())

    thread = threading.Thread(target=listen)
    thread.start()
    ready.wait(10)
    argv = [*base(mosquitto.url, tmp_path), "--scenario", "dry", "--season-days", "1"]
    try:
        # One day at 86400x is a second of soil time per second: the run ends by itself.
        assert main([*argv, "--speed", "86400", "--report-seconds", "0.1"]) == 0
    finally:
        done.set()
        thread.join(10)
    err = capsys.readouterr().err
    assert "day/s" in err or "s/day" in err  # tqdm's rate: the progress bar was drawn
    assert readings and {r["device"] for r in readings} >= {"s-z1-a", "s-z4-a"}


def test_scenario_and_weather_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([*base("mqtt://127.0.0.1:9", tmp_path), "--scenario", "dry", "--weather", "w.csv"])


def test_a_bad_weather_file_is_a_settings_error_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "w.csv"
    bad.write_text("date,tmax_c,tmin_c,rain_mm\n2026-03-01,33,x,0\n")
    assert main([*base("mqtt://127.0.0.1:9", tmp_path), "--weather", str(bad)]) == 2
    assert "w.csv:2: tmin_c 'x' is not a number" in capsys.readouterr().err


def test_an_unknown_scenario_is_a_settings_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*base("mqtt://127.0.0.1:9", tmp_path), "--scenario", "monsoon"]) == 2
    assert "unknown weather scenario 'monsoon'" in capsys.readouterr().err
