"""UI-level browser tests of the phone page (api/static/), with no real backend.

`static_backend` below is a stdlib HTTP server that serves api/static/ the way api/app.py
does (index at `/`, files under `/static/`) plus a canned, in-memory imitation of the
`/api/v1` JSON the page reads. It exists only to exercise the page; the full-system browser
test (real API, broker, controller) lives elsewhere.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect, sync_playwright

try:
    from tests.browser import launch_chromium
except ImportError:  # tests/ itself is on sys.path (pytest's rootdir-less import)
    from browser import launch_chromium  # type: ignore[no-redef]

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "api" / "static"
ARTIFACTS = ROOT / "test-artifacts"
PHONE: ViewportSize = {"width": 390, "height": 844}


# ---------------------------------------------------------------- static_backend


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def demo_zones() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    decision = {"ts": iso(now - timedelta(minutes=5)), "by": "controller"}
    return [
        {
            "id": "z1",
            "name": "Cà phê lô 1",
            "crop": "coffee",
            "crop_estimate": False,
            "soil": "clay_loam",
            "thresholds": {"start": 0.304, "stop": 0.346},
            "moisture": 0.31,
            "moisture_at": iso(now - timedelta(minutes=2)),
            "moisture_stale": False,
            "valve": {
                "id": "v-z1",
                "state": "open",
                "since": iso(now - timedelta(minutes=5)),
                "until": iso(now + timedelta(minutes=55)),
                "command_id": "abc",
            },
            "last_decision": {
                **decision,
                "action": "open",
                "reason": "soil at 30.1%, below 30.4%: open 60 min",
            },
        },
        {
            "id": "z2",
            "name": "Cà phê lô 2",
            "crop": "coffee",
            "crop_estimate": False,
            "soil": "clay_loam",
            "thresholds": {"start": 0.304, "stop": 0.346},
            "moisture": 0.252,
            "moisture_at": iso(now - timedelta(seconds=40)),
            "moisture_stale": False,
            "valve": {
                "id": "v-z2",
                "state": "closed",
                "since": None,
                "until": None,
                "command_id": None,
            },
            "last_decision": None,
        },
        {
            "id": "z3",
            "name": "Hồ tiêu",
            "crop": "black_pepper",
            "crop_estimate": True,
            "soil": "loam",
            "thresholds": {"start": 0.22, "stop": 0.27},
            "moisture": 0.301,
            "moisture_at": iso(now - timedelta(minutes=40)),
            "moisture_stale": True,
            "valve": {
                "id": "v-z3",
                "state": "closed",
                "since": None,
                "until": None,
                "command_id": "c3",
            },
            "last_decision": {
                **decision,
                "action": "close",
                "reason": "soil at 27.2%, reached 27.0%: close",
            },
        },
        {
            "id": "z4",
            "name": "Điều",
            "crop": "cashew",
            "crop_estimate": True,
            "soil": "sandy_loam",
            "thresholds": {"start": 0.12, "stop": 0.16},
            "moisture": None,
            "moisture_at": None,
            "moisture_stale": True,
            "valve": {
                "id": "v-z4",
                "state": "offline",
                "since": None,
                "until": None,
                "command_id": None,
            },
            "last_decision": None,
        },
    ]


class StaticBackend:
    """In-memory stand-in for /api/v1 plus the static files. Valves answer after `delay`
    seconds, except offline ones, which never answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.farm = {"id": "demo-farm", "name": "Vườn Ea Tu"}
        self.zones = demo_zones()
        self.posts: list[tuple[str, str, Any]] = []
        self.refuse: dict[str, tuple[int, Any]] = {}  # zone id -> (status, detail)
        self.down = False  # GET /api/v1/zones answers 503 while True
        self.delay = 0.8
        self._due: list[tuple[datetime, str, dict[str, Any]]] = []
        self.url = ""

    def zone(self, zone_id: str) -> dict[str, Any] | None:
        return next((z for z in self.zones if z["id"] == zone_id), None)

    def zone_list(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        for due in [d for d in self._due if d[0] <= now]:
            self._due.remove(due)
            zone = self.zone(due[1])
            if zone is not None:
                zone["valve"] = due[2]
        return self.zones

    def command(self, zone_id: str, action: str, body: Any) -> tuple[int, Any]:
        zone = self.zone(zone_id)
        if zone is None:
            return 404, {"detail": f"zone {zone_id!r} does not exist"}
        if zone_id in self.refuse:
            status, detail = self.refuse[zone_id]
            return status, {"detail": detail}
        self.posts.append((zone_id, action, body))
        request_id = f"r{len(self.posts)}"
        if zone["valve"]["state"] != "offline":
            now = datetime.now(UTC)
            at = now + timedelta(seconds=self.delay)
            valve = {**zone["valve"], "command_id": request_id, "since": iso(at)}
            if action == "water":
                valve |= {"state": "open", "until": iso(at + timedelta(minutes=body["minutes"]))}
            else:
                valve |= {"state": "closed", "until": None}
            self._due.append((at, zone_id, valve))
        return 202, {"request_id": request_id}


def handler_for(backend: StaticBackend) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(body)

        def send_json(self, status: int, data: Any) -> None:
            self.send(status, json.dumps(data).encode(), "application/json")

        def send_file(self, name: str) -> None:
            path = (STATIC / name).resolve()
            if not path.is_file() or not path.is_relative_to(STATIC):
                self.send_json(404, {"detail": "Not Found"})
                return
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith(("javascript", "json", "+xml")):
                kind += "; charset=utf-8"
            self.send(200, path.read_bytes(), kind)

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            with backend.lock:
                if path == "/":
                    self.send_file("index.html")
                elif path.startswith("/static/"):
                    self.send_file(path.removeprefix("/static/"))
                elif path == "/api/v1/farm":
                    self.send_json(200, backend.farm)
                elif path == "/api/v1/zones" and backend.down:
                    self.send_json(503, {"detail": "down for the test"})
                elif path == "/api/v1/zones":
                    self.send_json(200, backend.zone_list())
                else:
                    self.send_json(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            match = re.fullmatch(r"/api/v1/zones/([^/]+)/(water|stop)", urlsplit(self.path).path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if match is None:
                self.send_json(404, {"detail": "Not Found"})
                return
            with backend.lock:
                status, data = backend.command(match[1], match[2], json.loads(raw) if raw else None)
            self.send_json(status, data)

    return Handler


@pytest.fixture
def static_backend() -> Iterator[StaticBackend]:
    backend = StaticBackend()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(backend))
    backend.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield backend
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# ---------------------------------------------------------------- browser fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        yield chromium
        chromium.close()


class PageLog:
    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: self.urls.append(r.url))


@pytest.fixture
def page(browser: Browser, static_backend: StaticBackend) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    yield context.new_page()
    context.close()


@pytest.fixture
def page_log(page: Page) -> PageLog:
    return PageLog(page)


def open_page(page: Page, backend: StaticBackend) -> None:
    page.goto(backend.url + "/")
    expect(page.locator("section.zone")).to_have_count(len(backend.zones))


def card(page: Page, zone_id: str) -> Locator:
    return page.locator(f'section.zone[data-zone="{zone_id}"]')


# ---------------------------------------------------------------- tests


def test_one_card_per_zone_with_words_icons_and_meter(
    page: Page, static_backend: StaticBackend
) -> None:
    open_page(page, static_backend)
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("#farm-name")).to_have_text("Vườn Ea Tu")
    expect(page).to_have_title(re.compile("Vườn Ea Tu"))

    words = {"z1": ("good", "Vừa đủ"), "z2": ("dry", "Khô"), "z3": ("wet", "Ẩm")}
    for zone_id, (level, word) in words.items():
        zone = card(page, zone_id)
        expect(zone.locator(".moisture")).to_have_attribute("data-level", level)
        expect(zone.locator(".level-word")).to_have_text(word)
        meter = zone.get_by_role("meter")
        expect(meter).to_have_attribute("aria-valuetext", re.compile(word))
        expect(zone.locator(".gauge-mark")).to_have_count(2)
    expect(card(page, "z4").locator(".level-word")).to_have_text("Chưa có số đo")
    expect(card(page, "z4").get_by_role("meter")).to_have_count(0)

    z1 = card(page, "z1")
    expect(page.get_by_role("region", name="Cà phê lô 1")).to_have_count(1)
    expect(z1.locator(".moisture-value")).to_have_text("31%")
    meter = z1.get_by_role("meter", name="Độ ẩm đất")
    expect(meter).to_have_attribute("aria-valuenow", "31")
    expect(meter).to_have_attribute("aria-valuemin", "0")
    expect(meter).to_have_attribute("aria-valuemax", "60")
    expect(z1.locator(".zone-crop")).to_have_text("Cây trồng: Cà phê")
    expect(z1.locator(".reading-age")).to_have_text("Đo 2 phút trước")
    expect(z1.locator(".stale-badge")).to_be_hidden()
    expect(z1.locator(".valve")).to_have_attribute("data-valve-state", "open")
    expect(z1.locator(".valve-text")).to_have_text(re.compile(r"^Đang tưới đến \d\d:\d\d$"))
    expect(z1.locator(".decision")).to_contain_text("soil at 30.1%, below 30.4%: open 60 min")

    expect(card(page, "z2").locator(".valve-text")).to_have_text("Đã tắt")
    expect(card(page, "z3").locator(".stale-badge")).to_be_visible()
    expect(card(page, "z3").locator(".stale-badge")).to_have_text("cũ")
    expect(card(page, "z3").get_by_role("meter")).to_have_attribute(
        "aria-valuetext", re.compile("Số đo cũ")
    )
    expect(card(page, "z4").locator(".valve-text")).to_have_text("Mất kết nối")
    expect(page.locator("#banner")).to_be_empty()


