"""Reminders: day 3 and day 7 by default, at most the configured number, each with a fresh link
of its own that resolves like the first email's, and none after an answer, an opt-out, a bounce
or expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import Customer, Invitation, ReminderLink, utcnow
from survey_app.services import invitations, reminders
from survey_app.services.tokens import hash_token
from tests import factories
from tests.support import smtp_server
from tests.test_invitations import clickers, smtp_config, survey_token


def invited(app, count: int) -> tuple[list[int], dict[int, str]]:
    """Invite `count` clickers through the outbox; return the invitation ids and their tokens by id."""
    campaign_id, _ids = clickers(app, count)
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        invitations.create_invitations(campaign_id)
        invitations.send_pending()
        ids = list(db.session.execute(select(Invitation.id).order_by(Invitation.id)).scalars())
        tokens = {int(message["Message-ID"].split("-")[1]): survey_token(message) for message in mailbox.messages}
    return ids, tokens


def age(app, days: float, ids: list[int] | None = None) -> None:
    """Move the invitations' sending (and last reminder) back in time by `days`."""
    with app.app_context():
        query = select(Invitation)
        if ids is not None:
            query = query.where(Invitation.id.in_(ids))
        for row in db.session.execute(query).scalars():
            row.sent_at -= timedelta(days=days)
            if row.last_reminder_at:
                row.last_reminder_at -= timedelta(days=days)
        db.session.commit()


def run_reminders(app) -> list:
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        reminders.send_due_reminders()
    return mailbox.messages


def survey_status(client, token: str) -> int:
    return client.get(f"/s/{token}").status_code


def test_reminders_go_out_on_day_3_and_day_7_each_with_a_new_working_link_and_never_a_third(app, client):
    ids, tokens = invited(app, 2)
    age(app, 2.9)
    assert run_reminders(app) == []
    age(app, 0.2)  # day 3.1
    first = run_reminders(app)
    assert len(first) == 2
    assert run_reminders(app) == []  # already sent: a rerun sends nothing
    for message in first:
        invitation_id = int(message["Message-ID"].split("-")[1])
        assert message["Message-ID"].startswith(f"<survey-{invitation_id}-reminder-1@")
        assert message["References"] == message["In-Reply-To"]
        assert message["References"].startswith(f"<survey-{invitation_id}-invitation@")
        assert survey_token(message) != tokens[invitation_id]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {message["Subject"].split(":")[0] for message in first} == {"Herinnering", "Reminder"}
    age(app, 3.8)  # day 6.9
    assert run_reminders(app) == []
    age(app, 0.2)  # day 7.1
    second = run_reminders(app)
    assert sorted(message["Message-ID"].split("-")[2] for message in second) == ["reminder", "reminder"]
    assert all("-reminder-2@" in message["Message-ID"] for message in second)
    # Three emails per invitation, three different links, all leading to the same survey.
    links = {invitation_id: [token] for invitation_id, token in tokens.items()}
    for message in first + second:
        links[int(message["Message-ID"].split("-")[1])].append(survey_token(message))
    for invitation_id, tokens_of_invitation in links.items():
        assert len(set(tokens_of_invitation)) == 3
        for token in tokens_of_invitation:
            assert survey_status(client, token) == 200
    age(app, 6)
    assert run_reminders(app) == []
    with app.app_context():
        rows = db.session.execute(select(Invitation)).scalars().all()
        assert [row.reminders_sent for row in rows] == [2, 2]
        assert all(row.last_reminder_at is not None and row.claimed_by is None for row in rows)
        stored = {(link.invitation_id, link.token_hash) for link in db.session.execute(select(ReminderLink)).scalars()}
        assert stored == {(invitation_id, hash_token(token))
                          for invitation_id, tokens_of_invitation in links.items() for token in tokens_of_invitation[1:]}


def test_a_reminder_link_answers_the_invitation_and_expires_with_it(app, client):
    ids, tokens = invited(app, 1)
    age(app, 3.5)
    [message] = run_reminders(app)
    reminder_token = survey_token(message)
    assert client.post(f"/s/{reminder_token}", data={"score": "2", "comment": "Dicht"}).status_code == 302
    # The first email's link shows the same, answered, survey.
    with app.app_context():
        row = db.session.get(Invitation, ids[0])
        assert row.response is not None and row.response.score == 2
        row.expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert survey_status(client, reminder_token) == survey_status(client, tokens[ids[0]]) != 200


