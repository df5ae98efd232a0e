"""Technician pages: alarms, thresholds with a dry-run preview, program, device health and
calibration, users (admin), the audit log; each shown only to the roles that may use it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.phone.conftest import ARTIFACTS, console_errors, log_in, wait_until
from tests.phone.fake_api import FakeApi

pytestmark = pytest.mark.browser


def visible_sections(page: Page) -> list[str]:
    return page.locator("#tools-view section.panel:visible").evaluate_all(
        "els => els.map((e) => e.id)"
    )


def test_sections_follow_the_role(page: Page, api: FakeApi) -> None:
    log_in(page, api, "lan")
    page.get_by_role("link", name="Công cụ").click()
    expect(page.locator("#alarms li")).to_have_count(1)
    assert visible_sections(page) == ["sec-alarms"]
    page.get_by_role("button", name="Đăng xuất").click()
    log_in(page, api, "admin")
    page.get_by_role("link", name="Công cụ").click()
    expect(page.locator("#users li")).to_have_count(4)
    assert visible_sections(page) == [
        "sec-alarms", "sec-thresholds", "sec-program", "sec-devices", "sec-users", "sec-audit",
    ]  # fmt: skip


def test_technician_previews_and_saves_a_threshold_and_the_audit_shows_it(
    page: Page, api: FakeApi
) -> None:
    api.users["minh"]["language"] = "en"
    log_in(page, api, "minh")
    page.get_by_role("link", name="Tools").click()
    form = page.locator("#thr-form")
    expect(form.get_by_label("Start watering below (%)")).to_have_value("30.4")
    expect(page.locator("#thr-source")).to_have_text(
        "Using the preset of the soil and crop (30.4% – 34.6%)."
    )
    form.get_by_label("Start watering below (%)").fill("28")
    form.get_by_label("Stop watering at (%)").fill("33")
    form.get_by_role("button", name="Preview").click()
    expect(page.locator("#thr-result")).to_have_text(
        "Over the last 7 days these thresholds would have given 140 min, 420 L (3 waterings). "
        "Actually given: 180 min, 540 L."
    )
    form.get_by_label("Stop watering at (%)").fill("20")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#thr-result")).to_have_text("Start must be below stop.")
    assert api.audit == []

    form.get_by_label("Stop watering at (%)").fill("33")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#thr-result")).to_have_text("Saved.")
    expect(page.locator("#thr-source")).to_have_text("Set by hand; the preset is 30.4% – 34.6%.")
    audit = page.locator("#audit li")
    expect(audit).to_have_count(1)
    expect(audit.first).to_contain_text("minh · Changed thresholds · zone z1")
    expect(audit.first).to_contain_text("start_pct 30.4, stop_pct 34.6 → start_pct 28, stop_pct 33")

    # devices: battery, signal, last seen, status in words; calibration read-only
    rows = page.locator("#devices tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("81%")
    expect(rows.nth(0)).to_contain_text("-71 dBm")
    expect(rows.nth(0).locator(".calibration")).to_have_text("dry_raw 3,100, wet_raw 1,400")
    expect(rows.nth(1)).to_contain_text("Offline")

    # program: windows one per line
    prog = page.locator("#prog-form")
    expect(prog.get_by_label("Watering hours, one per line (05:00-09:00)")).to_have_value(
        "05:00-09:00"
    )
    prog.get_by_label("Watering hours, one per line (05:00-09:00)").fill("05:00-08:00\n17:00-18:30")
    prog.get_by_role("button", name="Save").click()
    expect(page.locator("#prog-result")).to_have_text("Saved.")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "phone-tools.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert console_errors(page) == []


def test_farmer_acknowledges_an_alarm(page: Page, api: FakeApi) -> None:
    log_in(page, api, "lan")
    page.get_by_role("link", name="Công cụ").click()
    alarm = page.locator("#alarms li")
    expect(alarm).to_contain_text("Van không trả lời · Điều")
    alarm.get_by_role("button", name="Đã biết").click()
    expect(alarm).to_contain_text("lan đã xác nhận")
    wait_until(page, lambda: api.zones[3]["last_alarm"].get("acknowledged_by") == "lan")


def test_admin_adds_a_user_and_changes_a_role(page: Page, api: FakeApi) -> None:
    log_in(page, api, "admin")
    page.get_by_role("link", name="Công cụ").click()
    form = page.locator("#user-form")
    form.get_by_label("Tên đăng nhập").fill("hoa")
    form.get_by_label("Mật khẩu").fill("a long passphrase")
    form.get_by_label("Vai trò").select_option("technician")
    form.get_by_role("button", name="Thêm").click()
    expect(page.locator("#users li")).to_have_count(5)
    assert api.users["hoa"]["role"] == "technician"
    assert api.users["hoa"]["language"] == "vi"  # a new user speaks the farm's language
    expect(page.locator("#audit li").first).to_contain_text("admin · Thêm người dùng · user hoa")

    # a refresh of the zones does not redraw the lists (an open role menu would close)
    page.locator("#users li").first.evaluate("li => { li.marked = true; }")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/zones")):
        page.evaluate("window.dispatchEvent(new Event('online'))")
    assert page.locator("#users li").first.evaluate("li => li.marked === true")
