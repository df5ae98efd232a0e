"""InfluxTelemetryStore against a real influxd 1.6.7 of our own (v2 path through the shim)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from smartfarm.models import Reading
from smartfarm.stores.base import StoreMisconfigured, StoreRejected, StoreUnavailable
from smartfarm.stores.influx import (
    InfluxTelemetryStore,
    from_ns,
    influxql_ident,
    influxql_string,
    line,
    to_ns,
)
from smartfarm.testing.influx_v2_shim import InfluxV2Shim
from smartfarm.testing.influxd import InfluxdServer

T0 = datetime(2024, 5, 1, 6, 0, 0, 123456, tzinfo=UTC)
TOKEN = "test-token"
ORG = "smartfarm"


def reading(sensor: str, minutes: int, seq: int, vwc: float, zone: str = "zone-a") -> Reading:
    return Reading(
        farm="farm-01",
        zone=zone,
        sensor=sensor,
        ts=T0 + timedelta(minutes=minutes),
        seq=seq,
        vwc=vwc,
        raw=30000 + seq,
        temp_c=24.5,
        battery_v=3.71,
    )


# --- line protocol and InfluxQL quoting: pure functions, no server ---


def test_line_has_sorted_tags_typed_fields_and_ns_timestamp() -> None:
    r = reading("s-zone-a-01", 0, 7, 0.2731)
    assert line(r) == (
        "soil,farm=farm-01,sensor=s-zone-a-01,zone=zone-a"
        ' vwc=0.2731,seq=7i,raw=30007i,temp_c=24.5,battery_v=3.71,quality="good"'
        " 1714543200123456000"
    )


def test_line_omits_missing_fields_and_keeps_floats_float() -> None:
    r = Reading(farm="f", zone="z", sensor="s", ts=T0, seq=1, vwc=1, temp_c=25)
    # An integer here would fix the field's type and make later 24.5 a type conflict.
    assert line(r) == (
        'soil,farm=f,sensor=s,zone=z vwc=1.0,seq=1i,temp_c=25.0,quality="good" 1714543200123456000'
    )


def test_line_escapes_tag_values_and_measurement() -> None:
    r = Reading(farm="my farm", zone="a,b=c", sensor="s=1", ts=T0, seq=1, vwc=0.5)
    assert line(r, measurement="soil data,x") == (
        "soil\\ data\\,x,farm=my\\ farm,sensor=s\\=1,zone=a\\,b\\=c"
        ' vwc=0.5,seq=1i,quality="good" 1714543200123456000'
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"zone": "a\nb"},
        {"zone": "ends\\"},
        {"sensor": ""},
        {"vwc": float("nan")},
        {"temp_c": float("inf")},
        {"ts": datetime(2024, 5, 1)},
    ],
)
def test_line_refuses_what_line_protocol_cannot_carry(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "farm": "f",
        "zone": "z",
        "sensor": "s",
        "ts": T0,
        "seq": 1,
        "vwc": 0.5,
        **bad,
    }
    with pytest.raises(ValueError):
        line(Reading(**fields))  # type: ignore[arg-type]


def test_influxql_quoting() -> None:
    assert influxql_string("it's a\\b") == "'it\\'s a\\\\b'"
    assert influxql_ident('so"il') == '"so\\"il"'


def test_ns_round_trip_keeps_microseconds() -> None:
    assert to_ns(T0) == 1_714_543_200_123_456_000
    assert from_ns(to_ns(T0)) == T0
    assert from_ns(0).tzinfo is UTC


# --- against a real influxd ---


@pytest.fixture
def store(influxd: InfluxdServer) -> Iterator[InfluxTelemetryStore]:
    s = InfluxTelemetryStore(url=influxd.url, api="v1", database="farm")
    yield s
    s.close()


@pytest.fixture
def shim(influxd: InfluxdServer) -> Iterator[InfluxV2Shim]:
    with InfluxV2Shim(influxd.url, token=TOKEN, org=ORG) as server:
        yield server


def v2_store(shim: InfluxV2Shim, token: str = TOKEN, bucket: str = "farm") -> InfluxTelemetryStore:
    return InfluxTelemetryStore(url=shim.url, api="v2", token=token, org=ORG, bucket=bucket)


@pytest.mark.influx
def test_v1_write_then_latest_and_history(store: InfluxTelemetryStore) -> None:
    a = [reading("s-zone-a-01", m, m, 0.20 + m / 100) for m in range(5)]
    b = [reading("s-zone-b-01", m, m, 0.30, zone="zone-b") for m in (1, 3)]
    store.write_readings(a + b)

    latest = store.latest(["s-zone-a-01", "s-zone-b-01", "s-none"])
    assert latest == {"s-zone-a-01": a[4], "s-zone-b-01": b[1]}

    # start is inclusive, end exclusive, oldest first across sensors.
    history = store.history(["s-zone-a-01", "s-zone-b-01"], a[1].ts, a[4].ts)
    assert [r.ts for r in history] == sorted(r.ts for r in history)
    # Same-time readings of two sensors may come in either order.
    assert sorted(history, key=lambda r: (r.ts, r.sensor)) == [a[1], b[0], a[2], a[3], b[1]]
    assert store.history(["s-zone-a-01"], a[1].ts, a[2].ts) == [a[1]]
    assert store.history(["s-none"], T0, T0 + timedelta(days=1)) == []
    assert store.latest([]) == {}
    assert store.history([], T0, T0 + timedelta(days=1)) == []


@pytest.mark.influx
def test_v1_replayed_readings_do_not_double_count(store: InfluxTelemetryStore) -> None:
    batch = [reading("s-zone-a-01", m, m, 0.25) for m in range(3)]
    store.write_readings(batch)
    store.write_readings(batch)
    store.write_readings(batch[1:2])
    assert store.history(["s-zone-a-01"], T0, T0 + timedelta(hours=1)) == batch


@pytest.mark.influx
def test_v1_awkward_tag_values_round_trip(store: InfluxTelemetryStore) -> None:
    # Real ids are [A-Za-z0-9_-]; the store must still not mangle anything else.
    odd = Reading(farm="farm one,=x", zone="zone-a", sensor="it's a\\b", ts=T0, seq=1, vwc=0.5)
    store.write_readings([odd, reading("s-zone-a-01", 0, 1, 0.25)])
    assert store.latest(["it's a\\b"]) == {"it's a\\b": odd}
    assert store.history(["it's a\\b"], T0, T0 + timedelta(seconds=1)) == [odd]


@pytest.mark.influx
def test_v1_missing_database_is_a_settings_problem_in_the_servers_words(
    influxd: InfluxdServer,
) -> None:
    s = InfluxTelemetryStore(url=influxd.url, api="v1", database="nope")
    try:
        with pytest.raises(StoreMisconfigured, match='database not found: "nope"'):
            s.write_readings([reading("s-zone-a-01", 0, 1, 0.25)])
        with pytest.raises(StoreMisconfigured, match="database not found"):
            s.latest(["s-zone-a-01"])
    finally:
        s.close()


@pytest.mark.influx
def test_v1_field_type_conflict_is_rejected(
    influxd: InfluxdServer, store: InfluxTelemetryStore
) -> None:
    # Someone else wrote seq as a float first, in the same shard (1.x types fields per
    # shard): our integer seq conflicts with it.
    foreign = f"soil,sensor=x vwc=0.1,seq=1.5 {to_ns(T0)}"
    httpx.post(
        f"{influxd.url}/write", params={"db": "farm"}, content=foreign.encode()
    ).raise_for_status()
    with pytest.raises(StoreRejected, match="field type conflict"):
        store.write_readings([reading("s-zone-a-01", 0, 1, 0.25)])
    # The foreign point lacks our tags: reads skip it instead of failing.
    assert store.latest(["x"]) == {}


@pytest.mark.influx
def test_v1_stopped_server_is_unavailable_until_restarted(
    influxd: InfluxdServer, store: InfluxTelemetryStore
) -> None:
    first = reading("s-zone-a-01", 0, 1, 0.25)
    store.write_readings([first])
    influxd.stop()
    with pytest.raises(StoreUnavailable):
        store.write_readings([reading("s-zone-a-01", 1, 2, 0.25)])
    with pytest.raises(StoreUnavailable):
        store.latest(["s-zone-a-01"])
    influxd.start()
    second = reading("s-zone-a-01", 1, 2, 0.26)
    store.write_readings([second])
    assert store.history(["s-zone-a-01"], T0, T0 + timedelta(hours=1)) == [first, second]


@pytest.mark.influx
def test_v2_write_through_influxdb_client_then_read(shim: InfluxV2Shim) -> None:
    s = v2_store(shim)
    try:
        batch = [reading("s-zone-a-01", m, m, 0.2 + m / 100) for m in range(3)]
        s.write_readings(batch)
        s.write_readings(batch)
        assert s.latest(["s-zone-a-01"]) == {"s-zone-a-01": batch[2]}
        assert s.history(["s-zone-a-01"], T0, T0 + timedelta(hours=1)) == batch
    finally:
        s.close()


@pytest.mark.influx
def test_v2_bad_token_is_a_settings_problem(shim: InfluxV2Shim) -> None:
    s = v2_store(shim, token="wrong")
    try:
        with pytest.raises(StoreMisconfigured, match="HTTP 401: unauthorized access"):
            s.write_readings([reading("s-zone-a-01", 0, 1, 0.25)])
        with pytest.raises(StoreMisconfigured, match="HTTP 401"):
            s.latest(["s-zone-a-01"])
    finally:
        s.close()


@pytest.mark.influx
def test_v2_unknown_bucket_is_a_settings_problem(shim: InfluxV2Shim) -> None:
    s = v2_store(shim, bucket="nope")
    try:
        with pytest.raises(StoreMisconfigured, match='bucket "nope" not found'):
            s.write_readings([reading("s-zone-a-01", 0, 1, 0.25)])
    finally:
        s.close()


@pytest.mark.influx
def test_v2_outages_are_unavailable(influxd: InfluxdServer, shim: InfluxV2Shim) -> None:
    s = v2_store(shim)
    try:
        influxd.stop()
        # The shim answers 503 for the server behind it.
        with pytest.raises(StoreUnavailable, match="HTTP 503"):
            s.write_readings([reading("s-zone-a-01", 0, 1, 0.25)])
        shim.stop()
        # Nothing listens: urllib3's connection error, inside influxdb-client.
        with pytest.raises(StoreUnavailable):
            s.write_readings([reading("s-zone-a-01", 0, 1, 0.25)])
    finally:
        s.close()
