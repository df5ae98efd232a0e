"""The zone page: SVG history chart (day, week, season) with thresholds and watering periods,
and the decision log in plain words in the user's language."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.phone.conftest import ARTIFACTS, console_errors, log_in
from tests.phone.fake_api import FakeApi

pytestmark = pytest.mark.browser


def test_zone_page_chart_ranges_and_decisions_in_words(page: Page, api: FakeApi) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/history" in r.url else None)
    log_in(page, api)
    page.locator('section.zone[data-zone="z1"]').get_by_role("link", name="Lịch sử").click()
    expect(page).to_have_url(re.compile("#/zone/z1$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cà phê lô 1")
    expect(
        page.locator("#zone-view section.zone[data-zone=z1] [data-action=water]")
    ).to_be_visible()

    chart = page.get_by_role("img", name="Độ ẩm đất: Cà phê lô 1")
    expect(chart).to_be_visible()
    expect(chart.locator("path.moisture-line")).to_have_count(1)
    expect(chart.locator("rect.band")).to_have_count(1)
    expect(chart.locator("line.threshold")).to_have_count(2)
    expect(chart.locator("rect.water")).to_have_count(2)  # the two watering periods, hatched
    expect(page.locator("#chart-summary")).to_contain_text("Đã tưới 2 lần.")
    # the good band sits between the thresholds (30.4% and 34.6%) on the chart's scale
    band = chart.locator("rect.band").bounding_box()
    line = chart.locator("path.moisture-line").bounding_box()
    assert band and line and band["height"] > 5 and line["width"] > 250

    day = page.get_by_role("button", name="Ngày")
    week = page.get_by_role("button", name="Tuần")
    expect(day).to_have_attribute("aria-pressed", "true")
    range_key = page.get_by_text("Thấp nhất đến cao nhất mỗi giờ")
    expect(range_key).to_be_hidden()  # raw readings for a day: no hourly range
    expect(chart.locator("path.range")).to_have_count(0)
    week.click()
    expect(week).to_have_attribute("aria-pressed", "true")
    expect(day).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#chart path.range")).to_have_count(1)
    expect(range_key).to_be_visible()
    page.get_by_role("button", name="Mùa").click()
    expect(page.locator("#chart-summary")).to_contain_text("Đã tưới 2 lần.")
    assert [re.search(r"range=(\w+)", u)[1] for u in asked] == ["day", "week", "season"]  # type: ignore[index]

    items = page.locator("#decisions li")
    expect(items).to_have_count(4)
    expect(items.nth(0)).to_contain_text("Đã tưới 20 phút lúc 05:10: đất 21%, dưới 23%")
    expect(items.nth(1)).to_contain_text("Đất 31%, đủ ẩm (tưới khi dưới 30,4%)")
    expect(items.nth(2)).to_contain_text("Đất 29%, dưới 30,4%, nhưng trời đã mưa 12 mm")
    expect(items.nth(3)).to_contain_text("a rule this page does not know yet")  # unknown code

    page.get_by_label("Ngôn ngữ").select_option("en")
    expect(items.nth(0)).to_contain_text("Watered 20 min at 05:10: soil at 21%, below 23%")
    expect(items.nth(2)).to_contain_text("Soil at 29%, below 30.4%, but it rained 12 mm")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "phone-zone.png", full_page=True)

    page.get_by_role("link", name="Back to all zones").click()
    expect(page.locator("#home-view")).to_be_visible()
    assert console_errors(page) == []
