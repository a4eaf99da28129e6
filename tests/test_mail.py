"""The invitation email as a real SMTP server receives it: MIME structure, headers, both
languages, escaping, header injection, the links (followed), and SMTP failures and retries."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from survey_app import mail
from survey_app.extensions import db
from survey_app.models import Customer, Invitation, Response, utcnow
from survey_app.services import invitations
from tests import factories
from tests.support import ReceivedMail, free_port, smtp_server
from tests.test_invitations import clickers, smtp_config, survey_token


class Links(HTMLParser):
    """Collect the href of every <a>, and note any tag an email must not have."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.forbidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"] or "")
        if tag in ("script", "img", "style", "link", "form", "iframe"):
            self.forbidden.append(tag)


def send_one(app, mailbox: ReceivedMail, **customer_fields) -> tuple[int, list]:
    """Invite one clicker (fields given) over SMTP; return the campaign id and the mailbox messages."""
    with app.app_context():
        campaign = factories.campaign(email_subject="Hoe was je bezoek?", email_sender="RijdNu <hallo@rijdnu.example>")
        customer = factories.customer(**customer_fields)
        factories.event(campaign, customer, "clicked", occurred_at=utcnow() - timedelta(days=5))
        db.session.commit()
        app.config.update(smtp_config(mailbox))
        invitations.create_invitations(campaign.id)
        invitations.send_pending(campaign_id=campaign.id)
        return campaign.id, mailbox.messages


def test_the_message_is_multipart_text_and_html_with_the_rfc_8058_headers(app, client):
    with smtp_server() as mailbox:
        send_one(app, mailbox, first_name="Anouk", language="nl")
    [message] = mailbox.messages
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Subject"] == "Hoe was je bezoek?"
    assert message["From"].addresses[0].addr_spec == "hallo@rijdnu.example"
    assert str(message["To"]).startswith("Anouk <")
    assert re.fullmatch(r"<survey-\d+-invitation@rijdnu\.example>", message["Message-ID"])
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(https://surveys\.example\.test/u/[^>]+)>", "".join(message["List-Unsubscribe"].split()))
    assert unsubscribe
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Hallo Anouk," in text and "Hallo Anouk," in html
    assert unsubscribe.group(1) in text and unsubscribe.group(1) in html
    # Mail clients strip <style> and block images: the layout is tables with inline styles.
    links = Links()
    links.feed(html)
    assert links.forbidden == []
    assert "<table" in html and 'style="' in html
    # The link is in the email, and the message ID is stored for the invitation.
    with app.app_context():
        row = db.session.execute(select(Invitation)).scalar_one()
        assert row.message_id == message["Message-ID"]


def test_english_customers_get_the_english_email(app):
    with smtp_server() as mailbox:
        with app.app_context():
            campaign = factories.campaign(language="nl")
            customer = factories.customer(first_name="John", language="en")
            factories.event(campaign, customer, "clicked", occurred_at=utcnow() - timedelta(days=5))
            db.session.commit()
            app.config.update(smtp_config(mailbox))
            invitations.create_invitations(campaign.id)
            invitations.send_pending()
    [message] = mailbox.messages
    assert message["Subject"] == "A short question about our offer"
    assert message["Content-Language"] == "en"
    text = message.get_body(("plain",)).get_content()
    assert "Hello John," in text and "How likely is it that you would recommend us" in text
    with app.app_context(), force_locale("nl"):
        assert invitations.default_subject() == "Een korte vraag over ons aanbod"


def test_the_eleven_score_links_and_the_plain_link_open_the_survey_without_storing_an_answer(app, client):
    with smtp_server() as mailbox:
        send_one(app, mailbox, first_name="Anouk")
    [message] = mailbox.messages
    token = survey_token(message)
    links = Links()
    links.feed(message.get_body(("html",)).get_content())
    survey_links = [href for href in links.hrefs if "/s/" in href]
    base = f"https://surveys.example.test/s/{token}"
    assert survey_links == [f"{base}?score={score}" for score in range(11)] + [base]
    for href in survey_links:
        page = client.get(href.removeprefix("https://surveys.example.test"))
        assert page.status_code == 200
        if "score=" in href:
            score = href.rsplit("=", 1)[1]
            assert f'value="{score}" checked' in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Response)).scalar_one() == 0


