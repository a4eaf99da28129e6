"""Model factories for tests: each returns a flushed object with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from survey_app.extensions import db
from survey_app.models import Campaign, CampaignEvent, Customer, Invitation, PromisedItem, Response, utcnow
from survey_app.services.tokens import new_token

_numbers = itertools.count(1)


def campaign(**fields: Any) -> Campaign:
    number = next(_numbers)
    values: dict[str, Any] = {
        "key": f"campaign-{number}",
        "name": f"Campaign {number}",
        "promise": "Huur bij een locatie bij jou in de buurt en krijg een gratis dag",
        "language": "nl",
        "sent_at": utcnow() - timedelta(days=10),
    }
    values.update(fields)
    row = Campaign(**values)
    db.session.add(row)
    db.session.flush()
    return row


def promised_item(campaign_: Campaign, **fields: Any) -> PromisedItem:
    values: dict[str, Any] = {"kind": "location", "label": f"Location {next(_numbers)}", "aliases": []}
    values.update(fields)
    row = PromisedItem(campaign=campaign_, **values)
    db.session.add(row)
    db.session.flush()
    return row


def customer(**fields: Any) -> Customer:
    number = next(_numbers)
    values: dict[str, Any] = {"external_id": f"cust-{number}", "email": f"customer{number}@example.com", "language": "nl"}
    values.update(fields)
    row = Customer(**values)
    db.session.add(row)
    db.session.flush()
    return row


def event(campaign_: Campaign, customer_: Customer, type_: str = "clicked", **fields: Any) -> CampaignEvent:
    values: dict[str, Any] = {
        "source": "test",
        "provider_event_id": f"evt-{next(_numbers)}",
        "occurred_at": utcnow() - timedelta(days=5),
    }
    values.update(fields)
    row = CampaignEvent(campaign=campaign_, customer=customer_, type=type_, **values)
    db.session.add(row)
    db.session.flush()
    return row


def invitation(campaign_: Campaign | None = None, customer_: Customer | None = None, **fields: Any) -> tuple[Invitation, str]:
    """Return an invitation and the plain token that its emailed link would carry."""
    token, token_hash = new_token()
    values: dict[str, Any] = {"state": "sent", "sent_at": utcnow(), "expires_at": utcnow() + timedelta(days=14)}
    values.update(fields)
    row = Invitation(
        campaign=campaign_ or campaign(), customer=customer_ or customer(), token_hash=token_hash, **values
    )
    db.session.add(row)
    db.session.flush()
    return row, token


def response(invitation_: Invitation | None = None, **fields: Any) -> Response:
    values: dict[str, Any] = {"score": 3, "comment": "De vestiging was dicht"}
    values.update(fields)
    row = Response(invitation=invitation_ or invitation()[0], **values)
    db.session.add(row)
    db.session.flush()
    return row
