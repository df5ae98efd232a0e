"""Login, logout and the language of each user, in headless Chromium against the fake API."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.phone.conftest import console_errors, log_in, wait_until
from tests.phone.fake_api import FakeApi, error

pytestmark = pytest.mark.browser


def test_login_screen_in_vietnamese_then_zones_and_logout(page: Page, api: FakeApi) -> None:
    page.goto(api.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    expect(page.locator("section.zone")).to_have_count(0)
    expect(page.locator("#nav")).to_be_hidden()

    page.locator("#login").get_by_label("Tên đăng nhập").fill("lan")
    page.locator("#login").get_by_label("Mật khẩu").fill("lan-password")
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page.locator("section.zone[data-zone]")).to_have_count(4)
    expect(page.locator("#who")).to_have_text("Lan · Nông dân")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: the page never sees the token
    assert page.evaluate("JSON.stringify(localStorage)") == '{"smartfarm.lang":"vi"}'

    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    expect(page.locator("section.zone")).to_have_count(0)
    assert api.sessions == {}
    page.reload()
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    assert console_errors(page) == []


def test_wrong_password_and_rate_limit_are_said_clearly(page: Page, api: FakeApi) -> None:
    page.goto(api.url + "/")
    page.locator("#login").get_by_label("Tên đăng nhập").fill("lan")
    page.locator("#login").get_by_label("Mật khẩu").fill("wrong")
    page.get_by_role("button", name="Đăng nhập").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Sai tên đăng nhập hoặc mật khẩu.")

    api.login_refusal = (429, error("too_many_attempts", "slow down"), {"Retry-After": "42"})
    page.get_by_role("button", name="Đăng nhập").click()
    expect(alert).to_have_text("Thử quá nhiều lần. Hãy thử lại sau 42 giây.")


def test_language_is_the_users_and_saved_with_patch_me(page: Page, api: FakeApi) -> None:
    api.users["minh"]["language"] = "de"
    log_in(page, api, "minh")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator('section.zone[data-zone="z1"] [data-action="water"]')).to_contain_text(
        "Jetzt bewässern"
    )
    page.get_by_label("Sprache").select_option("pt")
    expect(page.locator("html")).to_have_attribute("lang", "pt")
    z1 = page.locator('section.zone[data-zone="z1"]')
    expect(z1.locator(".level-word")).to_have_text("Bom")
    expect(z1.locator(".decision")).to_contain_text(
        "Regou 20 min às 05:10: solo a 21%, abaixo de 23%"
    )
    wait_until(page, lambda: api.users["minh"]["language"] == "pt")

    page.get_by_role("button", name="Sair").click()  # logged out, the phone keeps speaking pt
    expect(page.get_by_role("heading", name="Entrar")).to_be_visible()
    log_in(page, api, "lan")  # lan's own language is Vietnamese
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page).to_have_title(re.compile("Vườn Ea Tu"))


def test_a_session_the_server_ended_sends_back_to_login_with_the_reason(
    page: Page, api: FakeApi
) -> None:
    log_in(page, api)
    api.sessions.clear()  # revoked (or expired) on the server
    page.evaluate("window.dispatchEvent(new Event('online'))")  # the next refresh
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Bạn đã bị đăng xuất. Hãy đăng nhập lại.")
    expect(page.locator("section.zone")).to_have_count(0)


def test_opening_the_tools_address_directly_loads_the_forms(page: Page, api: FakeApi) -> None:
    log_in(page, api, "minh")
    page.goto(api.url + "/#/tools")
    page.reload()
    expect(page.locator("#thr-form input[name=start_pct]")).to_have_value("30.4")
    expect(page.locator("#prog-form textarea[name=windows]")).to_have_value("05:00-09:00")
