"""Logs never hold a survey token or an email address: not in messages, arguments, tracebacks,
Werkzeug's access log or SQLAlchemy's statement log."""

from __future__ import annotations

import io
import logging
import re
import secrets
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from survey_app.extensions import db
from survey_app.logs import EMAIL_MASK, TOKEN_MASK, RedactingFilter, configure_logging, redact
from survey_app.models import Customer, Invitation, User, utcnow
from tests import factories
from tests.support import live_server

TOKEN = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f'127.0.0.1 - - "GET /s/{TOKEN}?score=3 HTTP/1.1" 200 -', '127.0.0.1 - - "GET /s/[token]?score=3 HTTP/1.1" 200 -'),
        (f"POST /u/{TOKEN[:12]}.sig HTTP/1.1", "POST /u/[token] HTTP/1.1"),
        (f"/s/{TOKEN}/thanks", "/s/[token]/thanks"),
        (f"link token {TOKEN} issued", "link token [token] issued"),
        ("sent to Jan.de-Vries+nps@Example.co.uk today", "sent to [email] today"),
        ("GET /dashboard/?email=jan%40example.nl&page=2", "GET /dashboard/?email=[email]&page=2"),
        ("('demo-000001', 'anouk.1@demo.example', 'nl')", "('demo-000001', '[email]', 'nl')"),
        # Left readable: hex digests (stored token hashes), identifiers, plain paths and numbers.
        ("token_hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
         "token_hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ("ix_campaign_events_funnel_customer_occurred", "ix_campaign_events_funnel_customer_occurred"),
        ("GET /dashboard/campaigns/12 HTTP/1.1", "GET /dashboard/campaigns/12 HTTP/1.1"),
    ],
)
def test_redact_masks_tokens_and_addresses_only(text, expected):
    assert redact(text) == expected


def record(msg: str, *args: object, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.INFO, __file__, 1, msg, args or None, exc_info)


def test_the_filter_masks_arguments_and_tracebacks():
    try:
        raise ValueError("refused: jan@example.nl")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    # A truncating format would leave the full token in the arguments if only the message were masked.
    entries = [record("opened %.5s by %s", TOKEN, "jan@example.nl"), record("failed", exc_info=exc_info)]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    for entry in entries:
        handler.handle(entry)
    output = stream.getvalue()
    assert "jan@example.nl" not in output and TOKEN not in output
    assert "ValueError: refused: [email]" in output
    assert entries[0].args is None and TOKEN not in repr(entries[0].__dict__)


@pytest.fixture
def captured(app, caplog) -> Iterator[io.StringIO]:
    """Configure logging as create_app does, capture at DEBUG, and add a real root handler."""
    configure_logging(app)
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy holds its own loggers at WARNING; at INFO they print every statement's parameters.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    # Added after configure_logging, like gunicorn's or a test runner's: masked all the same.
    yield stream
    root.removeHandler(handler)


def sign_in(client, email: str, password: str) -> None:
    response = client.post("/auth/login", data={"email": email, "password": password})
    assert response.status_code == 302


def test_a_full_demo_run_logs_no_token_and_no_address(app, captured, caplog, monkeypatch):
    from argon2 import PasswordHasher

    from survey_app.demo import build_demo

    # The demo user's sign-in is part of the run; argon2 at test cost keeps it quick.
    monkeypatch.setattr("survey_app.auth.password_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))
    with app.app_context():
        summary = build_demo(customers=300)
        assert summary.survey_link
        tokens = [urlsplit(summary.survey_link).path.rsplit("/", 1)[-1]]
        campaign = factories.campaign(key="log-check")
        newcomer = factories.customer(email="newcomer@example.org")
        factories.event(campaign, newcomer, "clicked", occurred_at=utcnow() - timedelta(days=10))
        db.session.commit()
        campaign_id = campaign.id

    from survey_app.services import invitations

    with app.app_context():
        assert invitations.create_invitations(campaign_id) == 1
        invitations.send_pending(campaign_id=campaign_id)
        sent = db.session.execute(select(Invitation).filter_by(campaign_id=campaign_id)).scalar_one()
        # Only the token's hash is stored: the token is read back from the email in the outbox.
        [eml] = Path(app.config["MAIL_OUTBOX_DIR"]).glob(f"*-survey-{sent.id}-invitation.eml")
        body = message_from_bytes(eml.read_bytes(), policy=policy.default).get_body(("plain",)).get_content()
        tokens.append(re.search(r"/s/([A-Za-z0-9_-]+)", body).group(1))

    client = app.test_client()
    token = tokens[0]
    assert client.get(f"/s/{token}?score=3").status_code == 200
    assert client.post(f"/s/{token}", data={"score": "3", "comment": "Utrecht Centraal was dicht"}).status_code == 302
    assert client.get(f"/s/{token}/thanks").status_code == 200
    sign_in(client, summary.login, summary.password)
    assert client.get("/dashboard/").status_code == 200
    # Werkzeug's access log, from a real server: request lines with tokens and an address.
    with live_server(app) as base:
        for path in [f"/s/{candidate}" for candidate in tokens] + ["/auth/login?next=/dashboard/%3Fq%3Djan%40example.nl"]:
            with urllib.request.urlopen(base + path) as reply:
                assert reply.status == 200

    with app.app_context():
        addresses = [*db.session.execute(select(Customer.email).where(Customer.email.is_not(None))).scalars(),
                     *db.session.execute(select(User.email)).scalars(), "jan@example.nl"]
    assert len(addresses) > 300
    texts = [stream_text for stream_text in [captured.getvalue()]]
    for entry in caplog.records:
        texts.append(f"{entry.getMessage()} {entry.args!r} {entry.exc_text or ''} {entry.stack_info or ''}")
    everything = "\n".join(texts)
    lowered = everything.lower()
    assert [address for address in addresses if address.lower() in lowered] == []
    assert [candidate for candidate in tokens if candidate in everything] == []
    # The run did log what would have leaked, masked: the test is not passing on silence.
    assert re.search(r'"GET /s/\[token\] HTTP/1\.[01]" 200', everything)
    assert everything.count(EMAIL_MASK) > 10 and TOKEN_MASK in everything
