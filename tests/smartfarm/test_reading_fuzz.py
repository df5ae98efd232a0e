"""Property-based fuzzing of reading payloads (pure): the fast check agrees with the JSON
Schema, and the parser turns anything into a Reading or a BadPayload with a known reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartfarm import payloads
from smartfarm.config import load_farm_config
from smartfarm.ingest import ReadingParser
from smartfarm.payloads import BadPayload
from smartfarm.quality import QUALITIES
from smartfarm.topics import Topics
from tests.strategies import KEYS, json_values, nearly_valid, payload_bytes, valid_reading

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "farm.yaml"
PARSER = ReadingParser(load_farm_config(EXAMPLE), Topics("farm", "demo-farm"))
TOPIC = "farm/demo-farm/sensor/s-z1-a/reading"
# The machine is shared and noisy: no per-example deadline, and a slow first draw is fine.
FUZZ: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
REASONS = {
    "bad_topic",
    "not_json",
    "schema",
    "not_finite",
    "too_large",
    "ts_future",
    "ts_too_old",
    "device_mismatch",
    "unknown_device",
}


def schema_says_valid(data: dict[str, Any]) -> bool:
    return payloads.validator("reading.v1").is_valid(data)


@settings(max_examples=1500, **FUZZ)
@given(
    st.one_of(
        valid_reading(),
        nearly_valid(),
        st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8),
    )
)
def test_fast_check_agrees_with_the_json_schema(data: dict[str, Any]) -> None:
    assert payloads.reading_is_valid(data) == schema_says_valid(data)


@settings(max_examples=1500, **FUZZ)
@given(payload_bytes)
def test_any_payload_is_a_reading_or_a_reason(payload: bytes) -> None:
    try:
        reading = PARSER.parse(TOPIC, payload, datetime.now(UTC))
    except BadPayload as err:
        assert err.reason in REASONS
        assert err.detail
        return
    assert reading.sensor == "s-z1-a"
    assert 0.0 <= reading.vwc <= 1.0
    assert reading.quality in QUALITIES
    # What the gateway accepts, the schema accepts too.
    assert schema_says_valid(json.loads(payload))


@given(valid_reading())
def test_valid_readings_parse(data: dict[str, Any]) -> None:
    reading = PARSER.parse(TOPIC, json.dumps(data).encode(), datetime.now(UTC))
    assert reading.seq == data["seq"]
    assert reading.zone == "z1"


@given(st.text(max_size=80), valid_reading())
def test_topics_that_are_not_reading_topics_are_refused(topic: str, data: dict[str, Any]) -> None:
    try:
        PARSER.parse(topic, json.dumps(data).encode(), datetime.now(UTC))
    except BadPayload as err:
        assert err.reason in REASONS
    else:
        assert topic == TOPIC


ts_like = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: d.isoformat().replace("+00:00", st_zone(d))),
    st.from_regex(payloads._TS, fullmatch=False),
)


def st_zone(d: datetime) -> str:
    return ["Z", "+00:00", "-00:00"][d.microsecond % 3]


@settings(max_examples=1000, **FUZZ)
@given(ts_like)
def test_fast_time_parse_agrees_with_datetime(text: str) -> None:
    if not payloads._TS.search(text):
        return  # the schema refuses it before any parsing
    try:
        slow: int | None = payloads.to_us_exact(payloads.parse_ts(text))
    except ValueError:
        slow = None
    try:
        fast: int | None = payloads.ts_us(text)
    except ValueError:
        fast = None
    assert fast == slow