def test_language_toggle_switches_to_english_and_is_remembered(
    page: Page, static_backend: StaticBackend
) -> None:
    open_page(page, static_backend)
    toggle = page.get_by_role("button", name="VI / EN: chuyển sang tiếng Anh (English)")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#lang-toggle")).to_have_attribute(
        "aria-label", "VI / EN: switch to Vietnamese (Tiếng Việt)"
    )
    z1 = card(page, "z1")
    expect(z1.locator('[data-action="water"]')).to_contain_text("Water now")
    expect(z1.locator('[data-action="stop"]')).to_contain_text("Stop")
    expect(z1.locator(".level-word")).to_have_text("Good")
    expect(card(page, "z2").locator(".level-word")).to_have_text("Dry")
    expect(card(page, "z3").locator(".level-word")).to_have_text("Wet")
    expect(card(page, "z3").locator(".stale-badge")).to_have_text("stale")
    expect(z1.locator(".reading-age")).to_have_text("Measured 2 minutes ago")
    expect(z1.locator(".valve-text")).to_have_text(re.compile(r"^Watering until \d\d:\d\d$"))
    expect(card(page, "z2").locator(".valve-text")).to_have_text("Off")
    expect(card(page, "z4").locator(".valve-text")).to_have_text("Offline")

    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(card(page, "z1").locator(".level-word")).to_have_text("Good")


