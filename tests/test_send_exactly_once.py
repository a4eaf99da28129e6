"""Exactly once: a sending run SIGKILLed midway and run again, and two runs at the same time,
deliver one message per customer; on SQLite and PostgreSQL, against a real SMTP server."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import Campaign, Customer, Invitation, utcnow
from survey_app.services import invitations
from tests import factories
from tests.support import free_port, smtp_server
from tests.test_invitations import clickers, smtp_config

CUSTOMERS = 12
KILL_AT = 5


class KillingServer:
    """Accept messages, but SIGKILL the sending process at message KILL_AT.

    after_accept=False: the kill comes while the server still holds DATA, before it replies 250,
    so that message was never accepted (a real server discards it). after_accept=True: the
    server accepts it and kills the sender before it can record the send.
    """

    def __init__(self, after_accept: bool) -> None:
        self.after_accept = after_accept
        self.pid: int | None = None
        self.accepted: list[EmailMessage] = []
        self.seen = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.seen += 1
        message = message_from_bytes(envelope.content, policy=policy.default)
        if self.seen == KILL_AT and self.pid is not None:
            if self.after_accept:
                self.accepted.append(message)
            os.kill(self.pid, signal.SIGKILL)
            return "250 Accepted" if self.after_accept else "451 Lost"
        self.accepted.append(message)
        return "250 Accepted"


@contextmanager
def killing_server(after_accept: bool) -> Iterator[tuple[KillingServer, int]]:
    from aiosmtpd.controller import Controller

    handler = KillingServer(after_accept)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def run_in_subprocess(app, campaign_id: int, port: int, handler: KillingServer) -> int:
    """Run `survey-app send-invitations` in a child process until it exits (or is killed)."""
    env = dict(os.environ)
    env.update({
        "SURVEY_APP_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SURVEY_APP_SECRET_KEY": app.config["SECRET_KEY"],
        "SURVEY_APP_BASE_URL": app.config["BASE_URL"],
        "SURVEY_APP_MAIL_BACKEND": "smtp",
        "SURVEY_APP_SMTP_HOST": "127.0.0.1",
        "SURVEY_APP_SMTP_PORT": str(port),
        "SURVEY_APP_MAIL_BATCH_SIZE": "4",
    })
    child = subprocess.Popen(
        [sys.executable, "-m", "survey_app", "send-invitations", "--campaign", str(campaign_id)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    handler.pid = child.pid
    try:
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode


def per_customer(messages: list[EmailMessage]) -> collections.Counter[str]:
    return collections.Counter(message["To"].addresses[0].addr_spec for message in messages)


def all_emails(app) -> set[str]:
    with app.app_context():
        return set(db.session.execute(select(Customer.email)).scalars())


def states(app) -> collections.Counter[str]:
    with app.app_context():
        return collections.Counter(db.session.execute(select(Invitation.state)).scalars())


def failure_reasons(app) -> collections.Counter[str]:
    with app.app_context():
        return collections.Counter(
            db.session.execute(select(Invitation.failure_reason).where(Invitation.state == "failed")).scalars()
        )


def test_a_run_killed_while_the_server_held_a_message_never_sends_anything_twice(app, runner):
    """Killed before the server replied: that message's fate is unknown, so it is failed with
    the reason rather than resent; every other customer gets exactly one message."""
    campaign_id, _ids = clickers(app, CUSTOMERS)
    with killing_server(after_accept=False) as (handler, port):
        assert run_in_subprocess(app, campaign_id, port, handler) == -signal.SIGKILL
        assert len(handler.accepted) == KILL_AT - 1
        # The dead run left its claim: one message was in flight, the rest of its batch unsent.
        left = states(app)
        assert left["sent"] == KILL_AT - 1 and left["sending"] >= 1
        app.config.update({"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port})
        result = runner.invoke(args=["send-invitations", "--campaign", str(campaign_id)])
        assert result.exit_code == 0, result.output
    counts = per_customer(handler.accepted)
    assert set(counts.values()) == {1}
    assert len(counts) == CUSTOMERS - 1
    assert states(app) == {"sent": CUSTOMERS - 1, "failed": 1}
    assert failure_reasons(app) == {invitations.INTERRUPTED: 1}


def test_a_run_killed_after_the_server_accepted_does_not_send_that_message_again(app, runner):
    campaign_id, _ids = clickers(app, CUSTOMERS)
    with killing_server(after_accept=True) as (handler, port):
        assert run_in_subprocess(app, campaign_id, port, handler) == -signal.SIGKILL
        app.config.update({"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port})
        assert runner.invoke(args=["send-invitations", "--campaign", str(campaign_id)]).exit_code == 0
    counts = per_customer(handler.accepted)
    assert set(counts) == all_emails(app)
    assert set(counts.values()) == {1}  # the accepted message was not sent a second time
    # The database cannot know the server accepted it, so it says so instead of claiming "sent".
    assert states(app) == {"sent": CUSTOMERS - 1, "failed": 1}
    assert failure_reasons(app) == {invitations.INTERRUPTED: 1}


def test_two_runs_at_the_same_time_send_nothing_twice(app):
    campaign_id, _ids = clickers(app, 30)
    with app.app_context():
        invitations.create_invitations(campaign_id)
    start = threading.Barrier(2)
    reports = []

    def run() -> None:
        with app.app_context():
            start.wait()
            reports.append(invitations.send_pending(campaign_id=campaign_id, batch_size=3))

    with smtp_server() as mailbox:
        app.config.update(smtp_config(mailbox))
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    counts = per_customer(mailbox.messages)
    assert set(counts.values()) == {1} and len(counts) == 30
    assert sum(report.sent for report in reports) == 30
    assert states(app) == {"sent": 30}


def test_two_creating_runs_at_the_same_time_create_each_invitation_once(app):
    campaign_id, _ids = clickers(app, 20)
    start = threading.Barrier(2)
    created = []

    def run() -> None:
        with app.app_context():
            start.wait()
            created.append(invitations.create_invitations(campaign_id))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(created) == [0, 20]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Invitation)).scalar_one() == 20


@pytest.mark.parametrize("app_config", [{"MAIL_CLAIM_TIMEOUT_SECONDS": 600}])
def test_a_live_claim_is_respected_and_a_stale_one_taken_over(app):
    campaign_id, _ids = clickers(app, 2)
    with app.app_context():
        invitations.create_invitations(campaign_id)
        first, second = db.session.execute(select(Invitation).order_by(Invitation.id)).scalars().all()
        # A run of another host (its process cannot be checked) holds both, one of them for 11 minutes.
        for row, minutes in ((first, 1), (second, 11)):
            row.state, row.claimed_by, row.claimed_at = "sending", "elsewhere/1/abcd", utcnow() - timedelta(minutes=minutes)
        db.session.commit()
    with smtp_server() as mailbox, app.app_context():
        app.config.update(smtp_config(mailbox))
        assert invitations.send_pending().sent == 1
        assert states(app) == {"sending": 1, "sent": 1}
        app.config["MAIL_CLAIM_TIMEOUT_SECONDS"] = 30
        assert invitations.send_pending().sent == 1
    assert len(mailbox.messages) == 2 and states(app) == {"sent": 2}


def test_an_interrupted_reminder_counts_as_sent_and_is_not_sent_again(app):
    """A dead run that had handed a reminder to the server: the reminder is counted, not repeated."""
    import socket

    dead_run = f"{socket.gethostname()[:40]}/999999999/deadbeef"
    campaign_id, _ids = clickers(app, 1)
    with app.app_context():

        invitation, _ = factories.invitation(
            db.session.get(Campaign, campaign_id),
            state="sent", sent_at=utcnow() - timedelta(days=4), claimed_by=dead_run,
            claimed_at=utcnow() - timedelta(minutes=1), delivery_started_at=utcnow() - timedelta(minutes=1),
        )
        db.session.commit()
        assert invitations.release_dead_claims() >= 0
        db.session.expire_all()
        stored = db.session.get(Invitation, invitation.id)
        assert (stored.reminders_sent, stored.claimed_by, stored.delivery_started_at) == (1, None, None)
        assert stored.last_reminder_at is not None
