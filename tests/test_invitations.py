"""Creating and sending survey invitations: the command, the dashboard button, the outbox, and
what is stored per invitation; on SQLite and PostgreSQL, against a real SMTP server."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import Customer, Invitation, utcnow
from survey_app.services import invitations
from tests import factories
from tests.support import ReceivedMail, smtp_server

LINK = re.compile(r"https://surveys\.example\.test/s/([A-Za-z0-9_-]+)")


def clickers(app: Flask, count: int, **campaign_fields: Any) -> tuple[int, list[int]]:
    """Create a campaign with `count` customers who clicked five days ago and did not convert."""
    with app.app_context():
        campaign = factories.campaign(**campaign_fields)
        ids = []
        for number in range(count):
            language = "en" if number % 2 else "nl"
            customer = factories.customer(first_name=f"Klant{number}", language=language)
            factories.event(campaign, customer, "clicked", occurred_at=utcnow() - timedelta(days=5))
            ids.append(customer.id)
        db.session.commit()
        return campaign.id, ids


def smtp_config(mailbox: ReceivedMail, **extra: Any) -> dict[str, Any]:
    """Return settings that deliver to the test's SMTP server."""
    config = {"MAIL_BACKEND": "smtp", "SMTP_HOST": mailbox.host, "SMTP_PORT": mailbox.port,
              "MAIL_RETRY_BASE_SECONDS": 0.01}
    config.update(extra)
    return config


def recipients(mailbox: ReceivedMail) -> list[str]:
    return sorted(recipient for _sender, rcpts in mailbox.envelopes for recipient in rcpts)


def survey_token(message: EmailMessage) -> str:
    text = message.get_body(("plain",)).get_content()
    match = LINK.search(text)
    assert match, text
    return match.group(1)


def test_send_invitations_emails_each_eligible_customer_once_and_records_it(app, runner):
    campaign_id, customer_ids = clickers(app, 4)
    with smtp_server() as mailbox:
        app.config.update(smtp_config(mailbox))
        result = runner.invoke(args=["send-invitations", "--campaign", str(campaign_id)])
        assert result.exit_code == 0, result.output
        assert "Created 4 invitations" in result.output
        assert re.search(r"sent\s+4", result.output)
        again = runner.invoke(args=["send-invitations", "--campaign", str(campaign_id)])
        assert "Created 0 invitations" in again.output
    with app.app_context():
        emails = dict(db.session.execute(select(Customer.id, Customer.email)).all())
        rows = db.session.execute(select(Invitation).order_by(Invitation.id)).scalars().all()
        assert recipients(mailbox) == sorted(emails[customer_id] for customer_id in customer_ids)
        assert len(mailbox.messages) == 4
        by_message_id = {row.message_id: row for row in rows}
        for message in mailbox.messages:
            row = by_message_id[message["Message-ID"]]
            assert row.state == "sent" and row.sent_at is not None and row.claimed_by is None
            assert row.send_attempts == 1
            token = survey_token(message)
            # Only the hash is stored, and it is the hash of the emailed token.
            assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
            assert len(token) >= 43
            assert row.customer.last_invited_at == row.sent_at
            assert row.expires_at - row.created_at == timedelta(days=14)


@pytest.mark.parametrize("app_config", [{"INVITATION_EXPIRY_DAYS": 3}])
def test_the_expiry_is_configurable_and_stated_in_the_email(app, runner):
    campaign_id, _ids = clickers(app, 1)
    with smtp_server() as mailbox:
        app.config.update(smtp_config(mailbox))
        runner.invoke(args=["send-invitations", "--campaign", str(campaign_id)])
    with app.app_context():
        row = db.session.execute(select(Invitation)).scalar_one()
        assert row.expires_at - row.created_at == timedelta(days=3)
    assert str(row.expires_at.year) in mailbox.messages[0].get_body(("plain",)).get_content()