def test_water_now_asks_for_minutes_then_shows_opening_then_watering(
    page: Page, static_backend: StaticBackend
) -> None:
    open_page(page, static_backend)
    z2 = card(page, "z2")
    water = z2.locator('button[data-action="water"]')
    water.click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Tưới ngay Cà phê lô 2?")
    expect(dialog.get_by_role("radio", name="10 phút")).to_be_checked()
    expect(dialog.get_by_role("radio")).to_have_count(4)
    dialog.get_by_role("radio", name="20 phút").check()
    dialog.locator('button[data-action="confirm"]').click()
    expect(dialog).to_be_hidden()
    expect(water).to_be_focused()

    valve = z2.locator(".valve")
    expect(valve).to_have_attribute("data-valve-state", "pending")
    expect(valve.locator(".valve-text")).to_have_text("Đang mở van…")
    expect(valve).to_have_attribute("data-valve-state", "open", timeout=6000)
    expect(valve.locator(".valve-text")).to_have_text(re.compile(r"^Đang tưới đến \d\d:\d\d$"))
    assert static_backend.posts == [("z2", "water", {"minutes": 20})]


def test_cancel_sends_nothing_and_stop_confirms_without_minutes(
    page: Page, static_backend: StaticBackend
) -> None:
    open_page(page, static_backend)
    z1 = card(page, "z1")
    dialog = page.locator("dialog#confirm")
    z1.locator('[data-action="water"]').click()
    dialog.locator('[data-action="cancel"]').click()
    expect(dialog).to_be_hidden()
    z1.locator('[data-action="water"]').click()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert static_backend.posts == []

    z1.locator('[data-action="stop"]').click()
    expect(dialog.get_by_role("heading")).to_have_text("Dừng tưới Cà phê lô 1?")
    expect(dialog.locator("#minutes")).to_be_hidden()
    dialog.locator('[data-action="confirm"]').click()
    expect(z1.locator(".valve")).to_have_attribute("data-valve-state", "closed", timeout=6000)
    assert static_backend.posts == [("z1", "stop", None)]


