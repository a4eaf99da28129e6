"""Survey tokens: a fresh random token per email, only its SHA-256 in the database, every link of
an invitation resolving until it expires, and none after an erasure; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from survey_app.extensions import db
from survey_app.models import Customer, Invitation, ReminderLink
from survey_app.services import invitations, privacy, reminders
from survey_app.services.tokens import TOKEN_BYTES, hash_token, new_token
from tests.support import smtp_server
from tests.test_invitations import clickers, smtp_config, survey_token
from tests.test_mail import scripted_server


def sent_messages(app, action) -> list:
    """Run `action` (a sending function) against a fresh SMTP server; return what it received."""
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        action()
    return mailbox.messages


def invitation_id_of(message) -> int:
    return int(message["Message-ID"].split("-")[1])


def age(app, days: float) -> None:
    with app.app_context():
        for row in db.session.execute(select(Invitation)).scalars():
            row.sent_at -= timedelta(days=days)
            if row.last_reminder_at:
                row.last_reminder_at -= timedelta(days=days)
        db.session.commit()


def database_text(app) -> str:
    """Every value of every table, as text: what someone with a copy of the database could read."""
    values = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                values.extend(str(value) for value in row)
    return "\n".join(values)


def test_new_tokens_have_256_random_bits_and_are_stored_as_sha256():
    token, token_hash = new_token()
    assert TOKEN_BYTES * 8 >= 256 and len(token) == 43
    assert token_hash == hash_token(token) and len(token_hash) == 64 and token not in token_hash
    assert new_token()[0] != token


def test_invitation_and_reminders_carry_different_tokens_all_resolving_and_only_hashes_are_stored(app, client):
    campaign_id, _customer_ids = clickers(app, 2)
    with app.app_context():
        invitations.create_invitations(campaign_id)
        # At creation each invitation holds the hash of a token nobody has, not yet the emailed one.
        created = dict(db.session.execute(select(Invitation.id, Invitation.token_hash)).all())
    first = sent_messages(app, invitations.send_pending)
    age(app, 3.5)
    second = sent_messages(app, reminders.send_due_reminders)
    age(app, 4)
    third = sent_messages(app, reminders.send_due_reminders)
    assert (len(first), len(second), len(third)) == (2, 2, 2)

    tokens: dict[int, list[str]] = {}
    for message in first + second + third:
        tokens.setdefault(invitation_id_of(message), []).append(survey_token(message))
    everything = [token for per_invitation in tokens.values() for token in per_invitation]
    assert len(set(everything)) == 6  # one fresh token per email
    for invitation_id, per_invitation in tokens.items():
        assert hash_token(per_invitation[0]) != created[invitation_id]
        for token in per_invitation:
            page = client.get(f"/s/{token}")
            assert page.status_code == 200
    # Each link leads to its own invitation: an answer through a reminder's link lands on it.
    answered_id, answered_tokens = next(iter(tokens.items()))
    assert client.post(f"/s/{answered_tokens[2]}", data={"score": "7", "comment": ""}).status_code == 302
    with app.app_context():
        answered = db.session.get(Invitation, answered_id)
        assert answered.response is not None and answered.response.score == 7
        assert answered.token_hash == hash_token(answered_tokens[0])
        links = db.session.execute(select(ReminderLink.invitation_id, ReminderLink.token_hash)).all()
        assert sorted(links) == sorted(
            (invitation_id, hash_token(token)) for invitation_id, per_invitation in tokens.items()
            for token in per_invitation[1:]
        )
    stored = database_text(app)
    assert [token for token in everything if token in stored] == []
    assert all(hash_token(token) in stored for token in everything)


def test_a_first_email_sent_again_after_a_failed_attempt_keeps_the_earlier_link(app, client):
    campaign_id, _customer_ids = clickers(app, 1)
    # A 4xx reply with one try per run: the first run gives up and leaves the invitation pending.
    with scripted_server(["451 4.3.0 Try later"]) as (handler, mailbox), app.app_context():
        app.config.update(smtp_config(mailbox, MAIL_RETRY_ATTEMPTS=1))
        invitations.create_invitations(campaign_id)
        report = invitations.send_pending()
        assert (report.sent, report.deferred) == (0, 1)
        earlier_hash = db.session.execute(select(Invitation.token_hash)).scalar_one()
    [message] = sent_messages(app, invitations.send_pending)
    with app.app_context():
        row = db.session.execute(select(Invitation)).scalar_one()
        assert row.state == "sent" and row.token_hash == hash_token(survey_token(message))
        # The server might have had the failed attempt's message after all: that link still resolves.
        assert db.session.execute(select(ReminderLink.token_hash)).scalars().all() == [earlier_hash]
    assert client.get(f"/s/{survey_token(message)}").status_code == 200


def test_erasure_kills_every_link_of_the_person(app, client):
    campaign_id, _customer_ids = clickers(app, 2)
    first = sent_messages(app, lambda: (invitations.create_invitations(campaign_id), invitations.send_pending()))
    age(app, 3.5)
    second = sent_messages(app, reminders.send_due_reminders)
    with app.app_context():
        erased_id = invitation_id_of(first[0])
        customer = db.session.get(Customer, db.session.get(Invitation, erased_id).customer_id)
        privacy.erase_customer(email=customer.email)
        remaining = set(db.session.execute(select(ReminderLink.invitation_id)).scalars())
    assert erased_id not in remaining and remaining  # the other person's reminder link stays
    for message in first + second:
        expected = 404 if invitation_id_of(message) == erased_id else 200
        assert client.get(f"/s/{survey_token(message)}").status_code == expected


def test_deleting_an_invitation_deletes_its_reminder_links(app):
    campaign_id, _customer_ids = clickers(app, 1)
    sent_messages(app, lambda: (invitations.create_invitations(campaign_id), invitations.send_pending()))
    age(app, 3.5)
    sent_messages(app, reminders.send_due_reminders)
    with app.app_context():
        assert db.session.execute(select(ReminderLink)).scalars().all()
        db.session.delete(db.session.execute(select(Invitation)).scalar_one())
        db.session.commit()
        assert db.session.execute(select(ReminderLink)).scalars().all() == []