def test_dry_run_and_limit(app, runner):
    campaign_id, _ids = clickers(app, 5)
    with smtp_server() as mailbox:
        app.config.update(smtp_config(mailbox))
        dry = runner.invoke(args=["send-invitations", "--campaign", str(campaign_id), "--dry-run", "--limit", "2"])
        assert dry.exit_code == 0, dry.output
        assert "5 eligible, 2 invitations would be created" in dry.output
        with app.app_context():
            assert db.session.execute(select(Invitation)).first() is None
        assert mailbox.messages == []
        limited = runner.invoke(args=["send-invitations", "--campaign", str(campaign_id), "--limit", "2"])
        assert "Created 2 invitations" in limited.output
        assert len(mailbox.messages) == 2


def test_an_unknown_campaign_is_a_clear_error(app, runner):
    result = runner.invoke(args=["send-invitations", "--campaign", "no-such-campaign"])
    assert result.exit_code != 0
    assert "no campaign with id or key 'no-such-campaign'" in result.output


def test_a_customer_who_opts_out_or_bounces_before_the_send_gets_nothing(app):
    campaign_id, (opted, bounced, fine) = clickers(app, 3)
    with app.app_context():
        invitations.create_invitations(campaign_id)
        now = utcnow()
        db.session.get(Customer, opted).opted_out_at = now
        db.session.get(Customer, bounced).bounced_at = now
        db.session.commit()
        fine_email = db.session.get(Customer, fine).email
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        report = invitations.send_pending(campaign_id=campaign_id)
        states = dict(db.session.execute(select(Invitation.customer_id, Invitation.state)).all())
    assert (report.sent, report.cancelled) == (1, 2)
    assert recipients(mailbox) == [fine_email]
    assert states == {opted: "cancelled", bounced: "cancelled", fine: "sent"}


def test_the_outbox_backend_writes_eml_files_and_the_outbox_command_lists_them_masked(app, runner, tmp_path):
    campaign_id, _ids = clickers(app, 2)
    app.config["MAIL_OUTBOX_DIR"] = str(tmp_path / "outbox")
    result = runner.invoke(args=["send-invitations", "--campaign", str(campaign_id)])
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    listing = runner.invoke(args=["outbox"])
    assert listing.exit_code == 0
    assert "c***@example.com" in listing.output
    assert "@example.com" in listing.output and "customer" not in listing.output


def test_dashboard_shows_eligibility_and_sends_on_post_only(app, client, tmp_path):
    campaign_id, _ids = clickers(app, 3)
    app.config["MAIL_OUTBOX_DIR"] = str(tmp_path / "outbox")
    login(app, client)
    page = client.get(f"/dashboard/campaigns/{campaign_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Send invitations" in html and "3 eligible" in html
    with app.app_context():
        assert db.session.execute(select(Invitation)).first() is None
    response = client.post(f"/dashboard/campaigns/{campaign_id}/send-invitations")
    assert response.status_code == 302
    with app.app_context():
        assert [row.state for row in db.session.execute(select(Invitation)).scalars()] == ["sent"] * 3
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    follow = client.get(f"/dashboard/campaigns/{campaign_id}").get_data(as_text=True)
    assert "0 eligible" in follow


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_the_dashboard_button_needs_the_csrf_token(app, client, tmp_path):
    campaign_id, _ids = clickers(app, 1)
    app.config["MAIL_OUTBOX_DIR"] = str(tmp_path / "outbox")
    login(app, client)
    html = client.get(f"/dashboard/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'name="csrf_token"' in html
    assert client.post(f"/dashboard/campaigns/{campaign_id}/send-invitations").status_code == 400
    with app.app_context():
        assert db.session.execute(select(Invitation)).first() is None
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(f"/dashboard/campaigns/{campaign_id}/send-invitations", data={"csrf_token": token},
                           headers={"Referer": f"https://localhost/dashboard/campaigns/{campaign_id}"})
    assert response.status_code == 302
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def login(app: Flask, client: Any) -> None:
    """Sign a researcher in through the login form."""
    from survey_app.services.users import create_user

    with app.app_context():
        create_user("researcher@example.com", "a long enough password", role="researcher")
    html = client.get("/auth/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    data = {"email": "researcher@example.com", "password": "a long enough password"}
    if match:
        data["csrf_token"] = match.group(1)
    response = client.post("/auth/login", data=data, headers={"Referer": "https://localhost/auth/login"})
    assert response.status_code == 302, response.get_data(as_text=True)
