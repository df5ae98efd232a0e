"""The page as an installable PWA: a manifest with PNG icons, and a service worker that caches
every asset so the app opens with no network and shows the last known state marked stale."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.phone.conftest import PHONE
from tests.phone.fake_api import STATIC, FakeApi

pytestmark = pytest.mark.browser


def test_manifest_icons_are_real_pngs_of_their_size(page: Page, api: FakeApi) -> None:
    page.goto(api.url + "/")
    manifest = json.loads((STATIC / "manifest.webmanifest").read_text())
    assert manifest["display"] == "standalone" and manifest["lang"] == "vi"
    pngs = [i for i in manifest["icons"] if i["type"] == "image/png"]
    assert {i["sizes"] for i in pngs} == {"192x192", "512x512"}
    assert any(i["purpose"] == "maskable" for i in pngs)
    for icon in pngs:
        size = page.evaluate(
            """(src) => new Promise((ok, bad) => { const i = new Image();
                 i.onload = () => ok(`${i.naturalWidth}x${i.naturalHeight}`); i.onerror = bad;
                 i.src = src; })""",
            icon["src"],
        )
        assert size == icon["sizes"], icon


def test_worker_caches_every_asset(page: Page, api: FakeApi) -> None:
    listed = set(re.findall(r'"(/static/[^"]+)"', (STATIC / "sw.js").read_text()))
    on_disk = {
        f"/static/{p.relative_to(STATIC)}"
        for p in STATIC.rglob("*")
        if p.is_file() and p.name != "sw.js"
    }
    assert listed == on_disk, listed ^ on_disk


def test_opens_offline_with_the_last_known_state_marked_stale(
    browser: Browser, api: FakeApi
) -> None:
    context = browser.new_context(viewport=PHONE, service_workers="allow")
    page = context.new_page()
    try:
        start = api.url + "/static/index.html"  # the manifest's start_url, in the worker's scope
        page.goto(start)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
        # Chromium's own verdict: the manifest parses clean and the app is installable (a
        # Playwright context is always incognito, the one reason Chromium may give)
        cdp = context.new_cdp_session(page)
        assert cdp.send("Page.getAppManifest")["errors"] == []
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert {e["errorId"] for e in errors} <= {"in-incognito"}, errors
        form = page.locator("form#login")
        form.locator("input[name=username]").fill("lan")
        form.locator("input[name=password]").fill("lan-password")
        form.locator("button[type=submit]").click()
        expect(page.locator("section.zone[data-zone]")).to_have_count(4)
        expect(page.locator("#banner")).to_be_empty()

        context.set_offline(True)
        page.reload()
        expect(page.locator("section.zone[data-zone]")).to_have_count(4)
        expect(page.locator("#banner")).to_contain_text(
            re.compile(r"Không có mạng: đang hiện tình trạng cuối cùng lúc \d\d:\d\d")
        )
        z1 = page.locator('section.zone[data-zone="z1"]')
        expect(z1.locator(".level-word")).to_have_text("Vừa đủ")
        expect(z1.locator(".stale-badge")).to_be_visible()

        context.set_offline(False)
        expect(page.locator("#banner")).to_be_empty(timeout=15_000)
        expect(z1.locator(".stale-badge")).to_be_hidden()

        data_caches = "caches.keys().then((ks) => ks.filter((k) => k.endsWith('-data')).length)"
        assert page.evaluate(data_caches) == 1
        page.locator("#logout").click()
        expect(page.locator("form#login")).to_be_visible()
        page.wait_for_function(f"{data_caches}.then((n) => n === 0)", timeout=5000)
    finally:
        context.close()
