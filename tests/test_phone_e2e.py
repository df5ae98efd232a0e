"""The phone page in real headless Chromium against the whole system: real API, real
Mosquitto, real controller and simulated valves. Press Water now, see the valve open."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import expect, sync_playwright

from tests.browser import launch_chromium
from tests.conftest import Stack

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def test_press_water_now_and_see_the_valve_open(farm_stack: Stack) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale="vi-VN")
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(farm_stack.base_url)
            card = page.locator('section.zone[data-zone="z3"]')
            valve = card.locator(".valve")
            expect(valve).to_have_attribute("data-valve-state", "closed", timeout=15_000)
            expect(card.locator(".moisture")).not_to_have_attribute("data-level", "none")

            card.locator('button[data-action="water"]').click()
            dialog = page.locator("dialog#confirm")
            expect(dialog).to_be_visible()
            dialog.locator('button[data-action="confirm"]').click()

            expect(valve).to_have_attribute("data-valve-state", "open", timeout=10_000)
            expect(card.locator(".valve-text")).to_contain_text("Đang tưới")
            page.screenshot(path=str(ARTIFACTS / "phone-e2e-watering.png"), full_page=True)

            card.locator('button[data-action="stop"]').click()
            dialog.locator('button[data-action="confirm"]').click()
            expect(valve).to_have_attribute("data-valve-state", "closed", timeout=10_000)
            assert errors == []
        finally:
            browser.close()
