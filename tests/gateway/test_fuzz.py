"""Fuzzing through a real Mosquitto and the running gateway: no crash, every bad input
dead-lettered with a reason, and the good readings around it stored."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartfarm.payloads import BadPayload
from smartfarm.testing.mosquitto import MosquittoServer
from tests.gateway.conftest import Harness, reading, wait_until
from tests.strategies import payload_bytes

# Good readings go to s-z1-a with their own sequence numbers; fuzz goes to s-z2-a.
SEQ = itertools.count(1)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    # One broker and one gateway for every example: starting them per example would
    # spend the test's time on startup instead of inputs.
    tmp = Path(tmp_path_factory.mktemp("fuzz"))
    with MosquittoServer(tmp / "mosquitto") as broker:
        h = Harness(tmp, broker)
        h.running.start()
        try:
            yield h
        finally:
            h.close()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(payload_bytes, min_size=1, max_size=12))
def test_fuzzed_payloads_are_contained(running: Harness, fuzz: list[bytes]) -> None:
    h = running
    topic = "farm/demo-farm/sensor/s-z2-a/reading"
    now = datetime.now(UTC)
    bad = 0
    for payload in fuzz:
        try:
            h.gateway.parser.parse(topic, payload, now)
        except BadPayload:
            bad += 1
    letters_before = sum(h.state.dead_letter_counts().values())
    stored_before = h.stats.stored
    goods = []
    for payload in fuzz:
        h.publish("s-z2-a", payload)
        seq = next(SEQ)
        goods.append(seq)
        h.publish("s-z1-a", reading(seq=seq, ts=_ts(seq)))
    wait_until(
        lambda: sum(h.state.dead_letter_counts().values()) >= letters_before + bad,
        what="fuzz dead-lettered",
    )
    wait_until(lambda: h.stats.stored >= stored_before + len(goods), what="goods stored")
    start = datetime(2000, 1, 1, tzinfo=UTC)
    stored = {r.seq for r in h.telemetry.history(["s-z1-a"], start, now + timedelta(hours=1))}
    assert set(goods) <= stored
    counts = h.state.dead_letter_counts()
    assert "internal_error" not in counts
    assert sum(counts.values()) == letters_before + bad
    assert not h.stats.stopped_threads


def _ts(seq: int) -> str:
    # Distinct timestamps, so no good reading replaces another in the store.
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1) + timedelta(milliseconds=seq)
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
