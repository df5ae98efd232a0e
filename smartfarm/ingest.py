"""Turn one MQTT reading message into a Reading, or a BadPayload with the reason (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from smartfarm import payloads
from smartfarm.calibration import SensorCalibration, clamp_vwc
from smartfarm.config import FarmConfig
from smartfarm.models import Reading
from smartfarm.payloads import BadPayload
from smartfarm.quality import reading_quality
from smartfarm.topics import Topics

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ParsedReading(NamedTuple):
    """A reading as the gateway logs it: plain values, the time in µs since the epoch."""

    sensor: str
    zone: str
    ts_us: int
    seq: int
    vwc: float
    raw: int | None
    temp_c: float | None
    battery_v: float | None
    quality: str


class ReadingParser:
    """Parses readings of one farm; sensors and calibrations are looked up once, not per call."""

    def __init__(self, farm: FarmConfig, topics: Topics) -> None:
        self.farm_id = farm.farm.id
        self._prefix = f"{topics.base}/sensor/"
        self._suffix = "/reading"
        self.use(farm)

    def use(self, farm: FarmConfig) -> None:
        """Take the farm's sensors and calibrations (one assignment: safe across threads)."""
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
        p = self.parse_fields(topic, payload, (now - _EPOCH) // timedelta(microseconds=1))
        return Reading(
            farm=self.farm_id,
            zone=p.zone,
            sensor=p.sensor,
            ts=_EPOCH + timedelta(microseconds=p.ts_us),
            seq=p.seq,
            vwc=p.vwc,
            raw=p.raw,
            temp_c=p.temp_c,
            battery_v=p.battery_v,
            quality=p.quality,
        )

    def parse_fields(self, topic: str, payload: bytes, now_us: int) -> ParsedReading:
        """``parse`` without building datetimes or a Reading: the gateway's hot path."""
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
            ts_us = payloads.ts_us(data["ts"])
        except ValueError as err:
            raise BadPayload("schema", f"ts: {err}") from err
        payloads.check_reading_time_us(ts_us, now_us)
        raw = data.get("raw")
        if raw is not None:
            raw = int(raw)  # JSON Schema lets 2000.0 be an integer; we store it as one
        sent_vwc = data.get("vwc")
        temp_c, battery_v = data.get("temp_c"), data.get("battery_v")
        # A node that calibrates itself sends vwc; otherwise raw is there (the schema says so),
        # corrected to the calibration's temperature if the probe's coefficient is known.
        vwc = (
            float(sent_vwc)
            if sent_vwc is not None
            else cal.vwc(cal.at_reference(raw or 0, None if temp_c is None else float(temp_c)))
        )
        return ParsedReading(
            device,
            zone,
            ts_us,
            int(data["seq"]),
            round(clamp_vwc(vwc), 4),
            raw,
            None if temp_c is None else float(temp_c),
            None if battery_v is None else float(battery_v),
            reading_quality(raw, vwc, cal),
        )


def parse_reading(
    topic: str, payload: bytes, farm: FarmConfig, topics: Topics, now: datetime
) -> Reading:
    """Parse one reading; for many, build a ReadingParser once and call its ``parse``."""
    return ReadingParser(farm, topics).parse(topic, payload, now)
