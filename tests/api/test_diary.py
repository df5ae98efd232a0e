"""The farm diary: irrigation runs and people's entries, CSV exports, traceability pages."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.diary_store import DiaryEntry, DiaryStore
from api.diary_views import public_summary, qr_svg, summary_html
from controller.model import Cycle, Run, RunKind, RunStatus
from controller.store import ControlStore
from smartfarm.config import load_farm_config
from smartfarm.models import Reading
from tests.api.conftest import ApiUnderTest
from tests.conftest import EXAMPLE_FARM

FARM = load_farm_config(EXAMPLE_FARM)
T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 08:00 in Dak Lak


def water(control: ControlStore, run_id: str, zone: str, at: datetime, by: str) -> None:
    """A finished run of two cycles, as the controller records it."""
    control.save_runs(
        [Run(run_id, zone, RunKind.MANUAL, by, at, RunStatus.DONE, delivered_s=900, ended_at=at)]
    )
    control.add_cycles(
        [
            Cycle(zone, run_id, at, 600, 730.0),
            Cycle(zone, run_id, at + timedelta(minutes=40), 300, 365.0),
        ]
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_every_irrigation_run_is_one_entry_with_its_water(db_url: str) -> None:
    control, diary = ControlStore(db_url), DiaryStore(db_url)
    try:
        water(control, "r1", "z1", T0, "farmer Lan")
        water(control, "r2", "z2", T0 + timedelta(days=2), "controller")
        diary.add("z1", "fertiliser", T0 + timedelta(hours=3), "tech Minh",
                  product="NPK 16-16-8", quantity=25, unit="kg", notes="after rain")  # fmt: skip
        entries = diary.entries(T0 - timedelta(hours=1), T0 + timedelta(days=1))
        assert [(e.id, e.kind, e.zone) for e in entries] == [
            ("run-r1", "irrigation", "z1"),
            ("e1", "fertiliser", "z1"),
        ]
        run = entries[0]
        assert (run.at, run.litres, run.minutes, run.by) == (T0, 1095.0, 15.0, "farmer Lan")
        assert entries[1].product == "NPK 16-16-8" and entries[1].notes == "after rain"
        assert [e.id for e in diary.entries(T0, T0 + timedelta(days=3), "z2")] == ["run-r2"]
        with pytest.raises(ValueError, match="people add"):
            diary.add("z1", "irrigation", T0, "x")
    finally:
        control.close()
        diary.close()


def test_public_summary_is_an_allow_list() -> None:
    entries = [
        DiaryEntry("run-r1", "z1", "irrigation", T0, "farmer Lan", litres=730.0, minutes=10),
        DiaryEntry(
            "run-r2",
            "z1",
            "irrigation",
            T0 + timedelta(hours=5),
            "controller",
            litres=365.0,
            minutes=5,
        ),
        DiaryEntry(
            "e1",
            "z1",
            "pesticide",
            T0,
            "tech Minh",
            "Abamectin",
            0.5,
            "L",
            notes="neighbour's fence, phone 0905...",
        ),
        DiaryEntry("e2", "z2", "note", T0, "farmer Lan", notes="private"),
    ]
    summary = public_summary(FARM, entries, None)
    html = summary_html(summary)
    assert "1,095 L" in html and "Abamectin, 0.5 L" in html
    for private in ("Lan", "Minh", "neighbour", "0905", "private", "s-z1-a", "v-z1"):
        assert private not in html
    only_z2 = public_summary(FARM, entries, "z2")
    assert [lot.name for lot in only_z2.lots] == ["Cà phê lô 2"] and only_z2.lines == ()


# --- through the API, logged in --------------------------------------------------------------


def test_farmer_adds_entries_that_join_irrigation_in_the_diary(api: ApiUnderTest) -> None:
    water(api.control, "r1", "z1", datetime.now(UTC) - timedelta(hours=2), "farmer")
    farmer = api.headers("farmer")
    body = {"zone": "z1", "kind": "harvest", "product": "cherry coffee", "quantity": 800,
            "unit": "kg"}  # fmt: skip
    created = api.client.post("/api/v1/diary", json=body, headers=farmer)
    assert created.status_code == 201, created.text
    assert created.json()["by"] == "farmer"
    listed = api.client.get("/api/v1/diary", headers=api.headers("viewer")).json()
    assert [(e["kind"], e["litres"]) for e in listed] == [("irrigation", 1095.0), ("harvest", None)]
    audit = api.users.audit_entries(10)
    assert any(a.action == "diary.add" and a.target == "z1" for a in audit)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"zone": "z9", "kind": "note"}, 404, "no_such_zone"),
        ({"zone": "z1", "kind": "irrigation"}, 422, None),
        ({"zone": "z1", "kind": "note", "at": "2099-01-01T00:00:00Z"}, 422, "in_the_future"),
        ({"zone": "z1", "kind": "fertiliser", "quantity": -1}, 422, None),
    ],
)
def test_bad_entries_are_refused_naming_the_field(
    api: ApiUnderTest, body: dict[str, object], status: int, code: str | None
) -> None:
    response = api.client.post("/api/v1/diary", json=body, headers=api.headers("farmer"))
    assert response.status_code == status, response.text
    if code:
        assert response.json()["detail"]["code"] == code


def test_csv_exports_for_a_date_range(api: ApiUnderTest) -> None:
    water(api.control, "r1", "z1", T0, "farmer")
    water(api.control, "r2", "z1", T0 + timedelta(days=5), "farmer")  # after the range
    api.telemetry.write_readings(
        [
            Reading("demo-farm", "z1", "s-z1-a", T0 + timedelta(minutes=m), m, 0.3, raw=2300)
            for m in (0, 5)
        ]
        + [Reading("demo-farm", "z2", "s-z2-a", T0 + timedelta(days=5), 1, 0.31)]
    )
    viewer = api.headers("viewer")
    query = "?start=2026-11-19&end=2026-11-21"
    diary = api.client.get(f"/api/v1/diary.csv{query}", headers=viewer)
    assert diary.status_code == 200
    assert diary.headers["content-type"].startswith("text/csv")
    assert "diary-demo-farm-2026-11-19-2026-11-21.csv" in diary.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(diary.text)))
    assert [(r["date"], r["time"], r["zone"], r["kind"], r["litres"]) for r in rows] == [
        ("2026-11-20", "08:00", "z1", "irrigation", "1095.0")
    ]
    readings = api.client.get(f"/api/v1/readings.csv{query}", headers=viewer)
    rows = list(csv.DictReader(io.StringIO(readings.text)))
    assert [(r["sensor"], r["vwc"], r["raw"]) for r in rows] == [("s-z1-a", "0.3", "2300")] * 2
    too_long = api.client.get(
        "/api/v1/readings.csv?start=2020-01-01&end=2026-01-01", headers=viewer
    )
    assert too_long.status_code == 422
    assert too_long.json()["detail"]["code"] == "range_too_long"


def test_qr_label_leads_to_a_public_read_only_summary(api: ApiUnderTest) -> None:
    water(api.control, "r1", "z3", datetime.now(UTC) - timedelta(days=1), "farmer")
    api.client.post(
        "/api/v1/diary",
        json={
            "zone": "z3",
            "kind": "pesticide",
            "product": "Abamectin",
            "quantity": 0.5,
            "unit": "L",
            "notes": "call Lan on 0905 123 456",
        },
        headers=api.headers("technician"),
    )
    label = api.client.get("/api/v1/trace/print?zone=z3", headers=api.headers("farmer"))
    assert label.status_code == 200, label.text
    [url] = re.findall(r"http://[^<\"']+/trace/[A-Za-z0-9_-]+", label.text)
    assert qr_svg(url) in label.text  # the QR code is of exactly that address
    again = api.client.get("/api/v1/trace/print?zone=z3", headers=api.headers("farmer"))
    assert url in again.text, "one lasting address per lot"
    api.client.cookies.clear()
    public = api.client.get(url.removeprefix(api.base_url))  # no login
    assert public.status_code == 200
    page = public.text
    assert "Hồ tiêu" in page and "black pepper" in page and "Abamectin, 0.5 L" in page
    assert "1,095 L" in page
    for private in ("farmer", "technician", "Lan", "0905", "v-z3", "s-z3-a", "Cà phê"):
        assert private not in page, private
    assert api.client.get("/trace/not-a-token").status_code == 404
    assert api.client.post(url.removeprefix(api.base_url)).status_code == 405  # read-only


def test_label_uses_the_public_address_when_one_is_set(
    make_api: Callable[[], ApiUnderTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTFARM_PUBLIC_URL", "https://trace.example.org/")
    api = make_api()
    label = api.client.get("/api/v1/trace/print", headers=api.headers("farmer")).text
    [url] = re.findall(r"https://trace\.example\.org/trace/[A-Za-z0-9_-]+", label)
    assert qr_svg(url) in label
    token = url.rsplit("/", 1)[1]
    assert api.client.get(f"/trace/{token}").status_code == 200
