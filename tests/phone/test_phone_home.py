"""The home screen: one card per zone, the big buttons with their confirmation, stale data,
flaky Wi-Fi and live events; in headless Chromium at a phone viewport against the fake API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.phone.conftest import ARTIFACTS, console_errors, log_in, wait_until
from tests.phone.fake_api import FakeApi, iso

pytestmark = pytest.mark.browser


def card(page: Page, zone_id: str) -> Locator:
    return page.locator(f'section.zone[data-zone="{zone_id}"]')


def test_cards_show_words_icons_meter_next_run_and_alarm(page: Page, api: FakeApi) -> None:
    api.zones[2]["next_run_at"] = iso(datetime.now(UTC) - timedelta(minutes=5))  # due already
    log_in(page, api)
    expect(page.locator("#farm-name")).to_have_text("Vườn Ea Tu")
    words = {"z1": ("good", "Vừa đủ", "#i-check"), "z2": ("dry", "Khô", "#i-sun")}
    words["z3"] = ("wet", "Ẩm", "#i-drop")
    for zone_id, (level, word, icon) in words.items():
        zone = card(page, zone_id)
        expect(zone.locator(".moisture")).to_have_attribute("data-level", level)
        expect(zone.locator(".level-word")).to_have_text(word)  # words, not colour alone
        expect(zone.locator(".level-icon use")).to_have_attribute("href", icon)  # and an icon
        expect(zone.get_by_role("meter")).to_have_attribute("aria-valuetext", re.compile(word))
        expect(zone.locator(".gauge-mark")).to_have_count(2)
    expect(card(page, "z4").locator(".level-word")).to_have_text("Chưa có số đo")
    expect(card(page, "z4").get_by_role("meter")).to_have_count(0)

    z1 = card(page, "z1")
    expect(page.get_by_role("region", name="Cà phê lô 1")).to_have_count(1)
    expect(z1.locator(".moisture-value")).to_have_text("31%")
    meter = z1.get_by_role("meter", name="Độ ẩm đất")
    expect(meter).to_have_attribute("aria-valuenow", "31")
    expect(z1.locator(".zone-crop")).to_have_text("Cây trồng: Cà phê")
    expect(z1.locator(".reading-age")).to_have_text("Đo 2 phút trước")
    expect(z1.locator(".stale-badge")).to_be_hidden()
    expect(z1.locator(".valve")).to_have_attribute("data-valve-state", "open")
    expect(z1.locator(".valve-text")).to_have_text(re.compile(r"^Đang tưới đến \d\d:\d\d$"))
    expect(z1.locator(".decision")).to_contain_text("Đã tưới 20 phút lúc 05:10: đất 21%, dưới 23%")
    expect(z1.locator(".next-run-text")).to_have_text("Chưa có lịch tưới")

    expect(card(page, "z2").locator(".next-run-text")).to_contain_text("(sau 3 giờ nữa)")
    expect(card(page, "z3").locator(".next-run-text")).to_have_text("Lần tưới tới: bây giờ")
    expect(card(page, "z3").locator(".stale-badge")).to_have_text("cũ")
    expect(card(page, "z3").get_by_role("meter")).to_have_attribute(
        "aria-valuetext", re.compile("Số đo cũ")
    )
    z4 = card(page, "z4")
    expect(z4.locator(".valve-text")).to_have_text("Mất kết nối")
    expect(z4.locator(".last-alarm")).to_contain_text("Cảnh báo: Van không trả lời")
    expect(page.locator("#banner")).to_be_empty()


def test_water_now_asks_for_minutes_then_opening_then_watering(page: Page, api: FakeApi) -> None:
    log_in(page, api)
    z2 = card(page, "z2")
    water = z2.locator('button[data-action="water"]')
    water.click()
    dialog = page.locator("dialog#confirm")
    expect(dialog.get_by_role("heading")).to_have_text("Tưới ngay Cà phê lô 2?")
    expect(dialog.get_by_role("radio", name="10 phút")).to_be_checked()
    dialog.get_by_role("radio", name="20 phút").check()
    dialog.locator('button[data-action="confirm"]').click()
    expect(dialog).to_be_hidden()
    expect(water).to_be_focused()
    valve = z2.locator(".valve")
    expect(valve).to_have_attribute("data-valve-state", "pending")
    expect(valve.locator(".valve-text")).to_have_text("Đang mở van…")
    expect(valve).to_have_attribute("data-valve-state", "open", timeout=6000)
    assert api.posts == [("z2", "water", {"minutes": 20})]


def test_cancel_sends_nothing_stop_pause_and_water_everything(page: Page, api: FakeApi) -> None:
    log_in(page, api)
    z1 = card(page, "z1")
    dialog = page.locator("dialog#confirm")
    z1.locator('[data-action="water"]').click()
    dialog.locator('[data-action="cancel"]').click()
    z1.locator('[data-action="water"]').click()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert api.posts == []

    z1.locator('[data-action="stop"]').click()
    expect(dialog.get_by_role("heading")).to_have_text("Dừng tưới Cà phê lô 1?")
    expect(dialog.locator("#minutes")).to_be_hidden()
    dialog.locator('[data-action="confirm"]').click()
    expect(z1.locator(".valve")).to_have_attribute("data-valve-state", "closed", timeout=6000)

    z1.locator('[data-action="pause"]').click()
    expect(dialog.get_by_role("radio")).to_have_count(4)
    dialog.get_by_role("radio", name="3 ngày").check()
    dialog.locator('[data-action="confirm"]').click()
    expect(z1.locator(".next-run-text")).to_contain_text("Tạm dừng đến")
    expect(z1.locator('[data-action="resume"]')).to_be_visible()
    expect(z1.locator('[data-action="pause"]')).to_be_hidden()

    page.get_by_role("button", name="Tưới tất cả").click()
    expect(dialog.get_by_role("heading")).to_have_text("Tưới tất cả các khu?")
    dialog.locator('[data-action="confirm"]').click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#all-result")).to_have_text("Đã gửi: mỗi khu được tưới 10 phút, lần lượt.")
    wait_until(page, lambda: len(api.posts) == 3)
    assert [p[:2] for p in api.posts] == [
        ("z1", "stop"),
        ("z1", "pause"),
        ("*", "water-everything"),
    ]
    assert api.posts[2][2] == {"minutes": 10}
    assert console_errors(page) == []


def test_a_refused_press_says_why_in_the_users_language(page: Page, api: FakeApi) -> None:
    api.refuse["z2"] = (409, {"code": "pump_capacity", "message": "pump is at capacity"})
    api.refuse["z1"] = (409, {"code": "brand_new_reason", "message": "the server's own words"})
    log_in(page, api)
    for zone_id, text in [
        ("z2", "Máy bơm không đủ sức tưới thêm khu. Hãy thử lại khi một khu dừng."),
        ("z1", "the server's own words"),
    ]:
        card(page, zone_id).locator('[data-action="water"]').click()
        page.locator('dialog#confirm [data-action="confirm"]').click()
        expect(card(page, zone_id).get_by_role("alert")).to_have_text(
            f"Không gửi được lệnh: {text}"
        )


def test_valve_that_never_answers_shows_no_answer_after_15_s(page: Page, api: FakeApi) -> None:
    page.clock.install()
    log_in(page, api)
    z4 = card(page, "z4")  # its valve is offline: the fake never answers
    z4.locator('[data-action="water"]').click()
    page.locator('dialog#confirm [data-action="confirm"]').click()
    valve = z4.locator(".valve")
    expect(valve).to_have_attribute("data-valve-state", "pending")
    page.clock.fast_forward(16_000)
    expect(valve).to_have_attribute("data-valve-state", "no-answer")
    expect(valve.locator(".valve-text")).to_have_text("Van không trả lời (Mất kết nối)")


def test_flaky_wifi_keeps_last_data_marked_stale_and_recovers(page: Page, api: FakeApi) -> None:
    log_in(page, api)
    banner = page.get_by_role("status").first
    api.down = True
    expect(banner).to_contain_text("Mất kết nối, đang thử lại…", timeout=15_000)
    expect(banner).to_contain_text(re.compile(r"Số liệu đang hiện là số cũ, lúc \d\d:\d\d"))
    expect(page.locator("section.zone")).to_have_count(4)
    expect(card(page, "z1").locator(".stale-badge")).to_be_visible()  # every card says stale
    api.down = False
    expect(banner).to_be_empty(timeout=15_000)
    expect(card(page, "z1").locator(".stale-badge")).to_be_hidden()


def test_live_events_update_the_card_without_waiting_for_a_poll(page: Page, api: FakeApi) -> None:
    log_in(page, api)
    page.wait_for_timeout(500)  # the stream is open; the next poll is 30 s away
    z2 = card(page, "z2")
    event = {"zone_id": "z2", "valve_id": "v-z2", "state": "open", "at": "2026-11-23T05:00Z"}
    api.outbox.append(("valve", event))
    expect(z2.locator(".valve")).to_have_attribute("data-valve-state", "open", timeout=1500)
    # a reading makes the page ask for the zones (the card shows the median of the sensors)
    api.zones[1]["valve"]["state"] = "open"
    api.zones[1]["moisture"] = 0.40
    reading = {"zone_id": "z2", "sensor_id": "s-z2-a", "moisture_pct": 40.0, "at": "x"}
    api.outbox.append(("reading", reading))
    expect(z2.locator(".moisture-value")).to_have_text("40%", timeout=2500)
    expect(z2.locator(".level-word")).to_have_text("Ẩm")


def test_viewer_sees_no_buttons(page: Page, api: FakeApi) -> None:
    log_in(page, api, "xem")
    expect(page.locator("button[data-action=water]:visible")).to_have_count(0)
    expect(page.get_by_role("button", name="Tưới tất cả")).to_be_hidden()
    expect(page.get_by_role("link", name="Công cụ")).to_be_hidden()


def test_touch_targets_are_48px_and_nothing_overflows_at_360px(page: Page, api: FakeApi) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    log_in(page, api)
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, a[href], select, input, label:has(input)')]
          .filter((e) => e.checkVisibility())
          .map((e) => [e.textContent.trim().slice(0, 30), e.getBoundingClientRect()])
          .filter(([, r]) => r.height < 48 || r.width < 48)"""
    )
    assert small == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_server_text_is_shown_as_text_not_html(page: Page, api: FakeApi) -> None:
    probe = '<img src=x onerror="window.pwned=1">'
    api.zones[0]["name"] = probe
    api.zones[0]["last_decision"]["code"] = None
    api.zones[0]["last_decision"]["reason"] = probe
    log_in(page, api)
    expect(card(page, "z1").locator(".zone-name")).to_have_text(probe)
    expect(card(page, "z1").locator(".decision")).to_contain_text(probe)
    expect(page.locator("main img")).to_have_count(0)
    assert page.evaluate("window.pwned") is None


def test_no_other_hosts_and_screenshots(page: Page, api: FakeApi) -> None:
    """Writes test-artifacts/phone-home*.png (390x844) for a human to look at."""
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    log_in(page, api)
    page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "phone-home.png")
    card(page, "z2").locator('[data-action="water"]').click()
    page.screenshot(path=ARTIFACTS / "phone-dialog.png")
    page.keyboard.press("Escape")
    hosts = {urlsplit(u).hostname for u in urls if urlsplit(u).scheme in ("http", "https")}
    assert hosts == {"127.0.0.1"}, urls
    assert console_errors(page) == []
