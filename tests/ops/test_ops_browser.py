"""The status page in a real headless browser (Debian's Chromium driven by Playwright).

A real satellite (built with the kit, on 127.0.0.1) is registered and active; Nexus's
health monitor checks it. The browser opens /status, is sent to the login form, signs in
with the owner's token, and must see the app with its health. Screenshots (laptop and
phone widths) are kept under the test's tmp folder; their paths are printed.
Without ``/usr/bin/chromium`` the test skips and says how to enable it.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from nexus_agent.config import Settings
from nexus_agent.services import open_services_sync
from nexus_agent.testing import serve_in_thread, serve_nexus_in_thread
from nexus_agent.wire.models import AppRecord
from satellite_template import Satellite, SatelliteSettings

CHROMIUM = "/usr/bin/chromium"
OWNER = "browser-owner-token-0123456789abcdef"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow


def _needs_browser() -> None:
    if not Path(CHROMIUM).exists():
        message = "no /usr/bin/chromium: install it with `apt-get install -y chromium` to run the browser test"
        if os.environ.get("CI"):  # CI installs it (.ci/run): a missing browser there is a broken set-up
            pytest.fail(message)
        pytest.skip(message)
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (in the [test] extra)")


def test_the_status_page_in_chromium_shows_a_registered_app_and_its_health(tmp_path: Path) -> None:
    _needs_browser()
    from playwright.sync_api import sync_playwright

    satellite = Satellite("quote-engine", "Quote Engine")
    with serve_in_thread(satellite.create_app(SatelliteSettings())) as sat_base:
        settings = Settings.load(
            {"NEXUS_HOME": str(tmp_path / "home"), "NEXUS_DB_SYNC": "normal", "NEXUS_TOKENS": f"boss={OWNER}"}
        )
        with open_services_sync(settings) as services:
            record = {"slug": "quote-engine", "name": "Quote Engine", "category": "sales", "status": "active"}
            record["endpoints"] = {"mcp_url": f"{sat_base}/mcp"}  # type: ignore[assignment]
            services.registry.register_sync(AppRecord.model_validate(record), actor="test")  # type: ignore[attr-defined]
            # What an owner's real home holds: a long app name, a long unbroken slug, a decision quoting a URL.
            long_app = {"slug": "warehousereplenishmentforecaster", "name": "Warehouse Replenishment Forecaster"}
            services.registry.register_sync(AppRecord.model_validate(long_app), actor="test")  # type: ignore[attr-defined]
            decision = {
                "decision": "Route every depot reorder through the forecaster before the supplier portal",
                "rationale": "See https://suppliers.example.com/portal/reorders/2026/harrogate-showroom-lintels-batch",
                "decided_by": "owner",
            }
            anyio.run(services.memory.log_decision, decision)
        with serve_nexus_in_thread(settings) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(f"{base}/status")
                assert page.url.endswith("/login")
                page.fill("#token", OWNER)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/status", timeout=10_000)
                row = page.locator("tr", has_text="Quote Engine")
                row.wait_for(timeout=10_000)
                cells = row.locator("td").all_inner_texts()
                assert cells[1] == "active" and cells[2] == "up", cells
                assert cells[4] != "not checked yet"
                assert page.locator("svg.spark").count() == 4
                wide = tmp_path / "status-laptop.png"
                page.screenshot(path=str(wide), full_page=True)

                page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scroll, nothing clipped
                page.reload()
                assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                clipped = page.evaluate(
                    "[...document.querySelectorAll('main > section, .card')]"
                    ".filter(e => e.getBoundingClientRect().right > window.innerWidth).length"
                )
                assert clipped == 0
                assert page.get_by_role("heading", name="Key figures").count() == 1
                narrow = tmp_path / "status-phone.png"
                page.screenshot(path=str(narrow), full_page=True)
            finally:
                browser.close()
    assert wide.stat().st_size > 10_000 and narrow.stat().st_size > 5_000
    print(f"\nstatus page screenshots: {wide} {narrow}")
