"""The production broker holds readings for an absent gateway instead of dropping them."""

from __future__ import annotations

from pathlib import Path

CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"


def settings() -> dict[str, str]:
    lines = (line.split() for line in CONF.read_text(encoding="utf-8").splitlines())
    return {words[0]: words[1] for words in lines if len(words) == 2 and words[0][0] != "#"}


def test_broker_queues_a_day_of_readings_per_session_and_many_in_flight() -> None:
    conf = settings()
    # Mosquitto's defaults (1000 queued, 20 in flight) drop readings within minutes of a
    # gateway outage and cap an acknowledge-after-commit gateway at a few thousand a second.
    assert int(conf["max_queued_messages"]) >= 1_000_000
    assert int(conf["max_inflight_messages"]) >= 1000
    assert conf["persistence"] == "true"
