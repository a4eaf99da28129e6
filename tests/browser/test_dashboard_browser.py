"""A researcher in a real browser: sign in, open the demo's flagged car-rental campaign, find the
closed locations in its evidence, acknowledge the flag and download its answers as CSV."""

from __future__ import annotations

import csv
import re

import pytest

from survey_app.demo import build_demo
from tests.browser.conftest import screenshot

CLOSED = ("Utrecht Centraal", "Amersfoort Centraal", "Amsterdam Sloterdijk", "Haarlem Station", "Leiden Centraal")
CAMPAIGN = "Gratis dag bij een locatie in de buurt"

# SQLite only: the pages' queries run on both databases in tests/test_dashboard.py. CSRF is on and
# cookies are not Secure, as on a plain-HTTP loopback server.
pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite"]),
    pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True, "BASE_URL": "http://127.0.0.1"}]),
]


def test_researcher_finds_the_closed_locations_acknowledges_the_flag_and_downloads_csv(app, server, page, tmp_path):
    with app.app_context():
        demo = build_demo(customers=600)
    page.goto(f"{server}/")
    page.get_by_label("Email").fill(demo.login)
    page.get_by_label("Password").fill(demo.password)
    page.get_by_role("button", name="Sign in").click()

    # The demo opens on the dashboard, the broken campaign first.
    page.wait_for_url(f"{server}/dashboard/")
    first_row = page.locator("table.overview tbody tr").first
    assert CAMPAIGN in first_row.inner_text() and "Flag open" in first_row.inner_text()
    screenshot(page, "dashboard-overview")

    first_row.get_by_role("link", name=CAMPAIGN).click()
    page.wait_for_url(re.compile(r".*/dashboard/campaign/\d+$"))
    assert "reported a broken promise" in page.locator("#verdict + dl + h3 + ul, ul.reasons").first.inner_text()
    evidence = page.locator("section[aria-labelledby=evidence]")
    assert evidence.locator("mark").count() >= 3
    items_table = page.locator("section[aria-labelledby=items] table")
    named_in_evidence = [place for place in CLOSED if place in evidence.inner_text()]
    assert len(named_in_evidence) >= 3, named_in_evidence
    for place in CLOSED:
        row = items_table.locator("tr", has_text=place)
        reports = int(row.locator("td.num").nth(1).inner_text())
        assert reports >= 1, place
    # Every chart image loaded (a broken image has no natural width).
    for image in page.locator("figure.chart img").all():
        image.scroll_into_view_if_needed()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(page, "dashboard-campaign")

    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state()
    assert "Flag acknowledged." in page.locator(".flash").inner_text()
    assert "Acknowledged" in page.locator("h1").inner_text()
    assert demo.login in page.locator("section[aria-labelledby=flag]").inner_text()
    screenshot(page, "dashboard-flag-acknowledged")

    answered = int(re.search(r"Responses \((\d+)\)", page.content()).group(1))
    with page.expect_download() as download_info:
        page.locator("p.exports").get_by_role("link", name="Responses", exact=True).click()
    path = tmp_path / "responses.csv"
    download_info.value.save_as(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == answered
    assert {row["campaign_key"] for row in rows} == {"demo-gratis-dag"}
    closed_rows = [row for row in rows if "closed_location" in row["categories"]]
    assert closed_rows and any(place in row["promised_items"] for row in closed_rows for place in CLOSED)

    page.goto(f"{server}/dashboard/flags")
    assert CAMPAIGN in page.locator("main").inner_text()
    screenshot(page, "dashboard-flags")
