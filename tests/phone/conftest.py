"""Fixtures of the phone page's browser tests: one Chromium per module, a fake API per test,
a phone-sized page, and a helper to log in through the login screen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from tests.browser import launch_chromium
from tests.phone.fake_api import FakeApi, serve

PHONE: ViewportSize = {"width": 390, "height": 844}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


# Per module, not per session: Playwright's sync API runs an event loop while it is open,
# and another test module (tests/test_phone_e2e.py) starts its own.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        yield chromium
        chromium.close()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    server, thread = serve(fake)
    yield fake
    fake.closing.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def page(browser: Browser, api: FakeApi) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        service_workers="block",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()


def log_in(page: Page, api: FakeApi, username: str = "lan", *, expect_zones: bool = True) -> None:
    """Open the page and log in through the form, as a person would."""
    page.goto(api.url + "/")
    form = page.locator("form#login")
    expect(form).to_be_visible()
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(api.passwords[username])
    form.locator("button[type=submit]").click()
    if expect_zones:
        expect(page.locator("section.zone[data-zone]")).to_have_count(len(api.zones))


def console_errors(page: Page) -> list[str]:
    """Console errors, less the 401 the browser logs for the first /me of a logged-out page."""
    return [e for e in page.errors if "401" not in e]  # type: ignore[attr-defined]


def wait_until(page: Page, check: Callable[[], bool], timeout_ms: int = 5000) -> None:
    """Wait for something the fake API records (a press reaches it after the click returns)."""
    for _ in range(timeout_ms // 50):
        if check():
            return
        page.wait_for_timeout(50)
    assert check()
