"""Turn one MQTT reading message into a Reading, or a BadPayload with the reason (pure)."""

from __future__ import annotations

from datetime import datetime

from smartfarm import payloads
from smartfarm.calibration import SensorCalibration, clamp_vwc
from smartfarm.config import FarmConfig
from smartfarm.models import Reading
from smartfarm.payloads import BadPayload
from smartfarm.quality import reading_quality
from smartfarm.topics import Topics


class ReadingParser:
    """Parses readings of one farm; sensors and calibrations are looked up once, not per call."""

    def __init__(self, farm: FarmConfig, topics: Topics) -> None:
        self.farm_id = farm.farm.id
        self._prefix = f"{topics.base}/sensor/"
        self._suffix = "/reading"
        self._sensors: dict[str, tuple[str, SensorCalibration]] = {
            sensor: (zone.id, farm.calibration_of(sensor))
            for zone in farm.zones
            for sensor in zone.sensors
        }

    def device_of(self, topic: str) -> str | None:
        """The device id of a reading topic of this farm, or None."""
        if not (topic.startswith(self._prefix) and topic.endswith(self._suffix)):
            return None
        device = topic[len(self._prefix) : -len(self._suffix)]
        return device if device and "/" not in device else None

    def topic_of(self, device: str) -> str:
        return f"{self._prefix}{device}{self._suffix}"

    def is_known(self, device: str) -> bool:
        return device in self._sensors

    def parse(self, topic: str, payload: bytes, now: datetime) -> Reading:
        """A Reading with its calibrated vwc and the quality it shows on its own."""
        device = self.device_of(topic)
        if device is None:
            raise BadPayload("bad_topic", f"not a reading topic: {topic}")
        data = payloads.decode_reading(payload)
        if data["device"] != device:
            raise BadPayload(
                "device_mismatch", f"payload device {data['device']!r} on topic of {device!r}"
            )
        known = self._sensors.get(device)
        if known is None:
            raise BadPayload("unknown_device", f"sensor {device!r} is not in the farm config")
        zone, cal = known
        try:
            ts = payloads.parse_ts(data["ts"])
        except ValueError as err:
            raise BadPayload("schema", f"ts: {err}") from err
        payloads.check_reading_time(ts, now)
        raw = _int_or_none(data.get("raw"))
        sent_vwc = data.get("vwc")
        # A node that calibrates itself sends vwc; otherwise raw is there (the schema says so).
        vwc = float(sent_vwc) if sent_vwc is not None else cal.vwc(raw or 0)
        return Reading(
            farm=self.farm_id,
            zone=zone,
            sensor=device,
            ts=ts,
            seq=int(data["seq"]),
            vwc=round(clamp_vwc(vwc), 4),
            raw=raw,
            temp_c=_float_or_none(data.get("temp_c")),
            battery_v=_float_or_none(data.get("battery_v")),
            quality=reading_quality(raw, vwc, cal),
        )


def _int_or_none(value: object) -> int | None:
    # JSON Schema lets 2000.0 be an integer; we store it as one.
    return None if value is None else int(value)  # type: ignore[call-overload]


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def parse_reading(
    topic: str, payload: bytes, farm: FarmConfig, topics: Topics, now: datetime
) -> Reading:
    """Parse one reading; for many, build a ReadingParser once and call its ``parse``."""
    return ReadingParser(farm, topics).parse(topic, payload, now)
