"""The signed events webhook, and the commands that manage its sources."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import pytest
from sqlalchemy import func, select

from survey_app.extensions import db
from survey_app.models import CampaignEvent, Customer, EventSource
from tests import factories

URL = "/api/v1/events"


def event(n: int = 1, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "provider_event_id": f"wh-{n}",
        "campaign": "spring-2026",
        "customer_id": f"cust-{n}",
        "email": f"c{n}@example.nl",
        "event_type": "click",
        "occurred_at": "2026-03-01T09:13:30+01:00",
        "clicked": "https://rijdnu.example/utrecht",
    }
    values.update(fields)
    return values


def signed_headers(secret: str, body: bytes, source: str = "esp", timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "X-Survey-App-Source": source,
        "X-Survey-App-Timestamp": stamp,
        "X-Survey-App-Signature": f"sha256={digest}",
        "Content-Type": "application/json",
    }


def post(client, secret: str, events: list, **options):
    body = json.dumps({"events": events}).encode()
    return client.post(URL, data=body, headers=signed_headers(secret, body, **options))


def stored(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(CampaignEvent)).scalar_one()


@pytest.fixture
def secret(app, runner):
    with app.app_context():
        campaign = factories.campaign(key="spring-2026")
        factories.promised_item(campaign, label="Utrecht Centraal", url="https://rijdnu.example/utrecht")
        db.session.commit()
    result = runner.invoke(args=["create-source", "esp"])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_create_source_prints_a_secret_that_is_not_stored(app, secret):
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    with app.app_context():
        source = db.session.execute(select(EventSource)).scalar_one()
        assert source.name == "esp" and source.active
        assert secret not in source.secret_salt


def test_a_signed_batch_is_stored_and_counted(app, client, secret):
    response = post(client, secret, [event(1), event(2, event_type="Delivered", clicked=None)])
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"received": 2, "inserted": 2, "duplicates": 0, "suppressed": 0}
    with app.app_context():
        click = db.session.execute(select(CampaignEvent).filter_by(provider_event_id="wh-1")).scalar_one()
        assert click.source == "esp" and click.type == "clicked"
        assert click.clicked_item is not None and click.clicked_item.label == "Utrecht Centraal"
        assert click.payload == event(1)


def test_a_replayed_delivery_is_answered_200_and_stored_once(app, client, secret):
    body = json.dumps({"events": [event(1), event(2)]}).encode()
    headers = signed_headers(secret, body)
    first = client.post(URL, data=body, headers=headers)
    replay = client.post(URL, data=body, headers=headers)
    assert first.get_json() == {"received": 2, "inserted": 2, "duplicates": 0, "suppressed": 0}
    assert replay.status_code == 200
    assert replay.get_json() == {"received": 2, "inserted": 0, "duplicates": 2, "suppressed": 0}
    assert stored(app) == 2


def test_a_bad_signature_is_refused_and_nothing_stored(app, client, secret):
    response = post(client, "0" * 64, [event()])
    assert response.status_code == 401
    assert response.is_json and "signature" in response.get_json()["error"]
    assert stored(app) == 0


def test_the_signature_covers_the_raw_bytes_not_reserialized_json(app, client, secret):
    sent = b'{"events": [ ' + json.dumps(event()).encode() + b" ]}"
    reserialized = json.dumps(json.loads(sent)).encode()
    assert sent != reserialized
    response = client.post(URL, data=sent, headers=signed_headers(secret, reserialized))
    assert response.status_code == 401
    assert client.post(URL, data=sent, headers=signed_headers(secret, sent)).status_code == 200


def test_a_tampered_body_fails(app, client, secret):
    body = json.dumps({"events": [event()]}).encode()
    headers = signed_headers(secret, body)
    response = client.post(URL, data=body.replace(b"cust-1", b"cust-2"), headers=headers)
    assert response.status_code == 401 and stored(app) == 0


@pytest.mark.parametrize("missing", ["X-Survey-App-Source", "X-Survey-App-Timestamp", "X-Survey-App-Signature"])
def test_missing_headers_are_refused(app, client, secret, missing):
    body = json.dumps({"events": [event()]}).encode()
    headers = signed_headers(secret, body)
    del headers[missing]
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": f"missing {missing} header"}
    assert stored(app) == 0


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
def test_stale_and_future_timestamps_are_refused(app, client, secret, offset):
    response = post(client, secret, [event()], timestamp=int(time.time()) + offset)
    assert response.status_code == 401 and "seconds from our clock" in response.get_json()["error"]
    assert stored(app) == 0


@pytest.mark.parametrize("app_config", [{"WEBHOOK_TIMESTAMP_TOLERANCE": 30}])
def test_the_timestamp_tolerance_is_configurable(app, client, secret):
    assert post(client, secret, [event()], timestamp=int(time.time()) - 60).status_code == 401
    assert post(client, secret, [event()], timestamp=int(time.time()) - 20).status_code == 200


def test_a_non_numeric_timestamp_is_refused(client, secret):
    body = b'{"events": []}'
    headers = signed_headers(secret, body)
    headers["X-Survey-App-Timestamp"] = "1e9"
    assert client.post(URL, data=body, headers=headers).status_code == 401


def test_an_unknown_or_inactive_source_is_refused(app, client, secret):
    assert post(client, secret, [event()], source="other").status_code == 401
    with app.app_context():
        db.session.execute(select(EventSource)).scalar_one().active = False
        db.session.commit()
    response = post(client, secret, [event()])
    assert response.status_code == 401 and stored(app) == 0


def test_rotate_source_issues_a_new_secret_and_the_old_one_stops_working(app, client, runner, secret):
    result = runner.invoke(args=["rotate-source", "esp"])
    new_secret = result.output.strip().splitlines()[-1]
    assert result.exit_code == 0 and new_secret != secret
    assert post(client, secret, [event()]).status_code == 401
    assert post(client, new_secret, [event()]).status_code == 200


def test_create_source_refuses_a_duplicate(runner, secret):
    result = runner.invoke(args=["create-source", "esp"])
    assert result.exit_code == 1 and "exists already" in result.output


def test_an_invalid_event_rejects_the_whole_batch_with_reasons(app, client, secret):
    events = [event(1), event(2, campaign="autumn", occurred_at="soon"), event(3, email="a@b@c")]
    response = post(client, secret, events)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {(error["index"], error["field"]) for error in errors} == {(1, "campaign"), (1, "occurred_at"), (2, "email")}
    assert any("unknown campaign 'autumn'" in error["reason"] for error in errors)
    assert stored(app) == 0
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 0


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"events": {}}', b'{"other": []}'])
def test_a_body_that_is_not_a_batch_is_400(client, secret, body):
    response = client.post(URL, data=body, headers=signed_headers(secret, body))
    assert response.status_code == 400 and response.is_json


@pytest.mark.parametrize("app_config", [{"WEBHOOK_MAX_BATCH": 3}])
def test_a_batch_over_the_limit_is_refused_whole(app, client, secret):
    response = post(client, secret, [event(n) for n in range(4)])
    assert response.status_code == 413
    assert "at most 3" in response.get_json()["error"]
    assert stored(app) == 0
    assert post(client, secret, [event(n) for n in range(3)]).status_code == 200


def test_the_default_batch_limit_is_1000(client, secret):
    response = post(client, secret, [event(n) for n in range(1001)])
    assert response.status_code == 413


@pytest.mark.parametrize("app_config", [{"MAX_CONTENT_LENGTH": 1024}])
def test_an_oversized_body_gets_a_json_413(client, secret):
    response = post(client, secret, [event(n) for n in range(20)])
    assert response.status_code == 413 and response.is_json


def test_the_webhook_needs_no_csrf_token_even_with_csrf_on(app, client, secret):
    app.config["WTF_CSRF_ENABLED"] = True
    assert post(client, secret, [event()]).status_code == 200


def test_bounce_and_unsubscribe_update_the_customer(app, client, secret):
    events = [
        event(1, event_type="hard_bounce", occurred_at="2026-03-03T10:00:00Z", clicked=None),
        event(2, customer_id="cust-1", event_type="bounce", occurred_at="2026-03-02T10:00:00Z", clicked=None),
        event(3, customer_id="cust-1", event_type="unsubscribe", occurred_at=1772445600, clicked=None),
    ]
    assert post(client, secret, events).status_code == 200
    with app.app_context():
        customer = db.session.execute(select(Customer).filter_by(external_id="cust-1")).scalar_one()
        assert customer.bounced_at is not None and customer.bounced_at.isoformat() == "2026-03-02T10:00:00+00:00"
        assert customer.opted_out_at is not None and customer.opted_out_at.isoformat() == "2026-03-02T10:00:00+00:00"
