"""Daily weather for a season: ET0 by Hargreaves-Samani, scenarios, and a CSV loader (pure).

Equations from FAO Irrigation and Drainage Paper 56 (Allen et al., 1998): extraterrestrial
radiation Ra (eq. 21-25) and the Hargreaves ET0 equation (eq. 52). Each day's ET0 is
spread over daylight (sunrise to sunset from eq. 25 and 34) as a half-sine, none at night;
a day's rain falls evenly over the afternoon (convective storms in the tropics).
"""

from __future__ import annotations

import csv
import itertools
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

GSC_MJ_M2_MIN = 0.0820  # solar constant, FAO-56 eq. 21
MJ_TO_MM = 0.408  # MJ m-2 of radiation to mm of evaporation, FAO-56 eq. 20
# Buon Ma Thuot, Dak Lak: the coffee and pepper country of the Central Highlands.
DEFAULT_LATITUDE = 12.67
RAIN_START_H, RAIN_END_H = 14.0, 17.0


def extraterrestrial_radiation(latitude_deg: float, day_of_year: int) -> float:
    """Ra in MJ m-2 day-1 (FAO-56 eq. 21 with eq. 23, 24 and 25)."""
    phi = math.radians(latitude_deg)
    dr = 1 + 0.033 * math.cos(2 * math.pi * day_of_year / 365)
    delta = 0.409 * math.sin(2 * math.pi * day_of_year / 365 - 1.39)
    ws = sunset_hour_angle(phi, delta)
    return (
        24
        * 60
        / math.pi
        * GSC_MJ_M2_MIN
        * dr
        * (ws * math.sin(phi) * math.sin(delta) + math.cos(phi) * math.cos(delta) * math.sin(ws))
    )


def sunset_hour_angle(phi_rad: float, delta_rad: float) -> float:
    """FAO-56 eq. 25, clipped for polar day and night."""
    return math.acos(max(-1.0, min(1.0, -math.tan(phi_rad) * math.tan(delta_rad))))


def daylight_hours(latitude_deg: float, day_of_year: int) -> float:
    """N, FAO-56 eq. 34."""
    delta = 0.409 * math.sin(2 * math.pi * day_of_year / 365 - 1.39)
    return 24 / math.pi * sunset_hour_angle(math.radians(latitude_deg), delta)


def hargreaves_et0(tmax_c: float, tmin_c: float, ra_mj: float) -> float:
    """Reference ET0 in mm/day, FAO-56 eq. 52."""
    if tmax_c < tmin_c:
        raise ValueError(f"Tmax {tmax_c} is below Tmin {tmin_c}")
    tmean = (tmax_c + tmin_c) / 2
    return 0.0023 * (tmean + 17.8) * math.sqrt(tmax_c - tmin_c) * MJ_TO_MM * ra_mj


@dataclass(frozen=True, slots=True)
class DayWeather:
    day: date
    tmax_c: float
    tmin_c: float
    rain_mm: float
    et0_mm: float
    daylight_h: float


def make_day(day: date, tmax: float, tmin: float, rain: float, latitude: float) -> DayWeather:
    doy = day.timetuple().tm_yday
    et0 = hargreaves_et0(tmax, tmin, extraterrestrial_radiation(latitude, doy))
    return DayWeather(day, tmax, tmin, rain, et0, daylight_hours(latitude, doy))


def _share_until(hour: float, daylight_h: float) -> float:
    """Share of a day's ET0 from midnight to ``hour``: a half-sine centred on noon."""
    rise = 12.0 - daylight_h / 2
    h = min(max(hour, rise), rise + daylight_h)
    return (1.0 - math.cos(math.pi * (h - rise) / daylight_h)) / 2.0


def _rain_share_until(hour: float) -> float:
    h = min(max(hour, RAIN_START_H), RAIN_END_H)
    return (h - RAIN_START_H) / (RAIN_END_H - RAIN_START_H)


class Weather:
    """A run of days; ET0 and rain between any two instants, exact over any split."""

    def __init__(self, days: list[DayWeather], name: str = "weather") -> None:
        if not days:
            raise ValueError(f"{name}: no days")
        for a, b in itertools.pairwise(days):
            if b.day != a.day + timedelta(days=1):
                raise ValueError(f"{name}: {b.day} does not follow {a.day}")
        self.days = days
        self.name = name
        self._by_day = {d.day: d for d in days}

    @property
    def start(self) -> date:
        return self.days[0].day

    def day(self, d: date) -> DayWeather:
        try:
            return self._by_day[d]
        except KeyError:
            raise ValueError(f"{self.name}: no weather for {d}") from None

    def between(self, start: datetime, end: datetime, tz: tzinfo) -> tuple[float, float]:
        """(ET0 mm, rain mm) from ``start`` to ``end`` under each day's curves."""
        et0 = rain = 0.0
        t, stop = start.astimezone(tz), end.astimezone(tz)
        while t < stop:
            midnight = t.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            upto = min(stop, midnight)
            h0 = _hour_of_day(t)
            h1 = 24.0 if upto == midnight else _hour_of_day(upto)
            w = self.day(t.date())
            et0 += w.et0_mm * (_share_until(h1, w.daylight_h) - _share_until(h0, w.daylight_h))
            rain += w.rain_mm * (_rain_share_until(h1) - _rain_share_until(h0))
            t = upto
        return et0, rain


