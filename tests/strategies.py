"""Hypothesis strategies for reading payloads: valid ones, nearly valid ones, and junk."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

KEYS = ["v", "device", "ts", "seq", "vwc", "raw", "temp_c", "battery_v"]


def ts_text(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


recent_ts = st.integers(min_value=-3 * 86_400, max_value=60).map(
    lambda s: ts_text(datetime.now(UTC) + timedelta(seconds=s))
)
odd_ts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "2026-13-01T00:00:00Z",  # matches the pattern, no such month
            "2026-01-01T00:00:00",  # no zone
            "2026-01-01T00:00:00+07:00",  # not UTC
            "2026-01-01T00:00:00.1234567Z",  # too many digits
            "2026-01-01T00:00:00Z\n",
            "1999-01-01T00:00:00Z",  # far past
            "2999-01-01T00:00:00Z",  # far future
            "２０２６-01-01T00:00:00Z",  # full-width digits
        ]
    ),
)
any_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    any_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def valid_reading(device: str = "s-z1-a") -> st.SearchStrategy[dict[str, Any]]:
    required = {
        "v": st.sampled_from([1, 1.0]),
        "device": st.just(device),
        "ts": recent_ts,
        "seq": st.integers(min_value=0, max_value=4_294_967_295),
    }
    optional = {
        "raw": st.integers(min_value=0, max_value=65535),
        "vwc": st.floats(min_value=0, max_value=1),
        "temp_c": st.floats(min_value=-40, max_value=85),
        "battery_v": st.floats(min_value=0, max_value=6),
    }
    return st.fixed_dictionaries(required, optional=optional).filter(
        lambda d: "raw" in d or "vwc" in d
    )


def _field_value(key: str) -> st.SearchStrategy[Any]:
    if key == "ts":
        return st.one_of(recent_ts, odd_ts, json_values)
    if key == "device":
        return st.one_of(
            st.sampled_from(["s-z1-a", "s-z2-a", "nobody", "", "a/b", "x" * 65]), json_values
        )
    return json_values


@st.composite
def nearly_valid(draw: st.DrawFn, device: str = "s-z1-a") -> dict[str, Any]:
    """A valid reading with one field removed, replaced or added."""
    data = dict(draw(valid_reading(device)))
    key = draw(st.sampled_from([*KEYS, "extra"]))
    action = draw(st.sampled_from(["drop", "replace"]))
    if action == "drop":
        data.pop(key, None)
    else:
        data[key] = draw(_field_value(key))
    return data


def encode(data: Any) -> bytes:
    """JSON as a sloppy device might send it: NaN and Infinity written out."""
    return json.dumps(data, allow_nan=True).encode()


payload_bytes = st.one_of(
    valid_reading().map(encode),
    nearly_valid().map(encode),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8).map(encode),
    json_values.map(encode),
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.integers(min_value=4000, max_value=6000).map(lambda n: b'{"pad":"' + b"x" * n + b'"}'),
)


def finite(value: Any) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))
