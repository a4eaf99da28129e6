"""A database that cannot be reached is answered with 503 and Retry-After, never a 500, and
the failed request leaves nothing behind; a retry then stores its data exactly once."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError, ProgrammingError

from survey_app.extensions import db
from survey_app.models import CampaignEvent, Customer
from survey_app.services.events import EventWriter
from tests import factories
from tests.conftest import make_app
from tests.test_webhook import URL, event, post, signed_headers

UNREACHABLE = "postgresql+psycopg://nobody@127.0.0.1:1/none"


@pytest.fixture
def down_app(monkeypatch, tmp_path):
    """An app whose database refuses every connection."""
    return make_app(monkeypatch, str(tmp_path / "instance"), SQLALCHEMY_DATABASE_URI=UNREACHABLE)


def test_the_webhook_answers_json_503_with_retry_after_when_the_database_is_down(down_app):
    body = json.dumps({"events": [event(1)]}).encode()
    reply = down_app.test_client().post(URL, data=body, headers=signed_headers("x" * 64, body))
    assert reply.status_code == 503
    assert reply.is_json and "unavailable" in reply.get_json()["error"]
    assert int(reply.headers["Retry-After"]) > 0
    assert "127.0.0.1" not in reply.get_data(as_text=True)


def test_a_survey_page_answers_an_html_503_when_the_database_is_down(down_app):
    client = down_app.test_client()
    for reply in (client.get("/s/" + "A1b2" * 11), client.post("/s/" + "A1b2" * 11, data={"score": "3"})):
        assert reply.status_code == 503
        assert reply.mimetype == "text/html"
        assert int(reply.headers["Retry-After"]) > 0
        assert "Temporarily unavailable" in reply.get_data(as_text=True)
        assert reply.headers["X-Request-ID"] in reply.get_data(as_text=True)


def test_the_sign_in_page_answers_503_not_500_when_the_database_is_down(down_app):
    reply = down_app.test_client().post("/auth/login", data={"email": "a@example.nl", "password": "x"})
    assert reply.status_code == 503


def connection_lost(*_args, **_kwargs):
    raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))


@pytest.fixture
def secret(app, runner):
    with app.app_context():
        factories.campaign(key="spring-2026")
        db.session.commit()
    result = runner.invoke(args=["create-source", "esp"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def counts(app) -> tuple[int, int]:
    with app.app_context():
        events = db.session.execute(select(func.count()).select_from(CampaignEvent)).scalar_one()
        customers = db.session.execute(select(func.count()).select_from(Customer)).scalar_one()
        return events, customers


def test_a_connection_lost_mid_batch_stores_nothing_and_the_retry_stores_once(app, client, secret, monkeypatch):
    batch = [event(1), event(2), event(3)]
    with monkeypatch.context() as patch:
        # The events and customers are written, then the connection goes before the commit.
        patch.setattr(EventWriter, "_apply_customer_states", connection_lost)
        reply = post(client, secret, batch)
    assert reply.status_code == 503 and reply.is_json
    assert reply.headers["Retry-After"]
    assert counts(app) == (0, 0)
    retried = post(client, secret, batch)
    assert retried.status_code == 200
    assert retried.get_json()["inserted"] == 3
    again = post(client, secret, batch)
    assert again.get_json() == {"received": 3, "inserted": 0, "duplicates": 3, "suppressed": 0}
    assert counts(app) == (3, 3)


def test_a_bad_statement_is_still_a_500_not_a_503(app, secret, monkeypatch):
    def bad_statement(*_args, **_kwargs):
        raise ProgrammingError("SELECT nonsense", {}, Exception("syntax error"))

    app.config["PROPAGATE_EXCEPTIONS"] = False
    monkeypatch.setattr(EventWriter, "_apply_customer_states", bad_statement)
    reply = post(app.test_client(), secret, [event(1)])
    assert reply.status_code == 500
    assert "Retry-After" not in reply.headers
    assert counts(app) == (0, 0)


def test_the_next_request_after_an_outage_is_served_normally(app, client, secret, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(EventWriter, "_apply_customer_states", connection_lost)
        assert post(client, secret, [event(1)]).status_code == 503
    assert client.get("/readyz").status_code == 200
    assert post(client, secret, [event(1)], timestamp=int(time.time())).status_code == 200
