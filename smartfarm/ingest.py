"""Turn one MQTT reading message into a Reading, or a BadPayload with the reason (pure)."""

from __future__ import annotations

from datetime import datetime

from smartfarm import payloads
from smartfarm.calibration import calibrate
from smartfarm.config import FarmConfig
from smartfarm.models import Reading
from smartfarm.payloads import BadPayload
from smartfarm.topics import Topics


def parse_reading(
    topic: str, payload: bytes, farm: FarmConfig, topics: Topics, now: datetime
) -> Reading:
    device = topics.device_of(topic, "sensor", "reading")
    if device is None:
        raise BadPayload("bad_topic", f"not a reading topic: {topic}")
    data = payloads.decode("reading.v1", payload)
    if data["device"] != device:
        raise BadPayload(
            "device_mismatch", f"payload device {data['device']!r} on topic of {device!r}"
        )
    zone = farm.zone_of_sensor(device)
    if zone is None:
        raise BadPayload("unknown_device", f"sensor {device!r} is not in the farm config")
    try:
        ts = payloads.parse_ts(data["ts"])
    except ValueError as err:
        raise BadPayload("schema", f"ts: {err}") from err
    payloads.check_reading_time(ts, now)
    raw = data.get("raw")
    vwc = data.get("vwc")
    if vwc is None:
        assert raw is not None  # the schema requires one of vwc and raw
        vwc = calibrate(raw, farm.calibration_of(device))
    return Reading(
        farm=farm.farm.id,
        zone=zone.id,
        sensor=device,
        ts=ts,
        seq=data["seq"],
        vwc=round(float(vwc), 4),
        raw=raw,
        temp_c=data.get("temp_c"),
        battery_v=data.get("battery_v"),
    )
