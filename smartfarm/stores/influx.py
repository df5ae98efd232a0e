"""InfluxDB TelemetryStore: writes over the v1 or v2 API, reads with InfluxQL over /query.

Line protocol is built with plain string formatting: influxdb_client.Point was two to three
times slower when measured, and the gateway writes every reading through here. Queries use
InfluxQL on /query because it is the one read API that 1.x, 2.x (through DBRP mappings) and
3.x all serve; 3.x has no Flux and 1.x has it only as an option.
"""

from __future__ import annotations

import gzip
import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx
import urllib3.exceptions

from smartfarm.models import Reading
from smartfarm.stores.base import (
    EPOCH,
    HourlyStat,
    StoreError,
    StoreMisconfigured,
    StoreRejected,
    StoreUnavailable,
    hour_ceil,
    hour_floor,
)

log = logging.getLogger(__name__)

# Line protocol escapes: measurements escape commas and spaces; tag keys, tag values and
# field keys also escape equals signs (our keys need none). A backslash before anything
# else is kept as is.
_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ "})
_KEY_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the epoch, exactly (float seconds would lose the microseconds)."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts.isoformat()}: readings are stored in UTC")
    delta = ts - EPOCH
    return ((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds) * 1_000


def from_ns(ns: int) -> datetime:
    """A UTC datetime; datetime holds microseconds, so finer digits are dropped."""
    return EPOCH + timedelta(microseconds=ns // 1_000)


def _checked(what: str, value: str) -> str:
    # Line protocol cannot carry these at all: a newline ends the line, and a trailing
    # backslash would escape the separator that follows it.
    if not value or "\n" in value or "\r" in value or value.endswith("\\"):
        raise ValueError(f"{what} {value!r} cannot be written as line protocol")
    return value


def _tag_value(what: str, value: str) -> str:
    return _checked(what, value).translate(_KEY_ESCAPES)


def _string_field(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _float(value: float) -> str:
    # float() first: JSON gives 25 for 25.0, and an integer would fix the field's type.
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    return repr(number)


def series_key(reading: Reading, measurement: str = "soil") -> str:
    """Measurement and tags (sorted) of a reading's series, escaped."""
    name = _checked("measurement", measurement).translate(_MEASUREMENT_ESCAPES)
    return (
        f"{name},farm={_tag_value('farm', reading.farm)}"
        f",sensor={_tag_value('sensor', reading.sensor)},zone={_tag_value('zone', reading.zone)}"
    )


def line(reading: Reading, measurement: str = "soil", series: str | None = None) -> str:
    """One reading as a line of InfluxDB line protocol, nanosecond timestamp, tags sorted.

    ``series`` is ``series_key(reading, measurement)`` when the caller has it already.
    """
    fields = [f"vwc={_float(reading.vwc)}", f"seq={int(reading.seq)}i"]
    if reading.raw is not None:
        fields.append(f"raw={int(reading.raw)}i")
    if reading.temp_c is not None:
        fields.append(f"temp_c={_float(reading.temp_c)}")
    if reading.battery_v is not None:
        fields.append(f"battery_v={_float(reading.battery_v)}")
    # A field, not a tag: a tag is part of the point's identity, and a reading replayed
    # after a restart (its series history lost) could get another flag and so a second point.
    fields.append(f"quality={_string_field(_checked('quality', reading.quality))}")
    key = series or series_key(reading, measurement)
    return f"{key} {','.join(fields)} {to_ns(reading.ts)}"


def hourly_line(stat: HourlyStat, measurement: str = "soil_hourly") -> str:
    """One hourly stat as line protocol, at the start of its hour."""
    tags = (
        f"farm={_tag_value('farm', stat.farm)},sensor={_tag_value('sensor', stat.sensor)}"
        f",zone={_tag_value('zone', stat.zone)}"
    )
    fields = (
        f"n={int(stat.count)}i,vwc_max={_float(stat.vwc_max)},vwc_mean={_float(stat.vwc_mean)}"
        f",vwc_min={_float(stat.vwc_min)}"
    )
    name = _checked("measurement", measurement).translate(_MEASUREMENT_ESCAPES)
    return f"{name},{tags} {fields} {to_ns(stat.hour)}"


def influxql_string(value: str) -> str:
    """An InfluxQL single-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return f"'{escaped}'"


def influxql_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _error_message(response: httpx.Response) -> str:
    """The server's own words: 1.x sends {"error"}, 2.x and 3.x send {"message"}."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    header = response.headers.get("X-Influxdb-Error")
    if header:
        return str(header)
    return response.text[:500] or response.reason_phrase


def _status_error(status: int, message: str, what: str) -> StoreError:
    """429 and 5xx will pass; 401, 403 and 404 refuse everything until the settings are
    fixed; any other refusal (400, 413, 422) is about this data and would be repeated."""
    text = f"InfluxDB {what}: HTTP {status}: {message}"
    if status == 429 or status >= 500:
        return StoreUnavailable(text)
    if status in (401, 403, 404):
        return StoreMisconfigured(text)
    return StoreRejected(text)


def _query_error(message: str) -> StoreError:
    # 1.x answers a query on a missing database with 200 and this error in the result.
    if message.startswith("database not found"):
        return StoreMisconfigured(f"InfluxDB query: {message}")
    return StoreRejected(f"InfluxDB query: {message}")


class InfluxTelemetryStore:
    """Readings in InfluxDB 1.x (api="v1") or 2.x/3.x/Cloud/1.8+ (api="v2")."""

    def __init__(
        self,
        *,
        url: str,
        api: Literal["v1", "v2"],
        database: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        org: str | None = None,
        bucket: str | None = None,
        measurement: str = "soil",
        timeout_s: float = 10.0,
        rollup_rp: str | None = None,
        rollup_bucket: str | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._api = api
        self._measurement = measurement
        self._hourly_measurement = f"{measurement}_hourly"
        self._org = org
        # Hourly stats outlive raw readings: on 1.x in a retention policy of their own (or
        # the default one), on 2.x/3.x in a bucket or database of their own.
        self._rollup_rp = rollup_rp
        self._warned_retention = False
        self._rollup_bucket = rollup_bucket or bucket or ""
        self._series: dict[tuple[str, str, str], str] = {}
        self._v2_client: Any = None
        self._write_api: Any = None
        headers: dict[str, str] = {}
        auth: httpx.BasicAuth | None = None
        if api == "v1":
            if not database:
                raise ValueError("InfluxDB v1 API needs a database")
            self._db = database
            # Basic auth rather than u=/p= parameters, so the password never appears in a
            # URL that httpx or a proxy might log.
            if username is not None:
                auth = httpx.BasicAuth(username, password or "")
        else:
            if not (token and org and bucket):
                raise ValueError("InfluxDB v2 API needs a token, an org and a bucket")
            # The v1-compatible /query finds the bucket by its DBRP mapping, named like it.
            self._db = bucket
            headers["Authorization"] = f"Token {token}"
            # Imported here: influxdb-client weighs 13 MB of memory that v1 never uses.
            from influxdb_client.client.influxdb_client import InfluxDBClient
            from influxdb_client.client.write_api import SYNCHRONOUS

            self._v2_client = InfluxDBClient(
                url=self._url,
                token=token,
                org=org,
                timeout=int(timeout_s * 1000),
                enable_gzip=True,
            )
            # Synchronous on purpose: in batching mode failures surface only in callbacks on
            # its own thread, after its own retries, so the gateway could not keep the batch.
            self._write_api = self._v2_client.write_api(write_options=SYNCHRONOUS)
        self._http = httpx.Client(timeout=timeout_s, auth=auth, headers=headers)

    def write_readings(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        try:
            lines = [line(r, self._measurement, self._series_key(r)) for r in readings]
        except ValueError as err:
            raise StoreRejected(f"reading cannot be stored in InfluxDB: {err}") from err
        self._write(lines, rollup=False)

    def _series_key(self, reading: Reading) -> str:
        # Escaping the same tags for every reading of a sensor costs a third of a line.
        key = (reading.farm, reading.sensor, reading.zone)
        series = self._series.get(key)
        if series is None:
            series = series_key(reading, self._measurement)
            if len(self._series) > 100_000:
                self._series.clear()
            self._series[key] = series
        return series

    def _write(self, lines: list[str], rollup: bool) -> None:
        if self._api == "v1":
            self._write_v1(lines, self._rollup_rp if rollup else None)
        else:
            self._write_v2(lines, self._rollup_bucket if rollup else self._db)

    def _write_v1(self, lines: list[str], rp: str | None) -> None:
        # Level 1: on line protocol it compresses almost as well as 9 at a quarter of the CPU.
        body = gzip.compress("\n".join(lines).encode(), compresslevel=1)
        params = {"db": self._db, "precision": "ns"}
        if rp:
            params["rp"] = rp
        try:
            response = self._http.post(
                f"{self._url}/write",
                params=params,
                content=body,
                headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.HTTPError as err:
            raise StoreUnavailable(f"InfluxDB write: {type(err).__name__}: {err}") from err
        if response.status_code >= 300:
            raise _status_error(response.status_code, _error_message(response), "write")

    def _write_v2(self, lines: list[str], bucket: str) -> None:
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.domain.write_precision import WritePrecision

        try:
            self._write_api.write(
                bucket=bucket, org=self._org, record=lines, write_precision=WritePrecision.NS
            )
        except InfluxDBError as err:
            # ApiException (a subclass) has the HTTP status; 0 or none means no answer.
            status = int(getattr(err, "status", None) or 0)
            if status == 0:
                raise StoreUnavailable(f"InfluxDB write: {err.message}") from err
            raise _status_error(status, str(err.message), "write") from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise StoreUnavailable(f"InfluxDB write: {type(err).__name__}: {err}") from err

    def _query(
        self, statement: str, db: str | None = None, post: bool = False
    ) -> list[dict[str, Any]]:
        """Rows of one InfluxQL statement, tags merged in; [] when nothing matched.

        1.x wants statements that change data (DELETE) as a POST.
        """
        params = {"db": db or self._db, "q": statement, "epoch": "ns"}
        try:
            if post:
                response = self._http.post(f"{self._url}/query", params=params)
            else:
                response = self._http.get(f"{self._url}/query", params=params)
        except httpx.HTTPError as err:
            raise StoreUnavailable(f"InfluxDB query: {type(err).__name__}: {err}") from err
        if response.status_code >= 300:
            raise _status_error(response.status_code, _error_message(response), "query")
        try:
            body = response.json()
        except ValueError as err:
            raise StoreUnavailable(f"InfluxDB query: answer is not JSON: {err}") from err
        if not isinstance(body, dict):
            raise StoreUnavailable(f"InfluxDB query: unexpected answer {str(body)[:200]}")
        if "error" in body:
            raise _query_error(str(body["error"]))
        rows: list[dict[str, Any]] = []
        # No match is {"results": [{"statement_id": 0}]}: a result without "series".
        for result in body.get("results", []):
            if "error" in result:
                raise _query_error(str(result["error"]))
            for series in result.get("series", []):
                tags = series.get("tags", {})
                columns = series["columns"]
                rows.extend(
                    {**tags, **dict(zip(columns, values, strict=True))}
                    for values in series.get("values", [])
                )
        return rows

    def _sensor_filter(self, sensors: Sequence[str]) -> str:
        return "(" + " OR ".join(f'"sensor" = {influxql_string(s)}' for s in sensors) + ")"

    def latest(self, sensors: Sequence[str]) -> dict[str, Reading]:
        if not sensors:
            return {}
        statement = (
            f"SELECT * FROM {influxql_ident(self._measurement)}"
            f" WHERE {self._sensor_filter(sensors)}"
            ' GROUP BY "sensor" ORDER BY time DESC LIMIT 1'
        )
        return {r.sensor: r for r in _readings(self._query(statement))}

    def history(self, sensors: Sequence[str], start: datetime, end: datetime) -> list[Reading]:
        if not sensors:
            return []
        statement = (
            f"SELECT * FROM {influxql_ident(self._measurement)}"
            f" WHERE {self._sensor_filter(sensors)}"
            f" AND time >= {to_ns(start)} AND time < {to_ns(end)}"
            " ORDER BY time ASC"
        )
        return _readings(self._query(statement))

    def rollup(self, start: datetime, end: datetime) -> int:
        first, last = hour_floor(start), hour_ceil(end)
        if first >= last:
            return 0
        # fill(none): hours without readings give no row rather than a row of nulls.
        statement = (
            'SELECT min("vwc"), mean("vwc"), max("vwc"), count("vwc")'
            f" FROM {influxql_ident(self._measurement)}"
            f""" WHERE "quality" = 'good' AND time >= {to_ns(first)} AND time < {to_ns(last)}"""
            ' GROUP BY time(1h), "farm", "zone", "sensor" fill(none)'
        )
        stats = [
            _hourly_stat(row, ("count", "min", "mean", "max"))
            for row in self._query(statement)
            if row.get("count")
        ]
        try:
            lines = [hourly_line(stat, self._hourly_measurement) for stat in stats]
        except ValueError as err:
            raise StoreRejected(f"hourly stat cannot be stored in InfluxDB: {err}") from err
        for start_at in range(0, len(lines), 5000):
            self._write(lines[start_at : start_at + 5000], rollup=True)
        return len(lines)

    def _hourly_source(self) -> tuple[str, str]:
        """(db, FROM clause) where the hourly stats live."""
        name = influxql_ident(self._hourly_measurement)
        if self._api == "v1":
            if self._rollup_rp:
                rp = f"{influxql_ident(self._db)}.{influxql_ident(self._rollup_rp)}"
                return self._db, f"{rp}.{name}"
            return self._db, name
        return self._rollup_bucket, name

    def hourly(self, sensors: Sequence[str], start: datetime, end: datetime) -> list[HourlyStat]:
        if not sensors:
            return []
        db, source = self._hourly_source()
        statement = (
            f"SELECT * FROM {source} WHERE {self._sensor_filter(sensors)}"
            f" AND time >= {to_ns(start)} AND time < {to_ns(end)} ORDER BY time ASC"
        )
        stats = [
            _hourly_stat(row, ("n", "vwc_min", "vwc_mean", "vwc_max"))
            for row in self._query(statement, db=db)
        ]
        return sorted(stats, key=lambda s: (s.hour, s.sensor))

    def oldest_raw(self) -> datetime | None:
        statement = f'SELECT first("vwc") FROM {influxql_ident(self._measurement)}'
        rows = self._query(statement)
        return from_ns(int(rows[0]["time"])) if rows else None

    def drop_raw_before(self, cutoff: datetime) -> None:
        if self._api == "v2":
            # 2.x and 3.x take no DELETE over InfluxQL: the bucket's (database's) own
            # retention period removes old raw readings there.
            if not self._warned_retention:
                log.info("InfluxDB v2 API: raw readings expire by the bucket's retention period")
                self._warned_retention = True
            return
        statement = f"DELETE FROM {influxql_ident(self._measurement)} WHERE time < {to_ns(cutoff)}"
        self._query(statement, post=True)

    def close(self) -> None:
        self._http.close()
        if self._v2_client is not None:
            self._v2_client.close()


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


_REQUIRED = ("farm", "zone", "sensor", "time", "seq", "vwc")


def _readings(rows: list[dict[str, Any]]) -> list[Reading]:
    """Rows as readings, skipping points someone else wrote without our tags or fields."""
    complete = [row for row in rows if all(row.get(k) is not None for k in _REQUIRED)]
    if len(complete) < len(rows):
        log.warning("InfluxDB: skipped %d points without %s", len(rows) - len(complete), _REQUIRED)
    return [_reading(row) for row in complete]


def _reading(row: dict[str, Any]) -> Reading:
    # float() again: 25.0 comes back from /query as the JSON number 25.
    return Reading(
        farm=str(row["farm"]),
        zone=str(row["zone"]),
        sensor=str(row["sensor"]),
        ts=from_ns(int(row["time"])),
        seq=int(row["seq"]),
        vwc=float(row["vwc"]),
        raw=_int_or_none(row.get("raw")),
        temp_c=_float_or_none(row.get("temp_c")),
        battery_v=_float_or_none(row.get("battery_v")),
        quality=str(row.get("quality") or "good"),
    )


def _hourly_stat(row: dict[str, Any], names: tuple[str, str, str, str]) -> HourlyStat:
    """An hourly stat from a query row whose count, min, mean and max columns are ``names``."""
    n, low, mean, high = names
    return HourlyStat(
        farm=str(row["farm"]),
        zone=str(row["zone"]),
        sensor=str(row["sensor"]),
        hour=from_ns(int(row["time"])),
        count=int(row[n]),
        vwc_min=float(row[low]),
        vwc_mean=float(row[mean]),
        vwc_max=float(row[high]),
    )
