"""A customer answers in a real browser: from the emailed link to the thank-you page and back,
with a mouse or a finger, and with the keyboard alone, in Dutch and in English."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import Response, utcnow
from survey_app.services import invitations
from tests import factories
from tests.browser.conftest import screenshot
from tests.support import smtp_server

WORDING = {
    "nl": {"detractor": "Wat ging er mis?", "promoter": "Wat vond je goed?", "thanks": "Bedankt!",
           "change": "Mijn antwoord wijzigen", "send": "Verstuur mijn antwoord"},
    "en": {"detractor": "What went wrong?", "promoter": "What did you like?", "thanks": "Thank you!",
           "change": "Change my answer", "send": "Send my answer"},
}

# Browser tests run on SQLite only: the storage they rely on is tested on both databases in
# tests/test_survey.py. CSRF is on and cookies are not Secure, as on a plain-HTTP loopback server.
BROWSER_APP = {"WTF_CSRF_ENABLED": True, "BASE_URL": "http://127.0.0.1"}
pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite"]),
    pytest.mark.parametrize("app_config", [BROWSER_APP]),
    pytest.mark.parametrize("language", ["nl", "en"]),
]


def emailed_link(app: Flask, server: str, language: str, score: int) -> str:
    """Send a real invitation over SMTP and return the link to click for `score` in that email.

    The survey link comes from the message's text part; the one-click score link, which only
    the HTML part carries, must be that same link with ?score=N.
    """
    with app.app_context():
        customer = factories.customer(language=language)
        campaign = factories.campaign(name="Gratis dag" if language == "nl" else "Free day", language=language)
        factories.event(campaign, customer, "clicked", occurred_at=utcnow() - timedelta(days=5))
        db.session.commit()
        campaign_id = campaign.id
    with smtp_server() as mailbox:
        app.config.update(BASE_URL=server, MAIL_BACKEND="smtp", SMTP_HOST=mailbox.host, SMTP_PORT=mailbox.port)
        with app.app_context():
            assert invitations.create_invitations(campaign_id) == 1
            assert invitations.send_pending(campaign_id=campaign_id).sent == 1
    [message] = mailbox.messages
    link = re.search(re.escape(server) + r"/s/[A-Za-z0-9_-]+", message.get_body(("plain",)).get_content())
    assert link, "the text part carries the survey link"
    html = message.get_body(("html",)).get_content()
    score_link = f"{link.group(0)}?score={score}"
    assert f'href="{score_link}"' in html
    return score_link


@pytest.fixture(autouse=True)
def fail_fast(page) -> None:
    """Fail in seconds, not Playwright's default 30 s, when an element never appears."""
    page.set_default_timeout(5000)


def stored_answers(app: Flask) -> list[tuple[int, str, int]]:
    with app.app_context():
        rows = db.session.execute(select(Response)).scalars().all()
        return [(row.score, row.comment, row.revision) for row in rows]


def visible_wording(page) -> str:
    return page.locator("label[for=comment] span:visible").inner_text()


def test_a_customer_answers_and_changes_the_answer_by_pointer(app, server, page, language):
    words = WORDING[language]
    page.goto(emailed_link(app, server, language, score=8))
    assert page.locator("#score-8").is_checked()  # the score clicked in the email
    assert page.evaluate("document.documentElement.lang") == language
    screenshot(page, f"survey-{language}-1-opened")

    page.locator("label[for=score-3]").click()
    assert page.locator("#score-3").is_checked()
    assert visible_wording(page) == words["detractor"]  # CSS :has(), no script
    page.locator("#comment").fill("De vestiging in Utrecht was dicht")
    screenshot(page, f"survey-{language}-2-filled")
    page.get_by_role("button", name=words["send"]).click()

    page.wait_for_url("**/thanks**")
    assert page.get_by_role("heading", name=words["thanks"]).is_visible()
    assert "De vestiging in Utrecht was dicht" in page.locator(".your-answer").inner_text()
    screenshot(page, f"survey-{language}-3-thanks")
    assert stored_answers(app) == [(3, "De vestiging in Utrecht was dicht", 1)]

    page.get_by_role("link", name=words["change"]).click()
    assert page.locator("#score-3").is_checked()
    assert page.locator("#comment").input_value() == "De vestiging in Utrecht was dicht"
    page.locator("label[for=score-9]").click()
    assert visible_wording(page) == words["promoter"]
    page.locator("#comment").fill("Toch snel geholpen")
    screenshot(page, f"survey-{language}-4-changing")
    page.get_by_role("button", name=words["send"]).click()
    page.wait_for_url("**/thanks**")
    screenshot(page, f"survey-{language}-5-changed")
    assert stored_answers(app) == [(9, "Toch snel geholpen", 2)]


def focus_is_visible(page, selector: str) -> bool:
    """Tell whether an element draws the focus outline (for radios: the label that shows it)."""
    style = page.evaluate(
        "(selector) => { const s = getComputedStyle(document.querySelector(selector));"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }",
        selector,
    )
    return style[0] != "none" and style[1] >= 2


def focused(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.tagName.toLowerCase()")


def tab_to(page, target: str, limit: int = 10) -> None:
    """Press Tab until the element with this id (or tag) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page) == target:
            return
    raise AssertionError(f"Tab never reached {target}; the focus is on {focused(page)}")


def test_a_customer_answers_and_changes_the_answer_by_keyboard_alone(app, server, page, language):
    words = WORDING[language]
    page.goto(emailed_link(app, server, language, score=8))

    tab_to(page, "score-8")  # Tab enters the radio group on the chosen score
    assert focus_is_visible(page, "label[for=score-8]")
    for _ in range(5):
        page.keyboard.press("ArrowLeft")  # arrows move the choice: 8 -> 3
    assert focused(page) == "score-3" and page.locator("#score-3").is_checked()
    assert focus_is_visible(page, "label[for=score-3]")
    assert visible_wording(page) == words["detractor"]
    screenshot(page, f"survey-keyboard-{language}-1-scored")

    page.keyboard.press("Tab")
    assert focused(page) == "comment" and focus_is_visible(page, "#comment")
    page.keyboard.type("Code werkte niet")
    page.keyboard.press("Tab")
    assert focused(page) == "button" and focus_is_visible(page, "button.submit")
    screenshot(page, f"survey-keyboard-{language}-2-filled")
    page.keyboard.press("Enter")

    page.wait_for_url("**/thanks**")
    assert page.get_by_role("heading", name=words["thanks"]).is_visible()
    screenshot(page, f"survey-keyboard-{language}-3-thanks")
    assert stored_answers(app) == [(3, "Code werkte niet", 1)]

    page.keyboard.press("Tab")
    change = page.get_by_role("link", name=words["change"])
    for _ in range(10):
        if change.evaluate("element => element === document.activeElement"):
            break
        page.keyboard.press("Tab")
    assert focus_is_visible(page, ":focus")
    page.keyboard.press("Enter")
    page.wait_for_url("**/s/*")

    tab_to(page, "score-3")
    page.keyboard.press("ArrowRight")  # 4 ...
    page.keyboard.press("ArrowRight")  # ... 5
    page.keyboard.press("ArrowLeft")  # back to 4
    assert page.locator("#score-4").is_checked()
    page.keyboard.press("Shift+Tab")  # out of the group and back in with Space: still 4
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.locator("#score-4").is_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("Code werkte niet, later wel")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # Space presses a button too
    page.wait_for_url("**/thanks**")
    screenshot(page, f"survey-keyboard-{language}-4-changed")
    assert stored_answers(app) == [(4, "Code werkte niet, later wel", 2)]
