"""The phone page in real headless Chromium at a phone viewport against a real `smartfarm up`
(embedded broker, simulated valves, controller, API): a farmer logs in, presses Water now and
sees the valve open, presses Stop, switches to Vietnamese; a technician changes a threshold
and a sensor's calibration and the audit log shows both. Screenshots go to a temp dir whose
path the test prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Page, expect, sync_playwright

from smartfarm.testing.api_client import ensure_user, login
from smartfarm.testing.ports import free_port
from smartfarm.testing.processes import ProcessGroup, wait_http
from tests.browser import launch_chromium
from tests.conftest import EXAMPLE_FARM
from tests.phone.a11y import assert_no_serious_violations

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "e2e-admin-password"
PASSWORD = "e2e-user-password"


@pytest.fixture
def up(tmp_path: Path) -> Iterator[str]:
    """`smartfarm up` as a subprocess; the first admin comes from SMARTFARM_ADMIN_PASSWORD."""
    port = free_port()
    procs = ProcessGroup(tmp_path, {"SMARTFARM_ADMIN_PASSWORD": ADMIN_PASSWORD})
    args = ["--farm", str(EXAMPLE_FARM), "--port", str(port), "--broker-port", str(free_port())]
    procs.start("up", "up", *args, "--var-dir", str(tmp_path / "var"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", timeout=30)
        with login(base, "admin", ADMIN_PASSWORD) as admin:
            ensure_user(admin, "lan", PASSWORD, "farmer")
            ensure_user(admin, "minh", PASSWORD, "technician")
        yield base
    finally:
        procs.stop("up", timeout=15)
    assert "Traceback" not in procs.log("up"), procs.log("up")[-3000:]


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(base + "/")
    form = page.locator("form#login")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page.locator("section.zone[data-zone]")).to_have_count(4, timeout=15_000)


def test_farmer_waters_and_stops_then_technician_changes_a_threshold(
    up: str, tmp_path: Path
) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir()
    print(f"\nphone e2e screenshots: {shots}")  # noqa: T201 - the path is for a human to open
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(up + "/")
            assert_no_serious_violations(page, "login")
            log_in(page, up, "lan")  # created with English, the API's default for new users
            expect(page.locator("html")).to_have_attribute("lang", "en")
            card = page.locator('section.zone[data-zone="z3"]')
            valve = card.locator(".valve")
            expect(valve).to_have_attribute("data-valve-state", "closed", timeout=20_000)
            expect(card.locator(".moisture")).not_to_have_attribute("data-level", "none")
            assert_no_serious_violations(page, "home")

            card.locator('button[data-action="water"]').click()
            dialog = page.locator("dialog#confirm")
            expect(dialog).to_be_visible()
            dialog.locator('button[data-action="confirm"]').click()
            expect(valve).to_have_attribute("data-valve-state", "open", timeout=10_000)
            expect(card.locator(".valve-text")).to_contain_text("Watering until")
            page.screenshot(path=shots / "1-watering.png", full_page=True)

            card.locator('button[data-action="stop"]').click()
            dialog.locator('button[data-action="confirm"]').click()
            expect(valve).to_have_attribute("data-valve-state", "closed", timeout=10_000)

            page.locator("#lang").select_option("vi")
            expect(page.locator("html")).to_have_attribute("lang", "vi")
            expect(card.locator('[data-action="water"]')).to_contain_text("Tưới ngay")
            expect(card.locator(".valve-text")).to_have_text("Đã tắt")
            page.screenshot(path=shots / "2-vietnamese.png", full_page=True)

            card.get_by_role("link").click()  # the zone page: chart and decisions in words
            expect(page.locator("#chart svg")).to_be_visible(timeout=10_000)
            expect(page.locator("#decisions li").first).to_be_visible(timeout=10_000)
            assert_no_serious_violations(page, "zone")
            page.screenshot(path=shots / "3-zone.png", full_page=True)
            page.locator("#logout").click()
            expect(page.locator("form#login")).to_be_visible()

            log_in(page, up, "minh")
            page.locator('#nav a[data-nav="tools"]').click()
            form = page.locator("#thr-form")
            start = form.locator("input[name=start_pct]")
            expect(start).not_to_have_value("", timeout=10_000)
            start.fill("25.5")
            form.locator("input[name=stop_pct]").fill("33")
            form.locator('button[type="submit"]').click()
            expect(page.locator("#thr-result")).to_have_text("Saved.")
            change = page.locator('#audit li[data-action="zone.thresholds"]').first
            expect(change).to_contain_text("minh · Changed thresholds", timeout=10_000)
            expect(change).to_contain_text("25.5")
            cal = page.locator("#cal-form")  # the probe of z1 measured again in the field
            expect(cal.locator("input[name=raw_dry]")).not_to_have_value("", timeout=10_000)
            cal.locator("select[name=sensor]").select_option("s-z1-a")
            cal.locator("input[name=raw_dry]").fill("3111")
            cal.locator("input[name=raw_wet]").fill("1222")
            cal.locator('button[type="submit"]').click()
            expect(page.locator("#cal-result")).to_have_text("Saved.")
            recal = page.locator('#audit li[data-action="device.calibration"]').first
            expect(recal).to_contain_text("minh · Changed a sensor's calibration", timeout=10_000)
            assert_no_serious_violations(page, "technician")
            page.screenshot(path=shots / "4-technician.png", full_page=True)
        finally:
            context.close()
            browser.close()
    with login(up, "lan", PASSWORD) as lan:
        assert lan.get("/api/v1/me").json()["language"] == "vi"  # chosen on the page, kept
    with login(up, "minh", PASSWORD) as minh:
        zones = minh.get("/api/v1/zones").json()
        assert next(z for z in zones if z["id"] == "z1")["thresholds"]["start"] == 0.255
        devices = {d["device_id"]: d for d in minh.get("/api/v1/devices").json()}
        assert (
            devices["s-z1-a"]["calibration"]["raw_dry"],
            devices["s-z1-a"]["calibration"]["raw_wet"],
        ) == (3111, 1222)
    assert httpx.get(up + "/static/manifest.webmanifest", timeout=5).status_code == 200
    assert errors == []
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-watering.png", "2-vietnamese.png", "3-zone.png", "4-technician.png",
    ]  # fmt: skip