def test_refused_command_shows_the_servers_message(
    page: Page, static_backend: StaticBackend
) -> None:
    detail = "not connected to the farm's broker; try again shortly"
    static_backend.refuse["z2"] = (503, detail)
    open_page(page, static_backend)
    z2 = card(page, "z2")
    z2.locator('[data-action="water"]').click()
    page.locator('dialog#confirm [data-action="confirm"]').click()
    expect(z2.get_by_role("alert")).to_have_text(f"Không gửi được lệnh: {detail}")
    expect(z2.locator(".valve")).to_have_attribute("data-valve-state", "closed")


def test_valve_that_never_answers_shows_no_answer_after_15_s(
    page: Page, static_backend: StaticBackend
) -> None:
    page.clock.install()
    open_page(page, static_backend)
    z4 = card(page, "z4")  # its valve is offline: the fake never answers
    z4.locator('[data-action="water"]').click()
    page.locator('dialog#confirm [data-action="confirm"]').click()
    valve = z4.locator(".valve")
    expect(valve).to_have_attribute("data-valve-state", "pending")
    page.clock.fast_forward(16_000)
    expect(valve).to_have_attribute("data-valve-state", "no-answer")
    expect(valve.locator(".valve-text")).to_have_text("Van không trả lời (Mất kết nối)")


def test_connection_banner_keeps_last_data(page: Page, static_backend: StaticBackend) -> None:
    open_page(page, static_backend)
    banner = page.get_by_role("status")
    expect(banner).to_be_empty()
    static_backend.down = True
    expect(banner).to_contain_text("Mất kết nối, đang thử lại…", timeout=6000)
    expect(banner).to_contain_text(re.compile(r"Số liệu đang hiện là số cũ, lúc \d\d:\d\d"))
    expect(page.locator("section.zone")).to_have_count(4)
    expect(card(page, "z1").locator(".level-word")).to_have_text("Vừa đủ")
    static_backend.down = False
    expect(banner).to_be_empty(timeout=6000)


