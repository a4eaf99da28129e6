"""One-click unsubscribe (RFC 8058): a GET (a person or a mail scanner) changes nothing, a POST
without cookies or CSRF token opts out at once, forged links unsubscribe no one, and an
opted-out customer gets no further email."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import Customer, Invitation, utcnow
from survey_app.services import invitations
from tests import factories
from tests.support import smtp_server
from tests.test_invitations import clickers, smtp_config

# The real check is on: the one-click POST must work without any token or cookie.
pytestmark = pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])


def invite(app, count: int = 2) -> tuple[list[str], list[int], list]:
    """Send invitations over SMTP; return each message's unsubscribe path, the customer ids and messages."""
    campaign_id, customer_ids = clickers(app, count)
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        invitations.create_invitations(campaign_id)
        invitations.send_pending()
    paths = []
    for message in mailbox.messages:
        url = re.fullmatch(r"<([^>]+)>", "".join(message["List-Unsubscribe"].split())).group(1)
        assert url.startswith("https://surveys.example.test/u/")
        paths.append(url.removeprefix("https://surveys.example.test"))
    return paths, customer_ids, mailbox.messages


def opted_out(app) -> dict[str, bool]:
    with app.app_context():
        return {email: at is not None for email, at in db.session.execute(select(Customer.email, Customer.opted_out_at))}


def recipient_of(message) -> str:
    return message["To"].addresses[0].addr_spec


def test_get_shows_a_confirmation_and_changes_nothing(app, client):
    paths, _ids, messages = invite(app)
    for _ in range(3):  # a scanner fetches, and fetches again
        page = client.get(paths[0])
        assert page.status_code == 200
        assert "<form method=\"post\"" in page.get_data(as_text=True)
    assert client.head(paths[0]).status_code == 200
    assert not any(opted_out(app).values())


@pytest.mark.parametrize("as_multipart", [False, True])
def test_one_click_post_opts_out_without_cookie_token_or_redirect(app, as_multipart):
    paths, _ids, messages = invite(app)
    client = app.test_client(use_cookies=False)
    data = {"List-Unsubscribe": "One-Click"}
    response = client.post(paths[0], data=data, content_type="multipart/form-data" if as_multipart else None)
    assert response.status_code == 200
    assert "Location" not in response.headers
    state = opted_out(app)
    assert state[recipient_of(messages[0])] is True
    assert state[recipient_of(messages[1])] is False
    # Again: still 200, nothing else changes.
    assert client.post(paths[0], data=data).status_code == 200
    assert opted_out(app) == state


def test_the_page_speaks_the_customers_language(app, client):
    paths, _ids, messages = invite(app)
    languages = [message["Content-Language"] for message in messages]
    for path, language in zip(paths, languages, strict=True):
        html = client.get(path).get_data(as_text=True)
        expected = "Afmelden voor enquête-e-mails?" if language == "nl" else "Unsubscribe from survey emails?"
        assert expected in html
        done = client.post(path).get_data(as_text=True)
        assert ("Je bent afgemeld" if language == "nl" else "You are unsubscribed") in done


def test_forged_and_tampered_links_unsubscribe_no_one(app, client):
    paths, _ids, _messages = invite(app)
    token = paths[0].removeprefix("/u/")
    payload, signature = token.split(".", 1)
    other_payload = "Mg" if payload != "Mg" else "Mw"  # the base64 of another invitation id
    for bad in (f"{other_payload}.{signature}", token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
                "MQ", "x" * 300, "MQ.", f"{payload}.{signature}x"):
        assert client.post(f"/u/{bad}").status_code == 404
        assert client.get(f"/u/{bad}").status_code == 404
    assert not any(opted_out(app).values())


def test_an_opted_out_customer_gets_no_reminder_and_no_further_invitation(app, client):
    from survey_app.services import reminders

    paths, customer_ids, messages = invite(app)
    assert client.post(paths[0]).status_code == 200
    stays = recipient_of(messages[1])
    with app.app_context():
        for row in db.session.execute(select(Invitation)).scalars():
            row.sent_at = utcnow() - timedelta(days=4)
        # A second campaign both clicked in; contact frequency off, so only the opt-out decides.
        campaign = factories.campaign()
        for customer_id in customer_ids:
            factories.event(campaign, db.session.get(Customer, customer_id), "clicked",
                            occurred_at=utcnow() - timedelta(days=5))
        db.session.commit()
        app.config["CONTACT_FREQUENCY_DAYS"] = 0
        # The opted-out customer is not invited; the other one gets a pending invitation.
        invitations.create_invitations(campaign.id)
        pending_of_second = db.session.execute(
            select(Invitation).where(Invitation.campaign_id == campaign.id)
        ).scalars().all()
        assert len(pending_of_second) == 1  # the opted-out customer is not even created
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        assert reminders.send_due_reminders().sent == 1
        assert [recipient_of(message) for message in mailbox.messages] == [stays]
        assert client.post(paths[1]).status_code == 200
        report = invitations.send_pending()
        state = db.session.execute(select(Invitation.state).where(Invitation.campaign_id == campaign.id)).scalar_one()
    assert report.sent == 0 and state == "cancelled"
    assert len(mailbox.messages) == 1