@pytest.mark.parametrize("name", ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>'])
def test_an_imported_name_is_escaped_in_the_html(app, name):
    with smtp_server() as mailbox:
        send_one(app, mailbox, first_name=name)
    [message] = mailbox.messages
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img" not in html
    assert "&lt;" in html
    assert name in message.get_body(("plain",)).get_content()


def test_a_line_break_in_a_name_or_subject_cannot_inject_a_header(app):
    with smtp_server() as mailbox:
        with app.app_context():
            # Written straight to the database, past the import's validation.
            campaign = factories.campaign(email_subject="Vraag\r\nBcc: victim@example.com")
            customer = factories.customer(first_name="Alice\r\nBcc: victim@example.com")
            factories.event(campaign, customer, "clicked", occurred_at=utcnow() - timedelta(days=5))
            db.session.commit()
            app.config.update(smtp_config(mailbox))
            invitations.create_invitations(campaign.id)
            invitations.send_pending()
    [message] = mailbox.messages
    assert mailbox.envelopes[0][1] == [customer_email(app)]
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"] and "\n" not in str(message["To"])
    assert message["Subject"] == "Vraag Bcc: victim@example.com"


def customer_email(app) -> str:
    with app.app_context():
        return db.session.execute(select(Customer.email)).scalar_one()


def test_an_address_with_a_line_break_is_refused_and_the_invitation_failed(app):
    with smtp_server() as mailbox:
        with app.app_context():
            campaign = factories.campaign()
            customer = factories.customer(email="a@example.com\r\nBcc: victim@example.com")
            factories.event(campaign, customer, "clicked", occurred_at=utcnow() - timedelta(days=5))
            db.session.commit()
            app.config.update(smtp_config(mailbox))
            invitations.create_invitations(campaign.id)
            report = invitations.send_pending()
            row = db.session.execute(select(Invitation)).scalar_one()
    assert mailbox.messages == []
    assert (report.sent, report.failed) == (0, 1)
    assert (row.state, row.failure_reason) == ("failed", "invalid recipient address")


class ScriptedServer:
    """An SMTP handler that answers RCPT from a script of replies, then accepts."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.accepted: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.lock:
            reply = self.replies.pop(0) if self.replies else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.accepted.append(envelope.content)
        return "250 Message accepted for delivery"


@contextmanager
def scripted_server(replies: list[str]) -> Iterator[tuple[ScriptedServer, ReceivedMail]]:
    from aiosmtpd.controller import Controller

    handler = ScriptedServer(replies)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, ReceivedMail("127.0.0.1", port)
    finally:
        controller.stop()


def test_a_4xx_reply_is_retried_with_backoff_and_then_sent(app):
    campaign_id, _ids = clickers(app, 1)
    with scripted_server(["451 4.3.0 Try again later", "421 4.7.0 Busy"]) as (handler, mailbox), app.app_context():
        app.config.update(smtp_config(mailbox))
        invitations.create_invitations(campaign_id)
        report = invitations.send_pending()
        row = db.session.execute(select(Invitation)).scalar_one()
    assert report.sent == 1 and len(handler.accepted) == 1
    assert (row.state, row.send_attempts) == ("sent", 3)


def test_retries_wait_longer_each_time():
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0

        def send(self, message):
            self.calls += 1
            if self.calls < 4:
                raise mail.TransientMailError("451 later")

        def reset(self):
            pass

    waits: list[float] = []
    message = mail.OutgoingMessage("a@example.com", "b@example.com", "<m@example.com>", b"")
    assert mail.send_with_retry(Flaky(), message, attempts=4, base_delay=1.5, sleep=waits.append) == 4
    assert waits == [1.5, 3.0, 6.0]
    with pytest.raises(mail.TransientMailError):
        mail.send_with_retry(Flaky(), message, attempts=2, base_delay=1.0, sleep=waits.append)


def test_a_5xx_reply_marks_the_invitation_failed_with_the_reason(app):
    campaign_id, _ids = clickers(app, 2)
    with scripted_server(["550 5.1.1 No such user"]) as (handler, mailbox), app.app_context():
        app.config.update(smtp_config(mailbox))
        invitations.create_invitations(campaign_id)
        report = invitations.send_pending()
        rows = db.session.execute(select(Invitation).order_by(Invitation.id)).scalars().all()
    assert (report.sent, report.failed) == (1, 1)
    assert rows[0].state == "failed" and rows[0].failure_reason == "550 5.1.1 No such user"
    assert rows[1].state == "sent"


def test_an_unreachable_server_leaves_the_invitations_pending_for_the_next_run(app):
    campaign_id, _ids = clickers(app, 3)
    with app.app_context():
        app.config.update({"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": free_port(),
                           "MAIL_RETRY_ATTEMPTS": 2, "MAIL_RETRY_BASE_SECONDS": 0.01})
        invitations.create_invitations(campaign_id)
        report = invitations.send_pending()
        rows = db.session.execute(select(Invitation)).scalars().all()
    assert report.sent == 0 and report.deferred == 3 and report.stopped
    assert {row.state for row in rows} == {"pending"} and {row.claimed_by for row in rows} == {None}
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        assert invitations.send_pending().sent == 3


def test_building_a_message_refuses_a_sender_with_a_line_break():
    with pytest.raises(mail.MailConfigurationError):
        mail.sender_address("Survey <s@example.com>\r\nBcc: x@example.com")
    message = mail.build_message(
        sender=mail.sender_address("Enquête <s@example.com>"),
        recipient=mail.recipient_address("Zoë", "z@example.com"),
        subject="Één vraag", text="tekst", html="<p>tekst</p>", message_id="<m-1@example.com>",
        unsubscribe_url="https://x.example/u/abc",
    )
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert parsed["Subject"] == "Één vraag" and parsed["From"].addresses[0].display_name == "Enquête"
    assert b"\r\n" in message.data and b"\n" not in message.data.replace(b"\r\n", b"")


HOSTILE_NAMES = ["Zoë & <b>Ångström</b> \"Q\" 'o' %(name)s {{ x }}", "Jean-Noël van der Berg-Lange Smith-Øster"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize("reminder", [0, 2])
def test_each_email_equals_its_templates_rendered_directly_with_the_recipients_values(app, name, reminder):
    """The renderer fills per-recipient values into an email rendered once per kind: the result
    must be what Jinja (autoescape on) renders with those values, in both parts."""
    with app.app_context():
        invitation, _token = factories.invitation(customer_=factories.customer(first_name=name, language="nl"))
        db.session.commit()
        [row] = invitations.MailRow.load([invitation.id])
        renderer = invitations.Renderer()
        renderer.render(row, "warm-up-the-cache", reminder=reminder)
        token = "T0ken_with-all-URL-safe-characters"
        message = message_from_bytes(renderer.render(row, token, reminder=reminder).data, policy=policy.default)
        base = app.config["BASE_URL"].rstrip("/")
        survey_url = f"{base}/s/{token}"
        with force_locale("nl"):
            texts = invitations.email_texts(row.expires_at, reminder)
            subject = invitations.default_subject()
            if reminder:
                subject = f"Herinnering: {subject}"
        context = {
            "language": "nl", "subject": subject, "reminder": reminder, "survey_url": survey_url,
            "texts": dict(texts, greeting=texts["greeting_named"] % {"name": mail.clean_header_text(name)}),
            "score_links": [(score, f"{survey_url}?score={score}") for score in range(11)],
            "unsubscribe_url": f"{base}/u/{invitations.unsubscribe_token(row.id)}",
            "privacy_url": f"{base}/privacy?lang=nl",
        }
        expected_html = app.jinja_env.get_template("email/invitation.html").render(context)
        expected_text = app.jinja_env.get_template("email/invitation.txt").render(context)
    assert message.get_body(("html",)).get_content() == expected_html
    assert message.get_body(("plain",)).get_content() == expected_text
    assert message["Subject"] == subject
    assert message["To"].addresses[0].display_name == name
    if "<b>" in name:  # the comparison covers escaping
        assert "&lt;b&gt;" in expected_html and "<b>" not in expected_html


def test_a_bad_address_in_the_middle_of_a_batch_fails_that_invitation_only(app):
    """The next email is rendered while the current one is with the server; a rendering error
    still lands on its own invitation, at its turn."""
    with smtp_server() as mailbox:
        with app.app_context():
            campaign = factories.campaign()
            for email in ("first@example.com", "broken@@example.com", "third@example.com"):
                factories.event(campaign, factories.customer(email=email), "clicked",
                                occurred_at=utcnow() - timedelta(days=5))
            db.session.commit()
            app.config.update(smtp_config(mailbox))
            invitations.create_invitations(campaign.id)
            report = invitations.send_pending()
            rows = db.session.execute(select(Invitation).order_by(Invitation.id)).scalars().all()
            outcome = {row.customer.email: (row.state, row.failure_reason) for row in rows}
    assert (report.sent, report.failed) == (2, 1)
    assert sorted(rcpt for _sender, rcpts in mailbox.envelopes for rcpt in rcpts) == [
        "first@example.com", "third@example.com"]
    assert outcome["broken@@example.com"] == ("failed", "invalid recipient address")


def test_lines_starting_with_a_dot_arrive_intact():
    body = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nend\r\n"
    outgoing = mail.OutgoingMessage("s@example.com", "r@example.com", "<dots@example.com>", body)
    with smtp_server() as mailbox:
        connection = mail.SMTPConnection({"SMTP_HOST": mailbox.host, "SMTP_PORT": mailbox.port})
        ran = []
        connection.send(outgoing, meanwhile=lambda: ran.append(True))
        connection.close()
    [message] = mailbox.messages
    assert message.get_content().replace("\r\n", "\n") == ".leading dot\n..two dots\n.\nend\n" and ran == [True]


def test_a_long_non_ascii_subject_and_name_are_folded_and_decode_back():
    subject = "Één korte vraag over uw bezoek aan onze vestiging in ’s-Hertogenbosch — duurt één minuut"
    name = "Zoë Ångström-van der Berg, née Øster"
    message = mail.build_message(
        sender=mail.sender_address("Enquête Team <s@example.com>"), recipient=mail.recipient_address(name, "z@example.com"),
        subject=subject, text="tekst", html="<p>tekst</p>", message_id="<m-2@example.com>",
        unsubscribe_url="https://x.example/u/" + "a" * 90, references="<m-1@example.com>", language="nl",
    )
    head = message.data.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998 and head.isascii()
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert parsed["Subject"] == subject and parsed["To"].addresses[0].display_name == name
    assert parsed["In-Reply-To"] == parsed["References"] == "<m-1@example.com>"
    assert "".join(parsed["List-Unsubscribe"].split()) == "<https://x.example/u/" + "a" * 90 + ">"
    assert parsed.defects == [] and [part.defects for part in parsed.iter_parts()] == [[], []]
