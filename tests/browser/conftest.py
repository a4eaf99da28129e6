"""Browser fixtures: Debian's Chromium driven by Playwright, against the app served on loopback.

Playwright cannot download its own browsers here, so it launches the system Chromium through
executable_path (SURVEY_APP_TEST_CHROMIUM, default /usr/bin/chromium). Without it these tests
skip, except under CI=true, where .ci/run installs it and they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import requirement_missing
from tests.support import live_server

CHROMIUM = os.environ.get("SURVEY_APP_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# The flags the machine needs: no sandbox as root, and no background calls to a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        requirement_missing(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="nl-NL")
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def server(app) -> Iterator[str]:
    """The app under test, served over HTTP on a free loopback port."""
    with live_server(app) as base_url:
        yield base_url


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