def test_touch_targets_are_48px_and_nothing_overflows_at_360px(
    page: Page, static_backend: StaticBackend
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    open_page(page, static_backend)

    def check_buttons(scope: str) -> int:
        targets = page.locator(f"{scope} button, {scope} label:has(input)")
        checked = 0
        for i in range(targets.count()):
            box = targets.nth(i).bounding_box()
            if box is None:  # hidden
                continue
            name = targets.nth(i).inner_text().strip()
            assert box["height"] >= 48 and box["width"] >= 48, (name, box)
            checked += 1
        return checked

    assert check_buttons("body") == 1 + 2 * len(static_backend.zones)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for action in ("water", "stop"):
        card(page, "z1").locator(f'[data-action="{action}"]').click()
        assert check_buttons("dialog#confirm") == (6 if action == "water" else 2)
        page.keyboard.press("Escape")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_keyboard_focus_is_visible(page: Page, static_backend: StaticBackend) -> None:
    open_page(page, static_backend)
    page.keyboard.press("Tab")
    expect(page.locator("#lang-toggle")).to_be_focused()
    page.keyboard.press("Tab")
    water = card(page, "z1").locator('[data-action="water"]')
    expect(water).to_be_focused()
    outline = water.evaluate(
        "b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineWidth]"
    )
    assert outline[0] != "none" and float(outline[1].removesuffix("px")) >= 2, outline


CONTRAST_JS = """
() => {
  const parse = (c) => {
    const p = (c.match(/rgba?\\(([^)]+)\\)/) || [])[1];
    if (!p) return null;
    const n = p.split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: n[0], g: n[1], b: n[2], a: n.length > 3 ? n[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || !el.checkVisibility() || el.closest(".sr-only")) continue;
    const cs = getComputedStyle(el);
    const a = lum(parse(cs.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const px = parseFloat(cs.fontSize);
    const large = px >= 24 || (Number(cs.fontWeight) >= 700 && px >= 18.66);
    if (ratio < (large ? 3 : 4.5)) {
      bad.push(`${el.className}: ${ratio.toFixed(2)} "${el.textContent.trim()}"`);
    }
  }
  return bad;
}
"""


def test_text_contrast_meets_wcag_aa(page: Page, static_backend: StaticBackend) -> None:
    open_page(page, static_backend)
    assert page.evaluate(CONTRAST_JS) == []
    card(page, "z1").locator('[data-action="water"]').click()
    assert page.evaluate(CONTRAST_JS) == []


def test_server_text_is_shown_as_text_not_html(page: Page, static_backend: StaticBackend) -> None:
    probe = '<img src=x onerror="window.pwned=1">'
    static_backend.zones[0]["name"] = probe
    static_backend.zones[0]["last_decision"]["reason"] = probe
    open_page(page, static_backend)
    expect(card(page, "z1").locator(".zone-name")).to_have_text(probe)
    expect(card(page, "z1").locator(".decision")).to_contain_text(probe)
    expect(page.locator("img")).to_have_count(0)
    assert page.evaluate("window.pwned") is None


def test_no_console_errors_and_no_other_hosts(
    page: Page, page_log: PageLog, static_backend: StaticBackend
) -> None:
    open_page(page, static_backend)
    card(page, "z2").locator('[data-action="water"]').click()
    page.locator('dialog#confirm [data-action="confirm"]').click()
    expect(card(page, "z2").locator(".valve")).to_have_attribute(
        "data-valve-state", "open", timeout=6000
    )
    page.locator("#lang-toggle").click()
    expect(card(page, "z2").locator(".valve-text")).to_contain_text("Watering")
    log = page_log
    assert log.errors == []
    hosts = {urlsplit(u).hostname for u in log.urls if urlsplit(u).scheme in ("http", "https")}
    assert hosts == {"127.0.0.1"}, log.urls
    assert not [u for u in log.urls if urlsplit(u).scheme not in ("http", "https", "data")]


def test_screenshot_phone_home(page: Page, static_backend: StaticBackend) -> None:
    """Writes test-artifacts/phone-home*.png (390x844) for a human to look at."""
    open_page(page, static_backend)
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "phone-home.png")
    page.screenshot(path=ARTIFACTS / "phone-home-full.png", full_page=True)
    card(page, "z2").locator('[data-action="water"]').click()
    page.screenshot(path=ARTIFACTS / "phone-dialog.png")
    page.keyboard.press("Escape")
    page.locator("#lang-toggle").click()
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=ARTIFACTS / "phone-home-en-360.png", full_page=True)
    assert (ARTIFACTS / "phone-home.png").stat().st_size > 10_000
