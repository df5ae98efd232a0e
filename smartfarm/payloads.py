"""Encode and decode MQTT payloads against the JSON Schemas of docs/protocol.md."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator

MAX_PAYLOAD_BYTES = 4096
# Readings may come from nodes that buffered for days; older than this is a broken clock.
MAX_READING_AGE = timedelta(days=30)
MAX_CLOCK_SKEW = timedelta(minutes=5)


class BadPayload(ValueError):
    """A payload we refuse; ``reason`` is a short stable code (a metric label)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@cache
def validator(name: str) -> Draft202012Validator:
    text = resources.files("smartfarm.schemas").joinpath(f"{name}.json").read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _reject_constant(name: str) -> float:
    raise BadPayload("not_finite", f"{name} is not a number JSON allows")


def decode(name: str, payload: bytes) -> dict[str, Any]:
    """Parse and validate a payload against schema ``name``; raise BadPayload with the reason."""
    data = _json_object(payload)
    _validate(name, data)
    _check_finite(data)
    return data


def decode_reading(payload: bytes) -> dict[str, Any]:
    """``decode("reading.v1", payload)``, with a hand-written check for the valid majority.

    The gateway decodes every reading: jsonschema costs tens of microseconds a payload, so
    it runs only to word the error of a payload the fast check refused. Tests check with
    hypothesis that both accept exactly the same payloads.
    """
    data = _json_object(payload)
    if not reading_is_valid(data):
        _validate("reading.v1", data)
    _check_finite(data)
    return data


def _json_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise BadPayload("too_large", f"{len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}")
    try:
        data = json.loads(payload, parse_constant=_reject_constant)
    except BadPayload:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadPayload("not_json", str(err)) from err
    if not isinstance(data, dict):
        raise BadPayload("schema", "payload must be a JSON object")
    return data


def _validate(name: str, data: dict[str, Any]) -> None:
    error = next(iter(validator(name).iter_errors(data)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(payload)"
        raise BadPayload("schema", f"{where}: {error.message}")


# reading.v1.json, by hand. jsonschema matches patterns with re.search, and so do we.
_DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]00:00)$")
_RANGES: dict[str, tuple[bool, float, float]] = {
    # name: (integer, minimum, maximum)
    "seq": (True, 0, 4294967295),
    "vwc": (False, 0, 1),
    "raw": (True, 0, 65535),
    "temp_c": (False, -40, 85),
    "battery_v": (False, 0, 6),
}


def _number_in(value: Any, integer: bool, low: float, high: float) -> bool:
    kind = type(value)
    if kind is float:
        # JSON Schema counts 3.0 as an integer; inf and nan never are.
        if integer and not value.is_integer():
            return False
    elif kind is not int:  # bool is not int here, as in JSON Schema
        return False
    return bool(low <= value <= high)


def reading_is_valid(data: dict[str, Any]) -> bool:
    """True when ``data`` is valid against reading.v1.json (same answer as jsonschema)."""
    v = data.get("v")
    if "v" not in data or type(v) not in (int, float) or v != 1:
        return False
    device, ts = data.get("device"), data.get("ts")
    if type(device) is not str or not _DEVICE.search(device):
        return False
    if type(ts) is not str or not _TS.search(ts):
        return False
    if "seq" not in data or ("vwc" not in data and "raw" not in data):
        return False
    for name, (integer, low, high) in _RANGES.items():
        if name in data and not _number_in(data[name], integer, low, high):
            return False
    return True


def _check_finite(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise BadPayload("not_finite", f"{key} is not finite")


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 UTC time as written by our devices (``...Z``)."""
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        raise ValueError(f"time without zone: {text}")
    return ts.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000


def to_us_exact(ts: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (ts - _EPOCH) // timedelta(microseconds=1)


def ts_us(text: str) -> int:
    """``parse_ts`` as microseconds since the epoch, without building a datetime.

    Only for a ``ts`` the schema's pattern matched; the gateway parses every reading's
    time, and this is several times faster. Tests check it agrees with ``parse_ts``.
    """
    if not text.isascii():
        return to_us_exact(parse_ts(text))
    # Readings arrive in time order, so the minute is nearly always one seen just before.
    minute = text[:16]
    base = _minutes.get(minute)
    if base is None:
        base = _minute_us(text)
        if len(_minutes) > 10_000:
            _minutes.clear()
        _minutes[minute] = base
    if text[-1] == "Z":
        rest = text[19:-1]
    elif text[-6:] in ("+00:00", "-00:00"):
        rest = text[19:-6]
    else:
        raise ValueError(f"not a UTC time: {text!r}")
    second = int(text[17:19])
    if second > 59 or text[16] != ":":
        raise ValueError(f"not a time: {text!r}")
    micros = 0
    if rest:
        digits = rest[1:]
        if rest[0] != "." or not digits.isdigit() or len(digits) > 6:
            raise ValueError(f"not a time: {text!r}")
        micros = int(digits.ljust(6, "0"))
    return base + second * 1_000_000 + micros


_minutes: dict[str, int] = {}


def _minute_us(text: str) -> int:
    days = date.fromisoformat(text[:10]).toordinal() - _EPOCH_ORDINAL
    hour, minute = int(text[11:13]), int(text[14:16])
    if text[10] != "T" or text[13] != ":" or hour > 23 or minute > 59:
        raise ValueError(f"not a time: {text!r}")
    return days * _DAY_US + (hour * 60 + minute) * 60_000_000


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_reading_time_us(ts: int, now: int) -> None:
    """``check_reading_time`` on microseconds since the epoch."""
    if ts > now + _SKEW_US or ts < now - _AGE_US:
        one_us = timedelta(microseconds=1)
        check_reading_time(_EPOCH + ts * one_us, _EPOCH + now * one_us)


_SKEW_US = MAX_CLOCK_SKEW // timedelta(microseconds=1)
_AGE_US = MAX_READING_AGE // timedelta(microseconds=1)


def check_reading_time(ts: datetime, now: datetime) -> None:
    if ts > now + MAX_CLOCK_SKEW:
        raise BadPayload(
            "ts_future", f"ts {format_ts(ts)} is ahead of gateway time {format_ts(now)}"
        )
    if ts < now - MAX_READING_AGE:
        raise BadPayload(
            "ts_too_old", f"ts {format_ts(ts)} is older than {MAX_READING_AGE.days} days"
        )


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()
