"""The diary as CSV, and the traceability pages (pure: values in, text out).

The public summary is built from an allow-list of fields: crop, lot name and area, dates,
litres of water, inputs (kind, product, quantity). Never who did it, notes, device ids or
anything of the farm's location.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from zoneinfo import ZoneInfo

import segno

from api.diary_store import DiaryEntry
from smartfarm.config import FarmConfig
from smartfarm.models import Reading

DIARY_COLUMNS = (
    "date", "time", "zone", "kind", "product", "quantity", "unit", "litres", "minutes", "by",
    "notes", "id",
)  # fmt: skip
READING_COLUMNS = ("time", "zone", "sensor", "vwc", "quality", "raw", "temp_c", "battery_v", "seq")


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180, opens cleanly in spreadsheets
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue()


def diary_csv(entries: Iterable[DiaryEntry], tz: ZoneInfo) -> str:
    """The diary in the farm's local time, one line per entry."""
    rows = []
    for e in entries:
        local = e.at.astimezone(tz)
        rows.append(
            (
                local.date().isoformat(), local.strftime("%H:%M"), e.zone, e.kind, e.product,
                e.quantity, e.unit, e.litres, e.minutes, e.by, e.notes, e.id,
            )
        )  # fmt: skip
    return _csv(DIARY_COLUMNS, rows)


def readings_csv(readings: Iterable[Reading]) -> str:
    """Readings with UTC times (RFC 3339), as stored."""
    rows = (
        (r.ts.isoformat(), r.zone, r.sensor, r.vwc, r.quality, r.raw, r.temp_c, r.battery_v, r.seq)
        for r in readings
    )
    return _csv(READING_COLUMNS, rows)


@dataclass(frozen=True, slots=True)
class Lot:
    name: str
    crop: str
    area_m2: float


@dataclass(frozen=True, slots=True)
class DayLine:
    day: date
    lot: str
    what: str  # "irrigation", "fertiliser", ...
    detail: str  # "730 L", "NPK 16-16-8, 25 kg"


@dataclass(frozen=True, slots=True)
class PublicSummary:
    farm_name: str
    lots: tuple[Lot, ...]
    first_day: date | None
    last_day: date | None
    lines: tuple[DayLine, ...]


def _amount(value: float) -> str:
    return f"{value:g}"


def public_summary(
    farm: FarmConfig, entries: Iterable[DiaryEntry], zone: str | None
) -> PublicSummary:
    """What a buyer may see: water per lot per day and inputs by date (allow-list)."""
    zones = [z for z in farm.zones if zone is None or z.id == zone]
    names = {z.id: z.name for z in zones}
    tz = farm.farm.tz
    water: dict[tuple[date, str], float] = defaultdict(float)
    lines: list[DayLine] = []
    for e in entries:
        if e.zone not in names or e.kind == "note":
            continue
        day = e.at.astimezone(tz).date()
        if e.kind == "irrigation":
            water[(day, e.zone)] += e.litres or 0.0
            continue
        parts = [e.product or ""]
        if e.quantity is not None:
            parts.append(f"{_amount(e.quantity)} {e.unit or ''}".strip())
        lines.append(DayLine(day, names[e.zone], e.kind, ", ".join(p for p in parts if p)))
    lines += [
        DayLine(day, names[z], "irrigation", f"{litres:,.0f} L")
        for (day, z), litres in water.items()
    ]
    lines.sort(key=lambda line: (line.day, line.lot, line.what))
    days = [line.day for line in lines]
    return PublicSummary(
        farm.farm.name,
        tuple(Lot(z.name, z.crop.replace("_", " "), z.area_m2) for z in zones),
        min(days) if days else None,
        max(days) if days else None,
        tuple(lines),
    )


STYLE = """
body{font-family:system-ui,sans-serif;max-width:46rem;margin:1.5rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ccc;padding:.3rem;
text-align:left}h1{font-size:1.5rem}.qr{text-align:center}.qr svg{width:12rem;height:12rem}
@media print{.noprint{display:none}body{margin:0}}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def summary_html(summary: PublicSummary) -> str:
    """The public, read-only page the QR code leads to."""
    lots = "".join(
        f"<tr><td>{escape(lot.name)}</td><td>{escape(lot.crop)}</td>"
        f"<td>{lot.area_m2:,.0f} m²</td></tr>"
        for lot in summary.lots
    )
    season = (
        f"{summary.first_day.isoformat()} – {summary.last_day.isoformat()}"
        if summary.first_day and summary.last_day
        else "—"
    )
    rows = "".join(
        f"<tr><td>{line.day.isoformat()}</td><td>{escape(line.lot)}</td>"
        f"<td>{escape(line.what)}</td><td>{escape(line.detail)}</td></tr>"
        for line in summary.lines
    )
    body = (
        f"<h1>{escape(summary.farm_name)}</h1>"
        "<p>Truy xuất nguồn gốc · Traceability (read-only)</p>"
        "<h2>Lô · Lots</h2><table><tr><th>Lô / Lot</th><th>Cây / Crop</th>"
        f"<th>Diện tích / Area</th></tr>{lots}</table>"
        f"<h2>Mùa vụ · Season: {season}</h2>"
        "<table><tr><th>Ngày / Date</th><th>Lô / Lot</th><th>Việc / Activity</th>"
        f"<th>Chi tiết / Detail</th></tr>{rows}</table>"
    )
    return _page(f"{summary.farm_name}: traceability", body)


def qr_svg(url: str) -> str:
    """An inline SVG QR code of ``url`` (error correction M: survives a scuffed label)."""
    return str(segno.make(url, error="m").svg_inline(scale=4, border=2))


def print_html(farm_name: str, lot: str | None, url: str) -> str:
    """The printable label: the QR code and the address it leads to."""
    title = f"{farm_name}" + (f" · {lot}" if lot else "")
    body = (
        f"<h1>{escape(title)}</h1><div class='qr'>{qr_svg(url)}</div>"
        f"<p class='qr'>{escape(url)}</p>"
        "<p>Quét mã để xem nhật ký tưới và vật tư · Scan for irrigation and inputs by date.</p>"
        "<p class='noprint'>In trang này · Print this page (Ctrl+P).</p>"
    )
    return _page(f"{title}: QR", body)
