"""axe-core (from the npm registry, installed by `npm ci` into node_modules/) run inside the
page by Playwright: the accessibility check of the phone page's screens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now (WCAG 2.x A and AA rules and best practice)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (bin/test does)")
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
             .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5)}))"""
    )
    return result


def assert_no_serious_violations(page: Page, screen: str, *, strict: bool = False) -> None:
    """No serious or critical violation; with `strict`, none of any impact."""
    impacts = ("minor", "moderate", "serious", "critical") if strict else ("serious", "critical")
    bad = [v for v in axe_violations(page) if v["impact"] in impacts]
    assert bad == [], f"axe on the {screen} screen: {bad}"


def small_targets(page: Page) -> list[Any]:
    """Visible controls smaller than 48 x 48 CSS px (text, size) - WCAG 2.5.5 and the issue."""
    result: list[Any] = page.evaluate(
        """() => [...document.querySelectorAll(`button, a[href], select, textarea,
              input:not([type=radio]), label:has(input[type=radio])`)]
          .filter((e) => e.checkVisibility())
          .map((e) => [e.textContent.trim().slice(0, 30) || e.name, e.getBoundingClientRect()])
          .filter(([, r]) => r.height < 48 || r.width < 48)
          .map(([t, r]) => [t, Math.round(r.width), Math.round(r.height)])"""
    )
    return result
