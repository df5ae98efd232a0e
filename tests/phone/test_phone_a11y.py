"""Accessibility of the phone page: axe-core finds no serious or critical violation on the
login, home, zone and technician screens (in two languages); text contrast meets WCAG AA;
keyboard focus is visible; the lang attribute follows the user's language."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.phone.a11y import assert_no_serious_violations, small_targets
from tests.phone.conftest import log_in
from tests.phone.fake_api import FakeApi

pytestmark = pytest.mark.browser

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


def test_axe_finds_nothing_on_every_screen(page: Page, api: FakeApi) -> None:
    page.goto(api.url + "/")
    expect(page.locator("form#login")).to_be_visible()
    assert_no_serious_violations(page, "login", strict=True)
    api.users["admin"]["language"] = "de"
    log_in(page, api, "admin")
    assert_no_serious_violations(page, "home", strict=True)
    page.locator('section.zone[data-zone="z1"] a.details').click()
    expect(page.locator("#decisions li")).to_have_count(4)
    expect(page.locator("#chart svg")).to_be_visible()
    assert_no_serious_violations(page, "zone", strict=True)
    page.locator('#nav a[data-nav="tools"]').click()
    expect(page.locator("#audit li")).to_have_count(1)
    expect(page.locator("#devices tbody tr")).to_have_count(2)
    assert_no_serious_violations(page, "technician", strict=True)
    page.locator("#lang").select_option("vi")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    assert_no_serious_violations(page, "technician (vi)", strict=True)
    page.locator('#nav a[data-nav="home"]').click()
    page.locator('section.zone[data-zone="z2"] [data-action="water"]').click()
    assert_no_serious_violations(page, "confirmation dialog", strict=True)


def test_contrast_and_touch_targets_on_every_screen(page: Page, api: FakeApi) -> None:
    page.goto(api.url + "/")
    expect(page.locator("form#login")).to_be_visible()
    assert page.evaluate(CONTRAST_JS) == []
    assert small_targets(page) == []
    log_in(page, api, "admin")
    assert page.evaluate(CONTRAST_JS) == []
    assert small_targets(page) == []
    page.goto(api.url + "/#/zone/z1")
    expect(page.locator("#decisions li")).to_have_count(4)
    assert page.evaluate(CONTRAST_JS) == []
    assert small_targets(page) == []
    page.goto(api.url + "/#/tools")
    expect(page.locator("#audit li")).to_have_count(1)
    assert page.evaluate(CONTRAST_JS) == []
    assert small_targets(page) == []
    page.goto(api.url + "/#/")
    page.locator('section.zone[data-zone="z1"] [data-action="water"]').click()
    assert page.evaluate(CONTRAST_JS) == []
    assert small_targets(page) == []


def test_keyboard_focus_is_visible(page: Page, api: FakeApi) -> None:
    log_in(page, api)
    page.locator("#farm-name").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#lang")).to_be_focused()
    for _ in range(4):  # the menu: zones, tools, log out; then "water everything"
        page.keyboard.press("Tab")
    water_all = page.locator('[data-action="water-all"]')
    expect(water_all).to_be_focused()
    outline = water_all.evaluate(
        "b => [getComputedStyle(b).outlineStyle, getComputedStyle(b).outlineWidth]"
    )
    assert outline[0] != "none" and float(outline[1].removesuffix("px")) >= 2, outline