def _hour_of_day(t: datetime) -> float:
    # Microseconds count at both ends: a real-time step shorter than a second would
    # otherwise end before it starts and give negative ET0.
    return t.hour + t.minute / 60 + (t.second + t.microsecond / 1e6) / 3600


def dry_season(
    start: date, days: int = 90, seed: int = 1, latitude: float = DEFAULT_LATITUDE
) -> Weather:
    """Tmax 32-36, Tmin 20-24 degC, four light to moderate rains in 90 days: Feb-Apr in Dak Lak."""
    rng = random.Random(seed)
    rain_days = set(rng.sample(range(days), k=min(days, round(4 * days / 90))))
    out = []
    for i in range(days):
        rain = round(rng.uniform(4.0, 20.0), 1) if i in rain_days else 0.0
        tmax, tmin = rng.uniform(32.0, 36.0), rng.uniform(20.0, 24.0)
        if rain:
            tmax -= 3.0  # a cloudy, rainy day is cooler
        out.append(make_day(start + timedelta(days=i), tmax, tmin, rain, latitude))
    return Weather(out, f"dry season seed {seed}")


def rainy_season(
    start: date, days: int = 90, seed: int = 1, latitude: float = DEFAULT_LATITUDE
) -> Weather:
    """Tmax 27-31, Tmin 20-23 degC, rain on about 6 days in 10 (mean 12 mm): May-October."""
    rng = random.Random(seed)
    out = []
    for i in range(days):
        rain = round(rng.expovariate(1 / 12.0), 1) if rng.random() < 0.6 else 0.0
        tmax, tmin = rng.uniform(27.0, 31.0), rng.uniform(20.0, 23.0)
        out.append(make_day(start + timedelta(days=i), tmax, tmin, rain, latitude))
    return Weather(out, f"rainy season seed {seed}")


SCENARIOS = {"dry": dry_season, "rainy": rainy_season}


def scenario(name: str, start: date, days: int = 90, seed: int = 1) -> Weather:
    if name not in SCENARIOS:
        raise ValueError(f"unknown weather scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name](start, days, seed)


CSV_COLUMNS = ("date", "tmax_c", "tmin_c", "rain_mm")


def load_csv(path: str | Path, latitude: float = DEFAULT_LATITUDE) -> Weather:
    """Daily weather from ``date,tmax_c,tmin_c,rain_mm[,et0_mm]``; errors name file and line.

    An ``et0_mm`` column (a station's Penman-Monteith ET0) is used as given, else Hargreaves.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"{path}: cannot read weather file: {err.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}:1: missing column(s) {', '.join(missing)}")
    days: list[DayWeather] = []
    for line, row in enumerate(reader, start=2):
        where = f"{path}:{line}"
        try:
            day = date.fromisoformat(row["date"].strip())
        except (ValueError, AttributeError):
            raise ValueError(f"{where}: date {row['date']!r} is not YYYY-MM-DD") from None
        values = {c: _number(row, c, where) for c in CSV_COLUMNS[1:]}
        if values["tmax_c"] < values["tmin_c"]:
            raise ValueError(f"{where}: tmax_c {values['tmax_c']} is below tmin_c")
        if values["rain_mm"] < 0:
            raise ValueError(f"{where}: rain_mm {values['rain_mm']} is negative")
        w = make_day(day, values["tmax_c"], values["tmin_c"], values["rain_mm"], latitude)
        if (row.get("et0_mm") or "").strip():
            w = DayWeather(
                w.day, w.tmax_c, w.tmin_c, w.rain_mm, _number(row, "et0_mm", where), w.daylight_h
            )
        if days and day != days[-1].day + timedelta(days=1):
            raise ValueError(f"{where}: {day} does not follow {days[-1].day} (one row per day)")
        days.append(w)
    return Weather(days, str(path))


def _number(row: dict[str, str], column: str, where: str) -> float:
    raw = (row.get(column) or "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{where}: {column} {raw!r} is not a number") from None
    if not math.isfinite(value) or not -60 <= value <= 500:
        raise ValueError(f"{where}: {column} {raw!r} is out of range")
    return value


def choose(
    scenario_name: str | None, csv_path: str | Path | None, start: date, days: int, seed: int
) -> Weather | None:
    """The weather a run asked for: a scenario from ``start``, a CSV, or none (the demo's)."""
    if scenario_name and csv_path:
        raise ValueError("give a weather scenario or a weather CSV, not both")
    if csv_path:
        return load_csv(csv_path)
    if scenario_name:
        return scenario(scenario_name, start, days, seed)
    return None