def test_no_reminder_after_an_answer_an_opt_out_a_bounce_or_expiry(app, client):
    ids, tokens = invited(app, 5)
    answered, opted, bounced, expired, open_ = ids
    assert client.post(f"/s/{tokens[answered]}", data={"score": "4", "comment": "Dicht"}).status_code == 302
    with app.app_context():
        rows = {row.id: row for row in db.session.execute(select(Invitation)).scalars()}
        db.session.get(Customer, rows[opted].customer_id).opted_out_at = utcnow()
        db.session.get(Customer, rows[bounced].customer_id).bounced_at = utcnow()
        rows[expired].expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    age(app, 4)
    with app.app_context():
        assert reminders.count_due() == {1: 1}
    messages = run_reminders(app)
    assert [int(message["Message-ID"].split("-")[1]) for message in messages] == [open_]


@pytest.mark.parametrize("app_config", [{"REMINDER_DAYS": [2]}])
def test_the_number_of_reminders_is_configurable(app):
    ids, _tokens = invited(app, 1)
    age(app, 2.1)
    assert len(run_reminders(app)) == 1
    age(app, 30)
    assert run_reminders(app) == []


@pytest.mark.parametrize("app_config", [{"REMINDER_DAYS": []}])
def test_zero_reminders_sends_none(app, runner):
    invited(app, 1)
    age(app, 10)
    assert run_reminders(app) == []
    assert "Due now: 0 first reminders, 0 second reminders." in runner.invoke(args=["send-reminders"]).output


def test_a_late_run_sends_one_reminder_not_both(app):
    invited(app, 1)
    age(app, 8)
    assert len(run_reminders(app)) == 1
    assert run_reminders(app) == []  # the second waits 4 days after the first
    age(app, 4)
    assert len(run_reminders(app)) == 1


def test_send_reminders_command_dry_run_and_send(app, runner):
    invited(app, 2)
    age(app, 3.5)
    with smtp_server() as mailbox:
        app.config.update(smtp_config(mailbox))
        dry = runner.invoke(args=["send-reminders", "--dry-run"])
        assert "Due now: 2 first reminders, 0 second reminders." in dry.output and mailbox.messages == []
        result = runner.invoke(args=["send-reminders"])
        assert result.exit_code == 0, result.output
    assert len(mailbox.messages) == 2


def test_a_refused_reminder_stops_the_reminders_of_that_invitation(app):
    from tests.test_mail import scripted_server

    ids, _tokens = invited(app, 1)
    age(app, 3.5)
    with scripted_server(["550 5.1.1 Gone"]) as (handler, mailbox), app.app_context():
        app.config.update(smtp_config(mailbox))
        report = reminders.send_due_reminders()
        row = db.session.get(Invitation, ids[0])
        assert (report.sent, report.failed) == (0, 1)
        assert row.state == "sent" and row.failure_reason == "reminder 1 refused: 550 5.1.1 Gone"
    age(app, 10)
    assert run_reminders(app) == []


def test_an_invitation_made_elsewhere_gets_a_reminder_and_both_links_work(app, client):
    with app.app_context():
        invitation, first_token = factories.invitation(sent_at=utcnow() - timedelta(days=4))  # a random token
        db.session.commit()
        invitation_id = invitation.id
    [message] = run_reminders(app)
    assert int(message["Message-ID"].split("-")[1]) == invitation_id
    assert survey_token(message) != first_token
    assert survey_status(client, survey_token(message)) == survey_status(client, first_token) == 200
    with app.app_context():
        assert db.session.get(Invitation, invitation_id).failure_reason is None


def test_a_reminder_whose_delivery_fails_for_now_leaves_a_link_that_works_and_the_next_one_new(app, client):
    from tests.test_mail import scripted_server

    ids, _tokens = invited(app, 1)
    age(app, 3.5)
    # A lost connection may come after the server had the message: its link must keep working.
    with scripted_server(["451 4.3.0 Try later"]) as (handler, mailbox), app.app_context():
        app.config.update(smtp_config(mailbox, MAIL_RETRY_ATTEMPTS=1))
        report = reminders.send_due_reminders()
        assert (report.sent, report.deferred) == (0, 1)
        [failed_hash] = db.session.execute(select(ReminderLink.token_hash)).scalars().all()
    [message] = run_reminders(app)
    with app.app_context():
        hashes = set(db.session.execute(select(ReminderLink.token_hash)).scalars())
        assert hashes == {failed_hash, hash_token(survey_token(message))}
    assert survey_status(client, survey_token(message)) == 200
